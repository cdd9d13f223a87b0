"""``snn-neurram compare``: spiking against multi-bit (rate-coded) inference on the chip.

One trained network, one compiled chip; the test set runs in ANN mode at several input bit
widths and in SNN mode with each input coding at several numbers of time steps. Every run
reports accuracy, latency in chip time, energy per inference (the energy model of
:mod:`snn_neurram.energy`), spikes and synaptic events per inference.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._checks import check_choice
from ..hw.chip import Chip
from ..program import compile as compile_model
from .datasets import load_dataset
from ..analysis.energy import program_account
from ..nn.layers import Dense, Sequential

if TYPE_CHECKING:
    from ..engines.results import SNNResult

__all__ = ["train_mlp", "run_comparison"]


def train_mlp(X: np.ndarray, y: np.ndarray, hidden: int, seed: int = 0, max_iter: int = 200,
              samples: int | None = None) -> Sequential:
    """A ReLU MLP (n_in -> hidden -> classes) trained with scikit-learn, as a Sequential."""
    from sklearn.neural_network import MLPClassifier

    if samples is not None and samples < len(X):
        idx = np.random.default_rng(seed).choice(len(X), samples, replace=False)
        X, y = X[idx], y[idx]
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", alpha=1e-3,
                        max_iter=max_iter, random_state=seed, early_stopping=False)
    clf.fit(X.reshape(len(X), -1), y)
    return Sequential(Dense(clf.coefs_[0], clf.intercepts_[0], "relu", name="fc1"),
                      Dense(clf.coefs_[1], clf.intercepts_[1], "linear", name="fc2"),
                      name=f"mlp{hidden}")


def run_comparison(dataset: str = "digits", model: str = "mlp",
                   steps: Sequence[int] = (8, 16, 32, 64, 128),
                   ann_bits: Sequence[int] = (1, 2, 3, 4), out_bits: int = 4,
                   codings: Sequence[str] = ("rate", "latency"), seed: int = 0,
                   out_dir: str = "snn_neurram_compare", test_samples: int | None = None,
                   folder: str | None = None,
                   log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the comparison; returns a dict with ``rows`` (one per run) and figure paths."""
    from ..analysis.plotting import comparison_figure, raster_figure

    check_choice(model, "model", ("mlp",))
    t0 = time.perf_counter()
    X_tr, X_te, y_tr, y_te = load_dataset(dataset, folder=folder, flat=True, seed=seed)
    if test_samples is not None:
        X_te, y_te = X_te[:test_samples], y_te[:test_samples]
    hidden = 64 if dataset == "digits" else 100
    log(f"training a {X_tr.shape[1]}-{hidden}-10 MLP on {dataset} ...")
    net = train_mlp(X_tr, y_tr, hidden, seed=seed,
                    max_iter=600 if dataset == "digits" else 40,
                    samples=None if dataset == "digits" else 30000)
    float_acc = float(np.mean(net.forward_float(X_te).argmax(1) == y_te))
    program = compile_model(net, Chip(seed=seed), calibration=X_tr, seed=seed)
    rows = []
    for bits in ann_bits:
        y = cast(np.ndarray, program.run(X_te, in_bits=bits, out_bits=out_bits, progress=False))
        acc = program_account(program, bits, out_bits)
        rows.append({"mode": "ann", "coding": "bit-serial", "in_bits": bits, "steps": None,
                     "accuracy": float(np.mean(y.argmax(1) == y_te)),
                     "latency_us": 1e6 * acc["latency_per_inference_s"],
                     "energy_uj": 1e6 * acc["energy_per_inference_j"], "spikes": 0.0,
                     "synaptic_events": acc["synaptic_events_per_inference"]})
        log(_row_text(rows[-1]))
    raster = None
    for coding in codings:
        for T in steps:
            r = cast("SNNResult", program.run(X_te, mode="snn", coding=coding, steps=T, seed=seed,
                                              record_raster=(coding == "rate" and T == 64)))
            if r.raster is not None:
                raster = r
            rows.append({"mode": "snn", "coding": coding, "in_bits": None, "steps": T,
                         "accuracy": float(np.mean(r.predictions == y_te)),
                         "latency_us": 1e6 * r.latency_s,
                         "energy_uj": 1e6 * r.energy_per_inference_j,
                         "spikes": r.spikes_per_inference,
                         "synaptic_events": r.synaptic_events_per_inference})
            log(_row_text(rows[-1]))
    os.makedirs(out_dir, exist_ok=True)
    figures = {"accuracy": comparison_figure(rows, float_acc, dataset,
                                             os.path.join(out_dir, f"compare_{dataset}.png"))}
    if raster is not None:
        figures["raster"] = raster_figure(raster, os.path.join(out_dir, f"raster_{dataset}.png"))
    return {"dataset": dataset, "model": net.name, "float_accuracy": float_acc,
            "test_samples": len(y_te), "out_bits": out_bits, "rows": rows, "figures": figures,
            "seconds": time.perf_counter() - t0}


def _row_text(r):
    what = f"ann {r['in_bits']}-bit" if r["mode"] == "ann" else f"snn {r['coding']} T={r['steps']}"
    return (f"  {what:<20s} accuracy {100 * r['accuracy']:6.2f} %  latency "
            f"{r['latency_us']:9.1f} us  energy {r['energy_uj']:9.4f} uJ  spikes "
            f"{r['spikes']:9.0f}  synaptic events {r['synaptic_events']:11.0f}")
