"""The voltage-mode neuron of NeuRRAM as discrete-time math, shared by every engine.

One neuron cycle (Nature 2022, ED Fig. 4): the settled source-line voltage V_SL - V_ref is sampled
on C_sample and its charge shared onto the integration capacitor, so the integrated voltage grows by
``c_ratio * (V_SL - V_ref)`` per cycle (``c_ratio`` = C_sample / C_integ), after losing the fraction
``leak`` of what it held. Multi-bit inputs arrive bit-serially, least significant bit first: the
n-th bit's cycle is repeated ``2**(n-1) * pulse_multiplier`` times. Inputs of more than
``max_phase_bits`` bits run in two phases (LSB segment, then MSB segment), each integrated and
converted on its own, and are shifted and added digitally.

After integration the neuron converts in place: a comparison gives the sign, charge decrement of
``adc_lsb`` per step gives the magnitude, counted one step at a time (``unary``, at most 128 steps)
or by binary search (``sar``). Activations:

``linear``            sign + (out_bits - 1) magnitude bits, value (k - 1/2) sign(v) LSB
``relu``              out_bits unsigned bits, value clip(round(v / LSB), 0, min(2**out_bits - 1, relu_clip))
``sigmoid``, ``tanh`` the nonlinearity of the pre-activation y, quantised uniformly to out_bits
``stochastic_binary`` 1 with probability sigmoid(y / noise_scale), else 0 (noise injected, threshold)
``lif``               integrate-and-fire over time steps (:func:`lif_step`), no ADC
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import kernels
from .._checks import as_finite_array, check_choice, check_int, check_range

__all__ = ["NeuronConfig", "ACTIVATIONS", "quantize_inputs", "phase_split", "Phase", "phases",
           "phase_codes", "bit_planes", "cycle_coefficients", "adc_levels", "adc_convert",
           "adc_unary", "adc_sar", "activate", "requantize", "lif_step", "lif_rate", "LIFState",
           "V_READ_MAX"]

#: Largest input pulse amplitude around V_ref (V) an operating point uses; beyond it the pulse
#: multiplier doubles instead (the chip calibrates V_read in 0.47-0.85 V).
V_READ_MAX = 0.85

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "stochastic_binary", "lif")
_UNARY_MAX_STEPS = 128


@dataclass(frozen=True)
class NeuronConfig:
    """Parameters of the voltage-mode neuron, shared by the batch and Brian2 engines.

    Voltages in volts (Brian2 quantities accepted). Values the paper gives are cited in
    ``docs/core.md``; the rest are documented assumptions.

    Parameters
    ----------
    v_ref : float
        Reference voltage of rows and columns, 0.9 V.
    v_read : float
        Input pulse amplitude around V_ref, 0.5 V (the chip calibrates 0.47-0.85 V per layer).
    c_ratio : float
        C_sample / C_integ: share of the sampled voltage added to the integrator per cycle.
        Default 0.25 (assumption).
    pulse_multiplier : int
        Extra repeats of every input cycle (the n-th LSB runs 2**(n-1) times this). Default 1.
    adc_lsb : float
        Charge-decrement step of the ADC, as a voltage on the integrator. Default 10 mV
        (assumption).
    v_swing : float
        Largest |integrated voltage - V_ref| before the integrator saturates, 0.8 V (assumption,
        1.8 V supply).
    leak : float
        Fraction of the integrated voltage lost per cycle, in [0, 1]. Default 0; 1 clears the
        integrator every cycle (a spiking neuron without memory: a threshold unit).
    adc : {"sar", "unary"}
        Magnitude conversion: binary search (up to 8 bits) or unary count (up to 128 steps).
    max_phase_bits : int
        Input magnitude bits per integration phase; wider inputs run in two phases. Default 4.
    relu_clip : int or None
        Largest ReLU code (the clip of a clipped ReLU); None for 2**out_bits - 1.
    noise_scale : float
        Temperature of ``stochastic_binary``: P(1) = sigmoid(y / noise_scale). Default 1.
    noise : {"logistic", "gaussian"}
        Distribution of the noise injected before the threshold of ``stochastic_binary``
        (logistic gives exactly the sigmoid; gaussian, of standard deviation
        noise_scale * pi / sqrt(3), the probit).
    threshold : float
        Firing threshold of ``lif`` on the integrated voltage (V). Default 0.1 V.
    reset : {"zero", "subtract"}
        ``lif`` reset after a spike: to zero, or by subtracting the threshold (default: the
        neuron's charge decrement removes one threshold's worth of charge, as its ADC removes one
        LSB per step).
    refractory : int
        ``lif`` cycles after a spike during which the neuron neither integrates nor fires.
    """

    v_ref: float = 0.9
    v_read: float = 0.5
    c_ratio: float = 0.25
    pulse_multiplier: int = 1
    adc_lsb: float = 10e-3
    v_swing: float = 0.8
    leak: float = 0.0
    adc: str = "sar"
    max_phase_bits: int = 4
    relu_clip: int | None = None
    noise_scale: float = 1.0
    noise: str = "logistic"
    threshold: float = 0.1
    reset: str = "subtract"
    refractory: int = 0

    def __post_init__(self):
        conv = {
            "v_ref": check_range(self.v_ref, "v_ref", 0.0, None, unit="volt"),
            "v_read": check_range(self.v_read, "v_read", 0.0, None, lo_open=True, unit="volt"),
            "c_ratio": check_range(self.c_ratio, "c_ratio", 0.0, 1.0, lo_open=True),
            "pulse_multiplier": check_int(self.pulse_multiplier, "pulse_multiplier", 1, 1024),
            "adc_lsb": check_range(self.adc_lsb, "adc_lsb", 0.0, None, lo_open=True, unit="volt"),
            "v_swing": check_range(self.v_swing, "v_swing", 0.0, None, lo_open=True, unit="volt"),
            "leak": check_range(self.leak, "leak", 0.0, 1.0),
            "max_phase_bits": check_int(self.max_phase_bits, "max_phase_bits", 1, 8),
            "noise_scale": check_range(self.noise_scale, "noise_scale", 0.0, None, lo_open=True),
            "threshold": check_range(self.threshold, "threshold", 0.0, None, lo_open=True,
                                     unit="volt"),
            "refractory": check_int(self.refractory, "refractory", 0, 10**6),
        }
        if self.relu_clip is not None:
            conv["relu_clip"] = check_int(self.relu_clip, "relu_clip", 1, 255)
        check_choice(self.adc, "adc", ("sar", "unary"))
        check_choice(self.noise, "noise", ("logistic", "gaussian"))
        check_choice(self.reset, "reset", ("zero", "subtract"))
        for name, value in conv.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> NeuronConfig:
        """Copy with some parameters changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form of the parameters, for reports and saved files."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------------------- input encoding
