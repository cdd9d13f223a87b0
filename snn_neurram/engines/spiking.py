"""Spiking inference of a compiled network: ANN-to-SNN conversion and the time-stepped engine.

Conversion: thresholds and operating points come from
:mod:`snn_neurram.compiler.conversion`. One time step is one neuron cycle. Input spikes of a
rate code arrive with probability x / x_max per step. Every neuron steps the one LIF of the
package, :func:`snn_neurram.physics.neuron.lif_step`, with the chip's neuron design: leak,
saturation, reset (to zero or by subtraction) and refractory cycles as ``chip.neuron`` says.
Max-pooling of spike maps is an OR over the window, flattening is free; average pooling and
residual additions have no spiking form here.

Time line: a layer integrates in step t the spikes its input emitted in step t - 1 (as Brian2
delivers them), so the input layer's spikes of step t reach layer l in step t + l. The run lasts
``steps + layers`` steps; input spikes come in the first ``steps``.

Latency coding (time to first spike): an input spikes once, earlier for larger values; an input
row that has spiked stays driven (latched) in every later step, so a neuron's potential grows
with sum_i w_ij (t - t_i); a neuron fires once, when it reaches steps / 4 thresholds (fewer if
that would exceed three quarters of the integrator's swing), and its row is then latched in the
next layer.

The output layer does not fire by default: its membrane (``readout="membrane"``) is the
prediction; ``readout="count"`` makes it fire and reads spike counts (ties broken by the residual
membrane).

Chunks: a batch runs in chunks of inputs (``chunk``, default :func:`default_chunk`: about 96 MB
of spiking state), so that memory is bounded by the chunk, not the data set; only the results
grow with the batch. Chunk k draws its input spikes and read noise from streams of (chip seed,
run seed, k): results depend on the seed and the chunk size -- as in ANN mode -- and a batch
that fits one chunk runs exactly as a whole.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from .._checks import as_finite_array, check_choice, check_int
from ..compiler.conversion import (CODINGS, PARTIAL_BITS, SpikingLayerPlan, snn_layers,
                                   spiking_plan)
from ..compiler.native import layer_rows, spike_op
from ..compiler.plan import ProgramPlan, as_plan
from ..nn.layers import Conv2d, Dense
from ..physics import encoding
from ..physics.energy import EnergyModel
from ..physics.neuron import lif_step
from .results import SNNResult

__all__ = ["SNNResult", "run_snn", "snn_layers", "CODINGS", "encode", "default_chunk",
           "CHUNK_BYTES"]

#: Spiking state per chunk that :func:`default_chunk` aims at (bytes).
CHUNK_BYTES = 96e6


class _SpikingLayer:
    """State of one weighted layer in a spiking run (its plan says how it spikes)."""

    def __init__(self, program: ProgramPlan, sp: SpikingLayerPlan, batch: int,
                 out_shape: tuple[int, ...], index: int):
        self.program, self.sp, self.index = program, sp, index
        self.layer, self.plan = sp.layer, sp.plan
        self.digital, self.fires = sp.digital, sp.fires
        self.v = np.zeros((batch,) + out_shape)
        self.refractory = np.zeros(self.v.shape, dtype=np.int64)
        self.fired = np.zeros(self.v.shape, bool)
        theta = sp.theta.reshape(1, -1, 1, 1) if isinstance(self.layer, Conv2d) else sp.theta
        self.theta = np.broadcast_to(theta, self.v.shape)
        self.own = np.zeros(self.v.shape, np.int8) if sp.recurrent else None

    def step(self, s: np.ndarray, t: int, steps: int, noise_model: str, account: _Account,
             rng: np.random.Generator) -> np.ndarray:
        """Integrate input pulses s in cycle t, return output spikes (int8, v's shape)."""
        if not self.sp.active(self.index, t, steps):
            return np.zeros(self.v.shape, np.int8)
        layer, plan, cores = self.layer, self.plan, self.program.chip.cores
        n = len(s)
        rows, hw = layer_rows(layer, s, self.own, self.program.dtype)
        nonneg = bool(rows.min() >= 0)
        dv = np.zeros((len(rows), plan.n_out))
        for blk, cfg in zip(plan.blocks, self.sp.block_configs):
            part = rows[:, blk.r0:blk.r1]
            reps = blk.placements
            bounds = np.linspace(0, len(part), len(reps) + 1).astype(int)
            pulses = np.count_nonzero(part) + blk.has_bias * len(part) * (
                blk.pairs - (blk.r1 - blk.r0))
            # an MVM none of whose rows is pulsed is skipped: no conversion, no energy
            driven: np.ndarray = (np.ones(len(part), bool) if blk.has_bias
                                  else np.asarray(part.any(axis=1)))
            account.block(self, blk, pulses, np.count_nonzero(driven) / n)
            for pl, a, b in zip(reps, bounds[:-1], bounds[1:]):
                core = cores[pl.core]
                if self.digital:
                    codes = core.mvm_codes(
                        part[a:b], 1, PARTIAL_BITS, "linear", block=pl.block,
                        noise_model=noise_model, nonneg=nonneg, neuron=cfg, rng=rng)
                    dv[a:b, blk.c0:blk.c1] += codes * driven[a:b, None]
                else:
                    dv[a:b, blk.c0:blk.c1] += core.integrate_codes(
                        part[a:b], 1, block=pl.block, noise_model=noise_model, nonneg=nonneg,
                        neuron=cfg, rng=rng)
        if hw is not None:
            dv = layer.fold(dv, n, hw)
        else:
            dv = dv.reshape(self.v.shape)
        theta: Any = self.theta if self.fires else np.inf
        spikes = lif_step(self.v, dv, self.refractory, self.sp.neuron, theta,
                          saturate=not self.digital,
                          can_fire=~self.fired if self.sp.latency else None)
        if self.sp.latency:
            self.fired |= spikes
        out = spikes.astype(np.int8)
        if self.own is not None:
            self.own = out
        return out

    def readout(self) -> np.ndarray:
        return self.v / self.theta


class _Account:
    """Counts pulses, synaptic events, energy and per-core busy time of a spiking run."""

    def __init__(self, batch: int):
        self.m = EnergyModel()
        self.batch = batch
        self.energy = 0.0
        self.events = 0.0
        self.busy: dict[int, float] = {}

    def block(self, layer, blk, pulses, mvms_per_input):
        m = self.m
        cols = blk.c1 - blk.c0
        rows_pulsed = pulses / self.batch                   # row pairs pulsed, per input
        e = 2 * rows_pulsed * (m.e_wl_pulse + m.e_input_pulse)
        e += cols * mvms_per_input * m.e_neuron_cycle
        t = m.t_cycle + m.t_adc_step                         # integrate, compare
        if layer.digital:
            e += cols * mvms_per_input * (m.e_neuron_phase + PARTIAL_BITS * m.e_adc_step +
                                          m.e_digital_op)
            t = m.t_phase + m.t_cycle + PARTIAL_BITS * m.t_adc_step
        self.energy += e
        self.events += rows_pulsed * cols
        share = mvms_per_input / len(blk.placements)
        for pl in blk.placements:
            self.busy[pl.core] = self.busy.get(pl.core, 0.0) + share * t

    def step_done(self):
        step_time = max(self.busy.values()) if self.busy else 0.0
        self.busy = {}
        return step_time


def run_snn(program: Any, x: ArrayLike, coding: str = "rate", steps: int = 64, *,
            readout: str = "membrane", seed: int | None = 0, noise_model: str = "output",
            record_raster: bool = False, record_spikes: bool = False, chunk: int | None = None,
            progress: bool | None = None) -> SNNResult:
    """Run a compiled program as a spiking network (see the module documentation): a converted
    network, or a native one (:mod:`snn_neurram.nn.spiking`).

    Parameters
    ----------
    program : ChipProgram or ProgramPlan
    x : array_like
        Inputs, (batch,) + input shape, in the units of the calibration data; with
        ``coding="spikes"``, spike trains (batch, steps) + input shape, values in {-1, 0, 1}.
    coding : {"rate", "regular", "latency", "spikes"}
        Poisson rate, deterministic rate or time-to-first-spike coding of the inputs, or inputs
        that are spike trains already.
    steps : int
        Time steps of input (with ``coding="spikes"``: ignored, x's second axis says).
    readout : {"membrane", "count"}
    seed : int or None
        With the chip's seed, seeds the encoder and the read noise (None: fresh draws).
    noise_model : {"output", "device"}
    record_raster : bool
        Keep the spikes and membranes of the first input, per layer and step.
    record_spikes : bool
        Keep every input's spikes, per layer and step (``SNNResult.spikes``).
    chunk : int, optional
        Inputs run at a time (default :func:`default_chunk`: about 96 MB of spiking state).
        Memory is bounded by the chunk, not the batch. The random streams of chunk k derive
        from (chip seed, ``seed``, k): the results depend on the seed and the chunk size, and
        a batch that fits one chunk is run exactly as a whole.
    progress : bool, optional
        Show a progress bar ("spiking run", in inputs); default: when the batch has more than
        2000 inputs and standard error is a terminal.

    Returns
    -------
    SNNResult
        Per-inference figures (spikes, synaptic events, energy, latency) are means over the
        batch; the raster is the first input's.
    """
    program = as_plan(program)
    check_choice(coding, "coding", CODINGS)
    check_choice(readout, "readout", ("membrane", "count"))
    x = as_finite_array(x, "x")
    if coding == "spikes":
        x = np.moveaxis(encoding.spike_trains(x, "x (with coding='spikes')"), 0, 1)
        steps = x.shape[1]
        in_shape = tuple(x.shape[2:])
    else:
        steps = check_int(steps, "steps", 1, 100000)
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis: shape (batch, ...) (got {x.shape})")
        in_shape = tuple(x.shape[1:])
    layers = snn_layers(program.model)
    try:
        out_shape = tuple(program.model.output_shape(in_shape))
    except ValueError as exc:
        raise ValueError(f"x has inputs of shape {in_shape}, which the model does "
                         f"not take: {exc}") from None
    weighted = [l for l in layers if isinstance(l, (Dense, Conv2d))]
    if chunk is None:
        chunk = default_chunk(program, in_shape, steps)
    else:
        chunk = check_int(chunk, "chunk", 1, 10 ** 9)
    if len(x) == 0:
        n_out = int(np.prod(out_shape))
        shapes, shape = [in_shape], in_shape
        for layer in layers:
            shape = tuple(layer.output_shape(shape))
            if isinstance(layer, (Dense, Conv2d)):
                shapes.append(shape)
        n_run = steps + len(weighted)
        return SNNResult(
            predictions=np.zeros(0, dtype=np.int64), outputs=np.zeros((0, n_out)),
            readout=np.zeros((0, n_run, n_out)),
            spike_counts=[np.zeros((0,) + sh, np.int64) for sh in shapes],
            layer_names=["input"] + [l.name for l in weighted],
            spikes_per_inference=float("nan"), synaptic_events_per_inference=float("nan"),
            energy_per_inference_j=float("nan"), latency_s=float("nan"), steps=steps,
            steps_run=n_run, coding=coding, raster=None,
            spikes=[np.zeros((0, n_run, int(np.prod(sh))), np.int8) for sh in shapes]
            if record_spikes else None)
    show = (len(x) > 2000 and sys.stderr.isatty()) if progress is None else bool(progress)
    merged: _Merged | None = None
    with tqdm(total=len(x), disable=not show, unit="input", desc="spiking run",
              leave=False) as bar:
        for k, start in enumerate(range(0, len(x), chunk)):
            tag = "" if k == 0 else f" chunk {k}"
            part = _run_chunk(
                program, x[start:start + chunk], coding, steps, readout, noise_model,
                record_raster and k == 0, record_spikes, layers, weighted,
                program.chip.rng(seed, "encoder" + tag),
                program.chip.rng(seed, "read noise" + tag))
            if k == 0 and len(part.predictions) == len(x):
                return part                                  # the batch fitted one chunk
            merged = _Merged(part, len(x)) if merged is None else merged
            merged.add(start, part)
            bar.update(len(part.predictions))
    assert merged is not None
    return merged.result()


def default_chunk(program: Any, input_shape: tuple[int, ...], steps: int = 64) -> int:
    """Inputs per chunk of a spiking run: about :data:`CHUNK_BYTES` of state per chunk --
    input spikes of every step, and per layer its membranes, refractory counters, spike flags,
    counts, the readout of every step and the rows of its MVMs -- at least 1."""
    program = as_plan(program)
    shape = tuple(int(d) for d in input_shape)
    per_input = float(np.prod(shape)) * (steps + 8)          # int8 spikes, counts
    for layer in snn_layers(program.model):
        out = layer.output_shape(shape)
        size = float(np.prod(out))
        per_input += size * (8 + 8 + 1 + 8 + 8)              # v, refractory, flags, counts, dv
        if isinstance(layer, (Dense, Conv2d)):
            plan = program.plan_of(layer)
            per_input += plan.mvms_per_input * (plan.n_in + 3 * plan.n_out) * 8
        shape = out
    per_input += float(np.prod(shape)) * (steps + len(program.plans)) * 8   # readout
    return max(1, int(CHUNK_BYTES // per_input))


class _Merged:
    """The result of a chunked run, filled chunk by chunk into arrays of the whole batch (so
    that no chunk's arrays are kept); per-inference figures are size-weighted means."""

    MEANS = ("spikes_per_inference", "synaptic_events_per_inference", "energy_per_inference_j",
             "latency_s")

    def __init__(self, first: SNNResult, batch: int) -> None:
        self.first = first
        self.predictions = np.empty((batch,) + first.predictions.shape[1:],
                                    first.predictions.dtype)
        self.outputs = np.empty((batch,) + first.outputs.shape[1:])
        self.readout = np.empty((batch,) + first.readout.shape[1:])
        self.counts = [np.empty((batch,) + c.shape[1:], c.dtype) for c in first.spike_counts]
        self.spikes = None if first.spikes is None else [
            np.empty((batch,) + c.shape[1:], c.dtype) for c in first.spikes]
        self.sums = dict.fromkeys(self.MEANS, 0.0)
        self.n = 0

    def add(self, start: int, part: SNNResult) -> None:
        stop = start + len(part.predictions)
        self.predictions[start:stop] = part.predictions
        self.outputs[start:stop] = part.outputs
        self.readout[start:stop] = part.readout
        for whole, c in zip(self.counts, part.spike_counts):
            whole[start:stop] = c
        for whole, c in zip(self.spikes or [], part.spikes or []):
            whole[start:stop] = c
        for name in self.MEANS:
            self.sums[name] += len(part.predictions) * getattr(part, name)
        self.n += len(part.predictions)

    def result(self) -> SNNResult:
        f = self.first
        means = {name: self.sums[name] / self.n for name in self.MEANS}
        return SNNResult(predictions=self.predictions, outputs=self.outputs,
                         readout=self.readout, spike_counts=self.counts,
                         layer_names=f.layer_names, steps=f.steps, steps_run=f.steps_run,
                         coding=f.coding, raster=f.raster, membrane=f.membrane,
                         spikes=self.spikes, **means)


def _run_chunk(program: ProgramPlan, x: np.ndarray, coding: str, steps: int, readout: str,
               noise_model: str, record_raster: bool, record_spikes: bool, layers: list[Any],
               weighted: list[Any], enc_rng: np.random.Generator,
               noise: np.random.Generator) -> SNNResult:
    """One chunk of a spiking run, with its own encoder and read-noise streams."""
    if coding == "spikes":
        spikes_in = np.moveaxis(x, 1, 0).astype(np.int8)
    else:
        spikes_in = encode(x, coding, steps, program.plan_of(weighted[0]).x_max, enc_rng)
    batch = len(x)
    # stages: the digital operations before a weighted layer, and its spiking state
    ops: list[Any] = []
    stages: list[tuple[list[Any], _SpikingLayer]] = []
    shape = tuple(spikes_in.shape[2:])
    for layer in layers:
        out = layer.output_shape(shape)
        if isinstance(layer, (Dense, Conv2d)):
            sp = spiking_plan(program, layer, layer is weighted[-1], readout, coding, steps)
            stages.append((ops, _SpikingLayer(program, sp, batch, out, len(stages))))
            ops = []
        else:
            ops.append(layer)
        shape = out
    n_run = steps + len(stages)
    account = _Account(batch)
    zeros_in = np.zeros(spikes_in.shape[1:], np.int8)
    emitted = [np.zeros((batch,) + st.v.shape[1:], np.int8) for _, st in stages]
    latches: list[Any] = [None] * len(stages)
    counts = [np.abs(spikes_in).sum(axis=0).astype(np.int64)]
    counts += [np.zeros((batch,) + st.v.shape[1:], np.int64) for _, st in stages]
    raster: list[list[np.ndarray]] | None = [[] for _ in counts] if record_raster else None
    membrane: list[list[np.ndarray]] | None = [[] for _ in stages] if record_raster else None
    trains: list[np.ndarray] | None = None
    if record_spikes:
        trains = [np.zeros((batch, n_run, int(np.prod(c.shape[1:]))), np.int8) for c in counts]
        trains[0][:, :steps] = spikes_in.reshape(steps, batch, -1).transpose(1, 0, 2)
    readouts, time_s = [], 0.0
    for t in range(n_run):
        if t > 0:
            sources = [spikes_in[t - 1] if t - 1 < steps else zeros_in] + emitted[:-1]
            new = []
            for k, ((pre_ops, state), src) in enumerate(zip(stages, sources)):
                h = src
                for op in pre_ops:
                    h = spike_op(op, h)
                if coding == "latency":            # a row that has spiked stays driven
                    latches[k] = h if latches[k] is None else np.where(h != 0, h, latches[k])
                    h = latches[k]
                new.append(state.step(h, t, steps, noise_model, account, noise))
            emitted = new
            time_s += account.step_done()
        for k, e in enumerate(emitted):
            counts[k + 1] += np.abs(e)
            if trains is not None:
                trains[k + 1][:, t] = e.reshape(batch, -1)
        if raster is not None and membrane is not None:
            raster[0].append(np.abs(spikes_in[t][0]).ravel() if t < steps
                             else np.zeros(zeros_in[0].size, np.int8))
            for k, e in enumerate(emitted):
                raster[k + 1].append(np.abs(e[0]).ravel())
                st = stages[k][1]
                membrane[k].append((st.v[0] / st.theta[0]).ravel())
        last = stages[-1][1]
        value = last.readout().reshape(batch, -1)
        if readout == "count":
            value = value + counts[-1].reshape(batch, -1)
        readouts.append(value)
    readout_arr = np.stack(readouts, axis=1)
    outputs = readout_arr[:, -1]
    total_spikes = sum(float(c.sum()) for c in counts) / batch
    names = ["input"] + [st.layer.name for _, st in stages]
    return SNNResult(
        predictions=outputs.argmax(axis=1), outputs=outputs, readout=readout_arr,
        spike_counts=counts, layer_names=names, spikes_per_inference=total_spikes,
        synaptic_events_per_inference=account.events,
        energy_per_inference_j=account.energy, latency_s=time_s, steps=steps, steps_run=n_run,
        coding=coding,
        raster=None if raster is None else [np.stack(r) for r in raster],
        membrane=None if membrane is None else [np.stack(m) for m in membrane],
        spikes=trains)


def encode(x: np.ndarray, coding: str, steps: int, x_max: float,
           rng: np.random.Generator) -> np.ndarray:
    """Input spikes (steps, batch, ...) of a spiking run (the encoder of both engines)."""
    if coding == "rate":
        return encoding.poisson(x, steps, rng, x_max)
    if coding == "regular":
        return encoding.regular(x, steps, x_max)
    return encoding.latency(x, steps, x_max)
