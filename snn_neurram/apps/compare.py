"""``snn-neurram compare``: spiking against multi-bit (rate-coded) inference on the chip.

One ReLU network trained with scikit-learn runs in ANN mode at several input bit widths and,
converted, in SNN mode with each input coding at several numbers of time steps; a spiking
network trained with surrogate gradients (PyTorch) runs natively. Every configuration runs on
several chips (seeds) and reports its accuracy over them (mean, 95 % interval, worst and best
chip), its software accuracy, latency in chip time, energy per inference (the energy model of
:mod:`snn_neurram.physics.energy`), spikes and synaptic events per inference.
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
from ..compiler.native import simulate_float
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
                   folder: str | None = None, chips: int = 3,
                   trained_steps: Sequence[int] = (8, 16), trained: bool = True,
                   log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the comparison over ``chips`` chips (seeds ``seed`` ... ``seed + chips - 1``);
    returns a dict with ``network`` (the trained MLP's name), ``rows`` (one per configuration,
    accuracy summarised over the chips; latency in s and energy in J per inference, ``latency_s``,
    ``energy_j``) and figure paths.

    Rows: the ReLU MLP in multi-bit ANN mode (``ann_bits``), the same MLP converted to a
    spiking network (``codings`` x ``steps``), and -- with PyTorch installed and ``trained`` --
    a spiking MLP trained with surrogate gradients (:mod:`snn_neurram.training.snn`), rate
    coded over each of ``trained_steps``; its software accuracy is measured on the very spike
    trains the chips get.
    """
    from ..analysis.plotting import comparison_figure, membrane_figure, raster_figure
    from ..analysis.stats import summarize

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
    snn, snn_info = (_trained_snn(dataset, X_tr, y_tr, max(trained_steps), seed, log)
                     if trained else (None, {"skipped": "not asked for (trained=False)"}))
    trains: dict[int, np.ndarray] = {}
    software: dict[tuple[str, str, int | None, int | None], float] = {}
    if snn is not None:
        for T in trained_steps:
            rng = np.random.default_rng([seed, T, 7])
            trains[T] = (rng.random((len(X_te), T) + X_te.shape[1:]) <
                         np.clip(X_te, 0, 1)[:, None]).astype(np.int8)
            ref = simulate_float(snn, np.moveaxis(trains[T], 1, 0))
            software[("snn_trained", "rate", None, T)] = float(np.mean(ref.predictions == y_te))
    per: dict[tuple[str, str, int | None, int | None], list[dict[str, float]]] = {}
    shown: dict[str, Any] = {}
    for c in range(chips):
        log(f"chip {c + 1}/{chips} (seed {seed + c}):")
        program = compile_model(net, Chip(seed=seed + c), calibration=X_tr, seed=seed)
        for bits in ann_bits:
            y = cast(np.ndarray, program.run(X_te, in_bits=bits, out_bits=out_bits,
                                             progress=False))
            acc = program_account(program, bits, out_bits)
            _add(per, ("ann", "bit-serial", bits, None), log, {
                "accuracy": float(np.mean(y.argmax(1) == y_te)),
                "latency_s": acc["latency_per_inference_s"],
                "energy_j": acc["energy_per_inference_j"], "spikes": None,
                "synaptic_events": acc["synaptic_events_per_inference"]})
        for coding in codings:
            for T in steps:
                record = c == 0 and coding == "rate" and T == 64
                r = cast("SNNResult", program.run(X_te, mode="snn", coding=coding, steps=T,
                                                  seed=seed, record_raster=record))
                if record:
                    shown["converted"] = r
                _add(per, ("snn", coding, None, T), log, _snn_metrics(r, y_te))
        if snn is not None:
            sprog = compile_model(snn, Chip(seed=seed + c), calibration=X_tr, seed=seed)
            for T in trained_steps:
                record = c == 0 and T == max(trained_steps)
                r = cast("SNNResult", sprog.run(trains[T], mode="snn", coding="spikes",
                                                seed=seed, record_raster=record))
                if record:
                    shown["trained"] = r
                _add(per, ("snn_trained", "rate", None, T), log, _snn_metrics(r, y_te))
    rows = []
    for key, runs in per.items():
        mode, coding, key_bits, n_steps = key
        accs = np.array([[r["accuracy"]] for r in runs])
        row: dict[str, Any] = {"mode": mode, "coding": coding, "in_bits": key_bits,
                               "steps": n_steps,
                               "software_accuracy": software.get(key, float_acc),
                               "accuracy": float(accs.mean()),
                               "accuracy_summary": summarize(accs, len(y_te))}
        for name in ("latency_s", "energy_j", "spikes", "synaptic_events"):
            values = [r[name] for r in runs if r[name] is not None]
            row[name] = float(np.mean(values)) if values else None     # None: not applicable
        rows.append(row)
    log("over the chips:")
    for row in rows:
        log(_row_text(row))
    os.makedirs(out_dir, exist_ok=True)
    figures = {"accuracy": comparison_figure(rows, float_acc, dataset,
                                             os.path.join(out_dir, f"compare_{dataset}.png"))}
    for name, r in shown.items():
        # the recorded input is the first test input
        figures[f"raster_{name}"] = raster_figure(
            r, os.path.join(out_dir, f"raster_{name}_{dataset}.png"), true_class=int(y_te[0]))
        figures[f"membrane_{name}"] = membrane_figure(
            r, os.path.join(out_dir, f"membrane_{name}_{dataset}.png"), true_class=int(y_te[0]))
    return {"dataset": dataset, "network": net.name, "float_accuracy": float_acc,
            "trained_snn": snn_info, "chips": chips, "chip_seeds": list(range(seed, seed + chips)),
            "test_samples": len(y_te), "out_bits": out_bits, "rows": rows, "figures": figures,
            "seconds": time.perf_counter() - t0}


def _snn_metrics(r: SNNResult, y: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(np.mean(r.predictions == y)), "latency_s": r.latency_s,
            "energy_j": r.energy_per_inference_j, "spikes": r.spikes_per_inference,
            "synaptic_events": r.synaptic_events_per_inference}


def _add(per, key, log, metrics):
    per.setdefault(key, []).append(metrics)
    log(_row_text(dict(zip(("mode", "coding", "in_bits", "steps"), key), **metrics)))


def _trained_snn(dataset: str, X: np.ndarray, y: np.ndarray, steps: int, seed: int,
                 log: Callable[[str], Any]) -> tuple[Sequential | None, dict[str, Any]]:
    """The spiking MLP trained with surrogate gradients for this comparison, or None (and why)
    without PyTorch."""
    try:
        import torch  # noqa: F401
    except ImportError:
        hint = "needs PyTorch: pip install 'snn_neurram[train]'"
        log(f"trained SNN skipped: {hint}")
        return None, {"skipped": hint}
    from .snn_models import train_snn_for

    return train_snn_for(dataset, X, y, steps, seed, log)


def _row_text(r):
    what = (f"ann {r['in_bits']}-bit" if r["mode"] == "ann" else
            f"{'trained ' if r['mode'] == 'snn_trained' else ''}snn {r['coding']} T={r['steps']}")
    spikes = "        –" if r["spikes"] is None else f"{r['spikes']:9.0f}"
    return (f"  {what:<20s} accuracy {100 * r['accuracy']:6.2f} %  latency "
            f"{1e6 * r['latency_s']:9.1f} µs  energy {1e9 * r['energy_j']:9.2f} nJ  spikes "
            f"{spikes}  synaptic events {r['synaptic_events']:11.0f}")
