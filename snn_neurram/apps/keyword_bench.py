"""Spiking networks on the synthesised spoken keywords: a recurrent SNN and its feed-forward
baseline, trained with surrogate gradients on cochlear spike trains, in software and on chips.

The clips of :func:`snn_neurram.apps.keywords.load_keywords` (12 classes, test voices never
heard in training) become spike trains of a cochlea model
(:func:`snn_neurram.apps.audio_features.cochlear_spikes`: mel filterbank, log envelope, a LIF
hair cell per channel), ``steps`` steps per 1 s clip. Two spiking MLPs are trained on the train
voices (:mod:`snn_neurram.training.snn`, the chip's weight noise, weight range and saturation
in the forward pass), one with recurrent weights in its hidden layer (the array's recurrent
mode), one without. Each is compiled onto ``chips`` chips; its software accuracy is its float
model on the same spike trains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._checks import check_int
from ..analysis.stats import summarize
from ..compiler.native import simulate_float
from ..hw.chip import Chip
from ..program import compile as compile_model

if TYPE_CHECKING:
    from ..engines.results import SNNResult

__all__ = ["KEYWORD_SNN_RECIPE", "run_keyword_snn"]

#: How the keyword SNNs are built and trained.
KEYWORD_SNN_RECIPE: dict[str, Any] = dict(channels=64, steps=50, hidden=128, beta=0.95,
                                          threshold=1.0, reset="subtract", epochs=40, lr=2e-3,
                                          batch_size=64)


def run_keyword_snn(size: str = "full", seed: int = 0, chips: int = 3,
                    folder: str | None = None, recipe: dict[str, Any] | None = None,
                    out_dir: str | None = None,
                    log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Train the recurrent SNN and its feed-forward baseline on the keywords and run both on
    ``chips`` chips (seeds ``seed`` ...); returns rows of software and chip accuracy (summarised
    over chips), energy, latency, spikes and synaptic events per inference, and with
    ``out_dir`` a figure of accuracy against latency and energy."""
    from ..training.snn import SpikingNet, export_snn, train_snn
    from .audio_features import cochlear_spikes
    from .keywords import load_keywords

    chips = check_int(chips, "chips", 1, 100)
    r = dict(KEYWORD_SNN_RECIPE, **(recipe or {}))
    t0 = time.perf_counter()
    data = load_keywords(size, seed, folder, log=log)
    log(f"cochlear spike trains: {len(data.X)} clips, {r['channels']} channels, "
        f"{r['steps']} steps ...")
    S = cochlear_spikes(data.X, channels=r["channels"], steps=r["steps"])
    y = np.asarray(data.y)
    split = np.asarray(data.split)
    tr, va, te = (split == name for name in ("train", "val", "test"))
    n_classes = len(data.classes)
    rows = []
    for recurrent in (True, False):
        kind = "recurrent SNN" if recurrent else "feed-forward SNN"
        log(f"training the {kind} {r['channels']}-{r['hidden']}-{n_classes} ...")
        t1 = time.perf_counter()
        net = SpikingNet.mlp([r["channels"], r["hidden"], n_classes], beta=r["beta"],
                             threshold=r["threshold"], reset=r["reset"], recurrent=recurrent,
                             seed=seed)
        train_snn(net, S[tr], y[tr], steps=r["steps"], coding="spikes", epochs=r["epochs"],
                  lr=r["lr"], batch_size=r["batch_size"], X_val=S[va], y_val=y[va], seed=seed)
        train_seconds = time.perf_counter() - t1
        model = export_snn(net)
        ref = simulate_float(model, np.moveaxis(S[te], 1, 0))
        software = float(np.mean(ref.predictions == y[te]))
        runs = []
        for c in range(chips):
            program = compile_model(model, Chip(seed=seed + c), calibration=S[tr][:256],
                                    seed=seed)
            res = cast("SNNResult", program.run(S[te], mode="snn", coding="spikes", seed=seed))
            runs.append({"accuracy": float(np.mean(res.predictions == y[te])),
                         "energy_uj": 1e6 * res.energy_per_inference_j,
                         "latency_us": 1e6 * res.latency_s,
                         "spikes": res.spikes_per_inference,
                         "synaptic_events": res.synaptic_events_per_inference})
            log(f"  chip {c + 1}/{chips}: {100 * runs[-1]['accuracy']:.2f} % "
                f"(software {100 * software:.2f} %)")
        acc = np.array([[run["accuracy"]] for run in runs])
        row: dict[str, Any] = {"model": kind, "label": kind, "mode": "snn_trained",
                               "coding": "cochlear", "steps": r["steps"], "in_bits": None,
                               "recurrent": recurrent,
                               "software_accuracy": software, "accuracy": float(acc.mean()),
                               "gap_points": 100 * (software - float(acc.mean())),
                               "accuracy_summary": summarize(acc, int(te.sum())),
                               "train_seconds": train_seconds,
                               "rows_of_hidden_layer": r["channels"] + (r["hidden"] if recurrent
                                                                        else 0)}
        for name in ("energy_uj", "latency_us", "spikes", "synaptic_events"):
            row[name] = float(np.mean([run[name] for run in runs]))
        rows.append(row)
    figures = {}
    if out_dir is not None:
        import os

        from ..analysis.plotting import comparison_figure

        os.makedirs(out_dir, exist_ok=True)
        best = max(row["software_accuracy"] for row in rows)
        figures["accuracy"] = comparison_figure(
            rows, best, f"keywords-{size}", os.path.join(out_dir, f"compare_keywords_{size}.png"),
            reference="best software", title="Spiking networks on the synthesised keywords")
    return {"dataset": f"keywords-{size}", "seed": seed, "chips": chips, "figures": figures,
            "chip_seeds": list(range(seed, seed + chips)), "recipe": r,
            "classes": [str(c) for c in data.classes],
            "clips": {name: int(m.sum()) for name, m in (("train", tr), ("val", va),
                                                         ("test", te))},
            "rows": rows, "seconds": time.perf_counter() - t0}
