"""Brian2 engine: a 784 x 256 RRAM spiking network against a plain Brian2 network of the same size.

Ours: a ``PoissonGroup`` of 784 inputs -> ``RRAMSynapses`` (spike inputs, every non-ideality of
the default device on: write-verify, relaxation, faults, variation and per-cell read noise in
every cycle) -> 256 ``NeuRRAMNeurons`` in ``lif`` mode. Baseline, in the same run: the same
Poisson inputs -> ``Synapses(on_pre='v_post += w')`` -> 256 standard LIF neurons
(``dv/dt = -v/tau``). Both run 1000 steps on the ``cython`` code-generation target (compiled once
before timing).

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
from snn_neurram.brian import NeuRRAMNeurons, RRAMSynapses

N_IN, N_OUT = 784, 256


def synapse_bytes(syn):
    """Bytes of every per-synapse array of a Synapses object, per synapse."""
    n = len(syn)
    total = 0
    for var in syn.variables.values():
        size = getattr(var, "size", None)
        if size == n and hasattr(var, "get_value"):
            total += var.get_value().nbytes
    return total / n


def build(kind, rates, weights, seed):
    b2.seed(seed)
    inp = b2.PoissonGroup(N_IN, rates=rates, name=f"inp_{kind}")
    if kind == "rram":
        cfg = NeuronConfig(threshold=0.05)
        dev = RRAMDevice()
        out = NeuRRAMNeurons(N_OUT, cfg, mode="lif", read_noise=dev.read_noise_sigma,
                             name="out_rram")
        syn = RRAMSynapses(inp, out, weights, device=dev, seed=seed, input="spikes",
                           name="syn_rram")
    else:
        out = b2.NeuronGroup(N_OUT, "dv/dt = -v / (10*ms) : volt", threshold="v > 10*mV",
                             reset="v = 0*mV", method="exact", name="out_plain")
        syn = b2.Synapses(inp, out, "w : volt", on_pre="v_post += w", name="syn_plain")
        syn.connect()
        syn.w = (weights.ravel() * 0.2) * b2.mV
    spikes = b2.SpikeMonitor(out, name=f"spk_{kind}")
    return b2.Network(inp, out, syn, spikes), syn, spikes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--target", default="cython", choices=["cython", "numpy"])
    parser.add_argument("--input-rate", type=float, default=0.05,
                        help="spike probability of an input per step (default 0.05)")
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = args.target
    b2.defaultclock.dt = 0.27 * b2.us                  # one NeuRRAM integration cycle
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((N_IN, N_OUT)) / np.sqrt(N_IN)
    rates = args.input_rate / b2.defaultclock.dt
    result = {"benchmark": "bench_brian", "target": args.target, "steps": args.steps,
              "size": [N_IN, N_OUT], "input_spike_probability": args.input_rate}
    timings = {}
    for kind in ("rram", "plain"):
        t0 = time.perf_counter()
        net, syn, spikes = build(kind, rates, weights, seed=1)
        net.run(b2.defaultclock.dt)                   # compiles the code objects
        t_build = time.perf_counter() - t0
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            net.run(args.steps * b2.defaultclock.dt)
            best = min(best, time.perf_counter() - t0)
        timings[kind] = best / args.steps
        result[kind] = {"seconds_per_step": best / args.steps, "build_seconds": t_build,
                        "bytes_per_synapse": synapse_bytes(syn), "synapses": len(syn),
                        "output_spikes": int(spikes.num_spikes)}
        print(f"{kind:6s} {1e6 * best / args.steps:8.1f} us/step, build {t_build:5.1f} s, "
              f"{result[kind]['bytes_per_synapse']:.0f} B/synapse, "
              f"{spikes.num_spikes} output spikes")
    result["ratio"] = timings["rram"] / timings["plain"]
    print(f"ratio (RRAM network / plain Brian2 network, time per step) = {result['ratio']:.2f}")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
