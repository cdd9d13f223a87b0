"""Spiking inference of a compiled network: ANN-to-SNN conversion and the time-stepped engine.

Conversion (data-based normalisation, Diehl et al. 2015, Rueckauer et al. 2017): every weighted
layer keeps its weights and its calibrated ranges -- x_max, the percentile of its input, and
out_top, the percentile of its ReLU output. One time step is one neuron cycle. Input spikes of a
rate code arrive with probability x / x_max per step; a neuron integrates
dV_j = c_ratio V_read sum_i s_i (G+ - G-)_ij / S_j = g_j (sum_i s_i w_ij + b_j / x_max) per step
(g_j the column's nominal gain, its bias rows pulsed every step) and fires, resetting by
subtraction, at the threshold theta_j = g_j out_top / x_max: its rate then approximates
a_j / out_top, the ReLU output in units of its range.

Layers of one row segment integrate in their neurons. A layer split over row segments cannot add
analog charge across cores: each segment converts its per-step partial sum with an 8-bit linear
ADC, the sums are added digitally into a digital membrane (threshold out_top in output units).
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
"""

from dataclasses import dataclass, field

import numpy as np

from . import encoding
from ._checks import as_finite_array, check_choice, check_int
from .layers import Conv2d, Dense, Flatten, MaxPool2d, Sequential
from .neuron import adc_levels

__all__ = ["SNNResult", "run_snn", "snn_layers", "CODINGS"]

CODINGS = ("rate", "regular", "latency")
_PARTIAL_BITS = 8


@dataclass
class SNNResult:
    """Result of a spiking run.

    Attributes
    ----------
    predictions : ndarray (batch,)
        Arg-max of the output readout.
    outputs : ndarray (batch, n_out)
        Final readout: membrane in units of the output range, or spike count + residual.
    readout : ndarray (batch, steps_run, n_out)
        The readout after every step.
    spike_counts : list of ndarray
        Spikes per neuron, (batch,) + shape, for the input and every spiking layer.
    layer_names : list of str
    spikes_per_inference : float
        Mean spikes per input, all layers and the input included.
    synaptic_events_per_inference : float
        Mean row pulses times the columns they drive, per input.
    energy_per_inference_j, latency_s : float
        Chip energy and time of one inference (see :mod:`snn_neurram.energy`).
    steps, steps_run : int
    coding : str
    raster : list of ndarray or None
        For the first input: per spiking layer, (steps_run, n_neurons) spikes.
    """

    predictions: np.ndarray
    outputs: np.ndarray
    readout: np.ndarray
    spike_counts: list
    layer_names: list
    spikes_per_inference: float
    synaptic_events_per_inference: float
    energy_per_inference_j: float
    latency_s: float
    steps: int
    steps_run: int
    coding: str
    raster: list = field(default=None, repr=False)


def snn_layers(model):
    """The model as a flat list of layers, checked for a spiking form."""
    out = []

    def walk(node):
        if isinstance(node, Sequential):
            for layer in node.layers:
                walk(layer)
        elif isinstance(node, (Dense, Conv2d, Flatten, MaxPool2d)):
            out.append(node)
        else:
            raise ValueError(f"mode='snn' runs Dense, Conv2d, MaxPool2d and Flatten layers; "
                             f"{type(node).__name__} ({getattr(node, 'name', '')}) has no "
                             "spiking form here")

    walk(model)
    return out


