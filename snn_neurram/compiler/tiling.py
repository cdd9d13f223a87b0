"""Compile a network onto the chip: tile every weight matrix into core-sized blocks, place the
blocks on cores, program them, and calibrate every block's operating point.

Tiling. A layer's matrix (n_in x n_out, conv layers unrolled to C*kh*kw x out_channels) is cut
into row segments of at most 128 differential pairs -- the first segment also holds the bias
rows, driven at full scale -- and column segments of at most 256 outputs. Partial sums of the
row segments of one output are added digitally, then the activation is applied digitally; a layer
of one row segment runs its activation in the neurons.

Placement. Blocks go, largest first, to the first core with a free rectangle of their size
(candidate corners at the edges of the blocks already there); several blocks, of one layer or of
several, share a core as long as no cell holds two weights. Optionally the layers with the most
MVMs per inference are replicated on the free space so that their MVMs can be spread over more
cores.

Calibration. The float model runs on calibration inputs; each layer's input range x_max is the
99.9th percentile of |input| (``range_percentile``) -- unless the layer states its own
``x_max``; a clipped ReLU's output range is [0, clip] -- and each block's operating point is set so
that the 99.5th percentile (``adc_percentile``) of its integrated voltage reaches the top of the
ADC range (see :func:`snn_neurram.compiler.operating.operating_point`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_finite_array, check_int, check_range
from .._seeds import check_seed
from ..errors import CapacityError
from ..hw.chip import Chip
from ..nn.graph import leaves, weighted_layers
from ..nn.layers import Conv2d, Dense, Residual, Sequential, activation_fn
from ..nn.recurrent import LSTM, ParallelLSTM
from ..nn.torch_import import from_torch
from ..physics.mapping import to_conductances, weight_scale
from .native import calibration_spikes, is_native, simulate_float
from .operating import set_calibration_rows
from .plan import BlockPlan, LayerPlan, Placement, ProgramPlan

__all__ = ["compile_plan", "reprogram_layer", "reprogram_bias", "PAIRS", "COLS"]

PAIRS = 128
COLS = 256


def _as_sequential(model):
    if isinstance(model, (Sequential, Residual, Dense, Conv2d)):
        return model if isinstance(model, Sequential) else Sequential(model)
    if isinstance(model, (list, tuple)):
        return Sequential(*model)
    if type(model).__module__.startswith("torch"):
        return from_torch(model)
    raise ValueError(f"model must be a Sequential, a list of layers or a torch nn.Module "
                     f"(got {type(model).__name__})")


def _record_inputs(model, x, layers):
    """Float forward pass that records every weighted layer's input and pre-activation (an
    LSTM cell: the rows [x_t, h_{t-1}] of all its steps, and their number per input)."""
    inputs, outputs, steps = {}, {}, {}
    ids = {id(l): k for k, l in enumerate(layers)}

    def run(node, x):
        if isinstance(node, LSTM):
            k = ids[id(node)]
            rows, pres = [], []

            def gates(z):
                rows.append(z)
                pres.append(node.preactivation(z))
                return node.gate_activations(pres[-1])
            y = node.run(x, gates)
            inputs[k] = np.concatenate(rows)
            outputs[k] = np.concatenate(pres)
            steps[k] = x.shape[1]
            return y
        if isinstance(node, ParallelLSTM):
            return np.concatenate([run(cell, x) for cell in node.cells], axis=1)
        if isinstance(node, (Dense, Conv2d)):
            inputs[ids[id(node)]] = x
            pre = node.preactivation(x)
            outputs[ids[id(node)]] = pre
            return activation_fn(node.activation, pre, node.clip)
        if isinstance(node, Sequential):
            for layer in node.layers:
                x = run(layer, x)
            return x
        if isinstance(node, Residual):
            s = x if node.shortcut is None else run(node.shortcut, x)
            return activation_fn(node.activation, run(node.body, x) + s, node.clip)
        return node.forward_float(x)

    run(model, x)
    return inputs, outputs, steps


def _tile(k, layer, x_max, chip):
    """Row / column segments of layer k's matrix (bias rows on the first row segment)."""
    W, b = layer.matrix()
    n_in, n_out = W.shape
    w_max = weight_scale(W, chip.percentile)
    n_bias = 0
    if b is not None:
        n_bias = to_conductances(np.zeros((1, n_out)), b, w_max=w_max, x_max=x_max).n_bias_rows
    if n_bias >= PAIRS:
        raise CapacityError(f"layer {k} ({layer.name}): its bias needs {n_bias} bias row pairs, "
                            f"more than a core's {PAIRS}")
    bounds, r = [], 0
    while r < n_in:
        size = PAIRS - (n_bias if r == 0 else 0)
        bounds.append((r, min(n_in, r + size)))
        r += size
    blocks = []
    for ri, (r0, r1) in enumerate(bounds):
        for ci, c0 in enumerate(range(0, n_out, COLS)):
            c1 = min(n_out, c0 + COLS)
            bias = ri == 0 and b is not None
            blocks.append(BlockPlan(k, ri, ci, r0, r1, c0, c1,
                                    (r1 - r0) + (n_bias if bias else 0), bias))
    return blocks, w_max, len(bounds), -(-n_out // COLS)


class _Packer:
    """First-fit rectangle packing of blocks onto cores."""

    def __init__(self):
        self.occupied = []          # per core: bool (PAIRS, COLS)
        self.corners = []           # per core: candidate (row, col) origins

    def place(self, h, w, cores=None, limit=None):
        """Put an h x w block on the first core of ``cores`` (default: all, in order) with room,
        else on a new core (unless that would make more than ``limit``). Returns (core, (r, c))
        or None."""
        for ci in (range(len(self.occupied)) if cores is None else cores):
            if ci < len(self.occupied):
                pos = self._fit(ci, h, w)
                if pos is not None:
                    return ci, pos
        if limit is not None and len(self.occupied) >= limit:
            return None
        self.occupied.append(np.zeros((PAIRS, COLS), bool))
        self.corners.append({(0, 0)})
        ci = len(self.occupied) - 1
        return ci, self._fit(ci, h, w)

    def _fit(self, ci, h, w):
        occ = self.occupied[ci]
        for r, c in sorted(self.corners[ci]):
            if r + h <= PAIRS and c + w <= COLS and not occ[r:r + h, c:c + w].any():
                occ[r:r + h, c:c + w] = True
                self.corners[ci] |= {(r + h, c), (r, c + w), (0, c + w), (r + h, 0)}
                return r, c
        return None

    def release(self, ci, r, c, h, w):
        self.occupied[ci][r:r + h, c:c + w] = False


def compile_plan(model: Any, chip: Chip, *, calibration: Any = None,
                 input_shape: tuple[int, ...] | None = None, replicate: bool = False,
                 calibration_size: int = 256, range_percentile: float = 99.9,
                 adc_percentile: float = 99.5, seed: int = 0) -> ProgramPlan:
    """Map a network onto a chip and program it.

    Parameters
    ----------
    model : Sequential, list of layers, or torch.nn.Module
        The network (PyTorch modules are converted with :func:`snn_neurram.from_torch`).
    chip : Chip
    calibration : array_like, optional
        Inputs representative of the data (NCHW images or feature vectors); up to
        ``calibration_size`` of them calibrate the input ranges and operating points. Without
        them, uniform random inputs in [0, 1] of ``input_shape`` stand in.
    input_shape : tuple, optional
        Shape of one input (needed without calibration data).
    replicate : bool
        Copy the busiest layers onto free cores (their MVMs are then spread over the copies).
    calibration_size : int
    range_percentile : float
        Percentile of |activation| that sets each layer's input range x_max and output range
        (default 99.9; 100 for no clipping).
    adc_percentile : float
        Percentile of |integrated voltage| put at the top of each block's ADC range (default
        99.5; 100 for no saturation).
    seed : int
        Seeds the subsampling of calibration data and patches.

    Returns
    -------
    ProgramPlan
    """
    if not isinstance(chip, Chip):
        raise ValueError(f"chip must be a Chip (got {type(chip).__name__})")
    model = _as_sequential(model)
    rng = np.random.default_rng(check_seed(seed))
    calibration_size = check_int(calibration_size, "calibration_size", 1, 10**6)
    if calibration is None:
        if input_shape is None:
            raise ValueError("give calibration inputs or input_shape")
        calib = rng.uniform(0, 1, (calibration_size,) + tuple(input_shape))
    else:
        calib = as_finite_array(calibration, "calibration")
        if len(calib) > calibration_size:
            calib = calib[rng.choice(len(calib), calibration_size, replace=False)]
    layers = weighted_layers(model)
    if not layers:
        raise ValueError("the model has no Dense or Conv2d layer to map")
    native = is_native(model)
    if native:
        # the layers' MVM rows in a float spiking run calibrate the partial-sum ADCs
        spikes = calibration_spikes(model, calib, rng)
        rows = simulate_float(model, spikes, record_rows=True).rows
        assert rows is not None
        inputs = dict(enumerate(rows))
        pres = {k: np.atleast_1d(l.neuron.threshold) for k, l in enumerate(layers)}
        in_shapes = _input_shapes(model, tuple(spikes.shape[2:]))
        steps: dict[int, int] = {}
    else:
        shape = tuple(calib.shape[1:])
        model.output_shape(shape)                  # checks the layer shapes
        inputs, pres, steps = _record_inputs(model, calib, layers)
        in_shapes = {k: inputs[k].shape[1:] for k in inputs}

    plans = []
    range_percentile = check_range(range_percentile, "range_percentile", 0, 100, lo_open=True)
    adc_percentile = check_range(adc_percentile, "adc_percentile", 0, 100, lo_open=True)
    for k, layer in enumerate(layers):
        x = inputs[k]
        if layer.x_max is not None:
            x_max = layer.x_max
        else:
            x_max = (float(np.percentile(np.abs(x), range_percentile)) or
                     float(np.abs(x).max()) or 1.0)
        pre = pres[k]
        top = float(np.percentile(np.abs(pre), range_percentile)) or 1.0
        if layer.activation == "relu":
            # a clipped ReLU's range is [0, clip]: its outputs are quantised over that range
            top = layer.clip if layer.clip is not None else (
                float(np.percentile(np.maximum(pre, 0), range_percentile)) or 1.0)
        blocks, w_max, n_r, n_c = _tile(k, layer, x_max, chip)
        if isinstance(layer, Conv2d):
            mvms = int(np.prod(layer.output_shape(in_shapes[k])[1:]))
        else:
            mvms = steps.get(k, 1)                  # an LSTM: one MVM per step
        n_in, n_out = layer.matrix()[0].shape
        plans.append(LayerPlan(k, layer.name, type(layer).__name__, n_in, n_out,
                               layer.activation, x_max, top, w_max, n_r, n_c,
                               bool(np.all(x >= 0)), mvms, blocks))

    packer = _Packer()
    order = sorted((b for p in plans for b in p.blocks), key=lambda b: -b.pairs * (b.c1 - b.c0))
    for blk in order:
        ci, (r, c) = packer.place(*blk.shape)
        blk.placements.append(Placement(ci, -1, r, c))
    needed = len(packer.occupied)
    if needed > chip.n_cores:
        # which layer overflows when the layers are placed in order
        trial, over = _Packer(), plans[-1]
        for p in plans:
            if any(trial.place(*b.shape, limit=chip.n_cores) is None for b in p.blocks):
                over = p
                break
        n_blocks = sum(len(p.blocks) for p in plans)
        raise CapacityError(f"the model needs {needed} cores ({n_blocks} blocks) but the chip has "
                            f"{chip.n_cores}; placed in order, layer {over.index} ({over.name}, "
                            f"{over.n_in}x{over.n_out}) is the first that does not fit")
    if replicate:
        _replicate(plans, packer, chip.n_cores)

    # program every core in one write-verify pass, blocks in placement order
    per_core: dict[int, list[Any]] = {}
    for p in plans:
        W, b = layers[p.index].matrix()
        for blk in p.blocks:
            for pl in blk.placements:
                spec = dict(W=W[blk.r0:blk.r1, blk.c0:blk.c1],
                            bias=None if not blk.has_bias else b[blk.c0:blk.c1],
                            row=pl.row, col=pl.col, x_max=p.x_max, w_max=p.w_max,
                            bias_rows=blk.pairs - (blk.r1 - blk.r0) if blk.has_bias else None)
                per_core.setdefault(pl.core, []).append((pl, spec))
    for ci, items in per_core.items():
        idx = chip.cores[ci].program_blocks([spec for _, spec in items])
        for (pl, _), k in zip(items, idx):
            pl.block = k

    program = ProgramPlan(model, chip, plans, layers)
    set_calibration_rows(program, inputs, rng, percentile=adc_percentile, as_rows=native)
    return program


def _input_shapes(model, shape):
    """Input shape (one input, no batch axis) of every weighted layer of a flat model."""
    out, k = {}, 0
    for layer in leaves(model):
        if isinstance(layer, (Dense, Conv2d)):
            out[k] = shape
            k += 1
        shape = tuple(layer.output_shape(shape))
    return out


def _replicate(plans, packer, n_cores):
    """Copy whole layers, busiest first, onto cores that do not hold them yet (empty cores
    first), while a full copy fits: a core runs one MVM at a time, so a copy only adds
    throughput on another core."""
    while True:
        best = max(plans, key=lambda p: p.mvms_per_input / len(p.blocks[0].placements))
        if best.mvms_per_input <= 1:
            return
        hosts = {pl.core for b in best.blocks for pl in b.placements}
        fill = np.array([occ.sum() for occ in packer.occupied])
        free_cores = [c for c in np.argsort(fill, kind="stable") if c not in hosts]
        trial = []
        for blk in best.blocks:
            got = packer.place(*blk.shape, cores=free_cores, limit=n_cores)
            if got is None or got[0] in hosts:
                for b2, pl in trial:
                    packer.release(pl.core, pl.row, pl.col, *b2.shape)
                return
            ci, (r, c) = got
            if ci not in free_cores:
                free_cores.insert(0, ci)        # a core just opened: keep filling it
            trial.append((blk, Placement(ci, -1, r, c)))
        for blk, pl in trial:
            blk.placements.append(pl)


def reprogram_bias(program: ProgramPlan, index: int, shift: Any,
                   rng: np.random.Generator | None = None) -> None:
    """Write the model's bias + ``shift`` (output units, one per output) into the bias rows of
    weighted layer ``index`` (every block that holds bias rows, every replica), leaving every
    other cell as it is: an offset compensated in the analogue domain, before the neurons'
    ReLU cut. The layer's operating points are found again; its correction is kept."""
    index = check_int(index, "index", 0, len(program.plans) - 1)
    plan, layer = program.plans[index], program.layers[index]
    if layer.b is None:
        raise ValueError(f"layer {plan.name!r} has no bias rows to rewrite")
    shift = as_finite_array(shift, "shift", ndim=1, shape=(plan.n_out,))
    bias = layer.matrix()[1] + shift
    for blk in plan.blocks:
        if blk.has_bias:
            for pl in blk.placements:
                program.chip.cores[pl.core].reprogram_bias(pl.block, bias[blk.c0:blk.c1], rng)
    plan.bias_shift = None if not np.any(shift) else shift
    plan.forget_operating_points()


def reprogram_layer(program: ProgramPlan, index: int, W: Any, b: Any = None, *,
                    x_max: float | None = None, clip: float | None = None) -> None:
    """Write new weights for weighted layer ``index`` into its cells (every block and replica,
    by write-verify; the other cells of the cores stay as they are).

    W and b have the layer's own shapes (Dense (in, out); Conv2d (out, in, kh, kw)); w_max
    follows the new weights. ``x_max`` (the layer's input range) and ``clip`` (its ReLU's range)
    change with them when given. The layer's per-column correction is dropped (it described the
    old cells) and its operating points are found again; calibrate the layer afterwards
    (:func:`snn_neurram.analysis.calibration.calibrate_layer`) for the model-driven ones.
    """
    index = check_int(index, "index", 0, len(program.plans) - 1)
    plan, layer = program.plans[index], program.layers[index]
    W = as_finite_array(W, "W", shape=layer.W.shape)
    if (b is None) != (layer.b is None):
        raise ValueError("b must be given exactly when the layer has a bias")
    layer.W = W
    if b is not None:
        layer.b = as_finite_array(b, "b", ndim=1, shape=layer.b.shape)
    if x_max is not None:
        old = plan.x_max
        plan.x_max = layer.x_max = check_range(x_max, "x_max", 0, None, lo_open=True)
        if plan.calib_rows is not None:
            plan.calib_rows = np.clip(plan.calib_rows * (old / plan.x_max), -1, 1)
        if plan.compiled_rows is not None:
            plan.compiled_rows = np.clip(plan.compiled_rows * (old / plan.x_max), -1, 1)
    if clip is not None:
        layer.clip = check_range(clip, "clip", 0, None, lo_open=True)
        if plan.activation == "relu":
            plan.out_top = layer.clip
            if plan.adc_top is not None:
                plan.adc_top = layer.clip
    M, bias = layer.matrix()
    plan.w_max = weight_scale(M, program.chip.percentile)
    for blk in plan.blocks:
        for pl in blk.placements:
            program.chip.cores[pl.core].reprogram_block(
                pl.block, M[blk.r0:blk.r1, blk.c0:blk.c1],
                None if not blk.has_bias else bias[blk.c0:blk.c1], w_max=plan.w_max,
                x_max=plan.x_max)
    plan.gain = plan.offset = plan.bias_shift = None
    plan.forget_operating_points()
