"""Accuracy and speed of the core's fast read-noise path against the per-device reference.

For each case one input is read many times through the same core, once with the fast path
(output noise of the first-order variance) and once with the reference (every cell read afresh in
every cycle); the script reports the ratio of the standard deviations per output, for the full
first-order formula and for its leading term alone, and the time per read of both paths.

    python benchmarks/bench_noise_model.py --json results/bench_noise_model.json

The JSON's ``ratio`` is (reference time per read) / (fast-path time per read): how many times
faster the fast path is, measured in this run.
"""

import argparse
import time

import numpy as np

from snn_neurram import Core, NeuronConfig, RRAMDevice
from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance

CASES = [
    ("forward, 2-bit signed inputs, random weights", "forward", 2, (-1, 1), "normal"),
    ("forward, 2-bit non-negative inputs, random weights", "forward", 2, (0, 1), "normal"),
    ("forward, 1-bit inputs >= 0.5 on positive weights", "forward", 1, (0.5, 1), "positive"),
    ("forward, 4-bit non-negative inputs on positive weights", "forward", 4, (0, 1), "positive"),
    ("backward, 2-bit signed inputs", "backward", 2, (-1, 1), "normal"),
    ("backward, 2-bit non-negative inputs", "backward", 2, (0, 1), "normal"),
    ("backward, 1-bit non-negative inputs", "backward", 1, (0, 1), "normal"),
]


def leading_order_sd(core, x, bits, direction):
    """Standard deviation from the leading term sigma^2 V_read^2 sum_c k_c^2 |x_c| H alone."""
    b = core.blocks[0]
    q = core._prepare_inputs(x[:1], bits, direction, 1.0, "zero", b)
    phase = core._phases(q, bits, b.neuron)[0]
    r, fr = phase.r, phase.fr
    H = core.line_arrays(b)["fwd_H" if direction == "forward" else "bwd_H"]
    if direction == "backward" and r.shape[1] != H.shape[0]:
        H = H[b.cols]                 # backward inputs drive the block's columns only
    nv = (core.device.read_noise_sigma * core.neuron.v_read) ** 2
    return np.sqrt((r @ H)[0] * nv * fr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--reads", type=int, default=6000)
    parser.add_argument("--sigma", type=float, default=0.05, help="relative read noise")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(7)
    device = RRAMDevice(read_noise_sigma=args.sigma, faults=False)
    rows, t_fast, t_ref, n_reads = [], 0.0, 0.0, 0
    for name, direction, bits, lim, weights in CASES:
        shape = (120, 6) if direction == "forward" else (6, 64)
        W = rng.standard_normal(shape)
        if weights == "positive":
            W = np.abs(W)
        # a wide integrator, so that no case saturates (saturation would clip the noise away)
        core = Core(device=device, neuron=NeuronConfig(v_swing=100.0), seed=2,
                    precision="double", percentile=100).program(W)
        n_in = shape[0] if direction == "forward" else shape[1]
        x = np.tile(rng.uniform(*lim, (1, n_in)), (args.reads, 1))
        t0 = time.perf_counter()
        fast = core.integrate(x, bits, direction=direction)[0]
        t1 = time.perf_counter()
        ref = core.integrate(x, bits, direction=direction, noise_model="device")[0]
        t2 = time.perf_counter()
        t_fast += t1 - t0
        t_ref += t2 - t1
        n_reads += args.reads
        sd_ref = ref.std(axis=0)
        full = fast.std(axis=0) / sd_ref
        lead = leading_order_sd(core, x, bits, direction) / sd_ref
        rows.append({"case": name, "full_over_reference": full.tolist(),
                     "leading_over_reference": lead.tolist(),
                     "full_range": [float(full.min()), float(full.max())],
                     "leading_range": [float(lead.min()), float(lead.max())]})
        print(f"{name:<58s} full {full.min():.3f}-{full.max():.3f}   "
              f"leading only {lead.min():.3f}-{lead.max():.3f}")
    result = {"benchmark": "bench_noise_model", "ratio": t_ref / t_fast,
              "fast_seconds_per_read": t_fast / n_reads,
              "reference_seconds_per_read": t_ref / n_reads,
              "reads_per_case": args.reads, "read_noise_sigma": args.sigma, "cases": rows}
    print(f"fast path {1e6 * result['fast_seconds_per_read']:.2f} µs/read, reference "
          f"{1e6 * result['reference_seconds_per_read']:.1f} µs/read: "
          f"{result['ratio']:.0f}x faster")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