class _SpikingLayer:
    """State and thresholds of one weighted layer in a spiking run."""

    def __init__(self, program, plan, layer, batch, out_shape, last, readout, coding, steps):
        self.program, self.plan, self.layer = program, plan, layer
        self.digital = plan.n_rseg > 1
        self.last = last
        self.fires = not (last and readout == "membrane")
        self.latency = coding == "latency"
        cores = program.chip.cores
        blk0 = plan.blocks[0].placements[0]
        cfg = cores[blk0.core].blocks[blk0.block].neuron.replace(pulse_multiplier=1)
        self.cfg = cfg
        if self.digital:
            for blk in plan.blocks:
                for pl in blk.placements:
                    cores[pl.core].blocks[pl.block].neuron = program.operating_point(
                        blk, plan, 1, _PARTIAL_BITS)
            theta = np.full(plan.n_out, plan.out_top)
        else:
            for blk in plan.blocks:
                for pl in blk.placements:
                    cores[pl.core].blocks[pl.block].neuron = cfg
            theta = np.empty(plan.n_out)
            for blk in plan.blocks:
                pl = blk.placements[0]
                gain = cores[pl.core]._gain("forward", pl.block)
                theta[blk.c0:blk.c1] = gain * plan.out_top / plan.x_max
        if self.latency and not last:
            # fire once on the latched ramp after about steps / 4 full-rate steps, within the
            # integrator's swing
            factor = max(1.0, steps / 4)
            if not self.digital:
                factor = min(factor, 0.75 * cfg.v_swing / theta.max())
            theta = theta * max(1.0, factor)
        self.theta = theta
        self.v = np.zeros((batch,) + out_shape)
        self.fired = np.zeros((batch,) + out_shape, bool)

    def _theta(self):
        if isinstance(self.layer, Conv2d):
            return self.theta.reshape(1, -1, 1, 1)
        return self.theta

    def step(self, s, noise_model, account):
        """Integrate input pulses s, return output spikes (int8, same shape as v)."""
        layer, plan, cores = self.layer, self.plan, self.program.chip.cores
        n = len(s)
        if isinstance(layer, Conv2d):
            rows, hw = layer.patches(s.astype(cores[0].dtype))
        else:
            rows = s.reshape(n, -1).astype(cores[0].dtype)
        nonneg = bool(rows.min() >= 0)
        dv = np.zeros((len(rows), plan.n_out))
        for blk in plan.blocks:
            part = rows[:, blk.r0:blk.r1]
            reps = blk.placements
            bounds = np.linspace(0, len(part), len(reps) + 1).astype(int)
            pulses = np.count_nonzero(part) + blk.has_bias * len(part) * (
                blk.pairs - (blk.r1 - blk.r0))
            account.block(self, blk, pulses, len(part) / n)
            for pl, a, b in zip(reps, bounds[:-1], bounds[1:]):
                core = cores[pl.core]
                if self.digital:
                    mode = "linear"
                    dv[a:b, blk.c0:blk.c1] += core.mvm_codes(
                        part[a:b], 1, _PARTIAL_BITS, mode, block=pl.block,
                        noise_model=noise_model, nonneg=nonneg)
                else:
                    dv[a:b, blk.c0:blk.c1] += core.integrate_codes(
                        part[a:b], 1, block=pl.block, noise_model=noise_model, nonneg=nonneg)
        if isinstance(layer, Conv2d):
            dv = layer.fold(dv, n, hw)
        else:
            dv = dv.reshape(self.v.shape)
        leak = 0.0 if self.digital else self.cfg.leak
        self.v = (1.0 - leak) * self.v + dv
        if not self.digital:
            np.clip(self.v, -self.cfg.v_swing, self.cfg.v_swing, out=self.v)
        if not self.fires:
            return np.zeros(self.v.shape, np.int8)
        theta = self._theta()
        spikes = self.v >= theta
        if self.latency:
            spikes &= ~self.fired
            self.fired |= spikes
        self.v = self.v - spikes * theta
        return spikes.astype(np.int8)

    def readout(self):
        return self.v / self._theta()


class _Account:
    """Counts pulses, synaptic events, energy and per-core busy time of a spiking run."""

    def __init__(self, program, batch):
        from .energy import EnergyModel

        self.m = EnergyModel()
        self.batch = batch
        self.energy = 0.0
        self.events = 0.0
        self.busy = {}

    def block(self, layer, blk, pulses, mvms_per_input):
        m = self.m
        cols = blk.c1 - blk.c0
        rows_pulsed = pulses / self.batch                   # row pairs pulsed, per input
        e = 2 * rows_pulsed * (m.e_wl_pulse + m.e_input_pulse)
        e += cols * mvms_per_input * m.e_neuron_cycle
        t = m.t_cycle + m.t_adc_step                         # integrate, compare
        if layer.digital:
            e += cols * mvms_per_input * (m.e_neuron_phase + _PARTIAL_BITS * m.e_adc_step +
                                          m.e_digital_op)
            t = m.t_phase + m.t_cycle + _PARTIAL_BITS * m.t_adc_step
        self.energy += e
        self.events += rows_pulsed * cols
        share = mvms_per_input / len(blk.placements)
        for pl in blk.placements:
            self.busy[pl.core] = self.busy.get(pl.core, 0.0) + share * t

    def step_done(self):
        step_time = max(self.busy.values()) if self.busy else 0.0
        self.busy = {}
        return step_time


