"""Forward-MVM throughput of one full NeuRRAM core against a plain float32 numpy matmul.

A full core: 128 differential input pairs (256 rows) x 256 columns, batch 1024, 4-bit inputs,
6-bit outputs, every non-ideality of the default device on (write-verify, relaxation, read noise,
device variation, faults) and read noise drawn fresh on every call. The baseline, measured in the
same run, is ``x @ W`` in float32 of the array's shape, (1024 x 256) @ (256 x 256); the MVM the
core computes is (1024 x 128) @ (128 x 256), also timed as a second reference.

    python benchmarks/bench_core.py --json results/bench_core.json

The JSON has ``ratio`` = (core MVMs per second) / (baseline matmuls per second).
"""

import argparse
import os
import platform
import time

import numpy as np

import snn_neurram as sn
from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance


def best_time(fn, repeats, inner):
    """Best wall time of ``inner`` calls, over ``repeats`` tries (s per call)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=20)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    n_in, n_out = sn.Core.MAX_INPUTS, sn.Core.N_COLS
    W = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
    core = sn.Core(seed=0)
    core.program(W)
    x = rng.uniform(-1, 1, (args.batch, n_in)).astype(np.float32)
    core.set_operating_point(x, in_bits=4, out_bits=6)

    x_arr = rng.standard_normal((args.batch, 2 * n_in)).astype(np.float32)
    w_arr = rng.standard_normal((2 * n_in, n_out)).astype(np.float32)
    w_log = W.astype(np.float32)

    # interleave the measurements so that drifting machine load hits all alike
    t_core, t_base, t_log = [], [], []
    for _ in range(3):
        t_core.append(best_time(lambda: core.forward(x, 4, 6), args.repeats, args.inner))
        t_base.append(best_time(lambda: x_arr @ w_arr, args.repeats, args.inner))
        t_log.append(best_time(lambda: x @ w_log, args.repeats, args.inner))
    t_core, t_base, t_log = min(t_core), min(t_base), min(t_log)
    result = {
        "benchmark": "bench_core",
        "ratio": t_base / t_core,
        "core_mvm_per_s": 1.0 / t_core,
        "baseline_matmul_per_s": 1.0 / t_base,
        "logical_matmul_per_s": 1.0 / t_log,
        "ratio_vs_logical_matmul": t_log / t_core,
        "core_seconds": t_core,
        "baseline_seconds": t_base,
        "logical_seconds": t_log,
        "core_samples_per_s": args.batch / t_core,
        "batch": args.batch,
        "array": [2 * n_in, n_out],
        "in_bits": 4,
        "out_bits": 6,
        "device": core.device.to_dict(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__},
    }
    print(f"core forward   {t_core * 1e3:8.3f} ms  ({args.batch / t_core:,.0f} samples/s)")
    print(f"float32 matmul {t_base * 1e3:8.3f} ms  ({args.batch}x{2 * n_in} @ {2 * n_in}x{n_out})")
    print(f"logical matmul {t_log * 1e3:8.3f} ms  ({args.batch}x{n_in} @ {n_in}x{n_out})")
    print(f"ratio (core / float32 matmul throughput) = {result['ratio']:.3f}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
