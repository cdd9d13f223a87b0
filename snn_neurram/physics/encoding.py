"""Spike encoders: values -> pulses per time step, as the input rows of the chip receive them.

Every encoder maps a batch of values ``x`` (any shape, scaled by ``x_max``) to an int8 array of
shape ``(steps,) + x.shape`` with entries in {-1, 0, 1}: the ternary pulse of each input in each
step (negative values give negative pulses; the chip's input register holds a ternary pulse).

``poisson``     each step an input pulses with probability |x| / x_max (seeded)
``regular``     deterministic rate: n = round(steps |x| / x_max) pulses, evenly spread
``latency``     time to first spike: one pulse at step round((1 - |x| / x_max) (steps - 1)),
                none for x = 0 -- larger values spike earlier
``bit_serial``  the chip's multi-bit pulse code: bit k of the quantised magnitude as 2^k
                (times the multiplier) identical pulses, least significant bit first

``spike_trains`` takes inputs that are spike trains already, (batch, steps, ...), checks them
and puts time first, as the encoders give it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_int, check_range

__all__ = ["poisson", "regular", "latency", "bit_serial", "bit_serial_codes", "spike_trains",
           "ENCODERS"]


def _prepare(x, steps, x_max):
    x = as_finite_array(x, "x")
    steps = check_int(steps, "steps", 1, 10**6)
    x_max = check_range(x_max, "x_max", 0.0, None, lo_open=True)
    return np.clip(np.abs(x) / x_max, 0.0, 1.0), np.sign(x).astype(np.int8), steps


def spike_trains(x: ArrayLike, name: str = "x", min_ndim: int = 3) -> np.ndarray:
    """Given spike trains ``x`` (batch, steps, ...), values in {-1, 0, 1}, as int8 pulses time
    first, (steps, batch, ...); ValueError naming ``name`` for anything else."""
    a = as_finite_array(x, name)
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must be spike trains of shape (batch, steps, ...) (got shape "
                         f"{a.shape})")
    if a.shape[1] == 0:
        raise ValueError(f"{name} must have at least one step (got shape {a.shape})")
    if not np.isin(a, (-1, 0, 1)).all():
        raise ValueError(f"{name} must hold spikes: values -1, 0 or 1")
    return np.moveaxis(a, 1, 0).astype(np.int8)


def poisson(x: ArrayLike, steps: int, rng: np.random.Generator, x_max: float = 1.0) -> np.ndarray:
    """Poisson (Bernoulli per step) rate code, drawn from ``rng``."""
    p, sign, steps = _prepare(x, steps, x_max)
    return ((rng.random((steps,) + p.shape) < p) * sign).astype(np.int8)


def regular(x: ArrayLike, steps: int, x_max: float = 1.0) -> np.ndarray:
    """Deterministic rate code: round(steps p) pulses at steps where floor((t + 1) n / steps)
    increases (evenly spread)."""
    p, sign, steps = _prepare(x, steps, x_max)
    n = np.rint(p * steps)
    t = np.arange(steps).reshape((steps,) + (1,) * p.ndim)
    fire = np.floor((t + 1) * n / steps) > np.floor(t * n / steps)
    return (fire * sign).astype(np.int8)


def latency(x: ArrayLike, steps: int, x_max: float = 1.0) -> np.ndarray:
    """Time-to-first-spike code: at most one pulse per input, earlier for larger |x|."""
    p, sign, steps = _prepare(x, steps, x_max)
    when = np.rint((1.0 - p) * (steps - 1)).astype(np.int64)
    t = np.arange(steps).reshape((steps,) + (1,) * p.ndim)
    return ((t == when) & (p > 0)).astype(np.int8) * sign


def bit_serial_codes(q: ArrayLike, in_bits: int, multiplier: int = 1) -> np.ndarray:
    """Pulses of signed integer codes q (|q| < 2**in_bits): bit k as 2^k * multiplier identical
    cycles, LSB first. Returns ((2**in_bits - 1) * multiplier,) + q.shape."""
    from .neuron import bit_planes

    planes = bit_planes(q, in_bits)
    return np.concatenate([np.repeat(planes[k][None], 2 ** k * multiplier, axis=0)
                           for k in range(in_bits)]).astype(np.int8)


def bit_serial(x: ArrayLike, in_bits: int, x_max: float = 1.0, multiplier: int = 1) -> np.ndarray:
    """The chip's bit-serial multi-bit code of quantised inputs (LSB first).

    Returns ((2**in_bits - 1) * multiplier,) + x.shape pulses.
    """
    from .neuron import quantize_inputs

    in_bits = check_int(in_bits, "in_bits", 1, 8)
    multiplier = check_int(multiplier, "multiplier", 1, 1024)
    x = as_finite_array(x, "x")
    q = quantize_inputs(x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1), in_bits,
                        x_max).reshape(x.shape)
    return bit_serial_codes(q, in_bits, multiplier)


ENCODERS = {"rate": "poisson", "poisson": "poisson", "regular": "regular",
            "latency": "latency"}
