"""Networks trained by the project's own recipes and shipped with the package, so that the demo
runs without PyTorch. ``models/train_digits_noise_aware.py`` re-creates the file.

``digits_mlp_noise_aware``: the digits MLP (64 -> 64 ReLU -> 10), trained noise-aware with
:mod:`snn_neurram.training` on the 8 x 8 digits' training split (``load_digits_split(seed=0)``):
4-bit inputs and activations with trained clips, weight noise eta = 0.15 of max|W| every forward
pass, weights limited to the 95th percentile of |W| as the chip's mapping limits them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._io import atomic_write_bytes
from ..nn.layers import Dense, Sequential

__all__ = ["load_digits_mlp_noise_aware", "train_digits_mlp_noise_aware", "save_dense_model",
           "load_dense_model", "quantised_forward", "DIGITS_RECIPE"]

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
DIGITS_FILE = os.path.join(DATA, "digits_mlp_noise_aware.npz")
#: Recipe of the shipped digits network.
DIGITS_RECIPE: dict[str, Any] = dict(hidden=64, bits=4, eta=0.15, weight_clip=95.0, epochs=60,
                                     lr=3e-3, batch_size=64, seed=0)


def save_dense_model(model: Sequential, path: str | os.PathLike[str],
                     meta: dict[str, Any] | None = None) -> None:
    """Save a Sequential of Dense layers (weights, biases, activations, clips, input ranges) and
    a metadata dict to an .npz file, atomically."""
    import io

    arrays: dict[str, Any] = {}
    layers: list[dict[str, Any]] = []
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, Dense):
            raise ValueError(f"save_dense_model saves Dense layers only (layer {i} is "
                             f"{type(layer).__name__})")
        arrays[f"W{i}"] = layer.W
        if layer.b is not None:
            arrays[f"b{i}"] = layer.b
        layers.append({"name": layer.name, "activation": layer.activation, "clip": layer.clip,
                       "x_max": layer.x_max, "bias": layer.b is not None})
    header = {"name": model.name, "layers": layers, "meta": meta or {}}
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_dense_model(path: str | os.PathLike[str]) -> tuple[Sequential, dict[str, Any]]:
    """(Sequential, metadata dict) saved by :func:`save_dense_model`."""
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(f["header"].tobytes().decode())
        layers = [Dense(f[f"W{i}"], f[f"b{i}"] if d["bias"] else None, d["activation"],
                        d["clip"], d["name"], d["x_max"]) for i, d in enumerate(header["layers"])]
    return Sequential(*layers, name=header["name"]), header["meta"]


def load_digits_mlp_noise_aware() -> tuple[Sequential, dict[str, Any]]:
    """The shipped noise-aware digits MLP: (Sequential, metadata with its recipe and accuracy)."""
    return load_dense_model(DIGITS_FILE)


def quantised_forward(model: Sequential, x: ArrayLike, in_bits: int, act_bits: int) -> np.ndarray:
    """The software reference of a network trained with quantised activations, in numpy: every
    weighted layer's input quantised to ``in_bits`` (first layer) or ``act_bits`` bits over
    [0, x_max], clipped ReLUs as trained; the last layer's outputs unquantised."""
    y = np.asarray(x, dtype=float)
    for k, layer in enumerate(model.layers):
        L = 2 ** (in_bits if k == 0 else act_bits) - 1
        if layer.x_max is not None:
            y = np.clip(np.floor(y / layer.x_max * L + 0.5), 0, L) * (layer.x_max / L)
        y = layer.forward_float(y)
    return y


def train_digits_mlp_noise_aware(path: str = DIGITS_FILE,
                                 log: Callable[[str], Any] | None = print) -> Sequential:
    """Train the digits network with :data:`DIGITS_RECIPE` (needs PyTorch) and save it."""
    from .datasets import load_digits_split
    from .models import digits_mlp
    from ..training import QuantNet, evaluate, export, train

    r = DIGITS_RECIPE
    X_tr, X_te, y_tr, y_te = load_digits_split(seed=0)
    net = QuantNet.from_model(digits_mlp(seed=r["seed"], hidden=r["hidden"]), in_bits=r["bits"],
                              act_bits=r["bits"], eta=r["eta"], noise="relative",
                              weight_clip=r["weight_clip"], seed=r["seed"])
    train(net, X_tr.astype(np.float32), y_tr, epochs=r["epochs"], lr=r["lr"],
          batch_size=r["batch_size"], progress=False, seed=r["seed"])
    acc = evaluate(net, X_te.astype(np.float32), y_te)
    model = export(net)
    save_dense_model(model, path, {"recipe": r, "test_accuracy": acc,
                                   "made_by": "python models/train_digits_noise_aware.py"})
    if log:
        log(f"saved {path}: quantised software test accuracy {acc:.4f}")
    return model
