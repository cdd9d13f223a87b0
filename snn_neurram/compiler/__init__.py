"""The compiler: tiling of weight matrices into core-sized blocks, placement on the chip's
cores, replication, and the plans (with their operating points) that the engines run."""

from .operating import block_mode, operating_point, set_calibration_rows
from .plan import BlockPlan, LayerPlan, Placement, ProgramPlan, as_plan
from .tiling import COLS, PAIRS, compile_plan, reprogram_layer
from ..nn.graph import weighted_layers

__all__ = ["compile_plan", "reprogram_layer", "ProgramPlan", "LayerPlan", "BlockPlan",
           "Placement", "as_plan", "operating_point", "block_mode", "set_calibration_rows",
           "weighted_layers", "PAIRS", "COLS"]