def _check_bits(bits, name):
    return check_int(bits, name, 1, 8)


def quantize_inputs(x: ArrayLike, in_bits: int, x_max: float = 1.0) -> np.ndarray:
    """Quantise real inputs to signed integers of ``in_bits`` magnitude bits.

    q = clip(rint(x / x_max * (2**in_bits - 1)), -(2**in_bits - 1), 2**in_bits - 1). The sign is
    carried by the polarity of the pulses (the input register holds a ternary pulse per cycle),
    so ``in_bits`` counts magnitude bits only: 1 bit gives ternary inputs {-1, 0, 1}.
    """
    in_bits = _check_bits(in_bits, "in_bits")
    x_max = check_range(x_max, "x_max", 0.0, None, lo_open=True)
    x = as_finite_array(x, "x")
    if x.size == 0:
        return x.copy()
    levels = float(2 ** in_bits - 1)
    x2 = np.ascontiguousarray(x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1))
    out = np.empty_like(x2)
    kernels.quantize(x2, levels / x_max, levels, out)
    return out.reshape(x.shape)


def phase_split(in_bits: int, max_phase_bits: int = 4) -> list[tuple[int, int]]:
    """Bit ranges of the integration phases: list of (shift, n_bits), LSB segment first."""
    in_bits = _check_bits(in_bits, "in_bits")
    if in_bits <= max_phase_bits:
        return [(0, in_bits)]
    lo = max_phase_bits
    return [(0, lo), (lo, in_bits - lo)]


