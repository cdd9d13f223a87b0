"""The Brian2 engine on a spiking network that fills the chip, against a plain Brian2 network.

Ours: a native spiking MLP 1024 -> 512 -> 1024 -> 512 (``SpikingDense`` layers, LIF neurons,
beta 0.9, no bias) compiled onto all 48 cores of a chip with every default non-ideality on
(write-verify, relaxation, faults, variation, per-cell read noise in every cycle), and again
with read noise off (``ours_read_noise_off``). Its layers tile onto 48 blocks of 128 row pairs x 256 columns, each layer
over several row segments (digital membranes adding 8-bit partial sums), and
``snn_neurram.engines.brian.build_snn_brian`` builds it as Brian2 objects for a batch of
``--batch`` inputs (one copy of the network per input: 3.1 M synapses for 2 inputs), driven by
spike trains (``coding="spikes"``, spike probability ``--input-rate`` per input and step).
Baseline, in the same script: a plain Brian2 network of the same size -- NeuronGroups of LIF
neurons (``dv/dt = -v / tau``, the same decay per step, threshold 1, reset by subtraction), one ``Synapses(on_pre="v_post += w")`` per
layer with one weight per synapse and the same connectivity, the same input spikes.

Each network is built and run in a forked child process: its memory is the growth of the
child's resident set (``/proc/self/statm``) from before building to after the first step (the
compiled program's own arrays are made in the parent first), divided by the Brian2 synapses;
build time runs from the first Brian2 object to the end of the first step (code generation
included); time per step is the best of ``--repeats`` runs of ``--steps`` steps.

    python benchmarks/bench_brian_chip.py --json results/bench_brian_chip.json

The JSON's ``ratio`` is (our time per step) / (plain Brian2's time per step): lower is better.
"""

import argparse
import gc
import os
import resource
import sys
import time

import brian2 as b2
import numpy as np

import snn_neurram as sn
from snn_neurram._io import write_json
from snn_neurram.apps.measure import in_child
from snn_neurram.apps.provenance import provenance
from snn_neurram.engines.brian import build_snn_brian
from snn_neurram.nn.layers import Sequential
from snn_neurram.nn.spiking import LIF, SpikingDense

SIZES = (1024, 512, 1024, 512)
BETA = 0.9


