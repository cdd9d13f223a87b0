"""The noise lines of stochastic neurons: pseudo-random codes driven on extra rows or columns.

A stochastic binary neuron on the chip is a comparator whose input carries, besides the
weighted sum, the contribution of R noise lines driven with pseudo-random codes (the chip's
LFSRs). Scaled so that the noise has standard deviation :data:`NOISE_SIGMA` in weight units, the
comparator fires with probability Phi(a / NOISE_SIGMA), the probit closest to sigmoid(a). Every
engine that samples (the RBM and Boltzmann samplers) draws its codes here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NOISE_SIGMA", "noise_variance", "noise_codes"]

#: Standard deviation of the injected noise that makes the comparator's firing probability
#: Phi(a / sigma) the best probit fit of sigmoid(a).
NOISE_SIGMA = float(np.sqrt(8 / np.pi))


def noise_variance(levels: int, amplitude: int | None = None) -> float:
    """Variance of ``codes / levels`` for the codes :func:`noise_codes` draws (dimensionless)."""
    a = levels if amplitude is None else int(amplitude)
    if levels == 1 or a == 0:
        return (max(a, 1) / levels) ** 2
    return a * (a + 1) / 3.0 / levels ** 2          # discrete uniform on [-a, a]


def noise_codes(rng: np.random.Generator, shape: int | tuple[int, ...], levels: int,
                amplitude: int | None = None) -> tuple[np.ndarray, float]:
    """Pseudo-random drive of the noise lines: integers uniform in [-a, a] (a = ``amplitude``,
    default ``levels``), or +-1 when ``levels`` is 1. Returns (codes, variance of codes/levels)."""
    a = levels if amplitude is None else int(amplitude)
    if levels == 1 or a == 0:
        codes = rng.choice(np.array([-1.0, 1.0]), shape) * max(a, 1)
    else:
        codes = rng.integers(-a, a + 1, shape).astype(float)
    return codes, noise_variance(levels, amplitude)