class Phase(NamedTuple):
    """One integration phase of a bit-serial input.

    Attributes
    ----------
    shift : int
        Bit position of the phase's least significant bit in the input code.
    bits : int
        Magnitude bits integrated in this phase.
    config : NeuronConfig
        The neuron parameters of the phase: its V_read (and pulse multiplier) are the run's,
        scaled by ``boost``.
    boost : float
        Gain of this phase against the run's operating point: each phase is driven so that its
        own largest code, 2**bits - 1, reaches about the same voltage as the widest phase's,
        boost = (2**bits_max - 1) / (2**bits - 1), so that every phase uses its ADC range.
    weight : float
        Weight of the phase's ADC codes in the shift-and-add, 2**shift / boost.
    """

    shift: int
    bits: int
    config: NeuronConfig
    boost: float
    weight: float


def phases(in_bits: int, config: NeuronConfig) -> list[Phase]:
    """The integration phases of ``in_bits``-bit inputs at an operating point ``config``.

    Inputs of up to ``max_phase_bits`` bits integrate in one phase at the operating point
    itself. Wider inputs run an LSB and an MSB segment (:func:`phase_split`); a segment with
    fewer bits than the widest is driven harder (``boost``), its V_read multiplied and, past
    :data:`V_READ_MAX`, its pulses repeated (V_read halved, pulse multiplier doubled: the product
    stays exact). The outputs are then added as sum_p weight_p * code_p.
    """
    split = phase_split(in_bits, config.max_phase_bits)
    widest = max(nb for _, nb in split)
    out = []
    for shift, nb in split:
        boost = (2.0 ** widest - 1.0) / (2.0 ** nb - 1.0)
        cfg = config
        if boost != 1.0:
            v, mult = config.v_read * boost, config.pulse_multiplier
            while v > V_READ_MAX and mult < 1024:
                v, mult = v / 2.0, mult * 2
            cfg = config.replace(v_read=v, pulse_multiplier=mult)
        out.append(Phase(shift, nb, cfg, boost, 2.0 ** shift / boost))
    return out


def phase_codes(q: np.ndarray, shift: int, bits: int, nonneg: bool = False) -> np.ndarray:
    """The signed codes of one phase: bits ``shift`` .. ``shift + bits - 1`` of |q|, with q's
    sign (q holds signed integer codes; the result has q's dtype)."""
    mag = q if nonneg else np.abs(q)
    mp = (np.floor(mag / 2 ** shift) % 2 ** bits).astype(q.dtype)
    return mp if nonneg else np.copysign(mp, q)


def bit_planes(q: ArrayLike, in_bits: int) -> np.ndarray:
    """Ternary pulses of every bit of signed integers q, LSB first: shape (in_bits,) + q.shape."""
    q = np.asarray(q)
    mag = np.abs(q).astype(np.int64)
    sign = np.sign(q)
    return np.stack([((mag >> k) & 1) * sign for k in range(in_bits)]).astype(float)


