"""Per-column gain and offset of a layer on the chip against its model: the fits calibration uses.

A column j of a calibrated layer reads, for a model value t (output units), about
``gain_j * t + offset_j`` plus read noise, then its ADC quantises the result. Three ways to
estimate (gain, offset) per column live here:

- :func:`fit_adc_codes` -- from the ADC codes the neurons give (what a chip measures). The codes
  are interval observations of the analogue value: a ReLU's code 0 says only "below half a
  step" (the cut), the top code only "above the last step" (saturation), and every other code a
  one-step interval. The fit maximises that interval likelihood (an ordered-probit model with
  Gaussian noise of a fitted width per column), mixed with a small uniform outlier share, with a
  Gaussian prior pulling the gain toward 1 and the offset toward 0. A least-squares line
  through the codes instead is biased by the cut (rectified noise lifts the mean of small
  values) and by saturation: this is what made calibration hurt (see docs/accuracy.md).
- :func:`fit_huber` -- a Huber-weighted line, for values that are not single ADC codes (sums of
  partial sums over several row segments, multi-phase inputs).
- :func:`fit_lines` -- an exact least-squares line between two noise-free linear maps, for the
  gains read back from the programmed conductances.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr

__all__ = ["code_intervals", "fit_adc_codes", "fit_huber", "fit_lines", "GAIN_BOUNDS"]

#: A column whose gain fits outside this range is left uncorrected (it barely responds).
GAIN_BOUNDS = (0.25, 4.0)
_SQRT_2PI = np.sqrt(2 * np.pi)


def code_intervals(codes: np.ndarray, mode: str, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The interval of the analogue value (in ADC steps) that each ADC code stands for.

    ``relu``: code k in 0..L holds [k - 1/2, k + 1/2), code 0 from -inf, code L to +inf.
    ``linear`` (sign + magnitude, codes +-(k - 1/2)): magnitude in [k - 1, k), the last level to
    infinity, on the code's side.
    """
    codes = np.asarray(codes, dtype=float)
    if mode == "relu":
        lo, hi = codes - 0.5, codes + 0.5
        lo[codes <= 0] = -np.inf
        hi[codes >= levels] = np.inf
        return lo, hi
    k = np.abs(codes) + 0.5
    inner, outer = k - 1.0, np.where(k >= levels, np.inf, k)
    pos = codes > 0
    return np.where(pos, inner, -outer), np.where(pos, outer, -inner)


