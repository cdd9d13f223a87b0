"""The compiler: tiling of weight matrices into core-sized blocks, placement on the chip's
cores, replication, and the plans (with their operating points) that the engines run.

``snn_neurram.compiler.compile`` (the old path of :func:`snn_neurram.compile`) still works and
warns; it is resolved when first used, since the compiler sits below the ChipProgram facade.
"""

import importlib
import warnings
from typing import Any

from .operating import block_mode, operating_point, set_calibration_rows
from .plan import BlockPlan, LayerPlan, Placement, ProgramPlan, as_plan
from .tiling import COLS, PAIRS, compile_plan, reprogram_layer
from ..nn.graph import weighted_layers

__all__ = ["compile_plan", "reprogram_layer", "ProgramPlan", "LayerPlan", "BlockPlan",
           "Placement", "as_plan", "operating_point", "block_mode", "set_calibration_rows",
           "weighted_layers", "PAIRS", "COLS"]


def __getattr__(name: str) -> Any:
    if name == "compile":
        warnings.warn("snn_neurram.compiler.compile moved: use snn_neurram.compile (it returns "
                      "the same ChipProgram)", DeprecationWarning, stacklevel=2)
        return importlib.import_module("snn_neurram.program").compile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
