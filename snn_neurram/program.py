"""``ChipProgram``: a network compiled onto a chip, the one object users run, report and save.

It is a thin facade: the compiler's :class:`~snn_neurram.compiler.plan.ProgramPlan` holds
the state (model, chip, layer plans, calibration), the engines run it
(:mod:`~snn_neurram.engines.batch`, :mod:`~snn_neurram.engines.spiking`) and the analysis
modules report and save it. Every random stream of a run derives from the chip's seed and the
run's ``seed`` (:meth:`snn_neurram.Chip.rng`): the same program, inputs and seed give
bit-identical results whatever ran before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_finite_array, check_choice
from ._seeds import check_seed
from .analysis import persist
from .analysis.report import energy_text, report, report_text
from .compiler.native import is_native, simulate_float
from .compiler.operating import block_mode, operating_point, set_calibration_rows
from .compiler.plan import BlockPlan, LayerPlan, ProgramPlan
from .compiler.tiling import compile_plan, reprogram_layer
from .engines import batch
from .engines.spiking import SNNResult, run_snn
from .hw.chip import Chip
from .physics.neuron import NeuronConfig

__all__ = ["ChipProgram", "compile", "load"]


class ChipProgram:
    """A model mapped onto a :class:`~snn_neurram.Chip` (made by :func:`snn_neurram.compile`).

    Attributes
    ----------
    plan : ProgramPlan
        The compiled state.
    model : Sequential
    chip : Chip
    plans : list of LayerPlan
        Per weighted layer: its tiling into blocks and where every block (and replica) lives.
    layers : list
        The weighted layers, in the order of ``plans``.
    """

    def __init__(self, plan: ProgramPlan):
        if not isinstance(plan, ProgramPlan):
            raise ValueError(f"plan must be a ProgramPlan (got {type(plan).__name__})")
        self.plan = plan

    def __repr__(self) -> str:
        cores = sorted({pl.core for p in self.plans for b in p.blocks for pl in b.placements})
        lines = [f"ChipProgram({len(self.plans)} weighted layers on {len(cores)} of "
                 f"{self.chip.n_cores} cores)"]
        for p in self.plans:
            where = sorted({pl.core for b in p.blocks for pl in b.placements})
            lines.append(f"  {p.index}: {p.name} {p.n_in}x{p.n_out} {p.activation}, "
                         f"{p.n_rseg} row x {p.n_cseg} column segments, cores {where}")
        return "\n".join(lines)

    model = property(lambda self: self.plan.model, doc="The compiled network.")
    chip = property(lambda self: self.plan.chip, doc="The chip that holds it.")
    plans = property(lambda self: self.plan.plans, doc="One LayerPlan per weighted layer.")
    layers = property(lambda self: self.plan.layers, doc="The weighted layers.")

    # ------------------------------------------------------------------ calibration
    def calibrate(self, inputs: dict[int, np.ndarray], rng: np.random.Generator,
                  percentile: float = 99.5, max_rows: int = 512) -> None:
        """Keep a sample of every layer's MVM inputs for the operating points (see
        :func:`snn_neurram.compiler.operating.set_calibration_rows`)."""
        set_calibration_rows(self.plan, inputs, rng, percentile, max_rows)

    def operating_point(self, blk: BlockPlan, plan: LayerPlan, in_bits: int,
                        out_bits: int) -> NeuronConfig:
        """NeuronConfig of a block for a run at (in_bits, out_bits) (see
        :func:`snn_neurram.compiler.operating.operating_point`)."""
        return operating_point(self.plan, blk, plan, in_bits, out_bits)

    @staticmethod
    def block_mode(plan: LayerPlan, out_bits: int) -> tuple[str, int]:
        """ADC mode and bits of a layer's blocks."""
        return block_mode(plan, out_bits)

    # ------------------------------------------------------------------ runs
    def run(self, x: Any, mode: str = "ann", in_bits: int = 4, out_bits: int = 4, *,
            head_bits: int | None = None, noise_model: str = "output", chunk: int | None = None,
            progress: bool | None = None, coding: str = "rate", steps: int = 64,
            readout: str = "membrane", seed: int | None = 0,
            record_raster: bool = False, record_spikes: bool = False) -> np.ndarray | SNNResult:
        """Run a batch through the mapped model.

        Parameters
        ----------
        x : array_like
            Inputs, (batch,) + input shape.
        mode : {"ann", "snn"}
            Multi-bit (bit-serial, rate-coded in the chip's sense) inference through the ADCs, or
            the converted spiking network (:func:`snn_neurram.engines.spiking.run_snn`).
        in_bits, out_bits : int
            Bits of every layer's inputs and outputs, 1-8 (used in ANN mode, checked in both).
        head_bits : int, optional
            Bits of the last weighted layer's outputs (the network's outputs, e.g. logits), when
            they should be read more finely than the hidden activations (default: out_bits).
        coding, steps, readout, record_raster, record_spikes
            Spiking mode: input coding ("rate", "regular", "latency", or "spikes" for inputs
            that are spike trains (batch, steps, ...)), time steps, output readout ("membrane",
            "count"), keep the first input's spikes and membranes, keep every input's spikes.
            A native spiking network (:mod:`snn_neurram.nn.spiking`) runs only in this mode.
        seed : int or None
            Seeds every random stream of the run (read noise, spike encoder), together with the
            chip's seed: the same seed gives the same result whatever ran before. None draws
            fresh noise.
        noise_model : {"output", "device"}
            See :meth:`snn_neurram.Core.forward`.
        chunk : int, optional
            Inputs per chunk, a positive integer. ANN mode default: about 64 MB of patches per
            layer. SNN mode default: about 96 MB of spiking state
            (:func:`snn_neurram.engines.spiking.default_chunk`). Memory is bounded by the
            chunk; the noise draws depend on the seed and the chunk size (a batch that fits one
            chunk runs as a whole).
        progress : bool, optional
            Show a progress bar, in both modes (default: when the batch has more than 2000
            inputs and standard error is a terminal).

        Returns
        -------
        ndarray or SNNResult
            ANN mode: the model's outputs, (batch,) + output shape. SNN mode: an
            :class:`~snn_neurram.engines.spiking.SNNResult` with predictions, spike counts per
            layer and the readout after every step.
        """
        check_choice(mode, "mode", ("ann", "snn"))
        seed = check_seed(seed)
        if mode == "snn":
            batch.check_bits(in_bits, out_bits, head_bits)      # unused here, but must be valid
            return run_snn(self.plan, x, coding, steps, readout=readout, seed=seed,
                           noise_model=noise_model, record_raster=record_raster,
                           record_spikes=record_spikes, chunk=chunk, progress=progress)
        if is_native(self.model):
            raise ValueError("a native spiking network runs with mode='snn'")
        in_bits, out_bits, head_bits = batch.check_bits(in_bits, out_bits, head_bits)
        x = batch.check_inputs(x)
        return batch.run_ann(self.plan, x, in_bits, out_bits,
                             self.chip.rng(seed, "read noise"), head_bits=head_bits,
                             noise_model=noise_model, chunk=chunk, progress=progress)

    def layer_rows(self, index: int, x: Any,
                   in_bits: int) -> tuple[np.ndarray, tuple[int, int] | None]:
        """Input codes of weighted layer ``index`` (see
        :func:`snn_neurram.engines.batch.layer_rows`)."""
        return batch.layer_rows(self.plan, index, x, in_bits)

    def stages(self) -> list[list[Any]]:
        """The model's top-level layers grouped per weighted layer: stage k holds weighted layer
        k and the pooling / flattening layers after it (stage 0 also the layers before it).
        Only for a flat :class:`Sequential` (no residual blocks)."""
        return self.plan.stages()

    def run_stages(self, x: Any, start: int = 0, stop: int | None = None, in_bits: int = 4,
                   out_bits: int = 4, *, head_bits: int | None = None,
                   noise_model: str = "output", chunk: int | None = None,
                   seed: int | None = 0) -> np.ndarray:
        """Run stages ``start``..``stop - 1`` (see :meth:`stages`) on the chip.

        ``x`` is the input of stage ``start``: the network's input for 0, else the output of stage
        start - 1 (as :meth:`run_stages` measured it, or from software). Returns the output of
        stage stop - 1 (the network's output for stop=None). Bits and seed as in :meth:`run`.
        """
        groups = self.stages()
        stop = len(groups) if stop is None else stop
        if not 0 <= start < stop <= len(groups):
            raise ValueError(f"need 0 <= start < stop <= {len(groups)} (got start={start}, "
                             f"stop={stop})")
        if is_native(self.model):
            raise ValueError("a native spiking network runs with run(mode='snn')")
        in_bits, out_bits, head_bits = batch.check_bits(in_bits, out_bits, head_bits)
        x = as_finite_array(x, "x")
        rng = self.chip.rng(check_seed(seed), f"stages {start}:{stop}")
        return batch.run_stages(self.plan, x, start, stop, in_bits, out_bits, rng,
                                head_bits=head_bits, noise_model=noise_model, chunk=chunk)

    def reprogram_layer(self, index: int, W: Any, b: Any = None, *, x_max: float | None = None,
                        clip: float | None = None) -> None:
        """Write new weights for weighted layer ``index`` into its cells (see
        :func:`snn_neurram.compiler.tiling.reprogram_layer`)."""
        reprogram_layer(self.plan, index, W, b, x_max=x_max, clip=clip)

    def run_float(self, x: Any) -> np.ndarray:
        """The float model (software reference) on the same inputs."""
        return self.model.forward_float(as_finite_array(x, "x"))

    # ------------------------------------------------------------------ report
    def report(self, figure: str | None = None, energy: bool = True, in_bits: int = 4,
               out_bits: int = 4, energy_model: Any = None) -> dict:
        """Where every weight lives, per layer and per core, and what an inference costs (see
        :func:`snn_neurram.analysis.report.report`)."""
        return report(self.plan, figure, energy, in_bits, out_bits, energy_model)

    def report_text(self, rep: dict | None = None) -> str:
        """The report as an aligned text table."""
        return report_text(self.plan, rep)

    @staticmethod
    def energy_text(acc: dict) -> str:
        """An energy account (:func:`snn_neurram.analysis.energy.program_account`) as text."""
        return energy_text(acc)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str) -> None:
        """Save the programmed conductances, calibration, configuration and random states.

        The file is versioned and checksummed and written atomically; see :func:`snn_neurram.load`.
        """
        persist.save_program(self.plan, path)


def compile(model: Any, chip: Chip, **kwargs: Any) -> ChipProgram:
    """Map a network onto a chip and program it; returns a :class:`ChipProgram`.

    Keyword arguments as :func:`snn_neurram.compiler.tiling.compile_plan`: ``calibration``,
    ``input_shape``, ``replicate``, ``calibration_size``, ``range_percentile``,
    ``adc_percentile``, ``seed``.
    """
    return ChipProgram(compile_plan(model, chip, **kwargs))


def load(path: str) -> ChipProgram:
    """Load a program saved by :meth:`ChipProgram.save`.

    Raises
    ------
    ProgramFileError
        The file is not a program, of another format version, truncated, or altered.
    """
    return ChipProgram(persist.load_plan(path))
