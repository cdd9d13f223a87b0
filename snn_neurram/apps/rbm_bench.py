"""``snn-neurram bench rbm``: image recovery with RBMs, software against the chip, against
scikit-learn's ``BernoulliRBM`` and against three fills that use no RBM at all; and the other
uses of an RBM, measured: held-out log-likelihood (AIS), samples, classification.

Two protocols (``protocol=``):

``"blind"``
    Train on the training images (pixels in [0, 1]); corrupt test images -- the bottom third set
    to grey (0.5), or 20 % of the pixels flipped (x -> 1 - x); run 10 Gibbs steps from the
    corrupted image with the uncorrupted pixels clamped for the bottom third; the flipped
    positions are unknown, so nothing is clamped for flips. Error: the L2 norm of
    (recovered - original) over the bottom third, or for flips over the whole image (a recovery
    that fixes flipped pixels by spoiling clean ones has not recovered the image).
``"paper"``
    The protocol of the NeuRRAM authors' released notebook: the RBM has 10 one-hot label units in
    its visible layer (trained with the labels; at test time they start at 1/10 and run free);
    the flipped positions are known: a flipped pixel is shown as 1[x < 0.7] (the truth
    thresholded and inverted), and after every Gibbs step the other 80 % of the pixels are reset
    to the truth; the occlusion covers the bottom 10 of 28 rows (3 of the 8 rows of the digits)
    with the mean grey level of the training images. Error over the corrupted pixels.

Both: the recovered image is the visible units averaged over the last 5 of 10 steps (3-bit
sigmoid readouts on the chip, the same quantisation in software; for ``BernoulliRBM`` the binary
visible samples of its public ``gibbs``); error reduction = 1 - (mean L2 after) / (mean L2
before). Rows that use no RBM, each filling only the pixels the RBM may change:

- ``mean_image``: the mean training image;
- ``knn``: the mean of the k = 10 training images nearest on the known pixels (for blind flips:
  on the whole corrupted image, and the whole image is replaced);
- ``pca``: the training images' first 50 principal components (10 for the 64-pixel digits):
  unknown pixels start at the mean image, then 5 rounds of projecting onto the components and
  refilling the unknowns (:func:`pca_fill`); for blind flips one projection of the whole
  corrupted image.

Spread: software and chip rows run ``chips`` times (software: fresh sampling seeds; chip: a
chip per seed, each programmed and read with its own noise); every row gets a 95 % bootstrap
interval over test images (the run-averaged per-image errors, 200 resamples).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import check_choice, check_int
from ..analysis.ais import ais_log_partition, unnormalised_log_prob
from ..engines.rbm import RBM, ChipRBM, corrupt
from ..hw.chip import Chip
from .datasets import load_dataset

__all__ = ["recovery_benchmark", "RECIPES", "PROTOCOLS", "ROWS", "rbm_parameters",
           "chip_parameters", "chip_mean_field", "paper_corrupt", "pca_basis", "gibbs_recover",
           "mean_fill", "knn_fill", "pca_fill", "sample_quality"]

#: Training recipe and recovery schedule per data set.
RECIPES: dict[str, dict[str, Any]] = {
    "digits": dict(n_hidden=120, k=5, epochs=60, learning_rate=0.05, batch_size=20,
                   weight_noise=0.3, weight_bound=1.0, train_samples=None, test_samples=None,
                   chips=3, knn_neighbours=10, pca_components=10, ais_chains=100,
                   ais_betas=5000, sample_chains=500, sample_steps=200),
    "fashion-mnist": dict(n_hidden=120, k=5, epochs=10, learning_rate=0.02, batch_size=50,
                          weight_noise=0.4, weight_bound=1.0, train_samples=20000,
                          test_samples=2000, chips=3, knn_neighbours=10, pca_components=50,
                          ais_chains=100, ais_betas=3000, sample_chains=300, sample_steps=100),
}
STEPS, AVERAGE = 10, 5
PROTOCOLS = ("blind", "paper")
#: Rows of every recovery cell, with their labels.
ROWS = {"software": "RBM, software", "chip": "RBM, chip", "sklearn": "scikit-learn BernoulliRBM",
        "mean_image": "mean training image", "knn": "kNN fill (k = 10)", "pca": "PCA fill"}
#: Share of the software RBM's error reduction the chip should keep on every cell.
CHIP_TARGET = 0.95
N_BOOTSTRAP = 200


# ---------------------------------------------------------------------------- model access
def rbm_parameters(rbm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W (n_visible, n_hidden), visible bias, hidden bias) of a fitted RBM: ours or
    scikit-learn's ``BernoulliRBM`` (both keep ``components_``, ``intercept_visible_``,
    ``intercept_hidden_``)."""
    if not hasattr(rbm, "components_"):
        raise ValueError(f"rbm must be a fitted RBM (got {type(rbm).__name__} without weights)")
    return (np.asarray(rbm.components_, float).T, np.asarray(rbm.intercept_visible_, float),
            np.asarray(rbm.intercept_hidden_, float))


