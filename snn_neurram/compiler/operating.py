"""Operating points of compiled blocks: the V_read (and pulse multiplier) a block runs at.

A block's operating point for a run at (in_bits, out_bits) follows from its layer's calibration
(:class:`~snn_neurram.compiler.plan.LayerPlan`: sampled inputs, ADC target) and the block's
cells. It is computed here once per (block, bits) and kept in the layer plan; engines pass it to
every MVM (``neuron=``) and never write it onto the cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.layers import Conv2d
from ..physics.neuron import V_READ_MAX, NeuronConfig, adc_levels, phases
from .plan import BlockPlan, LayerPlan, ProgramPlan

__all__ = ["block_mode", "operating_point", "set_calibration_rows", "V_READ_MIN"]

#: Smallest V_read an operating point uses (V).
V_READ_MIN = 0.05


def block_mode(plan: LayerPlan, out_bits: int) -> tuple[str, int]:
    """ADC mode and bits of a layer's blocks: the activation in the neurons for one row
    segment, else linear partial sums with a sign bit more."""
    if plan.single_segment:
        return plan.activation, out_bits
    return "linear", min(8, out_bits + 1)


def set_calibration_rows(program: ProgramPlan, inputs: dict[int, np.ndarray],
                         rng: np.random.Generator, percentile: float = 99.5,
                         max_rows: int = 512, as_rows: bool = False) -> None:
    """Keep a sample of every layer's MVM inputs for the operating points.

    Up to ``max_rows`` input vectors of each layer (patches for a convolution), divided by the
    layer's x_max and clipped to [-1, 1], are stored with the plan; the operating point of a
    block for given bits is found from them (:func:`operating_point`). ``as_rows``: the inputs
    are the MVMs' rows already (patches, recurrent rows).
    """
    for plan in program.plans:
        layer = program.layers[plan.index]
        x = inputs[plan.index]
        if as_rows:
            rows = x
        else:
            rows = layer.patches(x)[0] if isinstance(layer, Conv2d) else x.reshape(len(x), -1)
        if len(rows) > max_rows:
            rows = rows[rng.choice(len(rows), max_rows, replace=False)]
        plan.calib_rows = np.clip(rows / plan.x_max, -1, 1).astype(np.float32)
        plan.adc_percentile = float(percentile)
        plan.compiled_rows, plan.compiled_percentile = plan.calib_rows, plan.adc_percentile
        plan.forget_operating_points()


def operating_point(program: ProgramPlan, blk: BlockPlan, plan: LayerPlan, in_bits: int,
                    out_bits: int) -> NeuronConfig:
    """NeuronConfig of a block for a run at (in_bits, out_bits).

    The calibration inputs are quantised to ``in_bits`` and split into integration phases as a
    run would; the ``adc_percentile``-th percentile of |V| (largest over the phases, noise off,
    on the block's actual conductances) must reach the top of the ADC range (levels x adc_lsb,
    or the integrator swing if lower). A ReLU layer calibrated model-driven (``adc_top``) puts
    that output value at the top instead. V_read stays in 0.05-0.85 V; the pulse multiplier
    doubles where more is needed.
    """
    key = (next(i for i, b in enumerate(plan.blocks) if b is blk), in_bits, out_bits)
    if key in plan.op_points:
        return plan.op_points[key]
    base = program.chip.neuron.replace(v_read=1.0, pulse_multiplier=1)
    mode, bits = block_mode(plan, out_bits)
    top = min(adc_levels(bits, mode, base) * base.adc_lsb, base.v_swing)
    pl = blk.placements[0]
    core = program.chip.cores[pl.core]
    b = core.get_block(pl.block)
    L = 2 ** in_bits - 1
    if plan.adc_top is not None and plan.n_rseg == 1 and len(phases(in_bits, base)) == 1:
        # model-driven: the output value adc_top sits at the top of the ADC for the median
        # column, on the columns' actual conductance loads (relaxed and faulty cells leave
        # them 3-30 % below the targets' sums; the nominal sums would saturate early)
        s_act = core.G[:, b.cols].sum(axis=0)
        per_volt = base.c_ratio * core.device.g_range / (plan.w_max * s_act)
        level = float(np.median(per_volt)) * plan.adc_top * L / plan.x_max
    else:
        level = _calibration_level(core, pl.block, blk, plan, in_bits, mode, base)
    need = top / level if level > 0 else 0.5
    mult = 1
    while need / mult > V_READ_MAX and mult < 1024:
        mult *= 2
    cfg = program.chip.neuron.replace(v_read=float(np.clip(need / mult, V_READ_MIN, V_READ_MAX)),
                                      pulse_multiplier=mult)
    plan.op_points[key] = cfg
    return cfg


def _calibration_level(core: Any, block: int, blk: BlockPlan, plan: LayerPlan, in_bits: int,
                       mode: str, base: NeuronConfig) -> float:
    """adc_percentile-th percentile of the calibration rows' integrated voltage at V_read = 1 V
    (largest over the integration phases, noise and leak off)."""
    b = core.get_block(block)
    L = 2 ** in_bits - 1
    q = np.clip(np.rint(plan.calib_rows[:, blk.r0:blk.r1].astype(np.float64) * L), -L, L)
    if blk.has_bias:
        q = np.hstack([q, np.full((len(q), b.n_bias_rows), float(L))])
    return core.phase_levels(q, in_bits, base.replace(leak=0.0), percentile=plan.adc_percentile,
                             mode=mode, block=block)
