"""MAX-CUT on the chip's Ising machine against a software simulated-annealing reference.

Ours: an 800-node G1-like random graph (19176 edges of weight 1, density 6 %), its Ising
couplings tiled over 27 cores (column segments of <= 256 columns, row segments of <= 128
pairs, partial fields added digitally) with every default non-ideality on, annealed by
chromatic Gibbs sweeps whose temperature is the injected neuron noise
(``snn_neurram.engines.ising.IsingMachine``). Baseline, in the same run: the numba
single-spin-flip Metropolis annealer (``snn_neurram.apps.maxcut.anneal``) at the same number of
sweeps, and as the reference for cut quality at 10x the sweeps. Also: exact optima (by
enumeration) of graphs of 12, 16 and 20 nodes and whether the chip reaches them.

    python benchmarks/bench_maxcut.py --json results/bench_maxcut.json

The JSON's ``ratio`` is (simulated chip sweeps per second) / (software annealer sweeps per
second), chain-sweeps on both sides; ``chip`` holds the cut quality against the reference, the
chip's own time and energy per sweep (energy model) and its time- and energy-to-target.
"""

import argparse

from snn_neurram._io import write_json
from snn_neurram.apps.maxcut import maxcut_benchmark
from snn_neurram.apps.provenance import provenance


def _fmt(value, unit):
    """A number with its unit, or "not reached" for a target no run reached (None)."""
    return "not reached" if value is None else f"{value:.3g} {unit}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--graph", metavar="GSET_FILE", help="a G-set file (default: G1-like)")
    parser.add_argument("--sweeps", type=int, default=300, help="chip sweeps (default 300)")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--method", default="chromatic",
                        choices=("sequential", "chromatic", "parallel"))
    parser.add_argument("--p-update", type=float, default=0.5,
                        help="parallel updates: probability a spin takes its new sample")
    parser.add_argument("--out-bits", type=int, default=8, help="ADC bits of partial fields")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    r = maxcut_benchmark(args.graph, chip_sweeps=args.sweeps, chains=args.chains,
                         method=args.method, p_update=args.p_update, out_bits=args.out_bits,
                         seed=args.seed)
    c, s, ref = r["chip"], r["software"], r["reference"]
    print(f"graph: {r['graph']['name']}")
    print(f"reference (software, {ref['sweeps']} sweeps): best cut {ref['best_cut']:.0f}")
    print(f"chip ({r['chip_sweeps']} sweeps, {c['cores']} cores, {r['method']}): best "
          f"{c['best_cut']:.0f} ({100 * c['best_fraction_of_reference']:.2f} %), mean "
          f"{c['mean_cut']:.1f} ({100 * c['mean_fraction_of_reference']:.2f} %)")
    print(f"software ({s['sweeps']} sweeps): best {s['best_cut']:.0f} "
          f"({100 * s['best_fraction_of_reference']:.2f} %), mean {s['mean_cut']:.1f} "
          f"({100 * s['mean_fraction_of_reference']:.2f} %)")
    print(f"simulation {c['simulated_sweeps_per_s']:.1f} sweeps/s, software annealer "
          f"{s['sweeps_per_s']:.0f} sweeps/s, ratio {r['ratio']:.2e}")
    print(f"chip time {c['chip_time_per_sweep_s'] * 1e6:.1f} µs and energy "
          f"{c['chip_energy_per_sweep_j'] * 1e9:.1f} nJ per sweep; to {r['target_fraction']:.3f}"
          f" x reference ({r['target_cut']:.0f}) at 99 %: chip "
          f"{_fmt(c['time_to_target_99_s'], 's')}, {_fmt(c['energy_to_solution_99_j'], 'J')}; "
          f"software {_fmt(s['time_to_target_99_s'], 's')}")
    for e in r["exact"]:
        print(f"  n={e['n']:2d} m={e['m']:3d}: optimum {e['optimum']:g}, chip best "
              f"{e['chip_best']:g} ({100 * e['chip_chains_at_optimum']:.0f} % of chains), "
              f"software {e['software_best']:g}")
    print(f"targets: best >= 99.5 %: {r['targets']['best_at_least_99.5_percent']}, "
          f"mean >= 99 %: {r['targets']['mean_at_least_99_percent']}")
    if args.json:
        write_json(args.json, {**r, "provenance": provenance()})
    return r


if __name__ == "__main__":
    main()
