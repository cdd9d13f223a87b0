"""Train the native spiking digits network with surrogate gradients (needs the `train` extra).

    python models/train_digits_snn.py                     # the recipe below, 16 steps
    python models/train_digits_snn.py --steps 32 --out digits_snn_32.npz

A 64 -> 128 -> 10 network of LIF neurons (beta 0.9, threshold 1, reset by subtraction; the
output layer read by its membrane) on the 8 x 8 digits (pixels scaled to [0, 1], rate-coded),
trained with the chip's weight range, conductance spread and integrator saturation in the
forward pass (snn_neurram.training.snn). Saves the exported model (SpikingDense layers, what
snn_neurram.compile takes) to an .npz file that `load_model` reads back, and prints the float
test accuracy.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from typing import Any

import numpy as np

from snn_neurram._io import atomic_write_bytes
from snn_neurram.apps.datasets import load_digits_split
from snn_neurram.nn.layers import Sequential, layer_from_dict

#: Recipe of the digits SNN.
RECIPE: dict[str, Any] = dict(sizes=[64, 128, 10], beta=0.9, threshold=1.0, reset="subtract",
                              readout="membrane", weight_clip=95.0, steps=16, coding="rate",
                              noise="device", epochs=30, lr=5e-3, batch_size=64, seed=0)


def save_model(model: Sequential, path: str, meta: dict[str, Any] | None = None) -> None:
    """Save any Sequential (``to_dict`` form, arrays stored as npz entries) and a metadata dict,
    atomically."""
    arrays: dict[str, Any] = {}

    def strip(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = obj
            return {"__array__": key}
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [strip(v) for v in obj]
        return obj

    header = {"model": strip(model.to_dict()), "meta": meta or {}}
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_model(path: str) -> tuple[Sequential, dict[str, Any]]:
    """(model, metadata) saved by :func:`save_model`."""
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(f["header"].tobytes().decode())

        def fill(obj: Any) -> Any:
            if isinstance(obj, dict):
                if set(obj) == {"__array__"}:
                    return np.array(f[obj["__array__"]])
                return {k: fill(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [fill(v) for v in obj]
            return obj

        model = layer_from_dict(fill(header["model"]))
    return model, header["meta"]


def train_digits_snn(out: str = "digits_snn.npz", *, steps: int | None = None,
                     epochs: int | None = None, coding: str | None = None,
                     threads: int | None = 1, log: Any = print) -> Sequential:
    """Train with :data:`RECIPE` (overridden by the arguments given), save, and return the
    exported model."""
    import torch

    from snn_neurram.training import SpikingNet, evaluate_snn, export_snn, train_snn

    r = dict(RECIPE)
    r.update({k: v for k, v in dict(steps=steps, epochs=epochs, coding=coding).items()
              if v is not None})
    X_tr, X_te, y_tr, y_te = load_digits_split(seed=0)
    net = SpikingNet.mlp(r["sizes"], beta=r["beta"], threshold=r["threshold"],
                         reset=r["reset"], readout=r["readout"], weight_clip=r["weight_clip"],
                         seed=r["seed"])
    t0 = time.perf_counter()
    history = train_snn(net, X_tr, y_tr, steps=r["steps"], coding=r["coding"],
                        epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
                        noise=r["noise"], seed=r["seed"], threads=threads)
    seconds = time.perf_counter() - t0
    acc = evaluate_snn(net, X_te, y_te, steps=r["steps"], coding=r["coding"], seed=r["seed"],
                       threads=threads)
    noisy = evaluate_snn(net, X_te, y_te, steps=r["steps"], coding=r["coding"], seed=r["seed"],
                         noise="device", draws=5, threads=threads)
    model = export_snn(net)
    save_model(model, out, {"recipe": r, "test_accuracy": acc,
                            "test_accuracy_device_noise": noisy, "train_seconds": seconds,
                            "final_loss": history["loss"][-1],
                            "made_by": "python models/train_digits_snn.py"})
    if log:
        log(f"steps {r['steps']}, {r['coding']} code, {r['epochs']} epochs: trained in "
            f"{seconds:.1f} s ({threads or torch.get_num_threads()} thread(s)); float test "
            f"accuracy "
            f"{acc:.4f} (with the device's weight spread, 5 draws: {noisy:.4f}); saved {out}")
    return model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="digits_snn.npz", help="output .npz file")
    p.add_argument("--steps", type=int, help=f"time steps (default {RECIPE['steps']})")
    p.add_argument("--epochs", type=int, help=f"epochs (default {RECIPE['epochs']})")
    p.add_argument("--coding", choices=("rate", "regular"),
                   help=f"input code (default {RECIPE['coding']})")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch threads (default 1; 0 leaves PyTorch's setting)")
    a = p.parse_args(argv)
    train_digits_snn(a.out, steps=a.steps, epochs=a.epochs, coding=a.coding,
                     threads=a.threads or None)


if __name__ == "__main__":
    main()