def _make_rbm(r: dict[str, Any], n_labels: int, seed: int) -> RBM:
    """Our RBM with the recipe ``r``."""
    return RBM(n_components=r["n_hidden"], n_iter=r["epochs"], random_state=seed, k=r["k"],
               learning_rate=r["learning_rate"], batch_size=r["batch_size"],
               weight_noise=r["weight_noise"], weight_bound=r["weight_bound"],
               n_labels=n_labels)


def chip_parameters(on_chip: ChipRBM, n_hidden: int) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """The RBM a :class:`ChipRBM` holds, read back from its programmed conductances
    (:meth:`Core.effective_weights`, i.e. ``physics.mapping.from_conductances``): weights
    (n_visible, n_hidden), visible bias (the sum of each row's bias columns) and hidden bias
    (the sum of the hidden-bias rows), after programming errors, relaxation and clipping at the
    mapping's w_max. Noise lines and balance columns are left out."""
    n_hidden = check_int(n_hidden, "n_hidden", 1, 256)
    W_parts, bv_parts = [], []
    b_h = np.zeros(n_hidden)
    for s, (core, r0, r1) in enumerate(on_chip.segments):
        M, _ = core.effective_weights(0)
        n = r1 - r0
        W_parts.append(M[:n, :n_hidden])
        bv_parts.append(M[:n, n_hidden:n_hidden + on_chip.k_vb].sum(axis=1))
        if s == 0:
            b_h = M[n:n + on_chip.k_hb, :n_hidden].sum(axis=0)
    return np.vstack(W_parts), np.concatenate(bv_parts), b_h


def chip_mean_field(on_chip: ChipRBM, v: np.ndarray, steps: int, known: np.ndarray | None,
                    average_last: int, seed: int) -> np.ndarray:
    """The chip's Gibbs chain with its multi-bit visible readouts (``ChipRBM.mean_field``),
    averaged over the last ``average_last`` steps."""
    return on_chip.mean_field(v, steps, known_mask=known, average_last=average_last, seed=seed)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# ---------------------------------------------------------------------------- corruption
