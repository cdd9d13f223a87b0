"""Brian2 engine: an RRAM spiking network of six core-sized blocks against a plain Brian2 network
of the same shape.

Ours: a ``PoissonGroup`` of 768 inputs, cut into six slices of 128 (a core's row pairs: a line
holds at most 128), each slice -> ``RRAMSynapses`` (spike inputs, every non-ideality of the
default device on: write-verify, relaxation, faults, variation and per-cell read noise in every
cycle) -> its own 256 ``NeuRRAMNeurons`` in ``lif`` mode: six cores' worth, 196 608 synapses.
Baseline, in the same run: the same Poisson inputs and slices -> ``Synapses(on_pre='v_post +=
w')`` -> 6 x 256 standard LIF neurons (``dv/dt = -v/tau``). Both run 1000 steps on the
``cython`` code-generation target (compiled once before timing).

    python benchmarks/bench_brian.py --json results/bench_brian.json

The JSON's ``ratio`` is (our time per step) / (baseline time per step); lower is better.
"""

import argparse
import os
import time

import brian2 as b2
import numpy as np

from snn_neurram import NeuronConfig, RRAMDevice
from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance
from snn_neurram.brian import CYCLE_TIME, MAX_ROW_PAIRS, NeuRRAMNeurons, RRAMSynapses

BLOCKS, N_OUT = 6, 256
N_IN = BLOCKS * MAX_ROW_PAIRS


def synapse_bytes(syns):
    """Bytes of every per-synapse array of Synapses objects, per synapse."""
    n = sum(len(syn) for syn in syns)
    total = 0
    for syn in syns:
        for var in syn.variables.values():
            size = getattr(var, "size", None)
            if size == len(syn) and hasattr(var, "get_value"):
                total += var.get_value().nbytes
    return total / n


def build(kind, rates, weights, seed):
    b2.seed(seed)
    inp = b2.PoissonGroup(N_IN, rates=rates, name=f"inp_{kind}")
    objects, syns, monitors = [inp], [], []
    for k in range(BLOCKS):
        rows = inp[k * MAX_ROW_PAIRS:(k + 1) * MAX_ROW_PAIRS]
        W = weights[k * MAX_ROW_PAIRS:(k + 1) * MAX_ROW_PAIRS]
        if kind == "rram":
            out = NeuRRAMNeurons(N_OUT, NeuronConfig(threshold=0.05), mode="lif",
                                 name=f"out_rram{k}")
            syn = RRAMSynapses(rows, out, W, device=RRAMDevice(), seed=seed + k,
                               name=f"syn_rram{k}")
        else:
            out = b2.NeuronGroup(N_OUT, "dv/dt = -v / (10*ms) : volt", threshold="v > 10*mV",
                                 reset="v = 0*mV", method="exact", name=f"out_plain{k}")
            syn = b2.Synapses(rows, out, "w : volt", on_pre="v_post += w",
                              name=f"syn_plain{k}")
            syn.connect()
            syn.w = (W.ravel() * 0.2) * b2.mV
        spikes = b2.SpikeMonitor(out, name=f"spk_{kind}{k}")
        objects += [out, syn, spikes]
        syns.append(syn)
        monitors.append(spikes)
    return b2.Network(*objects), syns, monitors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--target", default="cython", choices=["cython", "numpy"])
    parser.add_argument("--input-rate", type=float, default=0.05,
                        help="spike probability of an input per step (default 0.05)")
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = args.target
    b2.defaultclock.dt = CYCLE_TIME                    # one NeuRRAM integration cycle
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((N_IN, N_OUT)) / np.sqrt(MAX_ROW_PAIRS)
    rates = args.input_rate / b2.defaultclock.dt
    result = {"benchmark": "bench_brian", "target": args.target, "steps": args.steps,
              "size": [N_IN, N_OUT * BLOCKS], "blocks": BLOCKS,
              "input_spike_probability": args.input_rate}
    timings = {}
    for kind in ("rram", "plain"):
        t0 = time.perf_counter()
        net, syns, monitors = build(kind, rates, weights, seed=1)
        net.run(b2.defaultclock.dt)                   # compiles the code objects
        t_build = time.perf_counter() - t0
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            net.run(args.steps * b2.defaultclock.dt)
            best = min(best, time.perf_counter() - t0)
        timings[kind] = best / args.steps
        spikes = sum(int(m.num_spikes) for m in monitors)
        result[kind] = {"seconds_per_step": best / args.steps, "build_seconds": t_build,
                        "bytes_per_synapse": synapse_bytes(syns),
                        "synapses": sum(len(syn) for syn in syns), "output_spikes": spikes}
        print(f"{kind:6s} {1e6 * best / args.steps:8.1f} µs/step, build {t_build:5.1f} s, "
              f"{result[kind]['bytes_per_synapse']:.0f} B/synapse, {spikes} output spikes")
    result["ratio"] = timings["rram"] / timings["plain"]
    print(f"ratio (RRAM network / plain Brian2 network, time per step) = {result['ratio']:.2f}")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
