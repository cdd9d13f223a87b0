"""A compiled spiking program as Brian2 objects: the Brian2 engine of ``mode="snn"``.

:func:`build_snn_brian` turns any program the batch spiking engine
(:mod:`snn_neurram.engines.spiking`) runs -- a converted network or a native one
(:mod:`snn_neurram.nn.spiking`): Dense and Conv2d layers over any number of row and column
segments, max-pooling and flattening between them, recurrent layers, the native layers' gating
windows, and every coding ("rate", "regular", "latency", "spikes") -- into a Brian2 ``Network``;
:func:`run_snn_brian` builds, runs and reads it like the batch engine's ``run_snn``.

- Weighted layers: :class:`~snn_neurram.engines.brian.snn_layers.SpikingLayerGroup` (one neuron
  per output, per output pixel for a convolution) fed by a
  :class:`~snn_neurram.engines.brian.snn_layers.LineGroup` (one line per neuron and row
  segment), their programmed cells as ``Synapses`` with spike inputs, one per source of rows,
  carrying each pair's conductances unchanged (convolutions unrolled: one set of columns per
  output pixel). A layer of one row segment integrates in analog neurons; a layer of several
  adds its segments' 8-bit partial sums into a digital membrane, as the batch engine does.
- Between layers: flattening is free (neuron indices are C-major), max-pooling is an OR in a
  :class:`~snn_neurram.engines.brian.snn_layers.SpikeRelay` that fires in the same step; latency
  coding latches rows through the same relays (latched input rows are precomputed).
- Recurrent layers: synapses from the layer to itself (its spikes of one step drive its rows in
  the next), after the input's rows, as the matrix vstack([W, W_rec]) is tiled.
- Time line: one Brian2 step is one chip cycle; spikes of step t are integrated in step t + 1;
  the run lasts ``steps + layers`` steps; a native layer k integrates only in steps
  k + 1 ... k + steps.

A batch runs as independent copies of the network in one Brian2 run. The input spikes are the
batch engine's encoder's with the same ``seed`` (its first chunk: the engines agree when the
batch fits one chunk of the batch engine). Read noise is the per-cell read noise of
:mod:`~snn_neurram.engines.brian.neurons`, exact in distribution for one cycle per step (a
block whose operating point repeats pulses takes the averaged read of its cycles), drawn from
Brian2's generator, which the run seeds from ``seed`` (``brian2.seed``). With read noise
off (``RRAMDevice(read_noise=False)``) and the chip in double precision, every layer's spike
train equals the batch engine's spike for spike on the ``numpy`` target.
"""

from __future__ import annotations

import time
from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ..._checks import as_finite_array, check_choice, check_int
from ...compiler.conversion import CODINGS, snn_layers, spiking_plan
from ...compiler.native import spike_op
from ...compiler.plan import ProgramPlan, as_plan
from ...nn.layers import Conv2d, Dense, MaxPool2d
from ...physics import encoding
from ..results import SNNResult
from .snn_layers import (RELAY_ORDER, LineGroup, SegmentActivity, SpikeRelay, SpikingLayerGroup,
                         activity_index, layer_wiring,
                         line_sums, relay_pairs, spike_synapses)

__all__ = ["run_snn_brian", "build_snn_brian", "SNNCircuit"]


def _input_spikes(program: ProgramPlan, x: np.ndarray, coding: str, steps: int,
                  x_max: float, seed: int | None) -> tuple[np.ndarray, int]:
    """Input spikes (steps, batch) + input shape, int8, as the batch engine draws them."""
    if coding == "spikes":
        spikes = encoding.spike_trains(x, "x (with coding='spikes')")
        return spikes, len(spikes)
    steps = check_int(steps, "steps", 1, 100000)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis: shape (batch, ...) (got {x.shape})")
    rng = program.chip.rng(seed, "encoder")
    if coding == "rate":
        return encoding.poisson(x, steps, rng, x_max), steps
    if coding == "regular":
        return encoding.regular(x, steps, x_max), steps
    return encoding.latency(x, steps, x_max), steps


