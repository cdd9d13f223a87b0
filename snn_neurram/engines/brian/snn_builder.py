"""A converted spiking network of a compiled program as Brian2 objects (the Brian2 engine of
``mode="snn"``).

Every weighted layer becomes a :class:`NeuRRAMNeurons` group in ``lif`` mode with the chip's
neuron design (leak, reset, refractory cycles) and the thresholds of the conversion
(:mod:`snn_neurram.compiler.conversion`), as the batch engine runs them; its programmed block
becomes :class:`RRAMSynapses` with spike inputs carrying the block's conductances unchanged, the
bias rows a second set fed by a generator that spikes every step, and the block's columns keep the
load of every other cell of the core. A batch runs as independent copies of the network in one
Brian2 run. The input spikes are those of the batch engine's encoder with the same seed, so both
engines see the same spikes; with read noise off their spike trains are identical.

Supported: Dense layers of one row segment and one column segment each (an MLP whose layers fit a
core, as the digits MLP); the batch engine runs everything else.
"""

from __future__ import annotations

from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ...compiler.conversion import snn_layers, spiking_plan
from ...nn.layers import Dense
from ...physics import encoding
from ...compiler.plan import as_plan
from ..results import SNNResult
from .neurons import NeuRRAMNeurons
from .synapses import RRAMSynapses

__all__ = ["run_snn_brian"]


def _layer_plan(program, layers):
    plans = []
    for layer in layers:
        if not isinstance(layer, Dense):
            raise ValueError("the Brian2 spiking engine runs networks of Dense layers "
                             f"(got {type(layer).__name__}); use the batch engine")
        plan = program.plan_of(layer)
        if len(plan.blocks) != 1:
            raise ValueError(f"layer {plan.name} spans {len(plan.blocks)} blocks; the Brian2 "
                             "spiking engine needs every layer on one block")
        plans.append(plan)
    return plans


def run_snn_brian(program: Any, x: ArrayLike, coding: str = "rate", steps: int = 64, *,
                  readout: str = "membrane", seed: int | None = 0,
                  target: str | None = None) -> SNNResult:
    """Run a compiled MLP (a ChipProgram or its ProgramPlan) as a spiking network in Brian2;
    returns an :class:`SNNResult` (energy and latency are not accounted here: see the batch
    engine). The input spikes are the batch engine's for the same ``seed``."""
    program = as_plan(program)
    if target is not None:
        b2.prefs.codegen.target = target
    x = np.asarray(x, float)
    layers = snn_layers(program.model)
    weighted = [l for l in layers if isinstance(l, Dense)]
    plans = _layer_plan(program, weighted)
    batch = len(x)
    rng = program.chip.rng(seed, "encoder")
    x_flat = x.reshape(batch, -1)
    enc = {"rate": lambda: encoding.poisson(x_flat, steps, rng, plans[0].x_max),
           "regular": lambda: encoding.regular(x_flat, steps, plans[0].x_max)}
    if coding not in enc:
        raise ValueError("the Brian2 spiking engine runs coding='rate' or 'regular'")
    spikes_in = enc[coding]()
    n_run = steps + len(plans)
    dt = b2.defaultclock.dt
    t_idx, b_idx, i_idx = np.nonzero(spikes_in)
    n_in = x_flat.shape[1]
    # fixed names keep the generated code identical from run to run, so that compiled code
    # objects (cython) are reused
    src = b2.SpikeGeneratorGroup(batch * n_in, b_idx * n_in + i_idx, t_idx * dt, name="snn_in")
    objects = [src]
    groups, monitors = [], []
    cores = program.chip.cores
    dev = program.chip.device
    sigma = dev.read_noise_sigma if dev.read_noise else 0.0
    for k, (layer, plan) in enumerate(zip(weighted, plans)):
        state = spiking_plan(program, layer, k == len(plans) - 1, readout, coding, steps)
        blk = plan.blocks[0]
        pl = blk.placements[0]
        core = cores[pl.core]
        b = core.blocks[pl.block]
        gp_rows, gm_rows = core.pair_rows(b)
        gp, gm = gp_rows[:, b.cols], gm_rows[:, b.cols]
        cfg = state.neuron.replace(v_read=state.block_configs[0].v_read)
        neurons = NeuRRAMNeurons(batch * plan.n_out, cfg, mode="lif", read_noise=sigma,
                                 name=f"snn_layer{k}")
        theta = np.tile(state.theta, batch) if state.fires else np.full(batch * plan.n_out, 1e9)
        neurons.threshold = theta * b2.volt
        syn = RRAMSynapses(src, neurons, conductances=(gp[:b.n_in], gm[:b.n_in]),
                           device=dev, input="spikes", copies=batch, name=f"snn_syn{k}")
        objects += [neurons, syn]
        if b.n_bias_rows:
            ids = np.repeat(np.arange(batch * b.n_bias_rows), n_run - 1)
            times = np.tile(np.arange(n_run - 1), batch * b.n_bias_rows) * dt
            bias = b2.SpikeGeneratorGroup(batch * b.n_bias_rows, ids, times, name=f"snn_bias{k}")
            bsyn = RRAMSynapses(bias, neurons, conductances=(gp[b.n_in:], gm[b.n_in:]),
                                device=dev, input="spikes", copies=batch,
                                name=f"snn_biassyn{k}")
            objects += [bias, bsyn]
        neurons.add_core_loads(core.idle_loads(pl.block), "columns", copies=batch)
        spikes = b2.SpikeMonitor(neurons, name=f"snn_spikes{k}")
        objects.append(spikes)
        groups.append((neurons, state.theta))
        monitors.append(spikes)
        src = neurons
        n_in = plan.n_out
    out_neurons, out_theta = groups[-1]
    vmon = b2.StateMonitor(out_neurons, "v", record=True, when="end", name="snn_v")
    objects.append(vmon)
    b2.Network(*objects).run(n_run * dt)
    counts = [np.abs(spikes_in).sum(axis=0)]
    raster = [spikes_in.transpose(1, 0, 2)]
    for (neurons, _), mon, plan in zip(groups, monitors, plans):
        i = np.asarray(mon.i[:])
        t = np.rint(np.asarray(mon.t_[:]) / float(dt)).astype(int)
        r = np.zeros((batch, n_run, plan.n_out), np.int8)
        r[i // plan.n_out, t, i % plan.n_out] = 1
        raster.append(r)
        counts.append(r.sum(axis=1))
    v = np.asarray(vmon.v_).reshape(batch, plans[-1].n_out, n_run).transpose(0, 2, 1)
    read = v / out_theta
    if readout == "count":
        read = read + np.cumsum(raster[-1], axis=1)
    return SNNResult(predictions=read[:, -1].argmax(axis=1), outputs=read[:, -1], readout=read,
                     spike_counts=counts, layer_names=["input"] + [p.name for p in plans],
                     spikes_per_inference=sum(float(c.sum()) for c in counts) / batch,
                     synaptic_events_per_inference=float("nan"),
                     energy_per_inference_j=float("nan"), latency_s=float("nan"), steps=steps,
                     steps_run=n_run, coding=coding, raster=raster)
