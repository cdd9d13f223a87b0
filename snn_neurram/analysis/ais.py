"""Partition functions and log-likelihoods of Bernoulli-Bernoulli RBMs.

An RBM with weights W (n_visible, n_hidden), visible bias b_v and hidden bias b_h gives a binary
visible vector v the unnormalised log-probability (minus its free energy)

    log p*(v) = b_v . v + sum_j softplus(b_h_j + v . W_j),

and log p(v) = log p*(v) - log Z. Three ways to get log Z:

- :func:`log_partition_brute_force`: the sum over every visible *and* hidden state (tiny RBMs
  only; an independent check of the other two);
- :func:`log_partition_exact`: the sum over the 2^n_hidden hidden states, the visible units
  summed out analytically, log Z = logsumexp_h [b_h . h + sum_i softplus(b_v_i + W_i . h)];
- :func:`ais_log_partition`: annealed importance sampling (AIS) as in Salakhutdinov & Murray,
  "On the quantitative analysis of deep belief networks", ICML 2008: chains start from a
  base-rate model (independent visible units, no weights), whose log Z is known, and move through
  a sequence of intermediate RBMs whose weights and hidden biases are scaled by beta, 0 -> 1;
  the product of the ratios of consecutive unnormalised probabilities along every chain is an
  unbiased estimate of Z_target / Z_base.

All quantities are in nats.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from .._checks import as_finite_array, check_int

__all__ = ["AISEstimate", "ais_log_partition", "log_partition_exact",
           "log_partition_brute_force", "log_likelihood", "unnormalised_log_prob"]

#: The largest hidden layer :func:`log_partition_exact` enumerates (2^24 states).
MAX_EXACT_HIDDEN = 24
#: The largest visible + hidden count :func:`log_partition_brute_force` enumerates.
MAX_BRUTE_FORCE_UNITS = 22


class AISEstimate(NamedTuple):
    """Result of :func:`ais_log_partition` (all in nats).

    ``log_z`` is the estimate, log of the mean importance weight; ``log_z_low`` and
    ``log_z_high`` are log(mean -+ 3 standard errors of the weights) (``-inf`` when the lower
    value is not positive), the interval Salakhutdinov & Murray report; ``log_weights`` holds
    every chain's log importance weight (plus the base model's log Z).
    """

    log_z: float
    log_z_low: float
    log_z_high: float
    log_weights: np.ndarray


def _params(W: ArrayLike, b_v: ArrayLike,
            b_h: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    W = as_finite_array(W, "W", ndim=2, shape=(None, None))
    n_v, n_h = W.shape
    if n_v == 0 or n_h == 0:
        raise ValueError(f"W must have at least one visible and one hidden unit (got {W.shape})")
    b_v = as_finite_array(b_v, "b_v", ndim=1, shape=(n_v,))
    b_h = as_finite_array(b_h, "b_h", ndim=1, shape=(n_h,))
    return W, b_v, b_h


def _one_thread() -> Any:
    """Limit BLAS to one thread: the chains' small matrix products run several times faster
    that way than with threads competing for shared cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                                   # pragma: no cover - ships with sklearn
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def unnormalised_log_prob(v: ArrayLike, W: ArrayLike, b_v: ArrayLike,
                          b_h: ArrayLike) -> np.ndarray:
    """log p*(v) = b_v . v + sum_j softplus(b_h_j + v . W_j) (nats) of visible vectors
    v (n, n_visible): minus the free energy, the hidden units summed out."""
    W, b_v, b_h = _params(W, b_v, b_h)
    v = as_finite_array(v, "v", ndim=2, shape=(None, len(b_v)))
    return v @ b_v + _softplus(v @ W + b_h).sum(axis=1)


def log_partition_brute_force(W: ArrayLike, b_v: ArrayLike, b_h: ArrayLike) -> float:
    """log Z (nats) as the sum of exp(-E(v, h)) over all 2^(n_visible + n_hidden) joint states,
    E(v, h) = -b_v . v - b_h . h - v . W h. Only for n_visible + n_hidden <= 22."""
    W, b_v, b_h = _params(W, b_v, b_h)
    n_v, n_h = W.shape
    if n_v + n_h > MAX_BRUTE_FORCE_UNITS:
        raise ValueError(f"n_visible + n_hidden must be in [2, {MAX_BRUTE_FORCE_UNITS}] for the "
                         f"brute-force sum (got {n_v + n_h})")
    V = np.array(list(itertools.product([0.0, 1.0], repeat=n_v)))
    H = np.array(list(itertools.product([0.0, 1.0], repeat=n_h)))
    neg_energy = (V @ b_v)[:, None] + (H @ b_h)[None, :] + V @ W @ H.T
    return float(logsumexp(neg_energy))


def log_partition_exact(W: ArrayLike, b_v: ArrayLike, b_h: ArrayLike,
                        chunk: int = 65536) -> float:
    """log Z (nats) by enumerating the 2^n_hidden hidden states (the visible units summed out
    analytically); n_hidden <= 24. ``chunk`` hidden states are handled at a time."""
    W, b_v, b_h = _params(W, b_v, b_h)
    n_h = W.shape[1]
    if n_h > MAX_EXACT_HIDDEN:
        raise ValueError(f"n_hidden must be in [1, {MAX_EXACT_HIDDEN}] for exact enumeration "
                         f"(got {n_h}); use ais_log_partition")
    chunk = check_int(chunk, "chunk", 1, 2 ** 30)
    bits = 1 << np.arange(n_h)
    parts = []
    for start in range(0, 2 ** n_h, chunk):
        idx = np.arange(start, min(2 ** n_h, start + chunk))
        H = ((idx[:, None] & bits) > 0).astype(float)
        parts.append(logsumexp(H @ b_h + _softplus(H @ W.T + b_v).sum(axis=1)))
    return float(logsumexp(parts))