def run_snn(program, x, coding="rate", steps=64, *, readout="membrane", seed=0,
            noise_model="output", record_raster=False):
    """Run a compiled program as a converted spiking network (see the module documentation).

    Parameters
    ----------
    program : ChipProgram
    x : array_like
        Inputs, (batch,) + input shape, in the units of the calibration data.
    coding : {"rate", "regular", "latency"}
        Poisson rate, deterministic rate or time-to-first-spike coding of the inputs.
    steps : int
        Time steps of input.
    readout : {"membrane", "count"}
    seed : int
        Seeds the Poisson encoder.
    noise_model : {"output", "device"}
    record_raster : bool
        Keep the spikes of the first input, per layer and step.

    Returns
    -------
    SNNResult
    """
    check_choice(coding, "coding", CODINGS)
    check_choice(readout, "readout", ("membrane", "count"))
    steps = check_int(steps, "steps", 1, 100000)
    x = as_finite_array(x, "x")
    layers = snn_layers(program.model)
    program.model.output_shape(tuple(x.shape[1:]))
    weighted = [l for l in layers if isinstance(l, (Dense, Conv2d))]
    plans = {id(l): program.plans[program._ids[id(l)]] for l in weighted}
    first = plans[id(weighted[0])]
    rng = np.random.default_rng(seed)
    if coding == "rate":
        spikes_in = encoding.poisson(x, steps, rng, first.x_max)
    elif coding == "regular":
        spikes_in = encoding.regular(x, steps, first.x_max)
    else:
        spikes_in = encoding.latency(x, steps, first.x_max)
    batch = len(x)
    # stages: the digital operations before a weighted layer, and its spiking state
    stages, ops, shape = [], [], tuple(x.shape[1:])
    for layer in layers:
        out = layer.output_shape(shape)
        if isinstance(layer, (Dense, Conv2d)):
            stages.append((ops, _SpikingLayer(program, plans[id(layer)], layer, batch, out,
                                              layer is weighted[-1], readout, coding, steps)))
            ops = []
        else:
            ops.append(layer)
        shape = out
    n_run = steps + len(stages)
    account = _Account(program, batch)
    zeros_in = np.zeros(x.shape, np.int8)
    emitted = [np.zeros((batch,) + st.v.shape[1:], np.int8) for _, st in stages]
    latches = [None] * len(stages)
    counts = [np.abs(spikes_in).sum(axis=0).astype(np.int64)]
    counts += [np.zeros((batch,) + st.v.shape[1:], np.int64) for _, st in stages]
    raster = [[] for _ in counts] if record_raster else None
    readouts, time_s = [], 0.0
    for t in range(n_run):
        if t > 0:
            sources = [spikes_in[t - 1] if t - 1 < steps else zeros_in] + emitted[:-1]
            new = []
            for k, ((pre_ops, state), src) in enumerate(zip(stages, sources)):
                h = src
                for op in pre_ops:
                    h = _digital_spike_op(op, h)
                if coding == "latency":            # a row that has spiked stays driven
                    latches[k] = h if latches[k] is None else np.where(h != 0, h, latches[k])
                    h = latches[k]
                new.append(state.step(h, noise_model, account))
            emitted = new
            time_s += account.step_done()
        for k, e in enumerate(emitted):
            counts[k + 1] += np.abs(e)
        if record_raster:
            raster[0].append(np.abs(spikes_in[t][0]).ravel() if t < steps
                             else np.zeros(x[0].size, np.int8))
            for k, e in enumerate(emitted):
                raster[k + 1].append(np.abs(e[0]).ravel())
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
        raster=None if raster is None else [np.stack(r) for r in raster])


def _digital_spike_op(layer, h):
    """Max-pooling of spike maps (an OR over the window) and flattening."""
    if isinstance(layer, Flatten):
        return h.reshape(len(h), -1)
    if isinstance(layer, MaxPool2d):
        return layer.forward_float(np.abs(h).astype(np.float32)).astype(np.int8)
    raise ValueError(f"no spiking form for {type(layer).__name__}")