def _drive(spikes_in: np.ndarray, ops: list[Any], n_run: int, latch: bool) -> np.ndarray:
    """What the first layer's rows receive, (n_run - 1, batch, n): the input spikes after the
    digital operations before it, latched (latency coding) -- row pulses of step t are
    integrated in step t + 1."""
    steps, batch = spikes_in.shape[:2]
    h = spikes_in.reshape((steps * batch,) + spikes_in.shape[2:])
    for op in ops:
        h = spike_op(op, h)
    h = h.reshape(steps, batch, -1)
    out = np.zeros((n_run - 1,) + h.shape[1:], np.int8)
    out[:min(steps, n_run - 1)] = h[:n_run - 1]
    if latch:
        for t in range(1, n_run - 1):
            out[t] = np.where(out[t] != 0, out[t], out[t - 1])
    return out


class SNNCircuit:
    """A compiled spiking program and a batch of inputs as one Brian2 network (see the module
    documentation). :meth:`run` runs it, :meth:`result` reads it as an :class:`SNNResult`.

    Attributes
    ----------
    network : brian2.Network
    groups : list of SpikingLayerGroup
        One per weighted layer (``batch`` copies of its neurons).
    synapses : list of brian2.Synapses
    n_synapses : int
        Synapses of all copies: programmed cells and relays (not the sums of a neuron's lines).
    steps_run : int
    noise_seed : int or None
        Seed given to ``brian2.seed`` when the run starts (from ``seed`` and the chip's seed;
        None without read noise or with ``seed=None``, which leaves Brian2's generator as it
        is).
    build_seconds : float
    """

    def __init__(self, program: Any, x: ArrayLike, coding: str = "rate", steps: int = 64, *,
                 readout: str = "membrane", seed: int | None = 0) -> None:
        t0 = time.perf_counter()
        program = as_plan(program)
        check_choice(coding, "coding", CODINGS)
        check_choice(readout, "readout", ("membrane", "count"))
        x = as_finite_array(x, "x")
        layers = snn_layers(program.model)
        weighted = [l for l in layers if isinstance(l, (Dense, Conv2d))]
        spikes_in, steps = _input_spikes(program, x, coding, steps,
                                         program.plan_of(weighted[0]).x_max, seed)
        batch = spikes_in.shape[1]
        if batch == 0:
            raise ValueError("x holds no inputs")
        in_shape = tuple(spikes_in.shape[2:])
        try:
            program.model.output_shape(in_shape)
        except ValueError as exc:
            raise ValueError(f"x has inputs of shape {in_shape}, which the model does "
                             f"not take: {exc}") from None
        # stages: the digital operations before each weighted layer, its input and output shapes
        stages: list[tuple[list[Any], Any, tuple[int, ...], tuple[int, ...]]] = []
        ops: list[Any] = []
        shape = in_shape
        for layer in layers:
            out = tuple(layer.output_shape(shape))
            if isinstance(layer, (Dense, Conv2d)):
                stages.append((ops, layer, shape, out))
                ops = []
            else:
                ops.append(layer)
            shape = out
        n_run = steps + len(stages)
        dev = program.chip.device
        noisy = bool(dev.read_noise and dev.read_noise_sigma > 0)
        sigma = dev.read_noise_sigma if noisy else 0.0
        dt = b2.defaultclock.dt
        latency = coding == "latency"
        objects: list[Any] = []
        synapses: list[Any] = []
        # the first layer's rows: spike generators, positive and negative pulses apart
        drive = _drive(spikes_in, stages[0][0], n_run, latency)
        n_h = drive.shape[2]
        sources: list[tuple[Any, int, int | None]] = []
        for sign, tag in ((1, "pos"), (-1, "neg")):
            t_idx, c_idx, i_idx = np.nonzero(drive == sign)
            if sign < 0 and not len(t_idx):
                continue
            gen = b2.SpikeGeneratorGroup(batch * n_h, c_idx * n_h + i_idx, t_idx * dt,
                                         name=f"snn_in_{tag}")
            objects.append(gen)
            sources.append((gen, sign, None))
        groups: list[SpikingLayerGroup] = []
        monitors: list[Any] = []
        thetas: list[np.ndarray] = []
        # fixed names keep the generated code identical from run to run, so that compiled code
        # objects (cython) are reused
        for k, (pre_ops, layer, shape_in, shape_out) in enumerate(stages):
            if k > 0:
                sources = self._relay(pre_ops, stages[k - 1][3], groups[-1], batch, latency,
                                      k, objects, synapses)
            sp = spiking_plan(program, layer, k == len(stages) - 1, readout, coding, steps)
            wiring = layer_wiring(program, sp, batch, shape_in, shape_out, sigma)
            t_on, t_off = (k + 1, k + steps) if sp.native else (1, n_run - 1)
            group = SpikingLayerGroup(wiring, sp, t_on, t_off, name=f"snn_layer{k}")
            lines = LineGroup(wiring, noisy, name=f"snn_lines{k}")
            pixels = int(np.prod(shape_out[1:])) if isinstance(layer, Conv2d) else 1
            activity = None
            if wiring.digital:
                activity = SegmentActivity(wiring.segments * batch * pixels,
                                           name=f"snn_active{k}")
                lines.active = b2.linked_var(activity, "active", index=activity_index(
                    np.arange(len(lines)), wiring, batch, pixels))
                objects.append(activity)
            sums = line_sums(lines, group, wiring, name=f"snn_sums{k}")
            objects += [group, lines, sums]
            for wire in wiring.wires:
                srcs = sources if wire.source == "input" else [(group, 1, None)]
                for src, sign, order in srcs:
                    op = "+=" if sign > 0 else "-="
                    if noisy:      # G+^2 + G-^2 = (dG^2 + gs^2) / 2, G+^2 - G-^2 = dG gs
                        code = (f"num_post {op} dG\nnvar_post += 0.5 * (dG**2 + gs**2)\n"
                                f"ncov_post {op} dG * gs")
                    else:
                        code = f"num_post {op} dG"
                    tag = ("in" if wire.source == "input" else "rec") + (
                        "" if sign > 0 else "_neg")
                    syn = spike_synapses(src, lines, wire.pre, wire.post, code, wire.values,
                                         name=f"snn_syn{k}_{tag}", order=order)
                    synapses.append(syn)
                    objects.append(syn)
                    if activity is not None:         # which segments this source drives
                        key = np.unique(wire.pre.astype(np.int64) * activity.N + activity_index(
                            wire.post, wiring, batch, pixels))
                        pre, act = np.divmod(key, activity.N)
                        objects.append(spike_synapses(
                            src, activity, pre.astype(np.int32), act.astype(np.int32),
                            "active_post = 1", {}, name=f"snn_act{k}_{tag}", order=order))
                wire.pre = wire.post = np.zeros(0, np.int32)     # free them early
                wire.values = {}
            mon = b2.SpikeMonitor(group, name=f"snn_spikes{k}")
            objects.append(mon)
            groups.append(group)
            monitors.append(mon)
            thetas.append(wiring.theta[:len(wiring.theta) // batch])
        self.vmon = b2.StateMonitor(groups[-1], "v", record=True, when="end", name="snn_v")
        objects.append(self.vmon)
        self.network = b2.Network(*objects)
        self.groups, self.monitors, self.synapses = groups, monitors, synapses
        self.n_synapses = int(sum(len(s) for s in synapses))
        self.steps, self.steps_run, self.batch = steps, n_run, batch
        self.coding, self.readout = coding, readout
        self.spikes_in = spikes_in
        self.shapes = [in_shape] + [st[3] for st in stages]
        self.names = ["input"] + [st[1].name for st in stages]
        self.thetas = thetas
        # Brian2 draws the read noise from its own generator: seeded from the run's seed when
        # the run starts, so the same call gives the same spikes whatever ran before
        self.noise_seed = (None if seed is None or not noisy else
                           int(program.chip.rng(seed, "brian2 read noise").integers(2 ** 31)))
        self._started = False
        self.build_seconds = time.perf_counter() - t0

    @staticmethod
    def _relay(ops, shape, prev, batch, latency, k, objects, synapses):
        """Sources of layer k's rows: the previous layer, or a relay that pools and latches."""
        if not latency and not any(isinstance(op, MaxPool2d) for op in ops):
            return [(prev, 1, None)]                 # flattening only: indices are unchanged
        src, dst, n_relay = relay_pairs(ops, shape)
        n_prev = int(np.prod(shape))
        relay = SpikeRelay(batch * n_relay, latency, name=f"snn_relay{k}")
        copies = np.arange(batch)[:, None]
        syn = spike_synapses(prev, relay, (copies * n_prev + src).ravel(),
                             (copies * n_relay + dst).ravel(), "hit_post = 1", {},
                             name=f"snn_relaysyn{k}", order=RELAY_ORDER[0])
        objects += [relay, syn]
        synapses.append(syn)
        return [(relay, 1, RELAY_ORDER[2])]

    def run(self, steps: int | None = None) -> None:
        """Run the network for ``steps`` steps (default: the whole run, ``steps_run``)."""
        n = self.steps_run if steps is None else check_int(steps, "steps", 1, 10 ** 9)
        if not self._started and self.noise_seed is not None:
            b2.seed(self.noise_seed)
        self._started = True
        self.network.run(n * b2.defaultclock.dt)

    def trains(self) -> list[np.ndarray]:
        """Spikes per layer, the input first: (batch, steps_run, n) int8 (the input's signed)."""
        batch, n_run = self.batch, self.steps_run
        dt = float(b2.defaultclock.dt)
        s_in = self.spikes_in.reshape(self.steps, batch, -1)
        first = np.zeros((batch, n_run, s_in.shape[2]), np.int8)
        first[:, :self.steps] = s_in.transpose(1, 0, 2)
        out = [first]
        for mon, shape in zip(self.monitors, self.shapes[1:]):
            n = int(np.prod(shape))
            i = np.asarray(mon.i[:])
            t = np.rint(np.asarray(mon.t_[:]) / dt).astype(int)
            keep = t < n_run                          # steps run beyond steps_run are not read
            r = np.zeros((batch, n_run, n), np.int8)
            r[i[keep] // n, t[keep], i[keep] % n] = 1
            out.append(r)
        return out

    def result(self, record_spikes: bool = False) -> SNNResult:
        """The run as an :class:`SNNResult` (energy and latency are not accounted here: see the
        batch engine)."""
        batch = self.batch
        trains = self.trains()
        counts = [np.abs(tr).sum(axis=1).astype(np.int64).reshape((batch,) + tuple(sh))
                  for tr, sh in zip(trains, self.shapes)]
        n_out = len(self.thetas[-1])
        v = np.asarray(self.vmon.v[:]).reshape(batch, n_out, -1).transpose(0, 2, 1)
        v = v[:, :self.steps_run]
        read = v / self.thetas[-1]
        if self.readout == "count":
            read = read + np.cumsum(trains[-1], axis=1)
        raster = [np.abs(trains[0])] + trains[1:]
        return SNNResult(predictions=read[:, -1].argmax(axis=1), outputs=read[:, -1],
                         readout=read, spike_counts=counts, layer_names=list(self.names),
                         spikes_per_inference=sum(float(c.sum()) for c in counts) / batch,
                         synaptic_events_per_inference=float("nan"),
                         energy_per_inference_j=float("nan"), latency_s=float("nan"),
                         steps=self.steps, steps_run=self.steps_run, coding=self.coding,
                         raster=raster, spikes=trains if record_spikes else None)


def build_snn_brian(program: Any, x: ArrayLike, coding: str = "rate", steps: int = 64, *,
                    readout: str = "membrane", seed: int | None = 0,
                    target: str | None = None) -> SNNCircuit:
    """Build (not run) a compiled spiking program and a batch of inputs as Brian2 objects; see
    :func:`run_snn_brian`."""
    if target is not None:
        b2.prefs.codegen.target = target
    return SNNCircuit(program, x, coding, steps, readout=readout, seed=seed)


def run_snn_brian(program: Any, x: ArrayLike, coding: str = "rate", steps: int = 64, *,
                  readout: str = "membrane", seed: int | None = 0, target: str | None = None,
                  record_spikes: bool = False) -> SNNResult:
    """Run a compiled spiking program (a ChipProgram or its ProgramPlan) in Brian2.

    Parameters
    ----------
    program, x, coding, steps, readout, seed
        As for :func:`snn_neurram.engines.spiking.run_snn`; the input spikes are the batch
        engine's for the same ``seed``, and the read noise is seeded from it (with the chip's
        seed) through ``brian2.seed``: the same call gives the same spikes whatever ran before.
    target : str, optional
        Brian2 code-generation target (``"numpy"``, ``"cython"``); sets
        ``brian2.prefs.codegen.target``.
    record_spikes : bool
        Keep every input's spikes, per layer and step (``SNNResult.spikes``: the input and every
        spiking layer, (batch, steps_run, n), int8).

    Returns
    -------
    SNNResult
        As the batch engine's; ``raster`` holds every input's spike flags per layer,
        (batch, steps_run, n). Energy, latency and synaptic events are NaN (see the batch
        engine).
    """
    circuit = build_snn_brian(program, x, coding, steps, readout=readout, seed=seed,
                              target=target)
    circuit.run()
    return circuit.result(record_spikes)
