"""Restricted Boltzmann machines and Boltzmann machines on the transposable array.

``RBM`` is a Bernoulli RBM trained with CD-k, a scikit-learn estimator (a transformer: ``fit``,
``partial_fit``, ``transform``, ``score_samples``, ``get_params`` / ``set_params``; the learned
state in ``components_``, ``intercept_hidden_``, ``intercept_visible_``, as ``BernoulliRBM``).
Its Gibbs sampler runs in software or on the chip (:class:`ChipRBM`): the visible units sit on
row pairs, the hidden units on columns, so visible -> hidden is the forward MVM and hidden ->
visible the backward MVM, through the same programmed conductances.

Stochastic neurons, as on the chip: extra *noise lines* (row pairs for the hidden units, columns
for the visible units) hold conductances of weight w_n and are driven every MVM with pseudo-random
pulses (numpy's generator stands in for the chip's LFSRs): multi-bit inputs get uniform random
codes in [-L, L], 1-bit inputs random +-1. A unit's input then carries noise = sum_r e_r w_n over
R lines, close to a normal distribution of variance R w_n^2 var(e), and the neuron's comparator
thresholds input + noise at zero. With that variance 8 / pi the unit fires with probability
Phi(a sqrt(pi / 8)), the probit that best matches the logistic sigmoid(a) of the model (largest
difference 0.018).

``BoltzmannMachine`` samples a fully connected Ising model / Boltzmann machine with a symmetric
coupling matrix programmed once on a core, using the array's recurrent MVM (the units' states
drive the rows, the columns give every unit's local field): sequential or chromatic Gibbs
sweeps, at a temperature set by how strongly the noise lines are driven, with annealing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if

try:                                   # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:                    # older releases: the same checks by hand
    from sklearn.utils.validation import check_array

    def validate_data(_estimator: Any, /, X: Any, reset: bool = True, **kwargs: Any) -> Any:
        """Check X (``check_array``); record or compare ``n_features_in_``."""
        X = check_array(X, **kwargs)
        if reset:
            _estimator.n_features_in_ = X.shape[1]
        elif X.shape[1] != _estimator.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(_estimator).__name__} "
                             f"is expecting {_estimator.n_features_in_} features as input")
        return X

from .._checks import as_finite_array, check_choice, check_int, check_range, check_real_array
from .._seeds import check_seed
from ..hw.chip import Chip
from ..hw.core import Core
from ..physics.neuron import NeuronConfig
from ..physics.noise_codes import NOISE_SIGMA, noise_codes, noise_variance

__all__ = ["RBM", "ChipRBM", "BoltzmannMachine", "corrupt", "exact_distribution",
           "NOISE_SIGMA"]

def unit_interval(x: ArrayLike, name: str, width: int) -> np.ndarray:
    """States or probabilities: a finite (n, width) array with values in [0, 1]."""
    arr = as_finite_array(x, name, ndim=2, shape=(None, width))
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} must hold values in [0, 1] (got {arr.min():g}..{arr.max():g})")
    return arr


def labels_array(y: ArrayLike, name: str, n_labels: int, n: int) -> np.ndarray:
    """Integer class labels in [0, n_labels - 1], one per sample."""
    arr = as_finite_array(y, name, ndim=1, shape=(n,))
    if arr.size and (np.any(arr != np.round(arr)) or arr.min() < 0 or arr.max() >= n_labels):
        raise ValueError(f"{name} must hold integer labels in [0, {n_labels - 1}]")
    return arr.astype(int)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _free_energy(v, components, b_v, b_h):
    """F(v) = -b_v . v - sum_j softplus(v . W_j + b_h_j), W = components (n_h, n_v)."""
    return -(v @ b_v) - np.logaddexp(0, v @ components.T + b_h).sum(axis=1)


#: Stream tag of the flips of :meth:`RBM.score_samples` (its generator is seeded with
#: [random_state, tag], apart from the training and sampling streams).
_SCORE_STREAM = 0x504C4C


def _alternate(step, v, steps, known_mask, average_last):
    """Apply ``step`` (v -> h -> v) ``steps`` times, re-clamping the units of ``known_mask``;
    return the mean of the visible units over the last ``average_last`` steps (at least 1)."""
    v0 = np.array(v, dtype=float)
    v = v0
    mask = None if known_mask is None else np.broadcast_to(known_mask, v0.shape)
    steps = check_int(steps, "steps", 1, 10**6)
    average_last = min(max(check_int(average_last, "average_last", 0, 10**6), 1), steps)
    acc = np.zeros_like(v0)
    for i in range(steps):
        v = step(v)
        if mask is not None:
            v = np.where(mask, v0, v)
        if i >= steps - average_last:
            acc += v
    return acc / average_last


def _fresh_seed() -> int:
    """A run seed drawn from fresh operating-system entropy (for ``random_state=None``)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


