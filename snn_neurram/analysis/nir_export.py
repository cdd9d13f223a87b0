"""A compiled native spiking program as a NIR graph, with the weights its cells hold.

:func:`effective_model` reads every block of every layer back from the programmed (relaxed,
faulty, drifted) conductances (:meth:`snn_neurram.Core.effective_weights`, the first placement
of each block: replicas hold their own copies), assembles each layer's matrix -- rows r0:r1 and
columns c0:c1 of a block; a recurrent ``SpikingDense``'s matrix is ``vstack([W, W_rec])`` -- and
bias (the bias rows' sum, a calibration's bias shift included: it is in the cells), and gives
the model with those weights. :func:`program_to_nir` exports it with
:func:`snn_neurram.nn.nir_io.to_nir`, so that other simulators run the network the chip holds.

What the export leaves out: read noise, the ADC, the integrator's swing, and the per-column
digital corrections (gain and offset) of a layer -- it is the chip's weights in the float model.
Needs the optional ``nir`` package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..compiler.native import is_native
from ..compiler.plan import ProgramPlan, as_plan
from ..nn.graph import leaves
from ..nn.layers import Sequential
from ..nn.nir_io import DT, to_nir
from ..nn.spiking import SpikingConv2d, SpikingDense, is_spiking

__all__ = ["effective_model", "program_to_nir"]


def _native_plan(program: Any) -> ProgramPlan:
    plan = as_plan(program)
    if not is_native(plan.model):
        kinds = sorted({type(l).__name__ for l in plan.layers})
        raise ValueError(
            f"NIR export takes a native spiking program (SpikingDense / SpikingConv2d layers); "
            f"this one is a converted network ({', '.join(kinds)}), whose thresholds and "
            "timing the compiler and the spiking engine choose per run, so it has no NIR form")
    return plan


def _layer_matrix(plan: ProgramPlan, layer: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The (n_in, n_out) matrix and bias of one weighted layer, read back from its cells."""
    lp = plan.plan_of(layer)
    M = np.zeros((lp.n_in, lp.n_out))
    b = None if layer.b is None else np.zeros(lp.n_out)
    filled = np.zeros((lp.n_in, lp.n_out), bool)
    for blk in lp.blocks:
        pl = blk.placements[0]
        W_blk, b_blk = plan.chip.cores[pl.core].effective_weights(pl.block)
        if W_blk.shape != (blk.r1 - blk.r0, blk.c1 - blk.c0):
            raise ValueError(f"layer {lp.name!r}: block rows {blk.r0}:{blk.r1}, columns "
                             f"{blk.c0}:{blk.c1} read back as {W_blk.shape}")
        M[blk.r0:blk.r1, blk.c0:blk.c1] = W_blk
        filled[blk.r0:blk.r1, blk.c0:blk.c1] = True
        if blk.has_bias and b is not None and b_blk is not None:
            b[blk.c0:blk.c1] = b_blk
    if not filled.all():
        raise ValueError(f"layer {lp.name!r}: its blocks do not cover its matrix")
    return M, b


def effective_model(program: Any) -> Sequential:
    """The native model of a compiled program with the weights and biases its cells hold
    (see the module documentation); neurons, shapes and names as the model's."""
    plan = _native_plan(program)
    out: list[Any] = []
    for layer in leaves(plan.model):
        if not is_spiking(layer):
            out.append(layer)
            continue
        M, b = _layer_matrix(plan, layer)
        if isinstance(layer, SpikingConv2d):
            out.append(SpikingConv2d(M.T.reshape(layer.W.shape), b, layer.stride,
                                     layer.padding, layer.neuron, name=layer.name))
        else:
            n_in = layer.W.shape[0]
            out.append(SpikingDense(M[:n_in], b, layer.neuron,
                                    M[n_in:] if layer.recurrent else None, name=layer.name))
    return Sequential(*out, name=plan.model.name)


def program_to_nir(program: Any, *, dt: float = DT, effective: bool = True,
                   input_shape: tuple[int, ...] | None = None,
                   readout: str = "count") -> Any:
    """A compiled native spiking program as a ``nir.NIRGraph``.

    Parameters
    ----------
    program : ChipProgram or ProgramPlan
        Compiled from a native spiking network (a converted network raises ValueError).
    dt : float
        Seconds per chip step (see :mod:`snn_neurram.nn.nir_io`).
    effective : bool
        Export the weights the cells hold (:func:`effective_model`); False: the model's own.
    input_shape, readout
        As for :func:`snn_neurram.nn.nir_io.to_nir` (``input_shape`` for a network that starts
        with a convolution; ``readout="membrane"`` makes the last layer a non-firing LI / I).
    """
    plan = _native_plan(program)
    model = effective_model(plan) if effective else plan.model
    return to_nir(model, dt=dt, input_shape=input_shape, readout=readout)
