"""Compiled element-wise kernels of the batch engine (numba).

The matrix work of an MVM stays in BLAS; what is left per output element -- adding read noise,
saturating the integrator, running the in-neuron ADC and scaling the code -- runs here in two
tight loops per batch row that the compiler vectorises.

Read noise in this fast path needs one Gaussian-like variate per output element. It comes from a
counter-based generator: the SplitMix64 finaliser (Steele, Lea & Flood 2014) of
key + counter x golden ratio, whose eight bytes are summed (Irwin-Hall of eight discrete uniform
bytes) and standardised. Its mean and variance are exact, its kurtosis is 2.85 (normal: 3) and its
support is +-4.9 standard deviations. Being counter-based it is bit-identical whatever the order
or threading of the computation. The per-device reference path of the core draws its noise with
numpy's ``Generator.standard_normal`` instead.

Kernels are compiled once per floating-point precision (float32 for speed, float64 for exactness);
the wrappers at the bottom pick by the dtype of the arrays.
"""

import math

import numba as nb
import numpy as np

# ADC / activation modes understood by :func:`noisy_adc`
MODE_ANALOG = 0      # no conversion: return the (noisy, saturated) voltage in LSB units
MODE_SIGNED = 1      # sign + magnitude: (k - 1/2) sign(v), k = min(floor(|v|) + 1, L)
MODE_RELU = 2        # unsigned, rounded: clip(floor(v + 1/2), 0, L)

# fast-math without the no-NaN / no-inf assumptions (an infinite swing is allowed)
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}
_BYTES = np.uint64(0x00FF00FF00FF00FF)
_BYTESUM_MEAN = 1020                                   # 8 x 127.5
BYTESUM_SD = math.sqrt(8 * (256.0 ** 2 - 1) / 12.0)   # 209.02


@nb.njit(inline="always", cache=True)
def counter_bytesum(key: np.uint64, index: int) -> np.int64:
    """Centred byte sum of splitmix64(key + index x golden ratio): mean 0, sd 209.02."""
    h = key + np.uint64(index) * np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    h = h ^ (h >> np.uint64(31))
    pairs = (h & _BYTES) + ((h >> np.uint64(8)) & _BYTES)    # four 16-bit sums of two bytes
    total = (pairs * np.uint64(0x0001000100010001)) >> np.uint64(48)
    return np.int64(total) - _BYTESUM_MEAN


@nb.njit(cache=True)
def counter_normals(key: int, n: int) -> np.ndarray:
    """The first ``n`` standardised variates of the generator under ``key`` (float64)."""
    out = np.empty(n)
    k = np.uint64(key)
    for i in range(n):
        out[i] = counter_bytesum(k, i) / BYTESUM_SD
    return out


def _make_kernels(ft):
    """Compile the kernels for floating type ``ft`` (np.float32 or np.float64)."""

    @nb.njit(fastmath=_FM, nogil=True, cache=True)
    def quantize(x, gain, levels, out):
        n, m = x.shape
        g = ft(gain)
        top = ft(levels)
        for b in range(n):
            for i in range(m):
                out[b, i] = min(max(np.rint(ft(x[b, i]) * g), -top), top)

    @nb.njit(inline="always", cache=True)
    def convert_row(out, b, inv_lsb, swing, mode, levels, scale):
        m = out.shape[1]
        sw = ft(swing * inv_lsb)
        il = ft(inv_lsb)
        lv = ft(levels)
        half = ft(0.5)
        zero = ft(0.0)
        if mode == MODE_SIGNED:
            for j in range(m):
                x = min(max(out[b, j] * il, -sw), sw)
                c = min(math.floor(abs(x)) + half, lv - half)
                out[b, j] = (c if x >= zero else -c) * scale[j]
        elif mode == MODE_RELU:
            for j in range(m):
                x = min(max(out[b, j] * il, -sw), sw)
                out[b, j] = min(max(math.floor(x + half), zero), lv) * scale[j]
        else:
            for j in range(m):
                out[b, j] = min(max(out[b, j] * il, -sw), sw) * scale[j]

    @nb.njit(fastmath=_FM, nogil=True, cache=True)
    def noisy_adc(v, var, key, lsb, swing, mode, levels, scale, out):
        n, m = v.shape
        zs = ft(1.0 / BYTESUM_SD)
        ku = np.uint64(key)
        noisy = var.shape[0] > 0
        for b in range(n):
            base = b * m
            if noisy:
                for j in range(m):
                    out[b, j] = v[b, j] + math.sqrt(var[b, j]) * (
                        ft(counter_bytesum(ku, base + j)) * zs)
            else:
                for j in range(m):
                    out[b, j] = v[b, j]
            convert_row(out, b, 1.0 / lsb, swing, mode, levels, scale)

    @nb.njit(fastmath=_FM, nogil=True, cache=True)
    def noisy_adc_quad(v, a, cross, c1, k2, key, lsb, swing, mode, levels, scale, out):
        n, m = v.shape
        zs = ft(1.0 / BYTESUM_SD)
        ku = np.uint64(key)
        g = ft(c1)
        zero = ft(0.0)
        for b in range(n):
            base = b * m
            for j in range(m):
                x = v[b, j]
                var = max(a[b, j] + x * (g * cross[b, j] + k2[j] * x), zero)
                out[b, j] = x + math.sqrt(var) * (ft(counter_bytesum(ku, base + j)) * zs)
            convert_row(out, b, 1.0 / lsb, swing, mode, levels, scale)

    @nb.njit(fastmath=_FM, nogil=True, cache=True)
    def add_quadratic(var, v, cross, c1, k2):
        n, m = var.shape
        g = ft(c1)
        for b in range(n):
            for j in range(m):
                x = v[b, j]
                var[b, j] = max(var[b, j] + x * (g * cross[b, j] + k2[j] * x), ft(0.0))

    return quantize, noisy_adc, add_quadratic, noisy_adc_quad


