"""Spiking inference throughput of the digits MLP: the batch engine against the Brian2 engine.

The digits MLP (64 -> 64 -> 10, trained with scikit-learn) is compiled onto a chip with every
default non-ideality on and run as a rate-coded spiking network for T = 64 steps on the held-out
digits, once on the time-stepped batch engine (``program.run(mode="snn")``) and once as Brian2
objects (``snn_neurram.brian.snn_builder.run_snn_brian``, one copy of the network per image in a
single run, ``cython`` target, compiled before timing), in the same run.

    python benchmarks/bench_snn.py --json results/bench_snn.json

The JSON's ``ratio`` is (batch-engine images/s) / (Brian2-engine images/s).
"""

import argparse
import time

import brian2 as b2
import numpy as np

import snn_neurram as sn
from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance
from snn_neurram.brian.snn_builder import run_snn_brian
from snn_neurram.datasets import load_digits_split
from snn_neurram.demo import train_digits_mlp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--target", default="cython", choices=["cython", "numpy"])
    parser.add_argument("--images", type=int, default=540)
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = args.target
    b2.defaultclock.dt = 0.27 * b2.us
    X_tr, X_te, y_tr, y_te = load_digits_split(seed=0)
    X_te, y_te = X_te[:args.images], y_te[:args.images]
    program = sn.compile(train_digits_mlp(X_tr, y_tr), sn.Chip(seed=0), calibration=X_tr)
    program.run(X_te[:8], mode="snn", steps=4)
    t0 = time.perf_counter()
    run_snn_brian(program, X_te[:4], "rate", 4)               # compile the code objects
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = program.run(X_te, mode="snn", coding="rate", steps=args.steps, seed=1)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    brian = run_snn_brian(program, X_te, "rate", args.steps, seed=1)
    t_brian = time.perf_counter() - t0
    result = {"benchmark": "bench_snn", "ratio": t_brian / t_batch,
              "batch_images_per_s": len(X_te) / t_batch,
              "brian2_images_per_s": len(X_te) / t_brian,
              "batch_seconds": t_batch, "brian2_seconds": t_brian,
              "brian2_compile_seconds": t_build, "images": len(X_te), "steps": args.steps,
              "target": args.target,
              "batch_accuracy": float(np.mean(batch.predictions == y_te)),
              "brian2_accuracy": float(np.mean(brian.predictions == y_te))}
    print(f"batch engine  {result['batch_images_per_s']:10.0f} images/s "
          f"(accuracy {100 * result['batch_accuracy']:.2f} %)")
    print(f"Brian2 engine {result['brian2_images_per_s']:10.0f} images/s "
          f"(accuracy {100 * result['brian2_accuracy']:.2f} %, {args.target})")
    print(f"ratio (batch / Brian2 images per second) = {result['ratio']:.1f}")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
