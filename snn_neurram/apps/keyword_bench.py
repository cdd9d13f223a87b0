"""Temporal benchmarks on the chip: spoken keywords (made by the project, or Google Speech
Commands from the user's folder), the Spiking Heidelberg Digits and N-MNIST.

Models, each trained on the training split and run on ``chips`` chips (seeds ``seed`` ...):

- **LSTM** (the paper's model, multi-bit): parallel LSTM cells on 40 MFCCs per 20 ms frame
  (:mod:`snn_neurram.training.lstm`: the chip's input and gate quantisation and its device
  spread in training), each cell one matrix on the recurrent MVM, gates read out by the
  neurons, a linear head; its software accuracy is the quantised model without noise;
- **MLP on time-pooled MFCCs** (multi-bit, non-recurrent: the simplest baseline a user tries
  first; :mod:`snn_neurram.training`, noise-aware; calibrated on the chip with
  :func:`snn_neurram.analysis.calibration.calibrate`, gated on the validation split);
- **recurrent SNN** and **feed-forward SNN** (spiking) on cochlear spike trains
  (:func:`snn_neurram.apps.audio_features.cochlear_spikes`: mel filterbank, log envelope, a LIF
  hair cell per channel) or on the data set's own spikes (SHD, N-MNIST), trained with surrogate
  gradients (:mod:`snn_neurram.training.snn`); software accuracy: the float model on the same
  spike trains.

Every row has software and chip accuracy (summarised over chips), the gap, energy and latency
per inference (chip time), spikes and synaptic events per inference (SNNs; input pulses times
columns driven for the multi-bit models).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._checks import check_choice, check_int
from ..analysis.energy import program_account
from ..analysis.stats import summarize
from ..compiler.native import simulate_float
from ..hw.chip import Chip
from ..program import compile as compile_model

if TYPE_CHECKING:
    from ..engines.results import SNNResult

__all__ = ["KEYWORD_SNN_RECIPE", "KEYWORD_LSTM_RECIPE", "KEYWORD_MLP_RECIPE", "TEMPORAL_SETS",
           "TemporalTask", "mfcc_sequences", "snn_rows", "lstm_rows", "mlp_rows",
           "run_keyword_snn", "run_keywords", "run_temporal"]

_Log = Callable[[str], Any]

#: How the keyword SNNs are built and trained.
KEYWORD_SNN_RECIPE: dict[str, Any] = dict(channels=64, steps=50, hidden=128, beta=0.95,
                                          threshold=1.0, reset="subtract", epochs=40, lr=2e-3,
                                          batch_size=64)
#: How the keyword LSTM is built and trained: ``cells`` cells of ``hidden`` units (40 + 64 rows
#: and the bias rows fit one row segment: each cell is one core of 4 x 64 columns).
KEYWORD_LSTM_RECIPE: dict[str, Any] = dict(hidden=64, cells=4, in_bits=4, out_bits=4,
                                           head_bits=8, epochs=30, lr=5e-3, batch_size=64,
                                           noise="device")
#: The non-recurrent multi-bit baseline: an MLP on time-pooled MFCCs.
KEYWORD_MLP_RECIPE: dict[str, Any] = dict(hidden=128, in_bits=4, act_bits=4, epochs=60,
                                          lr=2e-3, batch_size=64, noise="device")
#: The data sets of :func:`run_temporal`.
TEMPORAL_SETS = ("keywords", "speech-commands", "shd", "nmnist")


@dataclass
class TemporalTask:
    """A labelled temporal data set split three ways: ``audio`` clips (n, 16000) at 16 kHz, or
    ``spikes`` (n, steps, channels) already spiking."""

    name: str
    classes: list[str]
    y: np.ndarray
    split: np.ndarray               # "train", "val" or "test" per sample
    audio: np.ndarray | None = None
    spikes: np.ndarray | None = None

    def masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return cast("tuple[np.ndarray, np.ndarray, np.ndarray]",
                    tuple(self.split == s for s in ("train", "val", "test")))

    def counts(self) -> dict[str, int]:
        return {s: int(np.sum(self.split == s)) for s in ("train", "val", "test")}


def mfcc_sequences(audio: np.ndarray, train: np.ndarray) -> np.ndarray:
    """LSTM inputs of clips: 40 MFCCs per frame (:func:`audio_features.mfcc`, 49 frames per
    second), each coefficient standardised with the training clips' mean and spread, divided by
    3 and clipped to [-1, 1] (the rows' input range), (n, 49, 40) float32."""
    from .audio_features import mfcc

    M = mfcc(audio)
    mu = M[train].mean(axis=(0, 1))
    sd = M[train].std(axis=(0, 1)) + 1e-6
    return np.clip((M - mu) / sd / 3.0, -1.0, 1.0).astype(np.float32)


def _pooled_inputs(Z: np.ndarray, train: np.ndarray) -> np.ndarray:
    """MLP inputs: mean, spread, maximum and minimum over time of every coefficient of the
    sequences Z, each mapped to [0, 1] between its 1st and 99th percentile on the training set
    (the first layer's unsigned input range)."""
    from .keywords import pool_frames

    F = pool_frames(Z)
    lo, hi = np.percentile(F[train], [1, 99], axis=0)
    return np.clip((F - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)


def _row(name: str, mode: str, software: float, accs: list[float], n_test: int,
         runs: list[dict[str, float]], **extra: Any) -> dict[str, Any]:
    """A result row: accuracy summary over chips, the gap, mean costs per inference."""
    acc = np.array([[a] for a in accs])
    row: dict[str, Any] = {"model": name, "label": name, "mode": mode,
                           "software_accuracy": software, "accuracy": float(acc.mean()),
                           "gap_points": 100 * (software - float(acc.mean())),
                           "accuracy_summary": summarize(acc, n_test), **extra}
    for key in ("energy_j", "latency_s", "spikes", "synaptic_events"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        row[key] = float(np.mean(vals)) if vals else None
    return row


def _log_chip(log: _Log, c: int, chips: int, acc: float, software: float) -> None:
    log(f"  chip {c + 1}/{chips}: {100 * acc:.2f} % (software {100 * software:.2f} %)")


def _ann_run(program: Any, X: np.ndarray, y: np.ndarray, in_bits: int, out_bits: int,
             head_bits: int, seed: int, runs: list[dict[str, Any]]) -> float:
    """Accuracy of a multi-bit run of ``program`` on (X, y); its energy, latency and synaptic
    events per inference (the energy account) appended to ``runs``."""
    out = program.run(X, in_bits=in_bits, out_bits=out_bits, head_bits=head_bits, seed=seed)
    acc = program_account(program, in_bits, out_bits)
    runs.append({"energy_j": acc["energy_per_inference_j"],
                 "latency_s": acc["latency_per_inference_s"],
                 "synaptic_events": acc["synaptic_events_per_inference"]})
    return float(np.mean(np.asarray(out).argmax(1) == y))


def lstm_rows(Z: np.ndarray, task: TemporalTask, chips: int, seed: int,
              recipe: dict[str, Any] | None = None, log: _Log = print) -> list[dict[str, Any]]:
    """Train the parallel LSTM cells on sequences Z (n, frames, features) in [-1, 1] and run
    them on ``chips`` chips; one row."""
    from ..training.lstm import LSTMNet, evaluate_lstm, export_lstm, train_lstm

    r = dict(KEYWORD_LSTM_RECIPE, **(recipe or {}))
    tr, va, te = task.masks()
    y = task.y
    log(f"training the LSTM: {r['cells']} parallel cells of {r['hidden']} units on "
        f"{Z.shape[2]} features x {Z.shape[1]} frames ...")
    t1 = time.perf_counter()
    net = LSTMNet(Z.shape[2], r["hidden"], len(task.classes), r["cells"], in_bits=r["in_bits"],
                  out_bits=r["out_bits"], seed=seed)
    train_lstm(net, Z[tr], y[tr], epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
               noise=r["noise"], X_val=Z[va], y_val=y[va], seed=seed, progress=False)
    train_seconds = time.perf_counter() - t1
    software = evaluate_lstm(net, Z[te], y[te])
    model = export_lstm(net)
    float_acc = float(np.mean(model.forward_float(Z[te]).argmax(1) == y[te]))
    accs: list[float] = []
    runs: list[dict[str, Any]] = []
    for c in range(chips):
        program = compile_model(model, Chip(seed=seed + c), calibration=Z[tr][:256], seed=seed)
        accs.append(_ann_run(program, Z[te], y[te], r["in_bits"], r["out_bits"],
                             r["head_bits"], seed, runs))
        _log_chip(log, c, chips, accs[-1], software)
    return [_row(f"LSTM ({r['cells']} x {r['hidden']})", "ann", software, accs, int(te.sum()),
                 runs, in_bits=r["in_bits"], out_bits=r["out_bits"], steps=Z.shape[1],
                 coding="MFCC", float_accuracy=float_acc, train_seconds=train_seconds,
                 software_is="quantised model, no device noise")]


def mlp_rows(Z: np.ndarray, task: TemporalTask, chips: int, seed: int,
             recipe: dict[str, Any] | None = None, log: _Log = print) -> list[dict[str, Any]]:
    """The non-recurrent baseline: an MLP on the time-pooled sequences Z, noise-aware, on
    ``chips`` chips; one row."""
    from ..analysis.calibration import calibrate
    from ..nn.layers import Dense, Sequential
    from ..training import QuantNet, evaluate, export, train

    r = dict(KEYWORD_MLP_RECIPE, **(recipe or {}))
    tr, va, te = task.masks()
    y = task.y
    F = _pooled_inputs(Z, tr)
    log(f"training the MLP on time-pooled features: {F.shape[1]}-{r['hidden']}-"
        f"{len(task.classes)} ...")
    rng = np.random.default_rng(seed)
    n_in, n_h, n_out = F.shape[1], r["hidden"], len(task.classes)
    model = Sequential(Dense(rng.normal(0, np.sqrt(2 / n_in), (n_in, n_h)), np.zeros(n_h)),
                       Dense(rng.normal(0, np.sqrt(1 / n_h), (n_h, n_out)), np.zeros(n_out),
                             activation="linear"))
    t1 = time.perf_counter()
    net = QuantNet.from_model(model, in_bits=r["in_bits"], act_bits=r["act_bits"],
                              noise=r["noise"])
    train(net, F[tr], y[tr], epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
          X_val=F[va], y_val=y[va], seed=seed, progress=False)
    train_seconds = time.perf_counter() - t1
    software = float(evaluate(net, F[te], y[te], eta=0.0))
    trained = export(net)
    accs: list[float] = []
    runs: list[dict[str, Any]] = []
    for c in range(chips):
        program = compile_model(trained, Chip(seed=seed + c), calibration=F[tr][:256],
                                seed=seed)
        # the calibration of docs/accuracy.md, gated on the validation clips
        calibrate(program, F[tr], y[tr], in_bits=r["in_bits"], out_bits=r["act_bits"],
                  head_bits=8, validation=(F[va], y[va]), seed=seed)
        accs.append(_ann_run(program, F[te], y[te], r["in_bits"], r["act_bits"], 8, seed,
                             runs))
        _log_chip(log, c, chips, accs[-1], software)
    return [_row("MLP on pooled MFCCs", "ann", software, accs, int(te.sum()), runs,
                 in_bits=r["in_bits"], out_bits=r["act_bits"], steps=None, coding="pooled MFCC",
                 train_seconds=train_seconds, software_is="quantised model, no device noise")]


def snn_rows(S: np.ndarray, task: TemporalTask, chips: int, seed: int,
             recipe: dict[str, Any] | None = None, coding: str = "cochlear",
             log: _Log = print) -> list[dict[str, Any]]:
    """Train the recurrent SNN and its feed-forward baseline on spike trains S (n, steps,
    channels) and run both on ``chips`` chips; two rows."""
    from ..training.snn import SpikingNet, export_snn, train_snn

    r = dict(KEYWORD_SNN_RECIPE, **(recipe or {}))
    tr, va, te = task.masks()
    y = task.y
    S = S.reshape(len(S), S.shape[1], -1)
    channels, steps = S.shape[2], S.shape[1]
    n_classes = len(task.classes)
    rows = []
    for recurrent in (True, False):
        kind = "recurrent SNN" if recurrent else "feed-forward SNN"
        log(f"training the {kind} {channels}-{r['hidden']}-{n_classes} ({steps} steps) ...")
        t1 = time.perf_counter()
        net = SpikingNet.mlp([channels, r["hidden"], n_classes], beta=r["beta"],
                             threshold=r["threshold"], reset=r["reset"], recurrent=recurrent,
                             seed=seed)
        train_snn(net, S[tr], y[tr], steps=steps, coding="spikes", epochs=r["epochs"],
                  lr=r["lr"], batch_size=r["batch_size"], X_val=S[va], y_val=y[va], seed=seed)
        train_seconds = time.perf_counter() - t1
        model = export_snn(net)
        ref = simulate_float(model, np.moveaxis(S[te], 1, 0))
        software = float(np.mean(ref.predictions == y[te]))
        accs: list[float] = []
        runs: list[dict[str, Any]] = []
        for c in range(chips):
            program = compile_model(model, Chip(seed=seed + c), calibration=S[tr][:256],
                                    seed=seed)
            res = cast("SNNResult", program.run(S[te], mode="snn", coding="spikes", seed=seed))
            accs.append(float(np.mean(res.predictions == y[te])))
            runs.append({"energy_j": res.energy_per_inference_j,
                         "latency_s": res.latency_s,
                         "spikes": res.spikes_per_inference,
                         "synaptic_events": res.synaptic_events_per_inference})
            _log_chip(log, c, chips, accs[-1], software)
        rows.append(_row(kind, "snn_trained", software, accs, int(te.sum()), runs,
                         coding=coding, steps=steps, in_bits=None, recurrent=recurrent,
                         train_seconds=train_seconds, software_is="float model",
                         rows_of_hidden_layer=channels + (r["hidden"] if recurrent else 0)))
    return rows


def _figure(rows: list[dict[str, Any]], name: str, out_dir: str | None,
            title: str) -> dict[str, str]:
    if out_dir is None:
        return {}
    import os

    from ..analysis.plotting import comparison_figure

    os.makedirs(out_dir, exist_ok=True)
    best = max(row["software_accuracy"] for row in rows)
    return {"accuracy": comparison_figure(rows, best, name,
                                          os.path.join(out_dir, f"compare_{name}.png"),
                                          reference="best software", title=title)}


def _result(task: TemporalTask, rows: list[dict[str, Any]], seed: int, chips: int,
            recipes: dict[str, Any], figures: dict[str, str], t0: float) -> dict[str, Any]:
    return {"dataset": task.name, "network": [row["model"] for row in rows],
            "seed": seed, "chips": chips, "figures": figures,
            "chip_seeds": list(range(seed, seed + chips)), "recipes": recipes,
            "classes": [str(c) for c in task.classes], "clips": task.counts(),
            "rows": rows, "seconds": time.perf_counter() - t0}


def _audio_rows(task: TemporalTask, chips: int, seed: int, models: tuple[str, ...],
                recipes: dict[str, dict[str, Any]], log: _Log) -> list[dict[str, Any]]:
    assert task.audio is not None
    tr = task.masks()[0]
    rows: list[dict[str, Any]] = []
    if "lstm" in models or "mlp" in models:
        log(f"MFCC sequences of {len(task.audio)} clips ...")
        Z = mfcc_sequences(task.audio, tr)
        if "lstm" in models:
            rows += lstm_rows(Z, task, chips, seed, recipes.get("lstm"), log)
        if "mlp" in models:
            rows += mlp_rows(Z, task, chips, seed, recipes.get("mlp"), log)
    if "snn" in models:
        from .audio_features import cochlear_spikes

        r = dict(KEYWORD_SNN_RECIPE, **recipes.get("snn", {}))
        log(f"cochlear spike trains: {r['channels']} channels, {r['steps']} steps ...")
        S = cochlear_spikes(task.audio, channels=r["channels"], steps=r["steps"])
        rows += snn_rows(S, task, chips, seed, r, "cochlear", log)
    return rows


#: The models of :func:`run_keywords` and :func:`run_temporal` on audio.
MODELS = ("lstm", "mlp", "snn")


def _check_models(models: Any) -> tuple[str, ...]:
    models = tuple(models)
    for m in models:
        check_choice(m, "models", MODELS)
    if not models:
        raise ValueError(f"models must name at least one of {MODELS}")
    return models


def run_keywords(size: str = "full", seed: int = 0, chips: int = 3, folder: str | None = None,
                 models: Any = MODELS, recipes: dict[str, dict[str, Any]] | None = None,
                 out_dir: str | None = None, log: _Log = print) -> dict[str, Any]:
    """The synthesised keywords (:func:`snn_neurram.apps.keywords.load_keywords`, test voices
    held out): rows of the LSTM, the MLP baseline and the two SNNs (``models``), and with
    ``out_dir`` a figure of accuracy against latency and energy."""
    from .keywords import load_keywords

    chips = check_int(chips, "chips", 1, 100)
    models = _check_models(models)
    recipes = recipes or {}
    t0 = time.perf_counter()
    data = load_keywords(size, seed, folder, log=log)
    task = TemporalTask(f"keywords-{size}", [str(c) for c in data.classes], np.asarray(data.y),
                        np.asarray(data.split), audio=data.X)
    rows = _audio_rows(task, chips, seed, models, recipes, log)
    figures = _figure(rows, task.name, out_dir, "Temporal models on the synthesised keywords")
    return _result(task, rows, seed, chips, _recipes(models, recipes), figures, t0)


def _recipes(models: tuple[str, ...], recipes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    base = {"lstm": KEYWORD_LSTM_RECIPE, "mlp": KEYWORD_MLP_RECIPE, "snn": KEYWORD_SNN_RECIPE}
    return {m: dict(base[m], **recipes.get(m, {})) for m in models}


def run_keyword_snn(size: str = "full", seed: int = 0, chips: int = 3,
                    folder: str | None = None, recipe: dict[str, Any] | None = None,
                    out_dir: str | None = None, log: _Log = print) -> dict[str, Any]:
    """The two SNNs alone on the synthesised keywords (:func:`run_keywords` with
    ``models=("snn",)``)."""
    return run_keywords(size, seed, chips, folder, ("snn",), {"snn": recipe or {}}, out_dir, log)


def _split_train(n: int, seed: int, fraction: float = 0.1) -> np.ndarray:
    """'train' / 'val' labels for n training samples: a seeded ``fraction`` for validation."""
    split = np.full(n, "train", dtype=object)
    pick = np.random.default_rng(seed).choice(n, int(round(fraction * n)), replace=False)
    split[pick] = "val"
    return split


def load_task(dataset: str, data_dir: str, seed: int = 0,
              max_per_class: int | None = None) -> TemporalTask:
    """One of the real sets from the user's folder as a :class:`TemporalTask`: Speech Commands
    (its own validation and test lists), SHD and N-MNIST (their test files; 10 % of the
    training files, seeded, for validation). ``max_per_class`` keeps the runs small (SHD: at
    most 20 times that many samples per file)."""
    from .temporal_data import load_nmnist, load_shd, load_speech_commands

    check_choice(dataset, "dataset", TEMPORAL_SETS[1:])
    if dataset == "speech-commands":
        parts = [load_speech_commands(data_dir, split=s, max_per_class=max_per_class, seed=seed)
                 for s in ("train", "validation", "test")]
        classes = parts[0][2]
        return TemporalTask("speech-commands", list(classes),
                            np.concatenate([p[1] for p in parts]),
                            np.concatenate([np.full(len(p[1]), s, dtype=object) for p, s in
                                            zip(parts, ("train", "val", "test"))]),
                            audio=np.concatenate([p[0] for p in parts]))
    if dataset == "shd":
        limit = None if max_per_class is None else 20 * max_per_class
        (s_tr, y_tr, _), (s_te, y_te, _) = (load_shd(data_dir, s, max_samples=limit)
                                            for s in ("train", "test"))
        classes = [f"{lang}-{d}" for lang in ("en", "de") for d in range(10)]
    else:
        (s_tr, y_tr), (s_te, y_te) = (load_nmnist(data_dir, s, max_per_class=max_per_class)
                                      for s in ("train", "test"))
        classes = [str(d) for d in range(10)]
    split = np.concatenate([_split_train(len(y_tr), seed),
                            np.full(len(y_te), "test", dtype=object)])
    return TemporalTask(dataset, classes, np.concatenate([y_tr, y_te]), split,
                        spikes=np.concatenate([s_tr, s_te]))


def run_temporal(dataset: str, data_dir: str, seed: int = 0, chips: int = 3,
                 max_per_class: int | None = None, models: Any = MODELS,
                 recipes: dict[str, dict[str, Any]] | None = None, out_dir: str | None = None,
                 log: _Log = print) -> dict[str, Any]:
    """A real temporal set from ``data_dir`` (:func:`load_task`): Speech Commands gets the
    models of :func:`run_keywords`; SHD and N-MNIST, which come as spikes, the two SNNs on
    their own spike trains."""
    chips = check_int(chips, "chips", 1, 100)
    models = _check_models(models)
    recipes = recipes or {}
    t0 = time.perf_counter()
    log(f"reading {dataset} from {data_dir} ...")
    task = load_task(dataset, data_dir, seed, max_per_class)
    if task.audio is not None:
        rows = _audio_rows(task, chips, seed, models, recipes, log)
        used = models
    else:
        assert task.spikes is not None
        rows = snn_rows(task.spikes, task, chips, seed, recipes.get("snn"), "events", log)
        used = ("snn",)
    figures = _figure(rows, task.name, out_dir, f"Temporal models on {dataset}")
    return _result(task, rows, seed, chips, _recipes(used, recipes), figures, t0)