def fit_adc_codes(codes: np.ndarray, x: np.ndarray, mode: str, levels: int, *,
                  prior_gain_sd: float = 0.3, prior_offset_sd: float = 2.0,
                  outlier: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column interval-likelihood fit of codes ~ gain * x + offset + N(0, sigma^2).

    Parameters
    ----------
    codes : ndarray (n, m)
        ADC codes of m columns for n inputs (``relu``: integers 0..L; ``linear``: +-(k - 1/2)).
    x : ndarray (n, m)
        The model's value of each output, in ADC steps (output units / the column's step).
    mode : {"relu", "linear"}
    levels : int
        Magnitude levels of the code (L).
    prior_gain_sd, prior_offset_sd : float
        Widths of the Gaussian priors on gain (around 1) and offset (around 0, in steps): they
        decide a column whose codes say little (few inputs, mostly cut or saturated).
    outlier : float
        Share of samples taken as uniform over the codes (bounds the pull of outliers).

    Returns
    -------
    gain, offset, sigma : ndarray (m,)
        offset and sigma in ADC steps.
    """
    lo, hi = code_intervals(codes, mode, levels)
    x = np.asarray(x, dtype=float)
    n, m = x.shape
    n_codes = levels + 1 if mode == "relu" else 2 * levels
    floor = outlier / n_codes
    # the gain is fitted on x / sx (every column's model values at unit spread), which keeps
    # gain and offset equally scaled for the optimiser; the prior stays on the true gain
    sx = np.maximum(x.std(axis=0), 1e-9)
    xs = x / sx

    def nll(theta):
        g, c, s = theta[:m], theta[m:2 * m], np.exp(theta[2 * m:])
        mu = g * xs + c
        a, b = (lo - mu) / s, (hi - mu) / s
        fin_a, fin_b = np.isfinite(a), np.isfinite(b)
        a0, b0 = np.where(fin_a, a, 0.0), np.where(fin_b, b, 0.0)
        fa = np.where(fin_a, np.exp(-0.5 * a0 ** 2), 0.0) / _SQRT_2PI
        fb = np.where(fin_b, np.exp(-0.5 * b0 ** 2), 0.0) / _SQRT_2PI
        like = (1 - outlier) * (ndtr(b) - ndtr(a)) + floor
        w = (1 - outlier) / like
        dmu = w * (fa - fb) / s                        # d log-likelihood / d mu
        dls = w * (a0 * fa - b0 * fb)                  # d log-likelihood / d log(sigma)
        gain = g / sx
        f = -np.log(like).sum() + 0.5 * (((gain - 1) / prior_gain_sd) ** 2).sum() \
            + 0.5 * ((c / prior_offset_sd) ** 2).sum()
        grad = np.concatenate([-(dmu * xs).sum(axis=0) + (gain - 1) / prior_gain_sd ** 2 / sx,
                               -dmu.sum(axis=0) + c / prior_offset_sd ** 2,
                               -dls.sum(axis=0)])
        return f, grad

    # start from a robust line through the codes strictly inside the range
    inside = (np.abs(codes) > 0.5) & (np.abs(codes) < levels - 0.5)
    g0, c0 = fit_huber(np.where(inside, codes, 0.0), np.where(inside, x, 0.0), weights=inside)
    g0 = np.clip(np.where(np.isfinite(g0), g0, 1.0), *GAIN_BOUNDS)
    c0 = np.clip(np.where(np.isfinite(c0), c0, 0.0), -levels, levels)
    theta0 = np.concatenate([g0 * sx, c0, np.full(m, np.log(0.5))])
    bounds = ([(GAIN_BOUNDS[0] * v, GAIN_BOUNDS[1] * v) for v in sx] + [(-levels, levels)] * m
              + [(np.log(0.1), np.log(levels))] * m)
    res = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 500})
    return res.x[:m] / sx, res.x[m:2 * m], np.exp(res.x[2 * m:])


def fit_huber(y: np.ndarray, x: np.ndarray, *, delta: float = 1.5, iterations: int = 10,
              weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column line y ~ gain * x + offset by iteratively reweighted least squares with Huber
    weights (residuals beyond ``delta`` robust standard deviations count linearly); ``weights``
    (n, m) of 0/1 leave samples out."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    keep = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    w = keep.copy()
    gain, offset = np.ones(x.shape[1]), np.zeros(x.shape[1])
    for _ in range(iterations):
        gain, offset = _weighted_line(y, x, w)
        r = y - gain * x - offset
        scale = 1.4826 * _masked_median(np.abs(r), keep > 0) + 1e-12
        u = np.abs(r) / (delta * scale)
        w = keep * np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-12))
    return gain, offset


def _masked_median(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of every column of ``a`` over the rows where ``mask`` holds (0 for none)."""
    s = np.sort(np.where(mask, a, np.inf), axis=0)
    n = mask.sum(axis=0)
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    cols = np.arange(a.shape[1])
    med = 0.5 * (s[lo, cols] + s[hi, cols])
    return np.where(n > 0, med, 0.0)


def _weighted_line(y: np.ndarray, x: np.ndarray,
                   w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column weighted least-squares line y ~ gain * x + offset (columns whose weighted x
    does not vary: 1, 0)."""
    sw = np.maximum(w.sum(axis=0), 1e-12)
    mx, my = (w * x).sum(axis=0) / sw, (w * y).sum(axis=0) / sw
    var = (w * (x - mx) ** 2).sum(axis=0)
    ok = var > 0
    gain = np.where(ok, (w * (x - mx) * (y - my)).sum(axis=0) / np.where(ok, var, 1), 1.0)
    return gain, np.where(ok, my - gain * mx, 0.0)


def fit_lines(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column least-squares line y ~ gain * x + offset (columns with constant x: 1, 0)."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    return _weighted_line(y, x, np.ones_like(x))