def paper_corrupt(images: np.ndarray, kind: str, rng: np.random.Generator, grey: float,
                  fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Corruption of the ``"paper"`` protocol for square images (n, side^2) in [0, 1].

    ``"bottom"``: the bottom round(10 side / 28) rows set to ``grey``; ``"flip"``: a
    ``fraction`` of the pixels (drawn as :func:`corrupt` draws them, so both protocols flip the
    same positions for one generator state) shown as 1[x < 0.7]. Returns (images, corrupted
    mask)."""
    check_choice(kind, "kind", ("bottom", "flip"))
    images = np.asarray(images, float)
    n, p = images.shape
    side = int(round(np.sqrt(p)))
    if side * side != p:
        raise ValueError(f"images must be square: {p} pixels is not a square number")
    if kind == "bottom":
        rows = np.arange(p) // side
        mask = np.broadcast_to(rows >= side - int(round(10 * side / 28)), (n, p)).copy()
        return np.where(mask, grey, images), mask
    _, mask = corrupt(images, "flip", rng, fraction=fraction)
    return np.where(mask, (images < 0.7).astype(float), images), mask


# ---------------------------------------------------------------------------- recovery
def gibbs_recover(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, v0: np.ndarray,
                  known: np.ndarray | None, steps: int = STEPS, average_last: int = AVERAGE,
                  visible_bits: int | None = 3,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Alternating Gibbs sampling from visible states v0 (n, n_visible) in [0, 1].

    Every step samples h ~ P(h | v), sets v = P(v | h) (mean field, rounded to ``visible_bits``
    bits like the chip's readout) and resets the ``known`` units to v0. Returns the visible
    units averaged over the last ``average_last`` steps.
    """
    steps = check_int(steps, "steps", 1, 10 ** 6)
    average_last = check_int(average_last, "average_last", 1, steps)
    rng = np.random.default_rng(0) if rng is None else rng
    v = np.array(v0, float)
    acc = np.zeros_like(v)
    L = None if visible_bits is None else 2 ** check_int(visible_bits, "visible_bits", 1, 8) - 1
    for i in range(steps):
        ph = _sigmoid(v @ W + b_h)
        v = _sigmoid((rng.random(ph.shape) < ph) @ W.T + b_v)
        if L is not None:
            v = np.floor(v * L + 0.5) / L
        if known is not None:
            v = np.where(known, v0, v)
        if i >= steps - average_last:
            acc += v
    return acc / average_last


def _sklearn_recover(model: Any, x: np.ndarray, known: np.ndarray | None,
                     rng_seed: int) -> np.ndarray:
    v, acc = x.copy(), np.zeros_like(x)
    model.random_state_ = np.random.RandomState(rng_seed)
    for step in range(STEPS):
        v = model.gibbs(v).astype(float)
        if known is not None:
            v = np.where(known, x, v)
        if step >= STEPS - AVERAGE:
            acc += v
    return acc / AVERAGE


def mean_fill(x: np.ndarray, fill: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``x`` with the pixels where ``fill`` is True replaced by the image ``mean``."""
    return np.where(fill, mean, x)


def knn_fill(X_train: np.ndarray, x: np.ndarray, match: np.ndarray, fill: np.ndarray,
             k: int = 10, chunk: int = 256) -> np.ndarray:
    """Fill pixels with the mean of the ``k`` training images nearest to each image.

    Distances are squared L2 over each image's own ``match`` pixels (a mask per image, or one
    for all); the pixels where ``fill`` is True take the neighbours' mean, the others keep x.
    Ties go to the earlier training image.
    """
    X_train = np.asarray(X_train, float)
    k = check_int(k, "k", 1, len(X_train))
    x = np.asarray(x, float)
    m = np.broadcast_to(np.asarray(match, bool), x.shape).astype(float)
    t2 = (X_train ** 2).T
    out = np.empty_like(x)
    for s in range(0, len(x), chunk):
        xs, ms = x[s:s + chunk], m[s:s + chunk]
        d = ((ms * xs ** 2).sum(axis=1)[:, None] - 2.0 * (ms * xs) @ X_train.T + ms @ t2)
        nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
        out[s:s + chunk] = X_train[nearest].mean(axis=1)
    return np.where(fill, out, x)


def pca_basis(X_train: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean image, first ``n_components`` principal directions as columns) of the training
    images."""
    X_train = np.asarray(X_train, float)
    n_components = check_int(n_components, "n_components", 1, min(X_train.shape))
    mu = X_train.mean(axis=0)
    _, _, vt = np.linalg.svd(X_train - mu, full_matrices=False)
    return mu, vt[:n_components].T


def pca_fill(X_train: np.ndarray, x: np.ndarray, known: np.ndarray, fill: np.ndarray,
             n_components: int = 50, iterations: int = 5,
             basis: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Fill the ``fill`` pixels from the training images' first ``n_components`` principal
    components: unknown pixels (not ``known``) start at the mean image; then ``iterations``
    rounds of: project onto the components, put the projection into the unknown pixels. The
    result is the last projection on the ``fill`` pixels. With every pixel known this is one
    projection. ``basis`` (from :func:`pca_basis`) skips the decomposition.

    Iterated to convergence this becomes the least-squares fit of the known pixels within the
    subspace, which over-fits them (on the digits' bottom third with 20 components the error
    reduction falls from 0.44 after 5 rounds to -0.04); a few rounds keep the fill near the
    mean image.
    """
    mu, U = pca_basis(X_train, n_components) if basis is None else basis
    known = np.broadcast_to(np.asarray(known, bool), x.shape)
    z = np.where(known, x, mu)
    rec = mu + (z - mu) @ U @ U.T
    for _ in range(check_int(iterations, "iterations", 1, 10 ** 5) - 1):
        z = np.where(known, x, rec)
        rec = mu + (z - mu) @ U @ U.T
    return np.where(fill, rec, x)


def _errors(rec: np.ndarray, orig: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-image L2 norm of (rec - orig) over the mask."""
    return np.sqrt(((rec - orig) ** 2 * mask).sum(axis=1))


def _row_summary(after: np.ndarray, before: np.ndarray, boot: np.ndarray) -> dict[str, Any]:
    """after (runs, images), before (images,): mean error reduction and its spreads."""
    red = 1.0 - after.mean(axis=1) / before.mean()
    per_image = after.mean(axis=0)
    boots = 1.0 - per_image[boot].mean(axis=1) / before[boot].mean(axis=1)
    return {"l2_after": float(after.mean()), "error_reduction": float(red.mean()),
            "per_run": red.tolist(), "std_runs": float(red.std(ddof=1)) if len(red) > 1 else 0.0,
            "ci95_images": [float(v) for v in np.percentile(boots, [2.5, 97.5])]}


def _one_hot(y: np.ndarray, n: int = 10) -> np.ndarray:
    return np.eye(n)[np.asarray(y, int)]


# ---------------------------------------------------------------------------- sample quality
def _nearest(A: np.ndarray, B: np.ndarray, chunk: int = 512) -> np.ndarray:
    """L2 distance from every row of A to its nearest row of B."""
    b2 = (B ** 2).sum(axis=1)
    out = np.empty(len(A))
    for s in range(0, len(A), chunk):
        a = A[s:s + chunk]
        d2 = (a ** 2).sum(axis=1)[:, None] - 2.0 * a @ B.T + b2
        out[s:s + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def sample_quality(samples: np.ndarray, X_test: np.ndarray,
                   X_train: np.ndarray) -> dict[str, float]:
    """Nearest-neighbour measures of a set of images (L2 over pixels in [0, 1]).

    ``fidelity``: mean distance from a sample to its nearest test image (small: the samples
    look like real images); ``coverage``: mean distance from a test image to its nearest sample
    (small: the samples cover the variety of the test images; a single repeated image scores
    badly); ``to_train_over_to_test``: mean distance to the nearest training image over that to
    the nearest test image (well below 1: the samples copy training images).
    """
    samples, X_test, X_train = (np.asarray(a, float) for a in (samples, X_test, X_train))
    to_test = _nearest(samples, X_test)
    return {"fidelity": float(to_test.mean()),
            "coverage": float(_nearest(X_test, samples).mean()),
            "to_train_over_to_test": float(_nearest(samples, X_train).mean() /
                                           max(float(to_test.mean()), 1e-12))}


# ---------------------------------------------------------------------------- the benchmark
def _load(dataset: str, folder: str | None, seed: int, r: dict[str, Any]):
    X_tr, X_te, y_tr, y_te = load_dataset(dataset, folder=folder, flat=True, seed=seed)
    rng = np.random.default_rng(seed)
    if r["train_samples"] and r["train_samples"] < len(X_tr):
        pick = rng.choice(len(X_tr), r["train_samples"], replace=False)
        X_tr, y_tr = X_tr[pick], y_tr[pick]
    if r["test_samples"] and r["test_samples"] < len(X_te):
        X_te, y_te = X_te[:r["test_samples"]], y_te[:r["test_samples"]]
    return (np.asarray(X_tr, float), np.asarray(X_te, float), np.asarray(y_tr, int),
            np.asarray(y_te, int))


def recovery_benchmark(dataset: str = "digits", seed: int = 0, chip: Chip | None = None,
                       recipe: dict[str, Any] | None = None, folder: str | None = None,
                       log: Callable[[str], Any] = print, figure: str | None = None,
                       protocol: str = "blind", uses: bool = True) -> dict[str, Any]:
    """Run the recovery benchmark (see the module documentation).

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}
    seed : int
        Seed of the data split, the corruptions, training, the chips and every sampling run.
    chip : Chip, optional
        The chip to use (then one chip: ``chips`` is 1); by default ``chips`` chips
        ``Chip(seed=seed + c)``.
    recipe : dict, optional
        Overrides of :data:`RECIPES` (``chips``: how many chips and software sampling seeds).
    folder : str, optional
        Folder of the Fashion-MNIST IDX files (default: Debian's package location).
    log : callable
        Receives one line of progress at a time.
    protocol : {"blind", "paper", "both"}
    uses : bool
        Also measure the held-out log-likelihood (AIS), free-running samples and classification
        (``result["uses"]``).
    figure : str, optional
        Path of the example figure (PNG); the bar chart of all rows goes next to it with
        ``_rows`` before the extension.

    Returns
    -------
    dict
        ``protocols[p]["corruptions"][kind]`` for every protocol run: ``l2_before``, one entry per
        row of :data:`ROWS` (``error_reduction``, ``per_run``, ``std_runs``, ``ci95_images``),
        ``chip_over_software`` (and ``_per_chip``, ``_ci95_images``), ``target_met``;
        ``corruptions`` repeats the first protocol's cells; ``uses`` (if asked).
    """
    check_choice(dataset, "dataset", tuple(RECIPES))
    check_choice(protocol, "protocol", PROTOCOLS + ("both",))
    # one BLAS thread: the many small matrix products of training and sampling run several
    # times faster than with threads competing for the cores
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _benchmark(dataset, seed, chip, recipe, folder, log, figure, protocol, uses)


def _benchmark(dataset: str, seed: int, chip: Chip | None, recipe: dict[str, Any] | None,
               folder: str | None, log: Callable[[str], Any], figure: str | None,
               protocol: str, uses: bool) -> dict[str, Any]:
    from sklearn.neural_network import BernoulliRBM

    protocols = PROTOCOLS if protocol == "both" else (protocol,)
    r = dict(RECIPES[dataset], **(recipe or {}))
    n_runs = 1 if chip is not None else check_int(r["chips"], "chips", 1, 100)
    t0 = time.perf_counter()
    X_tr, X_te, y_tr, y_te = _load(dataset, folder, seed, r)
    n_pix = X_tr.shape[1]

    def chips() -> list[Chip]:
        return [chip] if chip is not None else [Chip(seed=seed + c) for c in range(n_runs)]

    models: dict[str, Any] = {}

    def trained(labelled: bool) -> Any:
        key = "labels" if labelled else "pixels"
        if key not in models:
            log(f"training the RBM ({n_pix}{' + 10 labels' if labelled else ''} x "
                f"{r['n_hidden']}, CD-{r['k']}, {r['epochs']} epochs, weight noise "
                f"{r['weight_noise']}) on {len(X_tr)} {dataset} images ...")
            rbm = _make_rbm(r, 10 if labelled else 0, seed)
            rbm.fit(X_tr, y_tr) if labelled else rbm.fit(X_tr)
            models[key] = rbm
        return models[key]

    result: dict[str, Any] = {"dataset": dataset, "recipe": r, "steps": STEPS,
                              "average_last": AVERAGE, "train_images": len(X_tr),
                              "test_images": len(X_te), "chips": n_runs, "protocols": {},
                              "chip_target": CHIP_TARGET}
    boot = np.random.default_rng([seed, 7]).integers(0, len(X_te), (N_BOOTSTRAP, len(X_te)))
    mean_img = X_tr.mean(axis=0)
    basis = pca_basis(X_tr, r["pca_components"])
    examples: dict[str, dict[str, Any]] = {}
    for prot in protocols:
        labelled = prot == "paper"
        rbm = trained(labelled)
        W, b_v, b_h = rbm_parameters(rbm)
        n_lab = 10 if labelled else 0
        sk_data = np.hstack([X_tr, _one_hot(y_tr)]) if labelled else X_tr
        sk = BernoulliRBM(n_components=r["n_hidden"], n_iter=r["epochs"], random_state=seed)
        sk.fit(sk_data)
        programmed = []
        for c in chips():
            programmed.append(rbm.program(c, seed=seed))
        result["cores_used"] = len(programmed[0].segments)
        cells: dict[str, Any] = {}
        for kind in ("bottom", "flip"):
            rng = np.random.default_rng(seed + 1)
            if labelled:
                x, mask = paper_corrupt(X_te, kind, rng, grey=float(mean_img.mean()))
                known: np.ndarray | None = ~mask
                err_mask, fill, match = mask, mask, ~mask
            else:
                x, mask = corrupt(X_te, kind, rng)
                known = None if kind == "flip" else ~mask
                err_mask = np.ones_like(mask) if kind == "flip" else mask
                fill, match = err_mask, (np.ones_like(mask) if kind == "flip" else ~mask)
            before = _errors(x, X_te, err_mask)
            v0 = np.hstack([x, np.full((len(x), n_lab), 1.0 / 10)]) if labelled else x
            vknown = None if known is None else np.hstack(
                [known, np.zeros((len(x), n_lab), bool)])
            recs: dict[str, list[np.ndarray]] = {name: [] for name in ROWS}
            for run, on_chip in enumerate(programmed):
                sw_rng = np.random.default_rng([seed, 11, run])
                recs["software"].append(gibbs_recover(W, b_v, b_h, v0, vknown,
                                                      rng=sw_rng)[:, :n_pix])
                recs["chip"].append(chip_mean_field(on_chip, v0, STEPS, vknown, AVERAGE,
                                                    seed + 1 + run)[:, :n_pix])
            recs["sklearn"].append(_sklearn_recover(sk, v0, vknown, seed)[:, :n_pix])
            recs["mean_image"].append(mean_fill(x, fill, mean_img))
            recs["knn"].append(knn_fill(X_tr, x, match, fill, r["knn_neighbours"]))
            recs["pca"].append(pca_fill(X_tr, x, match, fill, basis=basis))
            entry: dict[str, Any] = {"l2_before": float(before.mean()),
                                     "error_region": ("whole image" if (not labelled and
                                                                        kind == "flip")
                                                      else "corrupted pixels")}
            after = {name: np.stack([_errors(a, X_te, err_mask) for a in recs[name]])
                     for name in ROWS}
            for name in ROWS:
                entry[name] = _row_summary(after[name], before, boot)
            sw, ch = entry["software"], entry["chip"]
            entry["chip_over_software"] = ch["error_reduction"] / sw["error_reduction"]
            entry["chip_over_software_per_chip"] = [v / sw["error_reduction"]
                                                    for v in ch["per_run"]]
            b_s = 1.0 - after["software"].mean(axis=0)[boot].mean(axis=1) / before[boot].mean(1)
            b_c = 1.0 - after["chip"].mean(axis=0)[boot].mean(axis=1) / before[boot].mean(1)
            entry["chip_over_software_ci95_images"] = [
                float(v) for v in np.percentile(b_c / b_s, [2.5, 97.5])]
            entry["target_met"] = bool(entry["chip_over_software"] >= CHIP_TARGET)
            sk_red = entry["sklearn"]["error_reduction"]
            for name in ("software", "chip"):
                # None when scikit-learn's RBM made the error worse: a ratio would mislead
                entry[f"{name}_over_sklearn"] = (entry[name]["error_reduction"] / sk_red
                                                 if sk_red > 0 else None)
            cells[kind] = entry
            # the figure's rows: the input, every method (first run), the original
            examples.setdefault(prot, {})[kind] = {
                "corrupted": x[:6],
                **{ROWS[name]: recs[name][0][:6]
                   for name in ("chip", "software", "sklearn", "knn", "pca", "mean_image")},
                "original": X_te[:6]}
            log(f"  {prot:<5s} {kind:<6s} L2 before {before.mean():.3f}; error reduction: " +
                ", ".join(f"{name} {entry[name]['error_reduction']:.3f}" for name in ROWS) +
                f"; chip / software {entry['chip_over_software']:.2f}")
        result["protocols"][prot] = {"corruptions": cells}
    result["corruptions"] = result["protocols"][protocols[0]]["corruptions"]
    result["training_seconds"] = time.perf_counter() - t0
    if uses:
        result["uses"] = _uses(trained, X_tr, X_te, y_tr, y_te, r, seed, chips, log)
    result["seconds"] = time.perf_counter() - t0
    if figure:
        from ..analysis.plotting import recovery_figure, recovery_rows_figure

        first = result["protocols"][protocols[0]]["corruptions"]
        scores = {kind: {ROWS[name]: e[name]["error_reduction"] for name in ROWS}
                  for kind, e in first.items()}
        result["figure"] = recovery_figure(examples[protocols[0]], figure, dataset,
                                           scores=scores, protocol=protocols[0])
        stem, dot, ext = figure.rpartition(".")
        rows_path = f"{stem}_rows.{ext}" if dot else f"{figure}_rows.png"
        tables = {p: {kind: {ROWS[name]: (e[name]["error_reduction"], *e[name]["ci95_images"])
                             for name in ROWS}
                      for kind, e in result["protocols"][p]["corruptions"].items()}
                  for p in protocols}
        result["figure_rows"] = recovery_rows_figure(tables, rows_path, dataset)
    return result


def _uses(trained: Callable[[bool], Any], X_tr: np.ndarray, X_te: np.ndarray,
          y_tr: np.ndarray, y_te: np.ndarray, r: dict[str, Any], seed: int,
          chips: Callable[[], Sequence[Chip]], log: Callable[[str], Any]) -> dict[str, Any]:
    """Held-out log-likelihood (AIS), free-running samples and classification."""
    from sklearn.linear_model import LogisticRegression

    out: dict[str, Any] = {}
    rbm = trained(False)
    W, b_v, b_h = rbm_parameters(rbm)
    chip = chips()[0]
    on_chip = rbm.program(chip, seed=seed)
    Wc, bvc, bhc = chip_parameters(on_chip, W.shape[1])
    # (a) log-likelihood of the binarised test images (threshold 0.5), log Z by AIS from the
    # base-rate model of the binarised training images
    Btr, Bte = (X_tr > 0.5).astype(float), (X_te > 0.5).astype(float)
    p = np.clip(Btr.mean(axis=0), 1e-3, 1 - 1e-3)
    base = np.log(p / (1 - p))
    ll: dict[str, Any] = {"binarised_at": 0.5, "ais_chains": r["ais_chains"],
                          "ais_betas": r["ais_betas"],
                          "independent_pixels": float((Bte @ np.log(p) +
                                                       (1 - Bte) @ np.log(1 - p)).mean())}
    for name, (w, bv, bh) in {"software": (W, b_v, b_h), "chip": (Wc, bvc, bhc)}.items():
        est = ais_log_partition(w, bv, bh, r["ais_chains"], r["ais_betas"], seed, base)
        ll[name] = {"log_z": est.log_z, "log_z_interval": [est.log_z_low, est.log_z_high],
                    "test": float(unnormalised_log_prob(Bte, w, bv, bh).mean() - est.log_z),
                    "train": float(unnormalised_log_prob(Btr[:len(Bte)], w, bv, bh).mean() -
                                   est.log_z)}
        log(f"  log-likelihood ({name}): test {ll[name]['test']:.2f} nats, log Z "
            f"{est.log_z:.2f} [{est.log_z_low:.2f}, {est.log_z_high:.2f}]")
    ll["weight_error_rms"] = float(np.sqrt(((Wc - W) ** 2).mean()))
    out["log_likelihood"] = ll
    # (b) free-running chains from uniform noise, the last state (3-bit visible readouts)
    n, steps = r["sample_chains"], r["sample_steps"]
    v0 = np.random.default_rng([seed, 21]).random((n, X_tr.shape[1]))
    gen = np.random.default_rng([seed, 22])
    samples = {
        "software": gibbs_recover(W, b_v, b_h, v0, None, steps, 1, rng=gen),
        "chip": chip_mean_field(on_chip, v0, steps, None, 1, seed + 1),
        "training_images": X_tr[gen.choice(len(X_tr), n, replace=False)],
        "independent_pixels": (gen.random((n, X_tr.shape[1])) < X_tr.mean(axis=0)).astype(float),
        "mean_image": np.tile(X_tr.mean(axis=0), (n, 1)),
        "uniform_noise": gen.random((n, X_tr.shape[1])),
    }
    out["samples"] = {"chains": n, "gibbs_steps": steps,
                      "quality": {k: sample_quality(s, X_te, X_tr) for k, s in samples.items()}}
    log("  samples (fidelity / coverage, L2): " + ", ".join(
        f"{k} {q['fidelity']:.2f}/{q['coverage']:.2f}"
        for k, q in out["samples"]["quality"].items()))
    # (c) classification
    lab = trained(True)
    Wl, bvl, bhl = rbm_parameters(lab)
    n_pix = X_tr.shape[1]
    # exact: the label with the lowest free energy given the pixels
    act = X_te @ Wl[:n_pix] + bhl
    free = np.stack([bvl[n_pix + y] + np.logaddexp(0, act + Wl[n_pix + y]).sum(axis=1)
                     for y in range(10)], axis=1)
    v0 = np.hstack([X_te, np.full((len(X_te), 10), 0.1)])
    known = np.zeros(v0.shape, bool)
    known[:, :n_pix] = True
    gibbs_sw = gibbs_recover(Wl, bvl, bhl, v0, known, 20, 10,
                             rng=np.random.default_rng([seed, 31]))
    on_chip_l = lab.program(chips()[0], seed=seed)
    gibbs_ch = chip_mean_field(on_chip_l, v0, 20, known, 10, seed + 1)
    hid_tr, hid_te = _sigmoid(X_tr @ W + b_h), _sigmoid(X_te @ W + b_h)
    acc = {"label_units_free_energy": float(np.mean(free.argmax(1) == y_te)),
           "label_units_gibbs_software": float(np.mean(gibbs_sw[:, n_pix:].argmax(1) == y_te)),
           "label_units_gibbs_chip": float(np.mean(gibbs_ch[:, n_pix:].argmax(1) == y_te))}
    for name, (a, b) in {"logistic_hidden": (hid_tr, hid_te),
                         "logistic_pixels": (X_tr, X_te)}.items():
        clf = LogisticRegression(max_iter=500).fit(a, y_tr)
        acc[name] = float(clf.score(b, y_te))
    out["classification"] = {"test_images": len(X_te), "gibbs_steps": 20, "average_last": 10,
                             "accuracy": acc}
    log("  classification accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    return out
