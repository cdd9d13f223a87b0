"""``snn-neurram bench classify``: what each hardware-software co-optimisation buys on the chip.

For one data set: train the network plainly and noise-aware (weight noise eta * max|W| every
forward pass; a third network warm-starts from the plain one and is distilled from it), then
measure test accuracy of

- ``float``: the plainly trained network in floating point (no quantisation);
- ``quantised``: the same with its quantised inputs and activations (the software reference);
- ``quantised_noise_aware``, ``quantised_distilled``: the other two networks the same way;
- ``chip``: the plain network on the chip, compiled with calibration data as the docs tell
  users to -- no co-optimisation;
- ``chip_calibrated``: plus model-driven calibration (gated on held-out agreement and on a
  validation split: training images set aside before any training, so that no network has
  seen them);
- ``chip_noise_aware`` / ``chip_noise_aware_calibrated``: the noise-aware network, the same way;
- ``chip_distilled_calibrated``: the distilled noise-aware network, calibrated;
- ``chip_co_optimised``: plus chip-in-the-loop progressive fine-tuning, each step kept only when
  the chip's validation accuracy does not drop.

Every chip row is measured on several simulated chips (seeds) and several read-noise draws per
chip, all on the same test images: per row mean, spread over chips and over draws, a 95 %
interval over chips and the worst chip (:func:`snn_neurram.analysis.stats.summarize`); each
lever is also given as a paired difference of two rows (same chips, draws and images).
``gap_points`` is the quantised software accuracy minus the best chip row's mean, in percentage
points, with its interval. The eta sweep trains the network at several eta and tests every one
under test-time weight noise of several eta (fresh noise per draw), the paper's Fig. 4
experiment in software.

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

__all__ = ["classify_benchmark", "RECIPES", "ROWS", "LEVERS"]

#: Per data set: network, bits, training recipe, chips, fine-tuning and the eta sweep.
RECIPES: dict[str, dict[str, Any]] = {
    "digits": dict(model="digits-mlp", bits=3, head_bits=8, epochs=60, lr=3e-3, batch_size=64,
                   eta=0.15, chips=5, draws=3, val_samples=250, calib_samples=512,
                   distill_epochs=20, distill_lr=1e-3, distill=0.5, temperature=4.0,
                   ft_epochs=3, ft_lr=3e-4, ft_samples=None,
                   eta_train=(0.0, 0.05, 0.10, 0.15, 0.20),
                   eta_test=(0.0, 0.025, 0.05, 0.075, 0.10, 0.15, 0.20), sweep_draws=5,
                   train_samples=None, test_samples=None),
    "fashion-mnist": dict(model="mnist-cnn", bits=3, head_bits=8, epochs=15, lr=2e-3,
                          batch_size=128, eta=0.15, chips=3, draws=3, val_samples=1000,
                          calib_samples=512, distill_epochs=5, distill_lr=1e-3, distill=0.5,
                          temperature=4.0, ft_epochs=1, ft_lr=2e-4, ft_samples=10000,
                          eta_train=(0.0, 0.05, 0.10, 0.15, 0.20),
                          eta_test=(0.0, 0.025, 0.05, 0.075, 0.10, 0.15, 0.20), sweep_draws=3,
                          train_samples=None, test_samples=None),
}

#: The rows of the result, in order, with their labels (software rows first).
ROWS = {
    "float": "float software",
    "quantised": "quantised software",
    "quantised_noise_aware": "quantised software, noise-aware",
    "quantised_distilled": "quantised software, noise-aware distilled",
    "chip": "chip, plain network (no co-optimisation)",
    "chip_calibrated": "chip, plain network, calibrated",
    "chip_noise_aware": "chip, noise-aware network",
    "chip_noise_aware_calibrated": "chip, noise-aware network, calibrated",
    "chip_distilled_calibrated": "chip, distilled network, calibrated",
    "chip_co_optimised": "+ progressive fine-tuning (fully co-optimised)",
}
CHIP_ROWS = tuple(k for k in ROWS if k.startswith("chip"))

#: What each lever buys: (row with it, row without it), compared pairwise.
LEVERS = {
    "calibration, plain network": ("chip_calibrated", "chip"),
    "calibration, noise-aware network": ("chip_noise_aware_calibrated", "chip_noise_aware"),
    "noise-aware training (both calibrated)": ("chip_noise_aware_calibrated", "chip_calibrated"),
    "distillation (both calibrated)": ("chip_distilled_calibrated",
                                       "chip_noise_aware_calibrated"),
    "progressive fine-tuning": ("chip_co_optimised", "chip_distilled_calibrated"),
}


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
    from ..analysis.stats import paired_difference, summarize
    from ..training import QuantNet, evaluate, export, train

    check_choice(dataset, "dataset", tuple(RECIPES))
    r = dict(RECIPES[dataset], **(recipe or {}))
    bits = check_int(r["bits"], "bits", 1, 8)
    hb = check_int(r["head_bits"], "head_bits", 1, 8)
    chips = check_int(r["chips"], "chips", 1, 100)
    draws = check_int(r["draws"], "draws", 1, 100)
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
    # the validation split of the gates: training images that no network is trained on (on
    # images it was trained on, a network is right almost always and a gate sees nothing)
    n_val = check_int(r["val_samples"], "val_samples", 1, len(X_tr) - 1)
    perm = rng.permutation(len(X_tr))
    X_val, y_val = X_tr[np.sort(perm[:n_val])], y_tr[np.sort(perm[:n_val])]
    X_fit, y_fit = X_tr[np.sort(perm[n_val:])], y_tr[np.sort(perm[n_val:])]

    nets: dict[Any, Any] = {}

    def quant_net(eta):
        model, _ = build(r["model"], seed=seed)
        # noise-aware training also limits the weights as the chip's mapping will (w_max at
        # the chip's percentile of |W|); the plain network is ordinary quantisation-aware
        return QuantNet.from_model(model, in_bits=bits, act_bits=bits, eta=eta,
                                   noise="relative" if eta > 0 else None,
                                   weight_clip=Chip().percentile if eta > 0 else None,
                                   seed=seed)

    def trained(eta):
        """The network trained at weight-noise eta (0: plain), from its checkpoint if done."""
        if eta in nets:
            return nets[eta]
        net = quant_net(eta)
        log(f"training {r['model']} on {len(X_fit)} {dataset} images at eta = {eta:g} "
            f"({r['epochs']} epochs, {bits}-bit inputs and activations) ...")
        train(net, X_fit, y_fit, epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
              checkpoint=os.path.join(out, f"{dataset}_eta{eta:g}.pt"), resume=True,
              progress=progress, seed=seed)
        nets[eta] = net
        return net

    def distilled(eta):
        """Noise-aware at eta, warm-started from the plain network and distilled from it."""
        if ("distilled", eta) in nets:
            return nets["distilled", eta]
        plain, net = trained(0.0), quant_net(eta)
        net.load_state_dict(plain.state_dict())
        log(f"distilling the plain network into a noise-aware one at eta = {eta:g} "
            f"({r['distill_epochs']} epochs) ...")
        train(net, X_fit, y_fit, epochs=r["distill_epochs"], lr=r["distill_lr"],
              batch_size=r["batch_size"], teacher=plain, distill=r["distill"],
              temperature=r["temperature"], progress=progress, seed=seed,
              checkpoint=os.path.join(out, f"{dataset}_eta{eta:g}_distilled.pt"), resume=True)
        nets["distilled", eta] = net
        return net

    eta = float(r["eta"])
    plain, aware, dist = trained(0.0), trained(eta), distilled(eta)
    acc: dict[str, Any] = {"float": _accuracy(export(plain).forward_float(X_te), y_te),
                           "quantised": evaluate(plain, X_te, y_te),
                           "quantised_noise_aware": evaluate(aware, X_te, y_te),
                           "quantised_distilled": evaluate(dist, X_te, y_te)}
    log(f"software: float {acc['float']:.4f}, quantised {acc['quantised']:.4f}, "
        f"noise-aware quantised {acc['quantised_noise_aware']:.4f}, distilled "
        f"{acc['quantised_distilled']:.4f}")

    def on_chip(predict):
        """Accuracy for every read-noise draw (the same test images)."""
        return [_accuracy(predict(d), y_te) for d in range(draws)]

    def run_of(prog):
        return lambda d: prog.run(X_te, in_bits=bits, out_bits=bits, head_bits=hb, seed=d)

    per: dict[str, list[list[float]]] = {k: [] for k in CHIP_ROWS}
    calib_reports: list[dict[str, Any]] = []
    ft_steps = []
    X_ft, y_ft = X_fit, y_fit
    if r["ft_samples"] and r["ft_samples"] < len(X_fit):
        pick = np.sort(rng.choice(len(X_fit), r["ft_samples"], replace=False))
        X_ft, y_ft = X_fit[pick], y_fit[pick]
    calib_data = X_fit[np.sort(rng.choice(len(X_fit), min(len(X_fit), r["calib_samples"]),
                                          replace=False))]
    for c in range(chips):
        chip_seed = seed + 1000 + c
        log(f"chip {c + 1}/{chips} (seed {chip_seed}):")

        def compiled(net):
            # compiled with calibration data, as the docs tell users to
            return compile_model(export(net), Chip(seed=chip_seed), input_shape=shape,
                                 calibration=calib_data)

        def calibrated(prog, row):
            report = calibrate(prog, X_fit, y_fit, in_bits=bits, out_bits=bits, head_bits=hb,
                               samples=r["calib_samples"], validation=(X_val, y_val),
                               seed=chip_seed)
            calib_reports.append({"chip": chip_seed, "row": row, "layers": report})
            return prog

        for net, raw, cal in ((plain, "chip", "chip_calibrated"),
                              (aware, "chip_noise_aware", "chip_noise_aware_calibrated")):
            prog = compiled(net)
            per[raw].append(on_chip(run_of(prog)))
            per[cal].append(on_chip(run_of(calibrated(prog, cal))))
        prog = calibrated(compiled(dist), "chip_distilled_calibrated")
        per["chip_distilled_calibrated"].append(on_chip(run_of(prog)))
        driver = SimulatedChip(prog, bits, bits, head_bits=hb)
        steps = progressive_finetune(driver, copy.deepcopy(dist), X_ft, y_ft,
                                     epochs=r["ft_epochs"], lr=r["ft_lr"],
                                     batch_size=r["batch_size"],
                                     calibration_samples=r["calib_samples"], X_val=X_val,
                                     y_val=y_val, seed=chip_seed, log=log, progress=progress)
        ft_steps.append(steps)
        per["chip_co_optimised"].append(on_chip(lambda d: driver.predict(X_te, seed=d)))
        log("  " + ", ".join(f"{k} {np.mean(v[-1]):.4f}" for k, v in per.items()))
    for k, v in per.items():
        acc[k] = summarize(v, len(y_te))
    levers = {name: paired_difference(per[a], per[b]) for name, (a, b) in LEVERS.items()}
    best = max(CHIP_ROWS, key=lambda k: acc[k]["mean"])
    q = acc["quantised"]
    lo, hi = acc[best]["ci95"]

    sweep = {"eta_train": list(r["eta_train"]), "eta_test": list(r["eta_test"]),
             "accuracy": [], "std": []}
    for eta_tr in r["eta_train"]:
        net = trained(float(eta_tr))
        row, srow = [], []
        for e in r["eta_test"]:
            acc_draws = [evaluate(net, X_te, y_te, eta=float(e) or None, seed=seed + d)
                         for d in range(r["sweep_draws"] if e else 1)]
            row.append(float(np.mean(acc_draws)))
            srow.append(float(np.std(acc_draws)))
        sweep["accuracy"].append(row)
        sweep["std"].append(srow)
        log(f"eta sweep: trained at {eta_tr:g}: " + ", ".join(f"{a:.3f}" for a in row))

    result = {
        "dataset": dataset, "network": r["model"], "recipe": r,
        "chip_seeds": [seed + 1000 + c for c in range(chips)],
        "train_images": len(X_fit), "validation_images": n_val, "test_images": len(X_te),
        "accuracy": acc, "levers": levers, "best_chip_row": best,
        "gap_points": 100 * (q - acc[best]["mean"]),
        "gap_ci95": [100 * (q - hi), 100 * (q - lo)],
        "worst_chip_gap_points": 100 * (q - acc[best]["min_chip"]),
        "gap_points_vs_noise_aware_software": 100 * (acc["quantised_noise_aware"] -
                                                     acc[best]["mean"]),
        "calibration_never_hurt": all(
            levers[k]["min_chip"] >= 0 for k in ("calibration, plain network",
                                                 "calibration, noise-aware network")),
        "calibration": calib_reports, "finetune_steps": ft_steps, "eta_sweep": sweep,
    }
    from ..analysis.plotting import classify_figures

    result["figures"] = classify_figures(result, out, ROWS)
    result["seconds"] = time.perf_counter() - t0
    return result
