"""The batch engine: multi-bit (ANN) inference of a compiled network, layer by layer.

1. A weighted layer's input (values in its input units) is quantised once to ``in_bits``
   magnitude bits over [-x_max, x_max] -- before im2col for a convolution, so padding is code 0;
2. every block of the layer runs its MVM on its rows of the codes (convolutions: one MVM per
   output pixel, as rows of the patch matrix) on the core that holds it, with every
   non-ideality of that core, through :meth:`snn_neurram.Core.mvm_codes` at the block's
   operating point (:func:`snn_neurram.compiler.operating.operating_point`, passed, never
   stored on the core); replicas share the patches;
3. a layer of one row segment converts with the activation in the neurons; otherwise each block
   converts its partial sum linearly with ``out_bits + 1`` bits (a sign bit more), the partial
   sums are added digitally and the activation is applied digitally
   (:func:`snn_neurram.physics.neuron.requantize`);
4. pooling, flattening and residual additions are digital (float) operations;
5. an LSTM cell (:mod:`snn_neurram.nn.recurrent`) runs its time loop: per step one MVM of the
   rows [x_t, h_{t-1}] (quantised as in 1), its four gates read out by the neurons with their
   own activation (sigmoid, sigmoid, tanh, sigmoid: one V_read for the block, each gate's
   columns converted in its mode), then the digital cell update; parallel cells run one after
   another here (the energy account lets cells on different cores overlap).

All read noise of a run comes from one generator, passed down and drawn from in a fixed order
(chunk, layer, block, replica, phase), so the same plan, inputs and generator give the same
numbers whatever ran before.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .._checks import as_finite_array, check_int
from ..compiler.operating import block_mode, operating_point
from ..compiler.plan import LayerPlan, ProgramPlan
from ..nn.layers import Conv2d, Dense, Residual, Sequential, activation_fn
from ..nn.recurrent import LSTM, ParallelLSTM, gate_spans
from ..physics import kernels
from ..physics.neuron import requantize

__all__ = ["run_ann", "run_stages", "layer_rows", "mvm_rows", "digital_activation",
           "default_chunk", "input_shape_check", "check_bits", "check_inputs"]


def default_chunk(program: ProgramPlan) -> int:
    """Inputs per chunk: about 64 MB of patches for the widest layer."""
    per_input = max(p.n_in * p.mvms_per_input for p in program.plans) * 4
    return int(np.clip(64e6 // per_input, 16, 4096))


def run_ann(program: ProgramPlan, x: np.ndarray, in_bits: int, out_bits: int,
            rng: np.random.Generator, *, head_bits: int | None = None,
            noise_model: str = "output", chunk: int | None = None,
            progress: bool | None = None) -> np.ndarray:
    """Run a batch through the compiled model; returns its outputs (batch,) + output shape.

    Parameters as :meth:`snn_neurram.ChipProgram.run`; ``rng`` is the run's read-noise stream.
    """
    out_shape = input_shape_check(program, x)
    if len(x) == 0:
        return np.zeros((0,) + tuple(out_shape))
    chunk = default_chunk(program) if chunk is None else check_int(chunk, "chunk", 1, 10 ** 9)
    show = (len(x) > 2000 and sys.stderr.isatty()) if progress is None else progress
    outs = []
    with tqdm(total=len(x), disable=not show, unit="input", desc="chip run",
              leave=False) as bar:
        for start in range(0, len(x), chunk):
            xs = x[start:start + chunk].astype(np.float32)
            outs.append(_run_node(program, program.model, xs, in_bits, out_bits, noise_model,
                                  head_bits, rng))
            bar.update(len(xs))
    return np.concatenate(outs).astype(np.float64)


def run_stages(program: ProgramPlan, x: np.ndarray, start: int, stop: int, in_bits: int,
               out_bits: int, rng: np.random.Generator, *, head_bits: int | None = None,
               noise_model: str = "output", chunk: int | None = None) -> np.ndarray:
    """Run stages ``start``..``stop - 1`` (see :meth:`ProgramPlan.stages`) on the chip; x is the
    input of stage ``start``."""
    groups = program.stages()
    if len(x) == 0:
        shape = tuple(x.shape[1:])
        for group in groups[start:stop]:
            for layer in group:
                shape = layer.output_shape(shape)
        return np.zeros((0,) + shape)
    outs = []
    chunk = 2048 if chunk is None else check_int(chunk, "chunk", 1, 10 ** 9)
    for c in range(0, len(x), chunk):
        y = x[c:c + chunk].astype(np.float32)
        for group in groups[start:stop]:
            for layer in group:
                y = _run_node(program, layer, y, in_bits, out_bits, noise_model, head_bits, rng)
        outs.append(y)
    return np.concatenate(outs).astype(np.float64)


def _run_node(program: ProgramPlan, node: Any, x: np.ndarray, in_bits: int, out_bits: int,
              noise_model: str, head_bits: int | None, rng: np.random.Generator) -> np.ndarray:
    if isinstance(node, LSTM):
        return _run_lstm(program, program.plan_of(node), node, x, in_bits, out_bits,
                         noise_model, rng)
    if isinstance(node, ParallelLSTM):
        return np.concatenate([_run_node(program, cell, x, in_bits, out_bits, noise_model,
                                         head_bits, rng) for cell in node.cells], axis=1)
    if isinstance(node, (Dense, Conv2d)):
        return _run_weighted(program, program.plan_of(node), node, x, in_bits, out_bits,
                             noise_model, head_bits, rng)
    if isinstance(node, Sequential):
        for layer in node.layers:
            x = _run_node(program, layer, x, in_bits, out_bits, noise_model, head_bits, rng)
        return x
    if isinstance(node, Residual):
        s = x if node.shortcut is None else _run_node(program, node.shortcut, x, in_bits,
                                                      out_bits, noise_model, head_bits, rng)
        y = _run_node(program, node.body, x, in_bits, out_bits, noise_model, head_bits, rng)
        return activation_fn(node.activation, y + s, node.clip).astype(np.float32)
    return node.forward_float(x).astype(np.float32)


def _run_weighted(program: ProgramPlan, plan: LayerPlan, layer: Any, x: np.ndarray,
                  in_bits: int, out_bits: int, noise_model: str, head_bits: int | None,
                  rng: np.random.Generator) -> np.ndarray:
    if head_bits and plan.index == len(program.plans) - 1:
        out_bits = head_bits
    rows, hw = layer_rows(program, plan.index, x, in_bits)
    y = mvm_rows(program, plan, rows, in_bits, out_bits, rng, noise_model=noise_model,
                 nonneg=plan.nonneg_input and bool(np.all(x >= 0)))
    y = apply_correction(plan, y)
    if not plan.single_segment:
        y = digital_activation(program, plan, y, out_bits)
    if isinstance(layer, Conv2d):
        y = layer.fold(y, len(x), hw)
    return y.astype(np.float32)


def _run_lstm(program: ProgramPlan, plan: LayerPlan, layer: LSTM, x: np.ndarray, in_bits: int,
              out_bits: int, noise_model: str, rng: np.random.Generator) -> np.ndarray:
    """An LSTM cell's time loop: per step one MVM of the rows [x_t, h_{t-1}] (quantised to
    in_bits), the gates read out by the neurons (or added partial sums activated digitally),
    then the digital cell update (:meth:`snn_neurram.nn.recurrent.LSTM.run`)."""
    def gates_of(z: np.ndarray) -> np.ndarray:
        rows, _ = layer_rows(program, plan.index, z, in_bits)
        y = apply_correction(plan, mvm_rows(program, plan, rows, in_bits, out_bits, rng,
                                            noise_model=noise_model))
        return y if plan.single_segment else digital_activation(program, plan, y, out_bits)
    return layer.run(x.astype(np.float32), gates_of).astype(np.float32)


def apply_correction(plan: LayerPlan, y: np.ndarray) -> np.ndarray:
    """The layer's per-column linear correction (y - offset) / gain, when calibrated."""
    if plan.gain is None:
        return y
    if plan.single_segment and plan.activation == "relu":
        # a zero code says only "at or below the cut": it stays zero
        return np.where(y > 0, np.maximum((y - plan.offset) / plan.gain, 0.0), 0.0)
    return (y - plan.offset) / plan.gain


