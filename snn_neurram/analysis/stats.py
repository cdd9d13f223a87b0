"""Statistics of accuracies measured on simulated chips: over chips, over read-noise draws, and
paired comparisons of steps on the same images.

A chip row of a benchmark is a table ``acc[c, d]``: chip c (one programming of the cells, its
write errors, relaxation and faults) read with read-noise draw d, all on the same test images.
Chips are the population a user cares about ("what will my chip give"), so intervals of a mean
are over chips (Student's t on the per-chip means, chips - 1 degrees of freedom); the spread
over draws is reported next to it. Two steps measured on the same chips, draws and images are
compared pairwise: their difference per (chip, draw) has far less spread than either.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _st

__all__ = ["summarize", "paired_difference", "binomial_se", "t_interval"]


def t_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """``level`` confidence interval of the mean of ``values`` (Student's t); for a single value
    the interval is that value (nothing to estimate a spread from)."""
    v = np.asarray(values, dtype=float).ravel()
    m = float(v.mean())
    if len(v) < 2:
        return m, m
    half = float(_st.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m - half, m + half


def binomial_se(accuracy: float, n_images: int) -> float:
    """Standard error of an accuracy measured on ``n_images`` independent test images (binomial
    sampling of the test set)."""
    return float(np.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(n_images, 1)))


def summarize(acc: ArrayLike, n_images: int | None = None) -> dict[str, Any]:
    """Summary of accuracies ``acc[chip, draw]`` (fractions).

    Returns
    -------
    dict
        ``mean`` over everything; ``std_chips`` (of the per-chip means, ddof 1);
        ``std_draws`` (pooled within-chip spread over draws, ddof 1); ``ci95`` of the mean over
        chips (clipped to [0, 1]); ``min_chip`` and ``max_chip`` (per-chip means); ``per_chip`` (means) and
        ``per_chip_draw`` (all values); with ``n_images`` also ``test_set_se`` of the mean.
    """
    a = np.atleast_2d(np.asarray(acc, dtype=float))
    per_chip = a.mean(axis=1)
    out: dict[str, Any] = {
        "mean": float(a.mean()),
        "std_chips": float(per_chip.std(ddof=1)) if len(per_chip) > 1 else 0.0,
        "std_draws": float(np.sqrt(a.var(axis=1, ddof=1).mean())) if a.shape[1] > 1 else 0.0,
        "ci95": [float(v) for v in np.clip(t_interval(per_chip), 0.0, 1.0)],
        "min_chip": float(per_chip.min()), "max_chip": float(per_chip.max()),
        "chips": int(a.shape[0]), "draws": int(a.shape[1]),
        "per_chip": per_chip.tolist(), "per_chip_draw": a.tolist(),
    }
    if n_images:
        out["test_set_se"] = binomial_se(out["mean"], n_images)
    return out


def paired_difference(after: ArrayLike, before: ArrayLike) -> dict[str, Any]:
    """Difference ``after - before`` of two steps measured on the same chips, draws and images.

    Returns
    -------
    dict
        ``mean`` difference, ``ci95`` over chips (of the per-chip mean differences),
        ``per_chip`` mean differences, ``min_chip`` (the worst chip's) and ``worse_chips``
        (how many chips lost on average).
    """
    d = np.atleast_2d(np.asarray(after, dtype=float) - np.asarray(before, dtype=float))
    per_chip = d.mean(axis=1)
    return {"mean": float(d.mean()), "ci95": list(t_interval(per_chip)),
            "per_chip": per_chip.tolist(), "min_chip": float(per_chip.min()),
            "worse_chips": int(np.sum(per_chip < 0))}