def _rss():
    """Resident set of this process (bytes)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def array_bytes(synapses):
    """Bytes of the per-synapse arrays of Brian2 ``Synapses`` objects (indices, weights or
    conductances, synapse counts; not the spike queue), per synapse."""
    total = n = 0
    for syn in synapses:
        n += len(syn)
        seen = set()
        for var in syn.variables.values():          # "i" and "j" refer to the index arrays
            if (id(var) not in seen and getattr(var, "size", None) == len(syn)
                    and hasattr(var, "get_value")):
                seen.add(id(var))
                total += var.get_value().nbytes
    return total / n


def _model(seed):
    rng = np.random.default_rng(seed)
    return Sequential(*[SpikingDense(rng.standard_normal((a, b)) * 0.08, None, LIF(1.0, BETA))
                        for a, b in zip(SIZES[:-1], SIZES[1:])])


def _ours(program, x, steps, repeats):
    rss0, peak0 = _rss(), _peak()
    t0 = time.perf_counter()
    circuit = build_snn_brian(program, x, "spikes", readout="count")
    circuit.run(1)
    build = time.perf_counter() - t0
    gc.collect()
    grown = _rss() - rss0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        circuit.run(steps)
        best = min(best, time.perf_counter() - t0)
    return {"synapses": circuit.n_synapses, "synapse_objects": len(circuit.synapses),
            "neurons": int(sum(len(g) for g in circuit.groups)),
            "build_seconds": build, "seconds_per_step": best / steps,
            "rss_growth_bytes": grown, "bytes_per_synapse": grown / circuit.n_synapses,
            "array_bytes_per_synapse": array_bytes(circuit.synapses),
            "peak_rss_growth_bytes": _peak() - peak0,
            "spikes": [int(m.num_spikes) for m in circuit.monitors]}


def _plain(model, x, steps, repeats):
    """The plain Brian2 network: same sizes, connectivity and input spikes."""
    batch, n_steps, n_in = x.shape
    rss0, peak0 = _rss(), _peak()
    t0 = time.perf_counter()
    dt = b2.defaultclock.dt
    tau = -dt / np.log(BETA)                 # the same decay per step as our neurons
    t_idx, c_idx, i_idx = np.nonzero(np.moveaxis(x, 1, 0))
    src = b2.SpikeGeneratorGroup(batch * n_in, c_idx * n_in + i_idx, t_idx * dt, name="pl_in")
    objects, monitors, syns = [src], [], []
    for k, layer in enumerate(model.layers):
        n_a, n_b = layer.W.shape
        group = b2.NeuronGroup(batch * n_b, "dv/dt = -v / tau : 1", threshold="v >= 1",
                               reset="v -= 1", method="exact", name=f"pl_layer{k}",
                               namespace={"tau": tau})
        syn = b2.Synapses(src, group, "w : 1 (constant)", on_pre="v_post += w",
                          delay=0 * b2.second, name=f"pl_syn{k}")
        copies = np.arange(batch)[:, None, None]
        pre = copies * n_a + np.arange(n_a)[None, :, None] + np.zeros((1, 1, n_b), np.int32)
        post = copies * n_b + np.arange(n_b)[None, None, :] + np.zeros((1, n_a, 1), np.int32)
        syn.connect(i=pre.ravel().astype(np.int32), j=post.ravel().astype(np.int32))
        del pre, post
        syn.variables["w"].set_value(np.tile(layer.W.ravel(), batch))
        mon = b2.SpikeMonitor(group, name=f"pl_spikes{k}")
        objects += [group, syn, mon]
        monitors.append(mon)
        syns.append(syn)
        src = group
    net = b2.Network(*objects)
    net.run(dt)
    build = time.perf_counter() - t0
    gc.collect()
    grown = _rss() - rss0
    n_syn = int(sum(len(s) for s in syns))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.run(steps * dt)
        best = min(best, time.perf_counter() - t0)
    return {"synapses": n_syn, "synapse_objects": len(syns),
            "neurons": int(sum(len(o) for o in objects if isinstance(o, b2.NeuronGroup))),
            "build_seconds": build, "seconds_per_step": best / steps,
            "rss_growth_bytes": grown, "bytes_per_synapse": grown / n_syn,
            "array_bytes_per_synapse": array_bytes(syns),
            "peak_rss_growth_bytes": _peak() - peak0,
            "spikes": [int(m.num_spikes) for m in monitors]}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="steps timed per run")
    parser.add_argument("--repeats", type=int, default=4, help="timed runs (the best counts)")
    parser.add_argument("--input-rate", type=float, default=0.1,
                        help="spike probability of an input per step (default 0.1)")
    parser.add_argument("--target", default="numpy", choices=["numpy", "cython"])
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = args.target
    b2.defaultclock.dt = 0.27 * b2.us                  # one NeuRRAM integration cycle
    rng = np.random.default_rng(0)
    model = _model(0)
    calib = rng.random((8, 16, SIZES[0])) < args.input_rate
    x = (rng.random((args.batch, args.repeats * args.steps + 8, SIZES[0]))
         < args.input_rate).astype(np.int8)
    result = {"benchmark": "bench_brian_chip", "target": args.target, "batch": args.batch,
              "steps_timed": args.steps, "repeats": args.repeats,
              "input_spike_probability": args.input_rate, "layers": list(SIZES),
              "network_synapses": int(sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:])))}
    programs = {}
    for key, device in (("ours", sn.RRAMDevice()),
                        ("ours_read_noise_off", sn.RRAMDevice(read_noise=False))):
        t0 = time.perf_counter()
        program = sn.compile(model, sn.Chip(n_cores=48, device=device, seed=0),
                             calibration=calib)
        result["compile_seconds"] = time.perf_counter() - t0
        # the program's own derived arrays (operating points, line arrays) exist before
        # measuring
        program.run(x[:1, :1], mode="snn", coding="spikes")
        programs[key] = program
    result["segments"] = [(p.name, p.n_rseg, p.n_cseg) for p in program.plan.plans]
    result["cores_used"] = len({pl.core for p in program.plan.plans for b in p.blocks
                                for pl in b.placements})
    # every measurement forks from this same parent state
    runs = {key: in_child(_ours, prog, x, args.steps, args.repeats)
            for key, prog in programs.items()}
    runs["plain"] = in_child(_plain, model, x, args.steps, args.repeats)
    plain_step = runs["plain"]["seconds_per_step"]
    result.update(runs)
    result.update({
        "ratio": runs["ours"]["seconds_per_step"] / plain_step,
        "ratio_read_noise_off": runs["ours_read_noise_off"]["seconds_per_step"] / plain_step,
        "ratio_means": ("our time per step (every non-ideality on, read noise included) / "
                        "plain Brian2 time per step; lower is better"),
        "bytes_per_synapse_means": ("growth of the resident set from building the network and "
                                    "running its first step, per Brian2 synapse (all copies "
                                    "of the batch)"),
        "provenance": provenance([sys.argv[0], *argv])})
    for name, r in runs.items():
        print(f"{name:20s} {r['synapses']:8d} synapses ({r['synapse_objects']} objects), "
              f"{r['bytes_per_synapse']:5.1f} B/synapse ({r['array_bytes_per_synapse']:.0f} in "
              f"synapse arrays; peak +{r['peak_rss_growth_bytes'] / 2**20:.0f} MB), build "
              f"{r['build_seconds']:4.1f} s, {1e3 * r['seconds_per_step']:6.2f} ms/step, "
              f"spikes {r['spikes']}")
    print(f"ratio (ours / plain Brian2, time per step) = {result['ratio']:.2f}; read noise off "
          f"{result['ratio_read_noise_off']:.2f} ({args.target}, {result['cores_used']} cores)")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
