"""What the compiler produces: where every piece of every weighted layer lives on the chip.

A :class:`ProgramPlan` is the whole compiled network -- the model, the chip whose cores hold it,
one :class:`LayerPlan` per weighted layer (its tiling into :class:`BlockPlan` pieces and the
:class:`Placement` of every copy of every piece) -- and the calibration state the engines read
(sampled inputs, ADC targets, per-column corrections). Engines and analysis work on plans; the
user-facing :class:`snn_neurram.ChipProgram` wraps one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..hw.chip import Chip
from ..nn.graph import is_flat, stages
from ..physics.neuron import NeuronConfig

__all__ = ["Placement", "BlockPlan", "LayerPlan", "ProgramPlan", "as_plan"]


@dataclass
class Placement:
    """Where one copy of a block lives: core index, block index on that core, origin."""

    core: int
    block: int
    row: int
    col: int


@dataclass
class BlockPlan:
    """A core-sized piece of a layer's matrix: rows r0:r1 and columns c0:c1 of it."""

    layer: int
    rseg: int
    cseg: int
    r0: int
    r1: int
    c0: int
    c1: int
    pairs: int                      # row pairs on the core, bias rows included
    has_bias: bool
    placements: list[Placement] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(row pairs, columns) the block takes on a core."""
        return (self.pairs, self.c1 - self.c0)


@dataclass
class LayerPlan:
    """How one weighted layer is split over the chip, and its calibration.

    ``op_points`` holds the operating point (a NeuronConfig) of each block for each
    (in_bits, out_bits) a run used, keyed ``(block index, in_bits, out_bits)``: a pure function of
    the calibration fields and the cells, emptied by :meth:`forget_operating_points` whenever
    either changes.
    """

    index: int
    name: str
    kind: str
    n_in: int
    n_out: int
    activation: str
    x_max: float
    out_top: float
    w_max: float
    n_rseg: int
    n_cseg: int
    nonneg_input: bool
    mvms_per_input: int
    blocks: list[BlockPlan] = field(default_factory=list)
    calib_rows: Any = None          # sample of the layer's MVM inputs / x_max, in [-1, 1]
    adc_percentile: float = 99.5
    compiled_rows: Any = None       # calib_rows and adc_percentile as the compiler set them:
    compiled_percentile: Any = None  # what calibration compares its candidates with
    adc_top: Any = None             # model-driven: output value at the top of the neurons' ADC
    gain: Any = None                # per-column linear correction y <- (y - offset) / gain
    offset: Any = None
    bias_shift: Any = None          # the bias rows hold the model's bias + this (output units)
    op_points: dict[tuple[int, int, int], NeuronConfig] = field(default_factory=dict,
                                                                 repr=False)

    def forget_operating_points(self) -> None:
        """Drop the operating points found so far (after the calibration or cells change)."""
        self.op_points.clear()

    @property
    def single_segment(self) -> bool:
        """True when the activation runs in the neurons (one row segment, relu or linear, or
        an LSTM cell's gates)."""
        return self.n_rseg == 1 and self.activation in ("relu", "linear", "lstm")


@dataclass(eq=False)
class ProgramPlan:
    """A network compiled onto a chip.

    Attributes
    ----------
    model : Sequential
        The network (its top-level container).
    chip : Chip
        The chip whose cores hold the weights.
    plans : list of LayerPlan
        Per weighted layer, in execution order.
    layers : list of Dense or Conv2d
        The weighted layers, in the same order.
    """

    model: Any
    chip: Chip
    plans: list[LayerPlan]
    layers: list[Any]
    _index: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # the layers list keeps every layer alive, so their ids are stable keys
        self._index = {id(layer): k for k, layer in enumerate(self.layers)}

    def index_of(self, layer: Any) -> int:
        """Index of a weighted layer of the model in :attr:`plans`."""
        try:
            return self._index[id(layer)]
        except KeyError:
            raise ValueError(f"{getattr(layer, 'name', layer)!r} is not a weighted layer of "
                             "this program") from None

    def plan_of(self, layer: Any) -> LayerPlan:
        """The LayerPlan of a weighted layer of the model."""
        return self.plans[self.index_of(layer)]

    def stages(self) -> list[list[Any]]:
        """The model's top-level layers grouped per weighted layer (see
        :func:`snn_neurram.nn.graph.stages`); only for a flat Sequential."""
        if not is_flat(self.model):
            raise ValueError("stage-wise runs need a flat Sequential model (no residual blocks)")
        if any(p.activation == "lstm" for p in self.plans):
            raise ValueError("stage-wise runs (run_stages, calibrate, progressive fine-tuning) "
                             "do not take LSTM cells: their operating points are set when the "
                             "model is compiled with calibration data")
        return stages(self.model)

    def forget_operating_points(self) -> None:
        """Drop every layer's cached operating points."""
        for p in self.plans:
            p.forget_operating_points()

    @property
    def dtype(self) -> type:
        """Compute precision of the chip's MVMs (numpy float32 or float64)."""
        return self.chip.cores[0].dtype


def as_plan(program: Any) -> ProgramPlan:
    """The ProgramPlan of a ChipProgram (or the plan itself)."""
    if isinstance(program, ProgramPlan):
        return program
    plan = getattr(program, "plan", None)
    if isinstance(plan, ProgramPlan):
        return plan
    raise ValueError(f"program must be a ChipProgram or a ProgramPlan (got "
                     f"{type(program).__name__})")

