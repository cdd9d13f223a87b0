"""``snn-neurram bench rbm``: image recovery with RBMs, software against the chip and against
scikit-learn's ``BernoulliRBM``.

Protocol (the same for all three models): train on the training images (pixels in [0, 1]);
corrupt test images -- the bottom third set to grey (0.5), or 20 % of the pixels flipped
(x -> 1 - x); run 10 Gibbs steps from the corrupted image with the uncorrupted pixels clamped
(bottom third; nothing is clamped for flips, whose positions are unknown); the recovered image is
the visible units averaged over the last 5 steps. For our RBM those are the visible readouts
(3-bit sigmoid on the chip, the same quantisation in software); for ``BernoulliRBM`` the visible
samples of its ``gibbs`` method, its public sampler, averaged the same way. Error: the L2 norm of
(recovered - original) over the corrupted region -- the bottom third, or for flips the whole
image (their positions are unknown, and a recovery that fixes flipped pixels by spoiling clean
ones has not recovered the image) -- averaged over images; error reduction = 1 - after / before.
As a reference the result also scores the mean training image pasted into the corrupted region
(``mean_image``): a recovery that does no better has not used the visible pixels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import check_choice
from ..hw.chip import Chip
from .datasets import load_dataset
from ..engines.rbm import RBM, corrupt

__all__ = ["recovery_benchmark", "RECIPES"]

#: Training recipe and recovery schedule per data set.
RECIPES: dict[str, dict[str, Any]] = {
    "digits": dict(n_hidden=120, k=5, epochs=60, learning_rate=0.05, batch_size=20,
                   weight_noise=0.3, weight_bound=1.0, train_samples=None, test_samples=None),
    "fashion-mnist": dict(n_hidden=120, k=5, epochs=10, learning_rate=0.02, batch_size=50,
                          weight_noise=0.4, weight_bound=1.0, train_samples=20000,
                          test_samples=2000),
}
STEPS, AVERAGE = 10, 5


def _l2(rec, orig, mask):
    return float(np.sqrt(((rec - orig) ** 2 * mask).sum(axis=1)).mean())


def _sklearn_recover(model, x, known, rng_seed):
    v, acc = x.copy(), np.zeros_like(x)
    model.random_state_ = np.random.RandomState(rng_seed)
    for step in range(STEPS):
        v = model.gibbs(v).astype(float)
        if known is not None:
            v = np.where(known, x, v)
        if step >= STEPS - AVERAGE:
            acc += v
    return acc / AVERAGE


def recovery_benchmark(dataset: str = "digits", seed: int = 0, chip: Chip | None = None,
                       recipe: dict[str, Any] | None = None, folder: str | None = None,
                       log: Callable[[str], Any] = print,
                       figure: str | None = None) -> dict[str, Any]:
    """Run the recovery benchmark; returns a dict (see the module documentation)."""
    from sklearn.neural_network import BernoulliRBM

    check_choice(dataset, "dataset", tuple(RECIPES))
    r = dict(RECIPES[dataset], **(recipe or {}))
    t0 = time.perf_counter()
    X_tr, X_te, _, _ = load_dataset(dataset, folder=folder, flat=True, seed=seed)
    rng = np.random.default_rng(seed)
    if r["train_samples"] and r["train_samples"] < len(X_tr):
        X_tr = X_tr[rng.choice(len(X_tr), r["train_samples"], replace=False)]
    if r["test_samples"] and r["test_samples"] < len(X_te):
        X_te = X_te[:r["test_samples"]]
    X_tr, X_te = np.asarray(X_tr, float), np.asarray(X_te, float)
    log(f"training the RBM ({X_tr.shape[1]} x {r['n_hidden']}, CD-{r['k']}, {r['epochs']} "
        f"epochs, weight noise {r['weight_noise']}) on {len(X_tr)} {dataset} images ...")
    rbm = RBM(X_tr.shape[1], r["n_hidden"], k=r["k"], epochs=r["epochs"],
              learning_rate=r["learning_rate"], batch_size=r["batch_size"],
              weight_noise=r["weight_noise"], weight_bound=r["weight_bound"], seed=seed)
    rbm.fit(X_tr)
    t_rbm = time.perf_counter() - t0
    sk = BernoulliRBM(n_components=r["n_hidden"], n_iter=r["epochs"], random_state=seed)
    sk.fit(X_tr)
    chip = Chip(seed=seed) if chip is None else chip
    on_chip = rbm.program(chip, seed=seed)
    result: dict[str, Any] = {"dataset": dataset, "recipe": r, "steps": STEPS,
                              "average_last": AVERAGE, "train_images": len(X_tr),
                              "test_images": len(X_te), "cores_used": len(on_chip.segments),
                              "corruptions": {}}
    examples = {}
    for kind in ("bottom", "flip"):
        x, mask = corrupt(X_te, kind, np.random.default_rng(seed + 1))
        known = None if kind == "flip" else ~mask
        if kind == "flip":
            mask = np.ones_like(mask)          # the error counts over the whole image
        before = _l2(x, X_te, mask)
        recs = {"software": rbm.reconstruct(x, known, STEPS, visible_bits=3,
                                            average_last=AVERAGE),
                "chip": rbm.reconstruct(x, known, STEPS, on=on_chip, average_last=AVERAGE),
                "sklearn": _sklearn_recover(sk, x, known, seed),
                # reference without any model of the images: the mean training image
                "mean_image": np.where(mask, X_tr.mean(axis=0), x)}
        entry = {"l2_before": before}
        for name, rec in recs.items():
            after = _l2(rec, X_te, mask)
            entry[name] = {"l2_after": after, "error_reduction": 1.0 - after / before}
        entry["chip_over_software"] = (entry["chip"]["error_reduction"] /
                                       entry["software"]["error_reduction"])
        sk_red = entry["sklearn"]["error_reduction"]
        for name in ("software", "chip"):
            # None when scikit-learn's RBM made the error worse: a ratio would mislead
            entry[f"{name}_over_sklearn"] = (entry[name]["error_reduction"] / sk_red
                                             if sk_red > 0 else None)
        result["corruptions"][kind] = entry
        examples[kind] = (x[:6], recs["chip"][:6], recs["software"][:6], X_te[:6])
        log(f"  {kind:<7s} L2 before {before:.3f}; error reduction: software "
            f"{entry['software']['error_reduction']:.3f}, chip "
            f"{entry['chip']['error_reduction']:.3f}, scikit-learn "
            f"{entry['sklearn']['error_reduction']:.3f}, mean image "
            f"{entry['mean_image']['error_reduction']:.3f}")
    result["training_seconds"] = t_rbm
    result["seconds"] = time.perf_counter() - t0
    if figure:
        from ..analysis.plotting import recovery_figure
        result["figure"] = recovery_figure(examples, figure, dataset)
    return result
