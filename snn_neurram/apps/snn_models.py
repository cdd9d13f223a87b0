"""Spiking networks trained by the project's own recipe (surrogate gradients, PyTorch), for the
comparison of ``snn-neurram compare``.

``SNN_RECIPES`` holds, per data set, the spiking MLP and how it is trained: LIF neurons
(beta, threshold, reset), rate-coded inputs over ``steps`` time steps, the chip's weight noise
(the device model's conductance spread) in every forward pass, weights limited as the chip's
mapping limits them, the membranes of layers that fit one row segment saturating as the
integrator does (:mod:`snn_neurram.training.snn`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn.layers import Sequential

__all__ = ["SNN_RECIPES", "train_snn_for"]

#: The trained spiking MLP of each data set.
SNN_RECIPES: dict[str, dict[str, Any]] = {
    "digits": dict(hidden=100, beta=0.9, threshold=1.0, reset="subtract", epochs=30, lr=3e-3,
                   batch_size=64, samples=None),
    "fashion-mnist": dict(hidden=100, beta=0.9, threshold=1.0, reset="subtract", epochs=8,
                          lr=2e-3, batch_size=128, samples=30000),
}


def train_snn_for(dataset: str, X: np.ndarray, y: np.ndarray, steps: int, seed: int,
                  log: Callable[[str], Any] = print) -> tuple[Sequential, dict[str, Any]]:
    """Train the recipe's spiking MLP on (X, y) with rate-coded inputs over ``steps`` steps;
    returns the exported network and a record of the recipe and the training time."""
    from ..training.snn import SpikingNet, export_snn, train_snn

    recipe = dict(SNN_RECIPES[dataset])
    samples = recipe.pop("samples")
    if samples is not None and samples < len(X):
        idx = np.random.default_rng(seed).choice(len(X), samples, replace=False)
        X, y = X[idx], y[idx]
    X = X.reshape(len(X), -1)
    n_classes = int(y.max()) + 1
    log(f"training a {X.shape[1]}-{recipe['hidden']}-{n_classes} spiking MLP with surrogate "
        f"gradients on {dataset} ({steps} steps, rate coding) ...")
    t0 = time.perf_counter()
    net = SpikingNet.mlp([X.shape[1], recipe["hidden"], n_classes], beta=recipe["beta"],
                         threshold=recipe["threshold"], reset=recipe["reset"], seed=seed)
    history = train_snn(net, X, y, steps=steps, coding="rate", epochs=recipe["epochs"],
                        lr=recipe["lr"], batch_size=recipe["batch_size"], seed=seed)
    seconds = time.perf_counter() - t0
    log(f"  trained in {seconds:.0f} s")
    info = {"recipe": dict(SNN_RECIPES[dataset]), "steps": steps, "coding": "rate",
            "train_seconds": seconds, "final_loss": _last(history, "loss")}
    return export_snn(net), info


def _last(history: dict[str, Any], key: str) -> float | None:
    values = history.get(key)
    return float(values[-1]) if values else None