_K32 = _make_kernels(np.float32)
_K64 = _make_kernels(np.float64)


def _pick(out):
    if out.dtype == np.float32:
        return _K32
    if out.dtype == np.float64:
        return _K64
    raise TypeError(f"kernels need float32 or float64 arrays (got {out.dtype})")


def quantize(x: np.ndarray, gain: float, levels: float, out: np.ndarray) -> None:
    """out = clip(rint(x * gain), -levels, levels), element-wise (round half to even).

    ``x`` and ``out`` are 2-D arrays of one shape; ``out`` sets the precision.
    """
    _pick(out)[0](x, float(gain), float(levels), out)


def add_quadratic(var: np.ndarray, v: np.ndarray, cross: np.ndarray, c1: float,
                  k2: np.ndarray) -> None:
    """var += v (c1 cross + k2 v), clipped at zero, in place (k2 per column).

    The first-order read-noise variance of a line whose voltage v is not small against V_read:
    the terms from the noise of the line's load (see :meth:`snn_neurram.Core._integrate_fast`).
    """
    _pick(var)[2](var, v, cross, float(c1), k2)


def noisy_adc_quad(v: np.ndarray, a: np.ndarray, cross: np.ndarray, c1: float, k2: np.ndarray,
                   key: int, lsb: float, swing: float, mode: int, levels: float,
                   scale: np.ndarray, out: np.ndarray) -> None:
    """:func:`noisy_adc` with the variance a + v (c1 cross + k2 v) (clipped at zero) formed in
    place, as :func:`add_quadratic` would; ``v`` may be a strided view."""
    _pick(out)[3](v, a, cross, float(c1), k2, int(key), float(lsb), float(swing), int(mode),
                  float(levels), scale, out)


def noisy_adc(v: np.ndarray, var: np.ndarray, key: int, lsb: float, swing: float, mode: int,
              levels: float, scale: np.ndarray, out: np.ndarray) -> None:
    """Add read noise, saturate, convert.

    Parameters
    ----------
    v : (B, N) float array
        Integrated voltage (V).
    var : (B, N) float array or empty (0, 0)
        Variance of its read noise (V^2); empty for no noise. Same dtype as ``v``.
    key : int
        Key of the counter-based generator for this call (0 <= key < 2**63); output element
        (b, j) takes variate b * N + j of :func:`counter_normals`.
    lsb : float
        ADC step (V).
    swing : float
        Integrator saturation: |v| is clipped to this (V); may be inf.
    mode : int
        MODE_ANALOG, MODE_SIGNED or MODE_RELU.
    levels : float
        Number of magnitude levels of the code.
    scale : (N,) float array
        Factor applied to each column's code (e.g. to output units). Same dtype as ``v``.
    out : (B, N) float array
        Result; may be ``v`` itself.
    """
    _pick(out)[1](v, var, int(key), float(lsb), float(swing), int(mode), float(levels), scale,
                  out)
