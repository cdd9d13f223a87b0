"""Native spiking networks (:mod:`snn_neurram.nn.spiking`) on the chip: the float reference,
calibration rows, and how each layer's neurons are set.

The float reference :func:`simulate_float` runs a network of spiking layers in discrete time with
the package's one LIF step (:func:`snn_neurram.physics.neuron.lif_step`), exact arithmetic and no
integrator saturation: the software model that the chip is compared with.

On the chip (:func:`native_block_configs`), a layer of one row segment integrates in its
neurons' capacitors. Its volts per weight unit are the column's nominal gain g_j, so neuron j
fires at g_j * threshold_j volts; each block's V_read is set so that its largest threshold sits
at :data:`THRESHOLD_SWING` of the integrator's swing, within the V_read range of the drivers
(:func:`threshold_v_read`). The membrane saturates at +-v_swing / g_j, in weight units: twice
the largest threshold where V_read could be set so, more where the drivers' 0.85 V keeps the
thresholds lower (:func:`membrane_limits`). A layer over several row segments converts each
segment's per-step partial sum with an 8-bit ADC and adds them into a digital membrane
(threshold in weight units, exact leak, no saturation), as converted networks
do. The neuron's leak is ``1 - beta``, its reset and refractory period the layer's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..hw.core import Core
from ..nn.graph import leaves
from ..nn.layers import Conv2d, Dense, Flatten, MaxPool2d
from ..nn.spiking import LIF, SpikingConv2d, SpikingDense, is_spiking
from ..physics.encoding import spike_trains
from ..physics.mapping import to_conductances
from ..physics.neuron import V_READ_MAX, NeuronConfig, lif_step
from .operating import V_READ_MIN
from .plan import BlockPlan, LayerPlan, ProgramPlan

__all__ = ["THRESHOLD_SWING", "CALIBRATION_STEPS", "calibration_spikes", "membrane_limits", "is_native", "native_layers", "neuron_config", "simulate_float",
           "native_block_configs", "spike_op", "FloatSNN"]

#: Fraction of the integrator's swing at which a block's largest threshold sits.
THRESHOLD_SWING = 0.5
#: Time steps of the rate-coded calibration inputs of a native network given static inputs.
CALIBRATION_STEPS = 32


def is_native(model: Any) -> bool:
    """True when the model's weighted layers are native spiking layers (ValueError when only
    some are)."""
    weighted = [l for l in leaves(model) if isinstance(l, (Dense, Conv2d))]
    native = [is_spiking(l) for l in weighted]
    if any(native) and not all(native):
        odd = next(l for l, n in zip(weighted, native) if not n)
        raise ValueError(f"a spiking network has only spiking weighted layers (SpikingDense, "
                         f"SpikingConv2d); {odd.name!r} is a {type(odd).__name__}")
    return bool(native) and all(native)


def native_layers(model: Any) -> list[Any]:
    """The layers of a native spiking network in order, checked: spiking layers, max-pooling
    and flattening; only dense layers may be recurrent."""
    out = []
    for node in leaves(model):
        if not isinstance(node, (SpikingDense, SpikingConv2d, Flatten, MaxPool2d)):
            raise ValueError(f"a spiking network runs SpikingDense, SpikingConv2d, MaxPool2d and "
                             f"Flatten layers; {type(node).__name__} "
                             f"({getattr(node, 'name', '')}) has no spiking form here")
        out.append(node)
    if not any(is_spiking(l) for l in out):
        raise ValueError("the model has no spiking layer")
    return out


def neuron_config(lif: LIF, base: NeuronConfig) -> NeuronConfig:
    """The chip neuron (``base``: swing, ADC, ...) with a layer's leak, reset and refractory
    period."""
    return base.replace(leak=1.0 - lif.beta, reset=lif.reset, refractory=lif.refractory)


def spike_op(layer: Any, h: np.ndarray) -> np.ndarray:
    """The digital operations between spiking layers: flattening, and max-pooling of spike
    maps (an OR over the window, keeping a -1 spike's sign out: spikes are counted by size)."""
    if isinstance(layer, Flatten):
        return h.reshape(len(h), -1)
    if isinstance(layer, MaxPool2d):
        return layer.forward_float(np.abs(h).astype(np.float32)).astype(np.int8)
    raise ValueError(f"no spiking form for {type(layer).__name__}")


def layer_rows(layer: Any, s: np.ndarray, own: np.ndarray | None,
               dtype: Any = np.float64) -> tuple[np.ndarray, Any]:
    """The rows a spiking layer's MVMs take in one step: the input spikes (im2col patches for a
    convolution), then for a recurrent layer its own spikes of the previous step. Returns the
    rows and the convolution's output size (None for a dense layer)."""
    n = len(s)
    if isinstance(layer, Conv2d):
        rows, hw = layer.patches(s.astype(dtype))
        return rows, hw
    rows = s.reshape(n, -1).astype(dtype)
    if own is not None:
        rows = np.hstack([rows, own.reshape(n, -1).astype(dtype)])
    return rows, None


def calibration_spikes(model: Any, calib: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """Spike trains (steps, batch, ...) for calibrating a native network: ``calib`` holds spike
    trains (batch, steps) + input shape already, or static inputs (batch,) + input shape whose
    values in [0, 1] are spike probabilities per step (:data:`CALIBRATION_STEPS` steps)."""
    try:
        model.output_shape(tuple(calib.shape[1:]))
        static = True
    except ValueError:
        static = False
        if calib.ndim < 3:
            raise
        model.output_shape(tuple(calib.shape[2:]))
    if static:
        p = np.clip(calib, 0.0, 1.0)
        return (rng.random((CALIBRATION_STEPS,) + p.shape) < p).astype(np.int8)
    return spike_trains(calib, "calibration")


class FloatSNN:
    """Result of :func:`simulate_float`.

    Attributes
    ----------
    outputs : ndarray (batch, n_out)
        Final readout: membrane / threshold, or spike count + membrane / threshold.
    predictions : ndarray (batch,)
    spikes : list of ndarray
        Per spiking layer, (steps, batch) + its output shape, int8 (the output layer's are
        zero under a membrane readout).
    rows : list of ndarray
        Per spiking layer, the rows its MVMs took in every step, stacked (steps * batch * pixels,
        n_in) -- only when ``record_rows``.
    """

    def __init__(self, outputs: np.ndarray, spikes: list[np.ndarray],
                 rows: list[np.ndarray] | None) -> None:
        self.outputs = outputs
        self.predictions = outputs.argmax(axis=1)
        self.spikes = spikes
        self.rows = rows


def simulate_float(model: Any, spikes: Any, readout: str = "membrane", *,
                   record_rows: bool = False) -> FloatSNN:
    """Run a native spiking network in float, without the chip (see the module documentation).

    Parameters
    ----------
    model : Sequential
        Spiking layers, max-pooling and flattening.
    spikes : array_like (steps, batch) + input shape
        Input spikes, values in {-1, 0, 1}.
    readout : {"membrane", "count"}
        The output layer does not fire and is read by its membrane, or fires and is read by its
        spike counts (ties broken by the membrane).
    record_rows : bool
        Keep the rows of every layer's MVMs (for calibration).
    """
    s_in = np.asarray(spikes)
    layers = native_layers(model)
    weighted = [l for l in layers if is_spiking(l)]
    steps, batch = s_in.shape[:2]
    state: list[dict[str, Any]] = []
    shape = tuple(s_in.shape[2:])
    for layer in layers:
        shape = tuple(layer.output_shape(shape))
        if is_spiking(layer):
            n_out = layer.W.shape[1] if isinstance(layer, Dense) else layer.W.shape[0]
            th = layer.neuron.thresholds(n_out)
            if isinstance(layer, Conv2d):
                th = th.reshape(-1, 1, 1)
            last = layer is weighted[-1]
            state.append(dict(
                v=np.zeros((batch,) + shape), r=np.zeros((batch,) + shape, np.int64),
                th=np.broadcast_to(th, (batch,) + shape),
                fires=not (last and readout == "membrane"),
                own=np.zeros((batch,) + shape, np.int8) if getattr(layer, "recurrent", False)
                else None,
                cfg=neuron_config(layer.neuron, NeuronConfig()), out=[], rows=[],
                count=np.zeros((batch,) + shape)))
    for t in range(steps):
        h: np.ndarray = s_in[t]
        k = 0
        for layer in layers:
            if not is_spiking(layer):
                h = spike_op(layer, h)
                continue
            st = state[k]
            rows, hw = layer_rows(layer, h, st["own"])
            if record_rows:
                st["rows"].append(rows.astype(np.float32))
            M, b = layer.matrix()
            pre = rows @ M
            if b is not None:
                pre = pre + b
            pre = layer.fold(pre, batch, hw) if hw is not None else pre
            theta: Any = st["th"] if st["fires"] else np.inf
            fired = lif_step(st["v"], pre, st["r"], st["cfg"], theta, saturate=False)
            h = fired.astype(np.int8)
            if st["own"] is not None:
                st["own"] = h
            st["out"].append(h)
            st["count"] += h
            k += 1
    final = state[-1]
    out = (final["v"] / final["th"]).reshape(batch, -1)
    if final["fires"]:
        out = out + final["count"].reshape(batch, -1)
    return FloatSNN(out, [np.stack(st["out"]) for st in state],
                    [np.concatenate(st["rows"]) for st in state] if record_rows else None)


def native_block_configs(program: ProgramPlan, plan: LayerPlan, layer: Any,
                         operating: Any) -> tuple[list[NeuronConfig], np.ndarray, NeuronConfig]:
    """Operating point of every block, threshold of every neuron and the neuron design of a
    native spiking layer on the chip (see the module documentation).

    ``operating(blk)`` gives a digital layer's partial-sum operating point. Returns (block
    configs, thresholds (n_out,), neuron config): thresholds in volts for a layer of one row
    segment, in weight units for a digital membrane.
    """
    cfg = neuron_config(layer.neuron, program.chip.neuron.replace(pulse_multiplier=1))
    th = layer.neuron.thresholds(plan.n_out)
    if plan.n_rseg > 1:
        return [operating(blk) for blk in plan.blocks], th, cfg
    configs, theta = [], np.empty(plan.n_out)
    for blk in plan.blocks:
        bcfg = _analog_point(program, blk, th, cfg)
        pl = blk.placements[0]
        gain = program.chip.cores[pl.core].gain("forward", pl.block, bcfg)
        theta[blk.c0:blk.c1] = gain * th[blk.c0:blk.c1]
        configs.append(bcfg)
    if np.any(theta >= cfg.v_swing):
        j = int(np.argmax(theta / cfg.v_swing))
        raise ValueError(
            f"layer {plan.name!r}: neuron {j}'s threshold is {th[j]:.3g} weight units, "
            f"{theta[j]:.3g} V at the lowest V_read ({V_READ_MIN} V), beyond the integrator's "
            f"swing ({cfg.v_swing} V): the neuron could never fire. Scale its weights up (or "
            "its threshold down)")
    return configs, theta, cfg


def _analog_point(program: ProgramPlan, blk: BlockPlan, th: np.ndarray,
                  cfg: NeuronConfig) -> NeuronConfig:
    pl = blk.placements[0]
    core = program.chip.cores[pl.core]
    per_volt = core.gain("forward", pl.block, cfg.replace(v_read=1.0))
    return cfg.replace(v_read=threshold_v_read(per_volt, th[blk.c0:blk.c1], cfg))


def threshold_v_read(per_volt: np.ndarray, th: np.ndarray, cfg: NeuronConfig) -> float:
    """V_read of a block whose neurons gain ``per_volt`` volts per weight unit at 1 V: its
    largest threshold at :data:`THRESHOLD_SWING` of the swing, within the drivers' range."""
    top = float(np.max(per_volt * th))
    v_read = THRESHOLD_SWING * cfg.v_swing / top if top > 0 else V_READ_MAX
    return float(np.clip(v_read, V_READ_MIN, V_READ_MAX))


def membrane_limits(M: np.ndarray, b: np.ndarray | None, threshold: np.ndarray, w_max: float,
                    neuron: NeuronConfig | None = None, g_min: float = 1e-6,
                    g_max: float = 40e-6) -> np.ndarray:
    """Where the integrator saturates, in weight units (+-), for each neuron of a layer of one
    row segment: v_swing over the neuron's volts per weight unit at the V_read the compiler
    picks (:func:`threshold_v_read`), with the layer's block alone in its columns of a core
    (the other cells at g_min) and the nominal conductance targets. Training uses it to
    saturate membranes as the chip will.

    Parameters
    ----------
    M : ndarray (rows, n_out)
        The layer's matrix as the cores hold it (recurrent rows included), in weight units.
    b : ndarray (n_out,) or None
    threshold : ndarray (n_out,)
    w_max : float
        The mapping's full-scale weight.
    neuron : NeuronConfig, optional
        The chip's neuron design (swing, c_ratio); default ``NeuronConfig()``.
    g_min, g_max : float
        The programming window (S).
    """
    cfg = NeuronConfig() if neuron is None else neuron
    mapped = to_conductances(M, b, g_min=g_min, g_max=g_max, w_max=w_max, x_max=1.0)
    pairs = M.shape[0] + mapped.n_bias_rows
    load = (mapped.g_plus + mapped.g_minus).sum(axis=0) + (Core.N_ROWS - 2 * pairs) * g_min
    per_volt = cfg.c_ratio * (g_max - g_min) / (w_max * load)
    th = np.broadcast_to(np.asarray(threshold, float), per_volt.shape)
    limits = np.empty(len(per_volt))
    for c0 in range(0, len(per_volt), Core.N_COLS):
        part = slice(c0, c0 + Core.N_COLS)
        limits[part] = cfg.v_swing / (per_volt[part] * threshold_v_read(per_volt[part], th[part],
                                                                        cfg))
    return limits