def cycle_coefficients(n_bits: int,
                       config: NeuronConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Weight of each input bit in the integrated voltage, and of its noise variance.

    The cycles of bit k (k = 0 for the LSB) are ``2**k * pulse_multiplier`` repeats, run LSB first.
    Cycle c of C in all adds ``c_ratio * (1 - leak)**(C - 1 - c)`` times its source-line voltage
    to the final integrated voltage.

    Returns
    -------
    mean : ndarray (n_bits,)
        Sum of the coefficients of each bit's cycles (= c_ratio 2**k m without leak).
    var : ndarray (n_bits,)
        Sum of their squares (weights of independent per-cycle noise).
    n_cycles : int
        Total number of cycles C.
    """
    return _cycle_coefficients(n_bits, config)


@lru_cache(maxsize=256)
def _cycle_coefficients(n_bits: int,
                        config: NeuronConfig) -> tuple[np.ndarray, np.ndarray, int]:
    # memoised: NeuronConfig is frozen, and the arrays are returned read-only
    reps = [2 ** k * config.pulse_multiplier for k in range(n_bits)]
    total = sum(reps)
    decay = (1.0 - config.leak) ** np.arange(total - 1, -1, -1)
    coef = config.c_ratio * decay
    mean_l, var_l, start = [], [], 0
    for r in reps:
        mean_l.append(coef[start:start + r].sum())
        var_l.append((coef[start:start + r] ** 2).sum())
        start += r
    mean, var = np.array(mean_l), np.array(var_l)
    mean.flags.writeable = False
    var.flags.writeable = False
    return mean, var, total


# ---------------------------------------------------------------------------- ADC
def adc_levels(out_bits: int, mode: str, config: NeuronConfig) -> int:
    """Number of magnitude levels of the output code.

    Signed modes (linear, tanh): 2**(out_bits - 1). Unsigned (relu, sigmoid): 2**out_bits - 1,
    capped by ``relu_clip`` for relu. Raises if a unary ADC would need more than 128 steps.
    """
    out_bits = _check_bits(out_bits, "out_bits")
    if mode in ("linear", "tanh"):
        levels = 2 ** (out_bits - 1)
    else:
        levels = 2 ** out_bits - 1
        if mode == "relu" and config.relu_clip is not None:
            levels = min(levels, config.relu_clip)
    if config.adc == "unary" and levels > _UNARY_MAX_STEPS:
        raise ValueError(f"out_bits={out_bits} needs {levels} unary charge-decrement steps; the "
                         f"unary ADC counts at most {_UNARY_MAX_STEPS} (use adc='sar' or fewer "
                         "out_bits)")
    return levels


def adc_convert(v: ArrayLike, lsb: float, levels: float, signed: bool = True) -> np.ndarray:
    """Closed-form ADC code of voltages v (array) with step ``lsb`` (V).

    Signed: (k - 1/2) sign(v) with k = min(floor(|v| / lsb) + 1, levels) and v >= 0 counted
    positive. Unsigned (ReLU): clip(floor(v / lsb + 1/2), 0, levels). Returns codes in LSB units
    (float array). :func:`adc_unary` and :func:`adc_sar` run the same conversions step by step.
    """
    v = np.asarray(v, dtype=float)
    v2 = np.ascontiguousarray(v.reshape(-1, v.shape[-1]) if v.ndim else v.reshape(1, 1))
    out = np.empty_like(v2)
    mode = kernels.MODE_SIGNED if signed else kernels.MODE_RELU
    kernels.noisy_adc(v2, np.empty((0, 0)), 0, float(lsb), np.inf, mode, float(levels),
                       np.ones(v2.shape[1]), out)
    return out.reshape(v.shape)


def _start_residue(v, lsb, signed):
    """Residue before the magnitude conversion: |v| (signed), or v + lsb/2 (unsigned: the half
    step of offset charge that makes the count round to nearest)."""
    return np.abs(v) if signed else v + 0.5 * lsb


def adc_unary(v: ArrayLike, lsb: float, levels: float,
              signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The unary charge-decrement conversion, step by step (reference and step count).

    The comparator reads the sign; then unit charges of ``lsb`` are removed one at a time, the
    comparator checking the residue after each, until it turns negative or ``levels`` steps are
    done. Signed: the code is (steps - 1/2) sign. Unsigned: the residue starts at v + lsb/2 and the
    code is the number of removals that left it non-negative (0 at once for a negative residue).

    Returns
    -------
    codes : ndarray
    steps : ndarray of int
        Charge-decrement steps used per neuron (the conversion's latency in ADC steps).
    """
    v = np.asarray(v, dtype=float)
    residue = _start_residue(v, lsb, signed)
    running = np.ones(v.shape, bool) if signed else residue >= 0
    steps = np.zeros(v.shape, dtype=np.int64)
    kept = np.zeros(v.shape, dtype=np.int64)
    for _ in range(int(levels)):
        residue = np.where(running, residue - lsb, residue)
        steps += running
        ok = running & (residue >= 0)
        kept += ok
        running = ok
    if signed:
        return (steps - 0.5) * np.where(v >= 0, 1.0, -1.0), steps
    return kept.astype(float), steps


def adc_sar(v: ArrayLike, lsb: float, levels: float,
            signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The binary-search (SAR) conversion, bit by bit (reference and step count).

    After the sign comparison, each step tries to remove the next power-of-two number of unit
    charges from the residue (as in :func:`adc_unary`) and keeps the trial if the residue stays
    non-negative. The result is the number n of whole steps removable, at most the code's limit;
    signed codes are (n + 1 - 1/2) sign (at most ``levels`` - 1/2), unsigned codes are n.

    Returns
    -------
    codes : ndarray
    steps : ndarray of int
        Comparisons per neuron: the sign and one per binary-search bit.
    """
    v = np.asarray(v, dtype=float)
    residue = _start_residue(v, lsb, signed)
    cap = int(levels) - 1 if signed else int(levels)
    n_bits = int(cap).bit_length()
    count = np.zeros(v.shape, dtype=np.int64)
    for k in range(n_bits - 1, -1, -1):
        trial = count + (1 << k)
        ok = (trial <= cap) & (residue - trial * lsb >= 0)
        count = np.where(ok, trial, count)
    steps = np.full(v.shape, n_bits + 1, dtype=np.int64)
    if signed:
        return (count + 0.5) * np.where(v >= 0, 1.0, -1.0), steps
    return count.astype(float), steps


def activate(y: ArrayLike, mode: str, out_bits: int, config: NeuronConfig,
             rng: np.random.Generator | None = None) -> np.ndarray:
    """The nonlinear activations, on pre-activations y in output units (dimensionless).

    ``sigmoid``: floor(sigmoid(y) (2**out_bits - 1) + 1/2) / (2**out_bits - 1), in [0, 1].
    ``tanh``: sign-magnitude levels (k - 1/2) / L sign, L = 2**(out_bits - 1), k = ceil(|tanh y| L).
    ``stochastic_binary``: 1 with probability sigmoid(y / noise_scale) (needs ``rng``).
    ``linear`` and ``relu`` work on voltages and are converted by :func:`adc_convert`.
    """
    y = np.asarray(y, dtype=float)
    if mode == "sigmoid":
        levels = adc_levels(out_bits, mode, config)
        return np.floor(_sigmoid(y) * levels + 0.5) / levels
    if mode == "tanh":
        levels = adc_levels(out_bits, mode, config)
        t = np.tanh(y)
        return adc_convert(t, 1.0 / levels, levels, signed=True) / levels
    if mode == "stochastic_binary":
        if rng is None:
            raise ValueError("stochastic_binary needs rng")
        if config.noise == "logistic":
            noise = rng.logistic(0.0, config.noise_scale, y.shape)
        else:
            noise = rng.normal(0.0, config.noise_scale * np.pi / np.sqrt(3.0), y.shape)
        return (y + noise > 0).astype(float)
    raise ValueError(f"activate handles 'sigmoid', 'tanh' and 'stochastic_binary' (got {mode!r})")


def requantize(y: np.ndarray, mode: str, out_bits: int, top: float = 1.0,
               config: NeuronConfig | None = None) -> np.ndarray:
    """Digital activation of values y requantised to ``out_bits`` bits, as the neurons' ADC
    would read them (the digital path of layers whose partial sums are added off-array).

    ``relu``: clip(floor(y / top L + 1/2), 0, L) top / L with L = 2**out_bits - 1 (capped by the
    config's relu_clip), the unsigned ADC's rounding over [0, top]. ``linear``: y unchanged.
    ``sigmoid``, ``tanh``: :func:`activate` of y (the same levels as in the neurons).
    """
    config = NeuronConfig() if config is None else config
    if mode == "linear":
        return np.asarray(y, dtype=float)
    if mode == "relu":
        levels = adc_levels(out_bits, "relu", config)
        return np.clip(np.floor(np.asarray(y, float) / top * levels + 0.5), 0,
                       levels) * (top / levels)
    if mode in ("sigmoid", "tanh"):
        return activate(y, mode, out_bits, config)
    raise ValueError(f"requantize handles 'linear', 'relu', 'sigmoid' and 'tanh' (got {mode!r})")


def _sigmoid(y):
    return 0.5 * (1.0 + np.tanh(0.5 * y))


# ---------------------------------------------------------------------------- integrate and fire
def lif_step(v: np.ndarray, dv: Any, refractory_left: np.ndarray, config: NeuronConfig,
             threshold: Any = None, *, saturate: bool = True,
             can_fire: np.ndarray | None = None) -> np.ndarray:
    """One cycle of the integrate-and-fire neuron, for every neuron of an array at once.

    This is the LIF of every engine: the batch spiking engine calls it, the Brian2 equations
    of :mod:`snn_neurram.engines.brian.neurons` are the same steps written for Brian2, and the
    tests hold the two spike for spike equal.

    1. A neuron that is not refractory integrates: ``v = (1 - leak) v + dv``, clipped to
       +-``v_swing`` (the integrator's swing) when ``saturate``.
    2. A refractory neuron keeps v and counts its refractory cycles down by one.
    3. A neuron that integrated this cycle and has ``v >= threshold`` (and may fire) spikes: v is
       reset to zero (``reset="zero"``) or loses the threshold (``"subtract"``: the charge
       decrement), and it rests for ``refractory`` cycles.

    Parameters
    ----------
    v : ndarray
        Integrated voltages (V, or any unit shared with ``dv`` and ``threshold``); updated in
        place.
    dv : ndarray or float
        What the integrator adds this cycle: ``c_ratio`` times the settled line voltage
        V_SL - V_ref (V). Broadcast to v's shape.
    refractory_left : ndarray of int
        Refractory cycles left per neuron (v's shape); updated in place.
    config : NeuronConfig
        ``leak``, ``v_swing``, ``threshold``, ``reset`` and ``refractory``.
    threshold : ndarray or float, optional
        Per-neuron thresholds broadcast to v's shape (default ``config.threshold``).
    saturate : bool
        Clip v to the integrator's swing (off for a digital membrane).
    can_fire : ndarray of bool, optional
        Neurons allowed to spike this cycle (default all).

    Returns
    -------
    spikes : ndarray of bool
    """
    th = config.threshold if threshold is None else threshold
    if config.refractory == 0:             # no neuron is ever refractory: update in place
        free = None
        if config.leak:
            v *= 1.0 - config.leak
        v += dv
        if saturate:
            np.clip(v, -config.v_swing, config.v_swing, out=v)
        spikes = v >= th
    else:
        free = refractory_left <= 0
        new = (1.0 - config.leak) * v + dv
        if saturate:
            np.clip(new, -config.v_swing, config.v_swing, out=new)
        np.copyto(v, new, where=free)
        refractory_left -= ~free
        spikes = free & (v >= th)
    if can_fire is not None:
        spikes &= can_fire
    if config.reset == "zero":
        v[spikes] = 0.0
    else:
        np.subtract(v, np.broadcast_to(th, v.shape), out=v, where=spikes)
    if free is not None:
        refractory_left[spikes] = config.refractory
    return spikes


def lif_rate(v_in: float, config: NeuronConfig) -> float:
    """Closed-form firing rate (spikes per cycle) for a constant input voltage ``v_in``.

    Without leak, a neuron reset to zero needs n = ceil(threshold / (c_ratio v_in)) cycles of
    integration, then rests ``refractory`` cycles: rate 1 / (n + refractory). With reset by
    subtraction and no refractory period the long-run rate is c_ratio v_in / threshold (capped
    at 1). With leak lam, integration to threshold takes
    n = ceil(log(1 - lam th / (c v_in)) / log(1 - lam)) cycles (no spike if c v_in / lam <= th).
    """
    dv = config.c_ratio * float(v_in)
    th = config.threshold
    if dv <= 0:
        return 0.0
    if config.reset == "subtract" and config.refractory == 0 and config.leak == 0:
        return min(dv / th, 1.0)
    if config.leak == 0:
        n = np.ceil(th / dv - 1e-12)
    else:
        lam = config.leak
        if dv / lam <= th:
            return 0.0
        # v_n = dv (1 - (1 - lam)^n) / lam >= th
        n = np.ceil(np.log(1 - lam * th / dv) / np.log(1 - lam) - 1e-12)
    if config.reset == "subtract":
        raise ValueError("lif_rate has a closed form for reset='subtract' only without leak and "
                         "refractory period")
    return 1.0 / (max(n, 1.0) + config.refractory)