class RBM(TransformerMixin, BaseEstimator):
    """Bernoulli-Bernoulli restricted Boltzmann machine trained with CD-k: a scikit-learn
    transformer whose Gibbs sampler also runs on the chip.

    The constructor only stores its arguments; :meth:`fit` checks them and the data. The number
    of visible units is the number of features of the data (``n_features_in_``) plus
    ``n_labels``.

    Parameters
    ----------
    n_components : int, default 256
        Hidden units (the paper's RBM had 120).
    k : int, default 5
        Gibbs steps of contrastive divergence (the chip's RBM used CD-5), in [1, 1000].
    learning_rate : float, default 0.05
        Step size of the weight and bias updates, > 0.
    momentum : float, default 0.5
        Fraction of the previous update added to the current one, in [0, 1).
    weight_decay : float, default 1e-4
        L2 penalty on the weights, >= 0.
    n_iter : int, default 20
        Passes over the training data (epochs) of :meth:`fit`.
    batch_size : int, default 32
        Samples per minibatch.
    weight_noise : float, default 0.0
        Standard deviation of Gaussian noise added to the weights in every training step, in
        units of ``weight_bound`` (1 when there is no bound); the paper used 0.4 on weights
        bounded to +-1, so that the model learns to work with imprecise conductances.
    weight_bound : float or None, default None
        Clip the weights to +-weight_bound after every update (> 0).
    weight_levels : int or None, default None
        Quantise the weights to this many levels over [-bound, bound] (2 .. 65536) for use; the
        trained floats are kept in ``components_float_``.
    n_labels : int, default 0
        One-hot label units appended to the visible layer after the pixels (the paper's
        784 + 10 = 794 visible units); :meth:`fit` then needs integer labels y in
        [0, n_labels - 1], and :meth:`predict` classifies through them.
    random_state : int or None, default None
        Seed of every random stream (training, Gibbs sampling, the flips of
        :meth:`score_samples`), in [0, 2**63 - 1]: the same seed gives the same results. None
        draws fresh entropy.
    verbose : bool, default False
        Print one line per training pass.

    Attributes
    ----------
    components_ : ndarray (n_components, n_visible)
        Weights between the hidden (rows) and the visible units (columns), quantised when
        ``weight_levels`` is set.
    components_float_ : ndarray (n_components, n_visible)
        The trained weights before quantisation.
    intercept_hidden_ : ndarray (n_components,)
        Biases of the hidden units.
    intercept_visible_ : ndarray (n_visible,)
        Biases of the visible units (pixels, then label units).
    n_features_in_ : int
        Features (pixels) of the training data.
    n_iter_ : int
        Training passes made so far (``fit`` and ``partial_fit``).

    Notes
    -----
    The data must lie in [0, 1]: visible units are probabilities (a ValueError says so
    otherwise). Energies and free energies are in units of kT (dimensionless).
    """

    def __init__(self, n_components: int = 256, *, k: int = 5, learning_rate: float = 0.05,
                 momentum: float = 0.5, weight_decay: float = 1e-4, n_iter: int = 20,
                 batch_size: int = 32, weight_noise: float = 0.0,
                 weight_bound: float | None = None, weight_levels: int | None = None,
                 n_labels: int = 0, random_state: int | None = None, verbose: bool = False):
        self.n_components = n_components
        self.k = k
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.weight_noise = weight_noise
        self.weight_bound = weight_bound
        self.weight_levels = weight_levels
        self.n_labels = n_labels
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True                   # densified: the weights are dense
        tags.target_tags.required = isinstance(self.n_labels, int) and self.n_labels > 0
        return tags

    # ------------------------------------------------------------------ checks
    def _checked_params(self) -> dict[str, Any]:
        """The constructor's arguments, checked (ValueError naming the argument otherwise)."""
        return dict(
            n_components=check_int(self.n_components, "n_components", 1, 10**6),
            k=check_int(self.k, "k", 1, 1000),
            learning_rate=check_range(self.learning_rate, "learning_rate", 0, None,
                                      lo_open=True),
            momentum=check_range(self.momentum, "momentum", 0, 1, hi_open=True),
            weight_decay=check_range(self.weight_decay, "weight_decay", 0, None),
            n_iter=check_int(self.n_iter, "n_iter", 1, 10**5),
            batch_size=check_int(self.batch_size, "batch_size", 1, 10**6),
            weight_noise=check_range(self.weight_noise, "weight_noise", 0, None),
            weight_bound=None if self.weight_bound is None else check_range(
                self.weight_bound, "weight_bound", 0, None, lo_open=True),
            weight_levels=None if self.weight_levels is None else check_int(
                self.weight_levels, "weight_levels", 2, 65536),
            n_labels=check_int(self.n_labels, "n_labels", 0, 10**4),
            random_state=check_seed(self.random_state, "random_state"),
        )

    def _pixels(self, X: Any, reset: bool) -> np.ndarray:
        """The data as a dense float (n, n_features) array in [0, 1]; ``reset`` (fit) records
        n_features_in_, otherwise the number of features must match it."""
        X = validate_data(self, X, reset=reset, accept_sparse=True, dtype=np.float64)
        if sp.issparse(X):
            X = X.toarray()
        if X.size and (X.min() < 0 or X.max() > 1):
            raise ValueError(f"X must hold values in [0, 1] (got {X.min():g}..{X.max():g}): the "
                             "visible units of a Bernoulli RBM are probabilities; rescale the "
                             "data, e.g. with sklearn.preprocessing.MinMaxScaler")
        return np.asarray(X, dtype=np.float64)

    def _visible_data(self, X: Any, y: Any, n_labels: int, reset: bool) -> np.ndarray:
        X = self._pixels(X, reset)
        if n_labels:
            if y is None:
                raise ValueError(f"this RBM has {n_labels} label units (n_labels={n_labels}): "
                                 "fit(X, y) needs y, integer labels in "
                                 f"[0, {n_labels - 1}]")
            y = labels_array(y, "y", n_labels, len(X))
            X = np.hstack([X, np.eye(n_labels)[y]])
        return X

    def check_fitted(self) -> None:
        """Raise ``sklearn.exceptions.NotFittedError`` (a ValueError and an AttributeError)
        unless :meth:`fit` has run or ``components_`` and both intercepts were set."""
        if not all(hasattr(self, a) for a in ("components_", "intercept_hidden_",
                                              "intercept_visible_")):
            raise NotFittedError("the RBM is not trained yet: call fit(X) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "components_")

    @property
    def n_visible(self) -> int:
        """Visible units of the fitted model: pixels, then label units."""
        self.check_fitted()
        return int(np.shape(self.components_)[1])

    @property
    def n_pixels(self) -> int:
        """Visible units that hold pixels, ``n_features_in_`` (the rest are label units)."""
        n = getattr(self, "n_features_in_", None)
        if n is None:                     # weights set by hand: the rest are the labels
            n = self.n_visible - check_int(self.n_labels, "n_labels", 0, 10**4)
        return int(n)

    # ------------------------------------------------------------------ training
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> RBM:
        """Train from scratch with ``n_iter`` passes of CD-k.

        Parameters
        ----------
        X : array_like or sparse matrix (n_samples, n_features)
            Training data in [0, 1] (probabilities or binary states of the pixels).
        y : array_like (n_samples,), optional
            Integer labels in [0, n_labels - 1]; needed when ``n_labels > 0``, ignored
            otherwise.

        Returns
        -------
        RBM
            self, trained.
        """
        p = self._checked_params()
        V = self._visible_data(X, y, p["n_labels"], reset=True)
        rng = np.random.default_rng(p["random_state"])
        self._initialise(V, p, rng)
        for _ in range(p["n_iter"]):
            self._one_pass(V, p, rng)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike | None = None) -> RBM:
        """One pass of CD-k over X (in minibatches of ``batch_size``), continuing from the
        current weights, momentum and random stream; the first call initialises the model.

        Parameters
        ----------
        X, y
            As for :meth:`fit`.

        Returns
        -------
        RBM
            self.
        """
        p = self._checked_params()
        first = not hasattr(self, "components_")
        V = self._visible_data(X, y, p["n_labels"], reset=first)
        if first:
            rng = np.random.default_rng(p["random_state"])
            self._initialise(V, p, rng)
        else:
            if self.components_.shape != (p["n_components"], V.shape[1]):
                raise ValueError(f"n_components={p['n_components']} (n_labels="
                                 f"{p['n_labels']}) does not match the fitted weights of shape "
                                 f"{self.components_.shape}: call fit, or set_params back")
            if getattr(self, "_training", None) is None:   # weights set by hand
                self._training = (np.random.default_rng(p["random_state"]),
                                  self.components_float_.T.copy()
                                  if hasattr(self, "components_float_")
                                  else self.components_.T.copy(),
                                  np.zeros(self.components_.T.shape),
                                  np.zeros(V.shape[1]), np.zeros(p["n_components"]))
            rng = self._training[0]
        self._one_pass(V, p, rng)
        return self

    def _initialise(self, V, p, rng):
        """Small random weights, visible biases at the data's log-odds, zero hidden biases."""
        n_v, n_h = V.shape[1], p["n_components"]
        W = rng.normal(0, 0.01, (n_v, n_h))
        mean = V.mean(0)
        b_v = np.log(np.clip(mean, 1e-3, 1 - 1e-3) / np.clip(1 - mean, 1e-3, 1))
        b_h = np.zeros(n_h)
        # generator, float weights (n_v, n_h) and the three momentum buffers
        self._training = (rng, W, np.zeros_like(W), np.zeros(n_v), np.zeros(n_h))
        self.intercept_visible_, self.intercept_hidden_ = b_v, b_h
        self.n_iter_ = 0
        self._publish(W, p)

    def _publish(self, W, p):
        """Set components_ (quantised when asked) and components_float_ from W (n_v, n_h)."""
        self.components_float_ = W.T.copy()
        if p["weight_levels"]:
            bound = p["weight_bound"] or 1.0
            step = 2 * bound / (p["weight_levels"] - 1)
            W = np.clip(np.round((W + bound) / step) * step - bound, -bound, bound)
        self.components_ = np.ascontiguousarray(W.T)

    def _one_pass(self, V, p, rng):
        """One epoch of CD-k over V (n, n_visible) in a random order."""
        _, W, dW, dbv, dbh = self._training
        b_v, b_h = self.intercept_visible_, self.intercept_hidden_
        bound = p["weight_bound"] or 1.0
        t0 = time.perf_counter()
        order = rng.permutation(len(V))
        for start in range(0, len(V), p["batch_size"]):
            v0 = V[order[start:start + p["batch_size"]]]
            Wn = W + rng.normal(0, p["weight_noise"] * bound, W.shape) \
                if p["weight_noise"] else W
            ph0 = _sigmoid(v0 @ Wn + b_h)
            h = (rng.random(ph0.shape) < ph0).astype(float)
            for _ in range(p["k"]):
                v = _sigmoid(h @ Wn.T + b_v)              # visible units: mean field
                ph = _sigmoid(v @ Wn + b_h)
                h = (rng.random(ph.shape) < ph).astype(float)
            n = len(v0)
            grad = (v0.T @ ph0 - v.T @ ph) / n - p["weight_decay"] * W
            dW *= p["momentum"]
            dW += p["learning_rate"] * grad
            dbv *= p["momentum"]
            dbv += p["learning_rate"] * (v0 - v).mean(0)
            dbh *= p["momentum"]
            dbh += p["learning_rate"] * (ph0 - ph).mean(0)
            W += dW
            b_v += dbv
            b_h += dbh
            if p["weight_bound"] is not None:
                np.clip(W, -bound, bound, out=W)
        self.n_iter_ = getattr(self, "n_iter_", 0) + 1
        self._publish(W, p)
        if self.verbose:
            print(f"[RBM] pass {self.n_iter_}: {len(V)} samples, "
                  f"{time.perf_counter() - t0:.2f} s")

    # ------------------------------------------------------------------ the model
    def hidden_probs(self, v: ArrayLike) -> np.ndarray:
        """P(h_j = 1 | v) = sigmoid(v . W_j + c_j) for visible states v (n, n_visible) in
        [0, 1] (pixels, then label units); returns (n, n_components)."""
        self.check_fitted()
        v = unit_interval(v, "v", self.n_visible)
        return _sigmoid(v @ self.components_.T + self.intercept_hidden_)

    def visible_probs(self, h: ArrayLike) -> np.ndarray:
        """P(v_i = 1 | h) = sigmoid(W_i . h + b_i) for hidden states h (n, n_components) in
        [0, 1]; returns (n, n_visible). The mean of :meth:`gibbs`'s binary samples."""
        self.check_fitted()
        h = unit_interval(h, "h", self.components_.shape[0])
        return _sigmoid(h @ self.components_ + self.intercept_visible_)

    def free_energy(self, v: ArrayLike) -> np.ndarray:
        """Free energy F(v) = -b . v - sum_j log(1 + exp(v . W_j + c_j)) of visible states v
        (n, n_visible) in [0, 1], in units of kT: P(v) is proportional to exp(-F(v))."""
        self.check_fitted()
        v = unit_interval(v, "v", self.n_visible)
        return _free_energy(v, self.components_, self.intercept_visible_,
                            self.intercept_hidden_)

    def _pixel_free_energy(self, X):
        """(F(x), P(label | x)): the free energy of pixels x with the label units summed out
        exactly, and the labels' posterior (None without label units)."""
        W, b_v, b_h = self.components_, self.intercept_visible_, self.intercept_hidden_
        n_pix = self.n_pixels
        if n_pix == W.shape[1]:
            return _free_energy(X, W, b_v, b_h), None
        n_lab = W.shape[1] - n_pix
        # F(x, y) for every one-hot y: the labels add b_v[y] and W[:, y]
        base = X @ W[:, :n_pix].T + b_h                     # (n, n_h)
        F = np.stack([-(X @ b_v[:n_pix]) - b_v[n_pix + c]
                      - np.logaddexp(0, base + W[:, n_pix + c]).sum(axis=1)
                      for c in range(n_lab)], axis=1)        # (n, n_lab)
        low = F.min(axis=1, keepdims=True)
        weights = np.exp(-(F - low))
        total = weights.sum(axis=1, keepdims=True)
        return low[:, 0] - np.log(total[:, 0]), weights / total

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Hidden-unit probabilities P(h = 1 | x) of data X (n, n_features) in [0, 1].

        With label units the labels are summed out exactly:
        P(h | x) = sum_y P(y | x) P(h | x, y).

        Returns
        -------
        ndarray (n, n_components)
        """
        self.check_fitted()
        X = self._pixels(X, reset=False)
        W, b_h = self.components_, self.intercept_hidden_
        n_pix = self.n_pixels
        _, posterior = self._pixel_free_energy(X)
        base = X @ W[:, :n_pix].T + b_h
        if posterior is None:
            return _sigmoid(base)
        return sum(posterior[:, [c]] * _sigmoid(base + W[:, n_pix + c])
                   for c in range(posterior.shape[1]))

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Pseudo-log-likelihood of every sample (in nats).

        One visible unit per sample, chosen at random, is flipped (x_i -> 1 - x_i); the score is
        n_features log sigmoid(F(x') - F(x)), an estimate of the sum over units of
        log P(x_i | x_rest). The flips come from ``random_state`` (the same flips on every
        call for an int). With label units, F is the free energy with the labels summed out.

        Returns
        -------
        ndarray (n,)
        """
        self.check_fitted()
        X = self._pixels(X, reset=False)
        seed = check_seed(self.random_state, "random_state")
        rng = np.random.default_rng(None if seed is None else [seed, _SCORE_STREAM])
        flipped = X.copy()
        rows = np.arange(len(X))
        cols = rng.integers(0, X.shape[1], len(X))
        flipped[rows, cols] = 1.0 - flipped[rows, cols]
        gap = self._pixel_free_energy(flipped)[0] - self._pixel_free_energy(X)[0]
        return -X.shape[1] * np.logaddexp(0, -gap)

    # ------------------------------------------------------------------ sampling
    def _run_seed(self, seed):
        """The seed of one sampling run: ``seed``, else random_state + 1, else fresh."""
        if seed is not None:
            return check_seed(seed)
        base = check_seed(self.random_state, "random_state")
        return _fresh_seed() if base is None else (base + 1) % 2 ** 63

    def gibbs(self, v: ArrayLike, steps: int = 1, *, on: ChipRBM | Chip | None = None,
              known_mask: ArrayLike | None = None, seed: int | None = None) -> np.ndarray:
        """Block Gibbs sampling: ``steps`` times h ~ P(h | v), then v ~ P(v | h).

        Parameters
        ----------
        v : array_like (n, n_visible)
            Starting visible states in [0, 1], one row per chain.
        steps : int
            Gibbs steps (1 .. 10**6).
        on : ChipRBM or Chip, optional
            Sample on the chip (:meth:`ChipRBM.gibbs`) instead of in software; a bare
            :class:`Chip` is programmed with the defaults of :meth:`program` on first use and
            reused afterwards.
        known_mask : array_like of bool, optional
            Units that stay clamped to their values in v.
        seed : int, optional
            Seed of the run's random draws; by default ``random_state`` + 1 (fresh entropy when
            random_state is None), so an int random_state gives the same samples every call.

        Returns
        -------
        ndarray (n, n_visible)
            Binary samples (0.0 or 1.0) of the visible units (clamped units keep their
            values). Their probabilities given the hidden states are :meth:`visible_probs`.
        """
        self.check_fitted()
        v = unit_interval(v, "v", self.n_visible)
        run_seed = self._run_seed(seed)
        if on is not None:
            return self._on_chip(on).gibbs(v, steps, known_mask=known_mask, seed=run_seed)
        rng = np.random.default_rng(run_seed)

        def step(v):
            ph = self.hidden_probs(v)
            pv = self.visible_probs((rng.random(ph.shape) < ph).astype(float))
            return (rng.random(pv.shape) < pv).astype(float)

        return _alternate(step, v, steps, known_mask, 1)

    def mean_field(self, v: ArrayLike, steps: int = 1, *, on: ChipRBM | Chip | None = None,
                   known_mask: ArrayLike | None = None, visible_bits: int | None = None,
                   average_last: int = 0, seed: int | None = None) -> np.ndarray:
        """Gibbs chain with mean-field visible units, as the chip reads them for recovery.

        Each step samples h ~ P(h | v), then sets the visible units to P(v | h), quantised to
        ``visible_bits`` bits when given (the chip's 3-bit sigmoid readout).

        Parameters
        ----------
        v, steps, on, known_mask, seed
            As for :meth:`gibbs` (on the chip: :meth:`ChipRBM.mean_field`).
        visible_bits : int, optional
            Bits of the software readout (1 .. 8); None keeps the exact probabilities.
        average_last : int
            Return the mean of the visible units over the last ``average_last`` steps (0: the
            last step).

        Returns
        -------
        ndarray (n, n_visible)
            Visible values in [0, 1].
        """
        self.check_fitted()
        v = unit_interval(v, "v", self.n_visible)
        if visible_bits is not None:
            visible_bits = check_int(visible_bits, "visible_bits", 1, 8)
        run_seed = self._run_seed(seed)
        if on is not None:
            return self._on_chip(on).mean_field(v, steps, known_mask=known_mask,
                                                average_last=average_last, seed=run_seed)
        rng = np.random.default_rng(run_seed)

        def step(v):
            ph = self.hidden_probs(v)
            v = self.visible_probs((rng.random(ph.shape) < ph).astype(float))
            if visible_bits:
                L = 2 ** visible_bits - 1
                v = np.floor(v * L + 0.5) / L
            return v

        return _alternate(step, v, steps, known_mask, average_last)

    def reconstruct(self, images: ArrayLike, known_mask: ArrayLike | None = None,
                    steps: int = 10, *, on: ChipRBM | Chip | None = None,
                    visible_bits: int | None = None, average_last: int = 5,
                    labels: ArrayLike | None = None, seed: int | None = None) -> np.ndarray:
        """Recover corrupted images: a :meth:`mean_field` chain from them with the known pixels
        clamped.

        Parameters
        ----------
        images : array_like (n, n_pixels)
            Corrupted images in [0, 1].
        known_mask : array_like of bool, optional
            Pixels to keep (clamped); None clamps nothing (noise removal).
        steps : int
        on : ChipRBM or Chip, optional
        visible_bits, average_last, seed
            As for :meth:`mean_field`.
        labels : array_like, optional
            Known labels to clamp on the label units (else the label units start at 1/n_labels
            and run free).

        Returns
        -------
        ndarray (n, n_pixels)
            The visible pixels, averaged over the last ``average_last`` steps.
        """
        self.check_fitted()
        n_pix, n_lab = self.n_pixels, self.n_visible - self.n_pixels
        images = as_finite_array(images, "images", ndim=2, shape=(None, n_pix))
        v = images
        mask = np.zeros(images.shape, bool) if known_mask is None else np.broadcast_to(
            np.asarray(known_mask, bool), images.shape)
        if n_lab:
            lab = np.full((len(v), n_lab), 1.0 / n_lab)
            lab_mask = np.zeros(lab.shape, bool)
            if labels is not None:
                lab = np.eye(n_lab)[labels_array(labels, "labels", n_lab, len(v))]
                lab_mask[:] = True
            v = np.hstack([v, lab])
            mask = np.hstack([mask, lab_mask])
        out = self.mean_field(v, steps, on=on, known_mask=mask, visible_bits=visible_bits,
                              average_last=average_last, seed=seed)
        return out[:, :n_pix]

    @available_if(lambda self: isinstance(self.n_labels, int) and self.n_labels > 0)
    def predict(self, X: ArrayLike, steps: int = 10, on: ChipRBM | Chip | None = None,
                seed: int | None = None) -> np.ndarray:
        """Classify through the label units (only with ``n_labels > 0``): clamp the pixels,
        let the label units settle in a :meth:`mean_field` chain, take the label unit most
        often on (averaged over the second half of the steps).

        Returns
        -------
        ndarray of int (n,)
        """
        self.check_fitted()
        n_pix, n_lab = self.n_pixels, self.n_visible - self.n_pixels
        X = self._pixels(X, reset=False)
        v = np.hstack([X, np.full((len(X), n_lab), 1.0 / n_lab)])
        mask = np.zeros(v.shape, bool)
        mask[:, :n_pix] = True
        out = self.mean_field(v, steps, on=on, known_mask=mask,
                              average_last=max(1, steps // 2), seed=seed)
        return out[:, n_pix:].argmax(axis=1)

    def _on_chip(self, on):
        if isinstance(on, ChipRBM):
            return on
        if isinstance(on, Chip):
            cached = getattr(self, "_programmed", None)
            if cached is None or cached.chip is not on:
                self._programmed = self.program(on)
            return self._programmed
        raise ValueError(f"on must be a ChipRBM or a Chip (got {type(on).__name__})")

    def program(self, chip: Chip, visible_bits: int | None = 3, noise_lines: int = 16,
                seed: int = 0) -> ChipRBM:
        """Map the trained RBM onto a chip's cores; returns a :class:`ChipRBM` (a snapshot:
        training the RBM further does not change it)."""
        self.check_fitted()
        return ChipRBM(self, chip, visible_bits=visible_bits, noise_lines=noise_lines,
                       seed=seed)


class ChipRBM:
    """A trained RBM on the chip: visible units on row pairs, hidden units on columns.

    The visible units are cut into row segments (at most 128 pairs per core, less the hidden
    bias rows and the hidden noise rows on the first segment); every segment's core also holds,
    on extra columns, the visible bias (driven at +1), the visible noise columns and balance
    columns (never driven) that give both rows of every pair the same total conductance. Visible ->
    hidden is the forward MVM: with one segment the neurons' comparators sample directly, with
    several each core reads its partial sum (noise rows included) with an 8-bit ADC and the
    hidden units are sampled from the digital sum. Hidden -> visible is the backward MVM, complete
    on every core; the visible units are read as sigmoid(a) with ``visible_bits`` bits (mean
    field, as the chip reads them for recovery), or sampled with the noise columns
    (``visible_bits=None``).

    Parameters
    ----------
    rbm : RBM
    chip : Chip
    visible_bits : int or None
    noise_lines : int
        Noise row pairs for the hidden units and noise columns for the visible units.
    seed : int
        Default seed of :meth:`gibbs` (with the chip's seed, it seeds the pseudo-random noise
        pulses and the read noise of a sampling run).
    """

    def __init__(self, rbm: RBM, chip: Chip, visible_bits: int | None = 3,
                 noise_lines: int = 16, seed: int = 0):
        if not isinstance(chip, Chip):
            raise ValueError(f"chip must be a Chip (got {type(chip).__name__})")
        if not isinstance(rbm, RBM):
            raise ValueError(f"rbm must be an RBM (got {type(rbm).__name__})")
        rbm.check_fitted()
        self.rbm, self.chip = rbm, chip
        self.visible_bits = None if visible_bits is None else check_int(
            visible_bits, "visible_bits", 1, 4)
        self.R = check_int(noise_lines, "noise_lines", 1, 64)
        self.seed = check_int(seed, "seed", 0, 2 ** 63 - 1)
        # a snapshot of the trained model: W (n_visible, n_hidden)
        W = np.asarray(rbm.components_, float).T.copy()
        b_v = np.asarray(rbm.intercept_visible_, float).copy()
        b_h = np.asarray(rbm.intercept_hidden_, float).copy()
        n_v, n_h = W.shape
        if b_v.shape != (n_v,) or b_h.shape != (n_h,):
            raise ValueError(f"the RBM's intercepts have shapes {b_v.shape} and {b_h.shape}; "
                             f"components_ {W.T.shape} needs ({n_v},) and ({n_h},)")
        self.n_visible, self.n_hidden = n_v, n_h
        L = 2 ** (self.visible_bits or 1) - 1
        self.L = L
        var_unit = noise_variance(L)
        w_noise_h = NOISE_SIGMA / np.sqrt(self.R * var_unit)          # forward: multi-bit
        w_noise_v = NOISE_SIGMA / np.sqrt(self.R)                     # backward: +-1
        w_max = float(np.percentile(np.abs(W), 99.5)) or 1.0
        w_max = max(w_max, w_noise_h, w_noise_v)
        self.k_hb = max(1, int(np.ceil(np.abs(b_h).max() / w_max - 1e-12)))
        self.k_vb = max(1, int(np.ceil(np.abs(b_v).max() / w_max - 1e-12)))
        # balance columns, never driven: they make every row pair's two rows carry the same
        # total conductance, so that the backward MVM (each row normalised by its own load)
        # reads G+ - G- with one gain per pair
        row_sum = np.abs(W).sum(axis=1) + np.abs(b_v) + self.R * w_noise_v
        self.k_bal = int(np.ceil(row_sum.max() / w_max - 1e-12))
        self.n_cols = n_h + self.k_vb + self.R + self.k_bal
        if self.n_cols > 256:
            raise ValueError(f"{n_h} hidden units + {self.k_vb} bias + {self.R} noise + "
                             f"{self.k_bal} balance columns exceed a core's 256 columns")
        first = 128 - self.k_hb - self.R
        if first < 1:
            raise ValueError("the hidden bias and noise rows fill the first core")
        bounds, r = [], 0
        while r < n_v:
            size = first if r == 0 else 128
            bounds.append((r, min(n_v, r + size)))
            r += size
        if len(bounds) > chip.n_cores:
            raise ValueError(f"the RBM needs {len(bounds)} cores, the chip has {chip.n_cores}")
        self.segments = []
        for s, (r0, r1) in enumerate(bounds):
            extra = (self.k_hb + self.R) if s == 0 else 0
            M = np.zeros((r1 - r0 + extra, self.n_cols))
            nb = n_h + self.k_vb + self.R
            M[:r1 - r0, :n_h] = W[r0:r1]
            M[:r1 - r0, n_h:n_h + self.k_vb] = (b_v[r0:r1] / self.k_vb)[:, None]
            M[:r1 - r0, n_h + self.k_vb:nb] = w_noise_v
            # balance: -(sum of the row's weights), spread over the balance columns
            M[:r1 - r0, nb:] = (-M[:r1 - r0, :nb].sum(axis=1) / self.k_bal)[:, None]
            if s == 0:
                M[r1 - r0:r1 - r0 + self.k_hb, :n_h] = b_h / self.k_hb
                M[r1 - r0 + self.k_hb:, :n_h] = w_noise_h
            core = chip.cores[s]
            core.program_blocks([dict(W=M, w_max=w_max)])
            self.segments.append((core, r0, r1))
        self.w_max = w_max
        # operating points of the segments, set by calibrate()
        self.configs: list[NeuronConfig | None] | None = None

    def _forward_codes(self, v, rng):
        """Forward input codes of every segment: visible levels, bias rows, noise rows."""
        L = 2 ** (self.visible_bits or 1) - 1
        out = []
        for s, (core, r0, r1) in enumerate(self.segments):
            q = np.rint(np.clip(v[:, r0:r1], 0, 1) * L)
            if s == 0:
                noise = noise_codes(rng, (len(v), self.R), L)[0]
                q = np.hstack([q, np.full((len(v), self.k_hb), float(L)), noise])
            out.append(q.astype(core.dtype))
        return out

    def operating_points(self, v: ArrayLike,
                         seed: int | None = 0) -> list[NeuronConfig | None]:
        """Operating points of the segments' forward partial sums for visible states v, so
        that they use their ADC (one segment: the cores' own, its comparator needs none)."""
        if len(self.segments) == 1:
            return [None]
        L = 2 ** (self.visible_bits or 1) - 1
        codes = self._forward_codes(np.asarray(v, float), self.chip.rng(seed, "calibration"))
        return [core.set_operating_point(q / L, self.visible_bits or 1, 8, percentile=99.9,
                                         apply=False)
                for (core, _, _), q in zip(self.segments, codes)]

    def calibrate(self, v: ArrayLike, seed: int | None = 0) -> None:
        """Fix the operating points on visible states v (see :meth:`operating_points`);
        otherwise every :meth:`gibbs` call finds them on its own starting states."""
        self.configs = self.operating_points(v, seed)

    def sample_hidden(self, v: np.ndarray, rng: np.random.Generator | None = None,
                      configs: list[NeuronConfig | None] | None = None) -> np.ndarray:
        """h ~ P(h | v) on the chip (binary, (n, n_hidden)); ``rng`` draws the noise codes and
        the read noise (None: fresh draws), ``configs`` are the segments' operating points."""
        rng = np.random.default_rng() if rng is None else rng
        n_h = self.n_hidden
        bits = self.visible_bits or 1
        codes = self._forward_codes(v, rng)
        configs = configs or [None] * len(self.segments)
        hidden = slice(0, n_h)
        if len(self.segments) == 1:
            core = self.segments[0][0]
            c = core.mvm_codes(codes[0], bits, 1, "linear", return_codes=True, columns=hidden,
                               rng=rng)
            return (c > 0).astype(float)
        total = np.zeros((len(v), n_h))
        for (core, _, _), q, cfg in zip(self.segments, codes, configs):
            total += core.mvm_codes(q, bits, 8, "linear", columns=hidden, neuron=cfg, rng=rng)
        return (total > 0).astype(float)

    def visible_from_hidden(self, h: np.ndarray,
                            rng: np.random.Generator | None = None) -> np.ndarray:
        """The visible units given h: 3-bit sigmoid readout, or samples (noise columns);
        ``rng`` draws the noise codes and the read noise (None: fresh draws)."""
        rng = np.random.default_rng() if rng is None else rng
        n_h = self.n_hidden
        parts = []
        driven = n_h + self.k_vb + (0 if self.visible_bits else self.R)
        for core, r0, r1 in self.segments:
            # hidden states and the bias columns (and the noise columns when sampling) drive
            # the columns; the other columns stay at V_ref
            y = np.hstack([h, np.ones((len(h), self.k_vb))])
            if self.visible_bits:
                out = core.mvm_codes(y, 1, self.visible_bits, "sigmoid", direction="backward",
                                     columns=slice(0, driven), rng=rng)
            else:
                y = np.hstack([y, noise_codes(rng, (len(h), self.R), 1)[0]])
                out = core.mvm_codes(y, 1, 1, "linear", direction="backward",
                                     return_codes=True, columns=slice(0, driven),
                                     rng=rng) > 0
            parts.append(np.asarray(out, float)[:, :r1 - r0])
        return np.hstack(parts)

    def _chain(self, v, known_mask, seed):
        """Checked starting states, clamping mask, operating points and generator of a run."""
        v = unit_interval(v, "v", self.n_visible).copy()
        if known_mask is not None:
            known_mask = check_real_array(known_mask, "known_mask").astype(bool)
        seed = self.seed if seed is None else check_seed(seed)
        configs = self.configs if self.configs is not None else self.operating_points(v, seed)
        return v, known_mask, configs, self.chip.rng(seed, "rbm sampling")

    def mean_field(self, v: ArrayLike, steps: int = 1, *, known_mask: ArrayLike | None = None,
                   average_last: int = 0, seed: int | None = None) -> np.ndarray:
        """Alternating Gibbs sampling on the chip with the visible units as the chip reads
        them: the ``visible_bits``-bit sigmoid readout (mean field, see
        :meth:`RBM.mean_field`), or binary samples of the noise columns when
        ``visible_bits`` is None.

        Parameters
        ----------
        v : array_like (n, n_visible)
            Starting visible states in [0, 1], one row per chain.
        steps : int
        known_mask : array_like of bool, optional
            Units clamped to their values in v.
        average_last : int
            Return the mean over the last ``average_last`` steps (0: the last step).
        seed : int, optional
            With the chip's seed, it gives every random stream of the run (noise codes, read
            noise): the same call gives the same samples whatever ran before. Default: the
            ChipRBM's ``seed``.
        """
        v, known_mask, configs, rng = self._chain(v, known_mask, seed)
        return _alternate(lambda v: self.visible_from_hidden(
            self.sample_hidden(v, rng, configs), rng), v, steps, known_mask, average_last)

    def gibbs(self, v: ArrayLike, steps: int = 1, *, known_mask: ArrayLike | None = None,
              seed: int | None = None) -> np.ndarray:
        """Block Gibbs sampling on the chip with binary visible samples (see
        :meth:`RBM.gibbs`): without a multi-bit readout (``visible_bits=None``) the noise
        columns sample the visible units; with one, the digital periphery draws each visible
        unit as 1 with the probability its ``visible_bits``-bit sigmoid readout gives.

        Parameters
        ----------
        v, steps, known_mask, seed
            As for :meth:`mean_field`.

        Returns
        -------
        ndarray (n, n_visible)
            0.0 / 1.0 samples (clamped units keep their values).
        """
        v, known_mask, configs, rng = self._chain(v, known_mask, seed)

        def step(v):
            out = self.visible_from_hidden(self.sample_hidden(v, rng, configs), rng)
            if self.visible_bits:
                out = (rng.random(out.shape) < out).astype(float)
            return out

        return _alternate(step, v, steps, known_mask, 1)


def corrupt(images: ArrayLike, kind: str, rng: np.random.Generator, height: int | None = None,
            fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt images (n, pixels) in [0, 1] as in the paper.

    ``"bottom"``: the bottom third of every image set to grey (0.5); ``"flip"``: a fraction of
    the pixels flipped (x -> 1 - x). Returns (corrupted images, mask of corrupted pixels).
    """
    check_choice(kind, "kind", ("bottom", "flip"))
    images = np.asarray(images, float)
    n, p = images.shape
    if kind == "bottom":
        h = height or int(round(np.sqrt(p)))
        w = p // h
        rows = np.arange(p) // w
        mask = np.broadcast_to(rows >= int(round(2 * h / 3)), (n, p)).copy()
        out = np.where(mask, 0.5, images)
    else:
        mask = rng.random((n, p)) < fraction
        out = np.where(mask, 1.0 - images, images)
    return out, mask


# ---------------------------------------------------------------------------- Boltzmann machines
def exact_distribution(J: ArrayLike, b: ArrayLike,
                       temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact Boltzmann distribution over all 2^n states of Ising spins s in {-1, +1}^n with
    energy E = -(1/2) s J s - b s: returns (states (2^n, n), probabilities)."""
    J = np.asarray(J, float)
    n = len(J)
    if n > 20:
        raise ValueError(f"exact enumeration needs n <= 20 units (got {n})")
    states = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    energy = -0.5 * np.einsum("si,ij,sj->s", states, J, states) - states @ b
    logp = -energy / temperature
    p = np.exp(logp - logp.max())
    return states, p / p.sum()


def _colouring(J):
    """Greedy colouring of the coupling graph: units of one colour are not coupled."""
    n = len(J)
    colour = -np.ones(n, int)
    for i in np.argsort(-(J != 0).sum(axis=1), kind="stable"):
        used = {colour[j] for j in range(n) if J[i, j] != 0 and colour[j] >= 0}
        colour[i] = next(c for c in range(n) if c not in used)
    return [np.nonzero(colour == c)[0] for c in range(colour.max() + 1)]


class BoltzmannMachine:
    """An Ising model / Boltzmann machine of n units s in {-1, +1}, energy
    E = -(1/2) s J s - b s, with a symmetric J (zero diagonal).

    Gibbs updates set a unit to +1 with probability sigmoid(2 h_i / T), h_i = sum_j J_ij s_j + b_i
    its local field. On a core (:meth:`program`) J sits on the array once -- unit j's row pair
    holds J_j. and its column the field of unit j -- and every update runs the recurrent MVM: the
    current states drive the rows, the columns of the units being updated read their fields plus
    the noise of the noise rows, and the comparators decide. A unit with states in {0, 1}
    (a Boltzmann machine in the usual form) maps to spins by s = 2 x - 1.

    Parameters
    ----------
    J : array_like (n, n)
        Symmetric couplings.
    b : array_like (n,), optional
        Fields.
    """

    def __init__(self, J: ArrayLike, b: ArrayLike | None = None):
        J = as_finite_array(J, "J", ndim=2)
        if J.shape[0] != J.shape[1]:
            raise ValueError(f"J must be square (got {J.shape})")
        if J.shape[0] == 0:
            raise ValueError("J must couple at least one unit (got shape (0, 0))")
        if not np.allclose(J, J.T):
            raise ValueError("J must be symmetric")
        self.J = J - np.diag(np.diag(J))
        self.n = len(J)
        self.b = np.zeros(self.n) if b is None else as_finite_array(b, "b", ndim=1,
                                                                      shape=(self.n,))
        self.core: Core | None = None

    @classmethod
    def maxcut(cls, edges: Iterable[tuple[int, int]], n: int) -> BoltzmannMachine:
        """The Ising model of MAX-CUT on a graph: J_ij = -1 on every edge (its ground states
        are the maximum cuts)."""
        n = check_int(n, "n", 1, 10 ** 5)
        J = np.zeros((n, n))
        for k, edge in enumerate(edges):
            if len(edge) != 2:
                raise ValueError(f"edges[{k}] must be a pair of node indices (got {edge!r})")
            i, j = (check_int(e, f"edges[{k}]", 0, n - 1) for e in edge)
            if i == j:
                raise ValueError(f"edges[{k}] = ({i}, {j}) is a self-loop: a cut never separates "
                                 "a node from itself")
            J[i, j] = J[j, i] = -1.0
        return cls(J)

    @staticmethod
    def cut_value(edges: Iterable[tuple[int, int]], s: ArrayLike) -> int | np.ndarray:
        """Edges cut by the partition s (+1 / -1 per node)."""
        s = np.asarray(s)
        return sum(int(s[..., i] != s[..., j]) if s.ndim == 1 else (s[..., i] != s[..., j])
                   for i, j in edges)

    def program(self, core: Core, noise_lines: int = 16, in_bits: int = 4,
                temperature_max: float | None = None) -> BoltzmannMachine:
        """Program J (and b) on a core for recurrent sampling.

        The states drive the rows at full scale, the bias row at +1, the noise rows with
        uniform random codes in [-a, a]; the drive a sets the temperature, T(a) =
        temperature_max sqrt(var(a) / var(L)), L = 2**in_bits - 1, so temperatures can change
        without reprogramming (:meth:`temperature_levels`). By default temperature_max puts
        T = 1 exactly on a = 4.
        """
        R = check_int(noise_lines, "noise_lines", 1, 64)
        self.in_bits = check_int(in_bits, "in_bits", 2, 4)
        if self.n + 1 + R > 128:
            raise ValueError(f"{self.n} units + bias + {R} noise rows exceed a core's 128 pairs")
        L = 2 ** self.in_bits - 1
        self.L = L
        self._var = lambda a: noise_variance(L, a)
        self.t_max = (check_range(temperature_max, "temperature_max", 0, None, lo_open=True)
                      if temperature_max is not None
                      else float(np.sqrt(self._var(L) / self._var(min(4, L)))))
        # in weight units a unit's column reads (2 / t_max) h + noise; at full drive the noise
        # has the standard deviation NOISE_SIGMA, so the comparator fires with probability
        # Phi(2 h / (t_max sigma) ...) ~ sigmoid(2 h / t_max)
        w_noise = NOISE_SIGMA / np.sqrt(R * self._var(L))
        M = np.zeros((self.n + 1 + R, self.n))
        M[:self.n] = 2.0 * self.J / self.t_max
        M[self.n] = 2.0 * self.b / self.t_max
        M[self.n + 1:] = w_noise
        w_max = max(float(np.abs(M).max()), 1e-12)
        core.program_blocks([dict(W=M, w_max=w_max)])
        self.core, self.R = core, R
        return self

    def temperature_levels(self) -> dict[int, float]:
        """{noise drive a: temperature} available on the programmed core."""
        return {a: self.t_max * float(np.sqrt(self._var(a) / self._var(self.L)))
                for a in range(1, self.L + 1)}

    def _drive(self, temperature):
        levels = self.temperature_levels()
        a = min(levels, key=lambda k: abs(levels[k] - temperature))
        return a, levels[a]

    def _fields_on_chip(self, s, temperature, rng):
        a, _ = self._drive(temperature)
        noise = noise_codes(rng, (len(s), self.R), self.L, a)[0]
        q = np.hstack([s * self.L, np.full((len(s), 1), float(self.L)), noise])
        return self.core.mvm_codes(q.astype(self.core.dtype), self.in_bits, 1, "linear",
                                   return_codes=True, rng=rng)

    def sample(self, sweeps: int, *, states: ArrayLike | None = None, chains: int = 1,
               method: str = "chromatic", temperature: float = 1.0,
               schedule: ArrayLike | None = None, on_chip: bool = False,
               rng: np.random.Generator | None = None, record: bool = False) -> np.ndarray:
        """Gibbs sweeps.

        Parameters
        ----------
        sweeps : int
        states : array_like (chains, n), optional
            Starting states (random otherwise).
        method : {"sequential", "chromatic"}
            One unit per update, or all units of one colour of the coupling graph at once.
        temperature : float
        schedule : array_like, optional
            A temperature per sweep (annealing), overriding ``temperature``.
        on_chip : bool
            Run every update as the recurrent MVM of the programmed core (see :meth:`program`);
            the temperature is the nearest one the noise drive offers (:meth:`temperature_levels`,
            the one used is kept in ``last_temperatures``).
        record : bool
            Return the states after every sweep, (sweeps, chains, n).
        """
        check_choice(method, "method", ("sequential", "chromatic"))
        sweeps = check_int(sweeps, "sweeps", 1, 10**7)
        rng = np.random.default_rng(0) if rng is None else rng
        if on_chip and self.core is None:
            raise RuntimeError("call program(core) before sampling on the chip")
        chains = check_int(chains, "chains", 1, 10 ** 7)
        if states is None:
            s = rng.choice(np.array([-1.0, 1.0]), (chains, self.n))
        else:
            s = as_finite_array(states, "states", ndim=2, shape=(None, self.n)).copy()
            if not np.all(np.abs(s) == 1):
                raise ValueError("states must hold spins -1 or +1 (one row per chain)")
        if schedule is None:
            temps = np.full(sweeps, check_range(temperature, "temperature", 0, None,
                                                lo_open=True))
        else:
            temps = as_finite_array(schedule, "schedule", ndim=1, shape=(sweeps,))
            if np.any(temps <= 0):
                raise ValueError("schedule must hold temperatures > 0 (a negative temperature "
                                 "would invert the dynamics)")
        groups = ([np.array([i]) for i in range(self.n)] if method == "sequential"
                  else _colouring(self.J))
        if on_chip:
            self.last_temperatures = [self._drive(t)[1] for t in temps]
        history = []
        for t in temps:
            for g in groups:
                if on_chip:
                    fire = self._fields_on_chip(s, t, rng)[:, g] > 0
                else:
                    h = s @ self.J[:, g] + self.b[g]
                    fire = rng.random((len(s), len(g))) < _sigmoid(2.0 * h / t)
                s[:, g] = np.where(fire, 1.0, -1.0)
            if record:
                history.append(s.copy())
        return np.stack(history) if record else s
