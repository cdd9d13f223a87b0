"""Gibbs sweeps of the paper's 794 x 120 RBM on the chip simulation against scikit-learn.

Ours: an RBM of 784 + 10 visible units (pixels and labels) and 120 hidden units, mapped onto the
chip (visible units on row pairs over 7 cores, hidden units on columns, noise lines for the
stochastic neurons) with every default non-ideality on, sampled by ``ChipRBM.mean_field``:
forward MVMs for the hidden units, backward MVMs for the 3-bit visible readout. Baseline, in the
same run: ``sklearn.neural_network.BernoulliRBM.gibbs`` with the same sizes and weights. Both
advance 1000 chains.

    python benchmarks/bench_rbm.py --json results/bench_rbm.json

The JSON's ``ratio`` is (our sweeps per second) / (scikit-learn's sweeps per second).
"""

import argparse
import time

import numpy as np
from sklearn.neural_network import BernoulliRBM

import snn_neurram as sn
from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance
from snn_neurram.rbm import RBM


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--sweeps", type=int, default=20)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    n_v, n_h = 794, 120
    rbm = RBM(n_components=n_h, n_labels=10, random_state=0)    # weights set by hand
    rbm.components_ = np.clip(rng.normal(0, 0.3, (n_v, n_h)), -1, 1).T.copy()
    rbm.intercept_visible_ = rng.normal(-1, 0.5, n_v)
    rbm.intercept_hidden_ = rng.normal(0, 0.5, n_h)
    rbm.n_features_in_ = n_v - 10
    chip_rbm = rbm.program(sn.Chip(seed=0))
    sk = BernoulliRBM(n_components=n_h, random_state=0)
    sk.components_ = rbm.components_.copy()
    sk.intercept_hidden_ = rbm.intercept_hidden_.copy()
    sk.intercept_visible_ = rbm.intercept_visible_.copy()
    sk.random_state_ = np.random.RandomState(0)
    v = (rng.random((args.chains, n_v)) < 0.3).astype(float)
    chip_rbm.calibrate(v)                                         # fix the operating points
    chip_rbm.mean_field(v, 1)                                     # compile kernels
    sk.gibbs(v)
    t_chip, t_sk = np.inf, np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        chip_rbm.mean_field(v, args.sweeps)
        t_chip = min(t_chip, (time.perf_counter() - t0) / args.sweeps)
        t0 = time.perf_counter()
        x = v
        for _ in range(args.sweeps):
            x = sk.gibbs(x)
        t_sk = min(t_sk, (time.perf_counter() - t0) / args.sweeps)
    result = {"benchmark": "bench_rbm", "ratio": t_sk / t_chip,
              "chip_sweeps_per_s": 1 / t_chip, "sklearn_sweeps_per_s": 1 / t_sk,
              "chains": args.chains, "visible": n_v, "hidden": n_h,
              "cores": len(chip_rbm.segments)}
    print(f"chip simulation {1 / t_chip:8.1f} sweeps/s of {args.chains} chains "
          f"({len(chip_rbm.segments)} cores)")
    print(f"scikit-learn    {1 / t_sk:8.1f} sweeps/s")
    print(f"ratio (chip / scikit-learn) = {result['ratio']:.2f}")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
