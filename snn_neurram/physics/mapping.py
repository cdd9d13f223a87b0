"""Signed weight matrices <-> differential conductance pairs.

Every weight w is stored on a pair of cells (G+, G-) on two rows of the same column, and the
column reads their difference. With Delta g = g_max - g_min and w clipped to [-w_max, w_max]:

``sign``    G+ = g_min + max(w, 0) / w_max * Delta g,   G- = g_min + max(-w, 0) / w_max * Delta g
            (one cell of each pair rests at g_min; the chip's own mapping)
``offset``  G+ = g_c + w / (2 w_max) * Delta g,          G- = g_c - w / (2 w_max) * Delta g,
            g_c = (g_min + g_max) / 2 (every pair sums to 2 g_c, so the column load is constant)

Both give G+ - G- = w / w_max * Delta g, and the inverse is w = (G+ - G-) w_max / Delta g.

w_max is the ``percentile``-th percentile of |W| (default 95, as the chip's mapping does); larger
weights are clipped. A bias b is stored as extra row pairs whose input is driven at full scale
(+1 pulses in every cycle, equivalent to an input of x_max): each of the k bias rows holds
b / (k x_max), with k the smallest count that keeps every bias weight within w_max.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_choice, check_int, check_range
from ..errors import CapacityError

__all__ = ["MappedWeights", "weight_scale", "to_conductances", "from_conductances",
           "conductance_pair", "SCHEMES"]

SCHEMES = ("sign", "offset")


class MappedWeights(NamedTuple):
    """Conductance targets of a weight matrix (and bias).

    Attributes
    ----------
    g_plus, g_minus : ndarray (n_in + n_bias_rows, n_out)
        Target conductances (S) of the positive and negative row of each pair; the bias rows
        come last.
    w_max : float
        Weight that maps to the full window.
    n_bias_rows : int
        Number of bias row pairs.
    x_max : float
        Input value that drives a row at full scale (bias rows are driven there).
    clipped_fraction : float
        Fraction of weights (bias included) that were clipped to +-w_max.
    scheme : str
    """

    g_plus: np.ndarray
    g_minus: np.ndarray
    w_max: float
    n_bias_rows: int
    x_max: float
    clipped_fraction: float
    scheme: str


#: Row pairs of a core: no mapping can use more bias rows than this.
MAX_BIAS_ROWS = 128

def weight_scale(W: ArrayLike, percentile: float = 95.0) -> float:
    """w_max: the ``percentile``-th percentile of |W| (the largest |W| if that is zero)."""
    percentile = check_range(percentile, "percentile", 0.0, 100.0, lo_open=True)
    a = np.abs(np.asarray(W, dtype=float))
    w_max = float(np.percentile(a, percentile)) if a.size else 0.0
    if w_max <= 0:
        w_max = float(a.max()) if a.size else 0.0
    return w_max if w_max > 0 else 1.0


def conductance_pair(W: ArrayLike, w_max: float, g_min: float, g_max: float,
                     scheme: str = "sign") -> tuple[np.ndarray, np.ndarray]:
    """Target pair (G+, G-) of weights already limited to [-w_max, w_max]."""
    check_choice(scheme, "scheme", SCHEMES)
    u = np.asarray(W, dtype=float) / w_max
    span = g_max - g_min
    if scheme == "sign":
        return g_min + np.maximum(u, 0.0) * span, g_min + np.maximum(-u, 0.0) * span
    centre = 0.5 * (g_min + g_max)
    return centre + 0.5 * u * span, centre - 0.5 * u * span


def to_conductances(W: ArrayLike, bias: ArrayLike | None = None, *, g_min: float = 1e-6,
                    g_max: float = 40e-6, scheme: str = "sign", w_max: float | None = None,
                    percentile: float = 95.0, x_max: float = 1.0,
                    bias_rows: int | None = None) -> MappedWeights:
    """Map a signed matrix W (n_in, n_out) and optional bias (n_out,) to conductance targets.

    Parameters
    ----------
    W : array_like (n_in, n_out)
        Weights: output j = sum_i x_i W[i, j] + bias[j].
    bias : array_like (n_out,), optional
    g_min, g_max : float
        Programming window (S).
    scheme : {"sign", "offset"}
    w_max : float, optional
        Full-scale weight; by default the ``percentile``-th percentile of |W|.
    percentile : float
        Percentile of |W| that sets w_max (default 95).
    x_max : float
        Input value driving a row at full scale; sets the bias rows' weights.
    bias_rows : int, optional
        Number of bias row pairs; by default the fewest that keep bias weights within w_max.

    Returns
    -------
    MappedWeights
    """
    W = as_finite_array(W, "W", ndim=2, shape=(None, None))
    n_in, n_out = W.shape
    if n_in == 0 or n_out == 0:
        raise ValueError(f"W must have at least one row and one column (got shape {W.shape})")
    g_min = check_range(g_min, "g_min", 0.0, None, unit="siemens")
    g_max = check_range(g_max, "g_max", g_min, None, lo_open=True, unit="siemens")
    x_max = check_range(x_max, "x_max", 0.0, None, lo_open=True)
    if w_max is None:
        w_max = weight_scale(W, percentile)
    else:
        w_max = check_range(w_max, "w_max", 0.0, None, lo_open=True)
    rows = [W]
    n_bias = 0
    if bias is not None:
        b = as_finite_array(bias, "bias", ndim=1, shape=(n_out,))
        wb = b / x_max
        # counted in floating point before anything is allocated: a core has 128 row pairs
        ratio = float(np.max(np.abs(wb))) / w_max
        if ratio > MAX_BIAS_ROWS:
            raise CapacityError(f"the bias needs {ratio:.3g} bias row pairs (max|bias| / x_max / "
                                f"w_max = {np.max(np.abs(b)):g} / {x_max:g} / {w_max:g}); a core "
                                f"has {MAX_BIAS_ROWS} row pairs")
        needed = max(1, int(np.ceil(ratio - 1e-12)))
        n_bias = needed if bias_rows is None else check_int(bias_rows, "bias_rows", 1,
                                                             MAX_BIAS_ROWS)
        rows += [np.tile(wb / n_bias, (n_bias, 1))]
    Wa = np.vstack(rows)
    clipped = float(np.mean(np.abs(Wa) > w_max))
    Wc = np.clip(Wa, -w_max, w_max)
    gp, gm = conductance_pair(Wc, w_max, g_min, g_max, scheme)
    return MappedWeights(gp, gm, float(w_max), n_bias, float(x_max), clipped, scheme)


def from_conductances(g_plus: ArrayLike, g_minus: ArrayLike, w_max: float, g_min: float,
                      g_max: float, n_bias_rows: int = 0,
                      x_max: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """Effective weights read back from conductance pairs: w = (G+ - G-) w_max / (g_max - g_min).

    Returns
    -------
    W : ndarray (n_in, n_out)
    bias : ndarray (n_out,) or None
        Sum of the bias rows times x_max, when there are bias rows.
    """
    g_plus = as_finite_array(g_plus, "g_plus", ndim=2, shape=(None, None))
    g_minus = as_finite_array(g_minus, "g_minus", ndim=2, shape=(None, None))
    if g_plus.shape != g_minus.shape:
        raise ValueError(f"g_plus {g_plus.shape} and g_minus {g_minus.shape} must have one shape")
    if g_plus.size and (g_plus.min() < 0 or g_minus.min() < 0):
        raise ValueError("g_plus and g_minus must be conductances >= 0 S")
    w_max = check_range(w_max, "w_max", 0.0, None, lo_open=True)
    g_min = check_range(g_min, "g_min", 0.0, None, unit="siemens")
    g_max = check_range(g_max, "g_max", g_min, None, lo_open=True, unit="siemens")
    n_bias_rows = check_int(n_bias_rows, "n_bias_rows", 0, g_plus.shape[0])
    x_max = check_range(x_max, "x_max", 0.0, None, lo_open=True)
    w = (g_plus - g_minus) * (w_max / (g_max - g_min))
    if n_bias_rows:
        return w[:-n_bias_rows], w[-n_bias_rows:].sum(axis=0) * x_max
    return w, None
