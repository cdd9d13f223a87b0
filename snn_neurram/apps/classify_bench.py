"""``snn-neurram bench classify``: what each hardware-software co-optimisation buys on the chip.

For one data set: train the network twice with quantised inputs and activations -- plainly and
noise-aware (weight noise eta * max|W| every forward pass) -- then measure test accuracy of

- ``float``: the plainly trained network in floating point (no quantisation);
- ``quantised``: the same with its quantised inputs and activations (the software reference);
- ``quantised_noise_aware``: the noise-aware network the same way;
- ``chip``: the plain network on the chip, compiled without data (operating points from random
  inputs) -- no co-optimisation;
- ``chip_calibrated``: the plain network with model-driven calibration only;
- ``chip_noise_aware``: the noise-aware network, compiled the same way;
- ``chip_noise_aware_calibrated``: plus model-driven calibration on training samples;
- ``chip_co_optimised``: plus chip-in-the-loop progressive fine-tuning;

each chip row over several simulated chips (seeds), mean and standard deviation. ``gap_points``
is the quantised software accuracy minus the co-optimised chip's mean, in percentage points.
The eta sweep trains the network at several eta and tests every one under test-time weight noise
of several eta (fresh noise per draw), the paper's Fig. 4 experiment in software.

Trained networks are checkpointed in the output folder, so an interrupted or repeated run picks
up where it stopped.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import check_choice, check_int
from ..hw.chip import Chip
from ..program import compile as compile_model
from .datasets import load_dataset
from .models import build

__all__ = ["classify_benchmark", "RECIPES", "ROWS"]

#: Per data set: network, bits, training recipe, chips, fine-tuning and the eta sweep.
RECIPES: dict[str, dict[str, Any]] = {
    "digits": dict(model="digits-mlp", bits=3, head_bits=8, epochs=60, lr=3e-3, batch_size=64, eta=0.15,
                   chips=5, calib_samples=512, ft_epochs=3, ft_lr=3e-4, ft_samples=None,
                   eta_train=(0.0, 0.05, 0.10, 0.15, 0.20),
                   eta_test=(0.0, 0.025, 0.05, 0.075, 0.10, 0.15, 0.20), draws=5,
                   train_samples=None, test_samples=None),
    "fashion-mnist": dict(model="mnist-cnn", bits=3, head_bits=8, epochs=15, lr=2e-3, batch_size=128,
                          eta=0.15, chips=3, calib_samples=512, ft_epochs=1, ft_lr=2e-4,
                          ft_samples=10000, eta_train=(0.0, 0.05, 0.10, 0.15, 0.20),
                          eta_test=(0.0, 0.025, 0.05, 0.075, 0.10, 0.15, 0.20), draws=3,
                          train_samples=None, test_samples=None),
}

#: The rows of the result, in order, with their labels (software rows first).
ROWS = {
    "float": "float software",
    "quantised": "quantised software",
    "quantised_noise_aware": "quantised software, noise-aware",
    "chip": "chip, no co-optimisation",
    "chip_calibrated": "chip, calibration only",
    "chip_noise_aware": "chip, noise-aware training",
    "chip_noise_aware_calibrated": "+ model-driven calibration",
    "chip_co_optimised": "+ progressive fine-tuning",
}
CHIP_ROWS = tuple(k for k in ROWS if k.startswith("chip"))


def _accuracy(logits, y):
    return float(np.mean(np.asarray(logits).argmax(axis=1) == y))


def classify_benchmark(dataset: str = "digits", recipe: dict[str, Any] | None = None,
                       out: str = "snn_neurram_bench", folder: str | None = None, seed: int = 0,
                       log: Callable[[str], Any] = print,
                       progress: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns a dict (see the module documentation) and writes figures and
    checkpoints to ``out``."""
    from ..analysis.calibration import calibrate
    from ..analysis.finetune import SimulatedChip, progressive_finetune
    from ..training import QuantNet, evaluate, export, train

    check_choice(dataset, "dataset", tuple(RECIPES))
    r = dict(RECIPES[dataset], **(recipe or {}))
    bits = check_int(r["bits"], "bits", 1, 8)
    hb = check_int(r["head_bits"], "head_bits", 1, 8)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    X_tr, X_te, y_tr, y_te = load_dataset(dataset, folder=folder, flat=(dataset == "digits"),
                                          seed=seed)
    X_tr, X_te = np.asarray(X_tr, np.float32), np.asarray(X_te, np.float32)
    y_tr, y_te = np.asarray(y_tr), np.asarray(y_te)
    rng = np.random.default_rng(seed)
    if r["train_samples"] and r["train_samples"] < len(X_tr):
        keep = np.sort(rng.choice(len(X_tr), r["train_samples"], replace=False))
        X_tr, y_tr = X_tr[keep], y_tr[keep]
    if r["test_samples"] and r["test_samples"] < len(X_te):
        X_te, y_te = X_te[:r["test_samples"]], y_te[:r["test_samples"]]
    shape = tuple(X_tr.shape[1:])

    nets: dict[float, Any] = {}

    def trained(eta):
        """The network trained at weight-noise eta (0: plain), from its checkpoint if done."""
        if eta in nets:
            return nets[eta]
        model, _ = build(r["model"], seed=seed)
        # noise-aware training also limits the weights as the chip's mapping will (w_max at
        # the chip's percentile of |W|); the plain network is ordinary quantisation-aware
        net = QuantNet.from_model(model, in_bits=bits, act_bits=bits, eta=eta,
                                  noise="relative" if eta > 0 else None,
                                  weight_clip=Chip().percentile if eta > 0 else None,
                                  seed=seed)
        log(f"training {r['model']} on {len(X_tr)} {dataset} images at eta = {eta:g} "
            f"({r['epochs']} epochs, {bits}-bit inputs and activations) ...")
        train(net, X_tr, y_tr, epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
              checkpoint=os.path.join(out, f"{dataset}_eta{eta:g}.pt"), resume=True,
              progress=progress, seed=seed)
        nets[eta] = net
        return net

    plain, aware = trained(0.0), trained(float(r["eta"]))
    acc = {"float": _accuracy(export(plain).forward_float(X_te), y_te),
           "quantised": evaluate(plain, X_te, y_te),
           "quantised_noise_aware": evaluate(aware, X_te, y_te)}
    log(f"software: float {acc['float']:.4f}, quantised {acc['quantised']:.4f}, "
        f"noise-aware quantised {acc['quantised_noise_aware']:.4f}")

    def on_chip(prog):
        return _accuracy(prog.run(X_te, in_bits=bits, out_bits=bits, head_bits=hb), y_te)

    per_chip: dict[str, list[float]] = {k: [] for k in CHIP_ROWS}
    ft_steps = []
    X_ft, y_ft = X_tr, y_tr
    if r["ft_samples"] and r["ft_samples"] < len(X_tr):
        pick = np.sort(rng.choice(len(X_tr), r["ft_samples"], replace=False))
        X_ft, y_ft = X_tr[pick], y_tr[pick]
    for c in range(check_int(r["chips"], "chips", 1, 100)):
        chip_seed = seed + 1000 + c
        log(f"chip {c + 1}/{r['chips']} (seed {chip_seed}):")
        prog = compile_model(export(plain), Chip(seed=chip_seed), input_shape=shape)
        per_chip["chip"].append(on_chip(prog))
        calibrate(prog, X_tr, in_bits=bits, out_bits=bits, head_bits=hb,
                  samples=r["calib_samples"], seed=chip_seed)
        per_chip["chip_calibrated"].append(on_chip(prog))
        prog = compile_model(export(aware), Chip(seed=chip_seed), input_shape=shape)
        per_chip["chip_noise_aware"].append(on_chip(prog))
        calibrate(prog, X_tr, in_bits=bits, out_bits=bits, head_bits=hb,
                  samples=r["calib_samples"], seed=chip_seed)
        per_chip["chip_noise_aware_calibrated"].append(on_chip(prog))
        driver = SimulatedChip(prog, bits, bits, head_bits=hb)
        steps = progressive_finetune(driver, copy.deepcopy(aware), X_ft, y_ft,
                                     epochs=r["ft_epochs"], lr=r["ft_lr"],
                                     batch_size=r["batch_size"],
                                     calibration_samples=r["calib_samples"], seed=chip_seed,
                                     log=log, progress=progress)
        ft_steps.append(steps)
        per_chip["chip_co_optimised"].append(_accuracy(driver.predict(X_te), y_te))
        log("  " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in per_chip.items()))
    for k, v in per_chip.items():
        acc[k] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "per_chip": v}

    sweep = {"eta_train": list(r["eta_train"]), "eta_test": list(r["eta_test"]),
             "accuracy": [], "std": []}
    for eta in r["eta_train"]:
        net = trained(float(eta))
        row, srow = [], []
        for e in r["eta_test"]:
            draws = [evaluate(net, X_te, y_te, eta=float(e) or None, seed=seed + d)
                     for d in range(r["draws"] if e else 1)]
            row.append(float(np.mean(draws)))
            srow.append(float(np.std(draws)))
        sweep["accuracy"].append(row)
        sweep["std"].append(srow)
        log(f"eta sweep: trained at {eta:g}: " + ", ".join(f"{a:.3f}" for a in row))

    result = {
        "dataset": dataset, "model": r["model"], "recipe": r,
        "train_images": len(X_tr), "test_images": len(X_te),
        "accuracy": acc,
        "gap_points": 100 * (acc["quantised"] - acc["chip_co_optimised"]["mean"]),
        "gap_points_vs_noise_aware_software": 100 * (acc["quantised_noise_aware"] -
                                                     acc["chip_co_optimised"]["mean"]),
        "finetune_steps": ft_steps, "eta_sweep": sweep,
    }
    from ..analysis.plotting import classify_figures

    result["figures"] = classify_figures(result, out, ROWS)
    result["seconds"] = time.perf_counter() - t0
    return result