def layer_rows(program: ProgramPlan, index: int, x: np.ndarray,
               in_bits: int) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Input codes of weighted layer ``index`` for its inputs x: one row per MVM (patches of
    a convolution), integers in [-(2**in_bits - 1), 2**in_bits - 1]; and the output size
    (H, W) of a convolution (None for a dense layer)."""
    plan, layer = program.plans[index], program.layers[index]
    levels = 2 ** in_bits - 1
    x = np.asarray(x, dtype=np.float32)
    q: np.ndarray = np.empty(x.shape, dtype=program.dtype)
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    kernels.quantize(flat, levels / plan.x_max, levels, q.reshape(len(x), -1))
    if isinstance(layer, Conv2d):
        return layer.patches(q)
    return q.reshape(len(x), -1), None


def mvm_rows(program: ProgramPlan, plan: LayerPlan, rows: np.ndarray, in_bits: int,
             out_bits: int, rng: np.random.Generator, *, noise_model: str = "output",
             nonneg: bool = False, return_codes: bool = False) -> np.ndarray:
    """The layer's outputs per row as the neurons' ADCs give them (single row segment: the
    activation applied) or as the sum of the blocks' partial sums, before any correction.
    ``return_codes``: the ADC codes instead (of the first replica of every block)."""
    mode, bits = block_mode(plan, out_bits)
    y = np.zeros((len(rows), plan.n_out), dtype=np.float64)
    for blk in plan.blocks:
        cfg = operating_point(program, blk, plan, in_bits, out_bits)
        part = rows[:, blk.r0:blk.r1]
        reps = blk.placements[:1] if return_codes else blk.placements
        bounds = np.linspace(0, len(part), len(reps) + 1).astype(int)
        for pl, a, b in zip(reps, bounds[:-1], bounds[1:]):
            if a == b:
                continue
            core = program.chip.cores[pl.core]
            for c0, c1, act in _column_modes(plan, blk, mode):
                cols = None if (c0, c1) == (blk.c0, blk.c1) else slice(c0 - blk.c0, c1 - blk.c0)
                y[a:b, c0:c1] += core.mvm_codes(part[a:b], in_bits, bits, act, block=pl.block,
                                                noise_model=noise_model, nonneg=nonneg,
                                                neuron=cfg, rng=rng, columns=cols,
                                                return_codes=return_codes)
    return y


def _column_modes(plan: LayerPlan, blk: Any, mode: str) -> list[tuple[int, int, str]]:
    """The block's columns by the neurons' mode: one span, or an LSTM cell's gates that it
    holds (each gate read out with its own activation)."""
    if mode != "lstm":
        return [(blk.c0, blk.c1, mode)]
    return [(max(c0, blk.c0), min(c1, blk.c1), act)
            for c0, c1, act in gate_spans(plan.n_out // 4) if c0 < blk.c1 and c1 > blk.c0]


def digital_activation(program: ProgramPlan, plan: LayerPlan, y: np.ndarray,
                       out_bits: int) -> np.ndarray:
    """Activation of added partial sums, requantised to out_bits over the layer's range (an
    LSTM cell: each gate's activation on its columns)."""
    if plan.activation != "lstm":
        return requantize(y, plan.activation, out_bits, top=plan.out_top,
                          config=program.chip.neuron)
    out = np.empty_like(y)
    for c0, c1, act in gate_spans(plan.n_out // 4):
        out[:, c0:c1] = requantize(y[:, c0:c1], act, out_bits, config=program.chip.neuron)
    return out


def input_shape_check(program: ProgramPlan, x: np.ndarray) -> tuple[int, ...]:
    """Output shape of one input of x's shape, or a ValueError that names x."""
    try:
        return tuple(program.model.output_shape(tuple(x.shape[1:])))
    except ValueError as exc:
        raise ValueError(f"x has inputs of shape {tuple(x.shape[1:])}, which the model does "
                         f"not take: {exc}") from None


def check_bits(in_bits: Any, out_bits: Any, head_bits: Any = None) -> tuple[int, int, int | None]:
    """Validated (in_bits, out_bits, head_bits)."""
    return (check_int(in_bits, "in_bits", 1, 8), check_int(out_bits, "out_bits", 1, 8),
            None if head_bits is None else check_int(head_bits, "head_bits", 1, 8))


def check_inputs(x: Any) -> np.ndarray:
    """A finite float array with a batch axis."""
    x = as_finite_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis: shape (batch, ...) (got {x.shape})")
    return x