def ais_log_partition(W: ArrayLike, b_v: ArrayLike, b_h: ArrayLike, n_chains: int = 100,
                      n_betas: int = 10000, seed: int = 0,
                      base_visible_bias: ArrayLike | None = None) -> AISEstimate:
    """Estimate log Z of an RBM by annealed importance sampling (Salakhutdinov & Murray 2008).

    The intermediate distributions are p*_beta(v) = exp((1 - beta) a . v + beta b_v . v)
    prod_j (1 + exp(beta (b_h_j + v . W_j))), beta from 0 to 1 in ``n_betas`` equal steps; at
    beta = 0 this is the base model of independent visible units with biases a
    (``base_visible_bias``; by default the target's b_v), log Z_0 = sum_i softplus(a_i) +
    n_hidden log 2. Every chain moves by one Gibbs step (h, then v) at every beta.

    Parameters
    ----------
    W : array_like (n_visible, n_hidden)
    b_v : array_like (n_visible,)
    b_h : array_like (n_hidden,)
    n_chains : int
        Independent AIS runs, in [1, 10^6].
    n_betas : int
        Inverse temperatures, in [2, 10^7]; the estimate improves as it grows.
    seed : int
        Seed of the chains' random draws.
    base_visible_bias : array_like (n_visible,), optional
        Biases a of the base-rate model; the logits of the training data's pixel means make a
        good choice (Salakhutdinov & Murray's base rate).

    Returns
    -------
    AISEstimate
    """
    W, b_v, b_h = _params(W, b_v, b_h)
    n_chains = check_int(n_chains, "n_chains", 1, 10 ** 6)
    n_betas = check_int(n_betas, "n_betas", 2, 10 ** 7)
    a = b_v.copy() if base_visible_bias is None else as_finite_array(
        base_visible_bias, "base_visible_bias", ndim=1, shape=(len(b_v),))
    rng = np.random.default_rng(check_int(seed, "seed", 0, 2 ** 63 - 1))
    n_h = W.shape[1]
    log_z0 = float(_softplus(a).sum() + n_h * np.log(2.0))
    betas = np.linspace(0.0, 1.0, n_betas)

    def log_p(v: np.ndarray, act: np.ndarray, beta: float) -> np.ndarray:
        # act = v W + b_h, computed once per state
        return v @ ((1.0 - beta) * a + beta * b_v) + _softplus(beta * act).sum(axis=1)

    v = (rng.random((n_chains, len(a))) < _sigmoid(a)).astype(float)
    log_w = np.zeros(n_chains)
    with _one_thread():
        for k in range(1, n_betas):
            beta = betas[k]
            act = v @ W + b_h
            log_w += log_p(v, act, beta) - log_p(v, act, betas[k - 1])
            if k < n_betas - 1:
                # one Gibbs transition that leaves p_beta invariant
                h = (rng.random((n_chains, n_h)) < _sigmoid(beta * act)).astype(float)
                pv = _sigmoid((1.0 - beta) * a + beta * (b_v + h @ W.T))
                v = (rng.random(v.shape) < pv).astype(float)
    log_w = log_w + log_z0
    log_z = float(logsumexp(log_w) - np.log(n_chains))
    # spread of the weights, scaled to avoid overflow
    w = np.exp(log_w - log_z)
    se = float(w.std(ddof=1) / np.sqrt(n_chains)) if n_chains > 1 else 0.0
    low = log_z + float(np.log(1.0 - 3 * se)) if 3 * se < 1.0 else -np.inf
    high = log_z + float(np.log(1.0 + 3 * se))
    return AISEstimate(log_z, low, high, log_w)


def log_likelihood(X: ArrayLike, W: ArrayLike, b_v: ArrayLike, b_h: ArrayLike,
                   log_z: float | None = None, *, binarize: float | None = 0.5,
                   n_chains: int = 100, n_betas: int = 10000, seed: int = 0,
                   base_visible_bias: ArrayLike | None = None) -> float:
    """Mean log-likelihood (nats per vector) of data X (n, n_visible) under the RBM.

    Parameters
    ----------
    X : array_like (n, n_visible)
        Data in [0, 1]; a Bernoulli RBM assigns probabilities to binary vectors, so X is
        thresholded at ``binarize`` (None: X must already be binary).
    log_z : float, optional
        log Z of the RBM; by default estimated with :func:`ais_log_partition` (``n_chains``,
        ``n_betas``, ``seed``, ``base_visible_bias`` are passed on), or exact when the RBM has
        at most 16 hidden units.
    """
    W, b_v, b_h = _params(W, b_v, b_h)
    X = as_finite_array(X, "X", ndim=2, shape=(None, len(b_v)))
    if len(X) == 0:
        raise ValueError("X must hold at least one vector (got 0 rows)")
    if binarize is not None:
        X = (X > binarize).astype(float)
    elif not np.all((X == 0) | (X == 1)):
        raise ValueError("X must be binary (0 or 1) when binarize is None")
    if log_z is None:
        log_z = (log_partition_exact(W, b_v, b_h) if W.shape[1] <= 16 else
                 ais_log_partition(W, b_v, b_h, n_chains, n_betas, seed,
                                   base_visible_bias).log_z)
    return float(unnormalised_log_prob(X, W, b_v, b_h).mean() - log_z)
