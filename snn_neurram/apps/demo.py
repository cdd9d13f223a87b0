"""``snn-neurram demo``: the main job end to end on the embedded 8 x 8 digits.

Train a software classifier that fits one core (multinomial logistic regression, 64 inputs -> 10
classes, with bias), program it onto a simulated core with every non-ideality of the default
device, classify the held-out digits through the core, and compare with software.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_int
from ..hw.core import Core
from .datasets import load_digits_split
from ..physics.device import RRAMDevice
from ..physics.neuron import NeuronConfig
from ..analysis.plotting import core_demo_figure

if TYPE_CHECKING:
    from ..nn.layers import Sequential

__all__ = ["run_core_demo", "run_chip_demo", "train_digits_mlp"]


def run_core_demo(out_dir: str = "snn_neurram_demo", seed: int = 0, read_time: float = 86400.0,
                  in_bits: int = 4, out_bits: int = 8, device: RRAMDevice | None = None,
                  neuron: NeuronConfig | None = None) -> dict[str, Any]:
    """Run the single-core demo; returns a dict of results (and writes a figure to ``out_dir``).

    Parameters
    ----------
    out_dir : str
        Folder for the figure.
    seed : int
        Seeds the data split and the core.
    read_time : float
        Seconds between programming and inference (relaxation time).
    in_bits, out_bits : int
        Input magnitude bits and output bits of the core's MVM.
    device : RRAMDevice, optional
    neuron : NeuronConfig, optional
    """
    from sklearn.linear_model import LogisticRegression

    in_bits = check_int(in_bits, "in_bits", 1, 8)
    out_bits = check_int(out_bits, "out_bits", 1, 8)
    t0 = time.perf_counter()
    X_tr, X_te, y_tr, y_te = load_digits_split(seed=seed)
    clf = LogisticRegression(max_iter=5000, C=1.0).fit(X_tr, y_tr)
    W, b = clf.coef_.T, clf.intercept_
    sw_acc = float(clf.score(X_te, y_te))
    levels = 2 ** in_bits - 1
    q_te = np.clip(np.rint(X_te * levels), 0, levels) / levels
    q_acc = float(np.mean((q_te @ W + b).argmax(1) == y_te))

    core = Core(device=device or RRAMDevice(), neuron=neuron or NeuronConfig(), seed=seed,
                read_time=read_time)
    core.program(W, b)
    cfg = core.set_operating_point(X_tr, in_bits, out_bits)
    y_chip = np.asarray(core.forward(X_te, in_bits, out_bits), dtype=float)
    chip_acc = float(np.mean(y_chip.argmax(1) == y_te))
    ideal = X_te @ W + b
    err = y_chip - ideal
    stats = {
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "rmse_over_output_std": float(np.sqrt(np.mean(err ** 2)) / ideal.std()),
        "mean_error": float(err.mean()),
        "max_abs_error": float(np.abs(err).max()),
        "correlation": float(np.corrcoef(ideal.ravel(), y_chip.ravel())[0, 1]),
    }
    summary = core.summary()
    P, N = core.n_pairs, core.n_out
    used = (slice(0, 2 * P), slice(0, N))
    fig = core_demo_figure(core.G_programmed[used].ravel() * 1e6, core.G[used].ravel() * 1e6,
                           core.read_time, ideal, y_chip,
                           os.path.join(out_dir, "core_demo.png"))
    return {
        "dataset": {"name": "digits 8x8", "train": len(y_tr), "test": len(y_te)},
        "model": "logistic regression 64 -> 10 with bias",
        "accuracy": {"software": sw_acc, f"software_{in_bits}bit_inputs": q_acc, "core": chip_acc},
        "mvm_error": stats,
        "core": summary,
        "in_bits": in_bits,
        "out_bits": out_bits,
        "neuron": cfg.to_dict(),
        "device": core.device.to_dict(),
        "figure": fig,
        "seconds": time.perf_counter() - t0,
    }


def train_digits_mlp(X_tr: ArrayLike, y_tr: ArrayLike, hidden: int = 64,
                     seed: int = 0) -> Sequential:
    """Train the digits MLP (64 -> hidden ReLU -> 10) with scikit-learn; returns a Sequential."""
    from sklearn.neural_network import MLPClassifier

    from ..nn.layers import Dense, Sequential

    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", alpha=1e-3,
                        max_iter=600, random_state=seed).fit(X_tr, y_tr)
    return Sequential(Dense(clf.coefs_[0], clf.intercepts_[0], "relu", name="fc1"),
                      Dense(clf.coefs_[1], clf.intercepts_[1], "linear", name="fc2"),
                      name="digits_mlp")


def run_chip_demo(out_dir: str = "snn_neurram_demo", seed: int = 0, read_time: float = 86400.0,
                  in_bits: int = 4, out_bits: int = 4, device: RRAMDevice | None = None,
                  neuron: NeuronConfig | None = None) -> dict[str, Any]:
    """Compile the shipped noise-aware digits MLP onto a 48-core chip, calibrate it on training
    samples (model-driven calibration with per-column correction) and classify the held-out
    digits through it.

    Returns a dict of results; writes the core-grid picture to ``out_dir``.
    """
    from ..analysis.calibration import calibrate
    from ..hw.chip import Chip
    from ..program import compile as compile_model
    from .pretrained import load_digits_mlp_noise_aware, quantised_forward

    in_bits = check_int(in_bits, "in_bits", 1, 8)
    out_bits = check_int(out_bits, "out_bits", 1, 8)
    t0 = time.perf_counter()
    X_tr, X_te, y_tr, y_te = load_digits_split(seed=0)        # the split it was trained on
    model, meta = load_digits_mlp_noise_aware()
    bits = meta["recipe"]["bits"]
    sw_acc = float(np.mean(quantised_forward(model, X_te, bits, bits).argmax(1) == y_te))
    chip = Chip(device=device or RRAMDevice(), neuron=neuron or NeuronConfig(), seed=seed,
                read_time=read_time)
    program = compile_model(model, chip, calibration=X_tr)
    y_before = cast(np.ndarray, program.run(X_te, in_bits=in_bits, out_bits=out_bits, head_bits=8))
    uncalibrated = float(np.mean(y_before.argmax(1) == y_te))
    calibrate(program, X_tr, in_bits=in_bits, out_bits=out_bits, head_bits=8, seed=seed)
    y_chip = cast(np.ndarray, program.run(X_te, in_bits=in_bits, out_bits=out_bits, head_bits=8))
    chip_acc = float(np.mean(y_chip.argmax(1) == y_te))
    rep = program.report(figure=os.path.join(out_dir, "chip_map.png"))
    return {
        "model": (f"MLP 64 -> 64 (ReLU) -> 10, noise-aware trained (eta "
                  f"{meta['recipe']['eta']}, {bits}-bit inputs and activations)"),
        "accuracy": {f"software_{bits}bit": sw_acc, "chip_before_calibration": uncalibrated,
                     "chip": chip_acc},
        "cores_used": rep["cores_used"], "mappings": rep["mappings"],
        "in_bits": in_bits, "out_bits": out_bits, "head_bits": 8,
        "report": program.report_text(rep), "figure": rep["figure"],
        "seconds": time.perf_counter() - t0,
    }
