"""Speed-up of a sweep on a 2-worker Dask cluster against a 1-worker one, and the scheduler's
overhead per task.

The sweep: the shipped noise-aware digits MLP, 16 tasks (8 chips x 2 read times), each
programming a 48-core chip, calibrating it on the training split and classifying the 540 test
digits twice (two read-noise draws). Both clusters are local (processes, one thread each),
started and warmed up (every worker runs one task first, so numba's compilation is not timed)
before the timed sweep; the 1-worker cluster is the baseline, measured in the same run. The
overhead per task is the wall time of 16 trivial tasks (they return at once) on the 2-worker
cluster, divided by 16. Cluster start-up is reported apart.

    python benchmarks/bench_sweep.py --json results/bench_sweep.json

The JSON has ``ratio`` = (1-worker sweep time) / (2-worker sweep time).
"""

import argparse
import os
import tempfile
import time

from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance
from snn_neurram.apps.sweep import evaluate_point, load_inputs, run, task_points

SPEC = {"network": "digits_mlp", "dataset": "digits", "draws": 2, "calibrate": True,
        "grid": {"chip_seed": list(range(8)), "read_time": [3600.0, 86400.0]}}
WARM = {**SPEC, "test_images": 20, "grid": {"chip_seed": [999], "read_time": [1.0]}}


def trivial(point, inputs):
    """A task that does nothing: its wall time is the scheduler's and the transfer's."""
    return {}


def warm_up():
    """Compile numba's kernels in this worker (one tiny task)."""
    p = task_points(WARM)[0]
    evaluate_point(p, load_inputs(WARM))
    return os.getpid()


def timed_sweep(client, inputs, folder, evaluate=evaluate_point, spec=SPEC):
    t0 = time.perf_counter()
    df = run(spec, client=client, out=folder, progress=False, evaluate=evaluate, inputs=inputs)
    seconds = time.perf_counter() - t0
    assert len(df) == len(task_points(spec)) and df["key"].is_unique
    return seconds, df


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    inputs = load_inputs(SPEC)
    times, startup, tables = {}, {}, {}
    overhead = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            t0 = time.perf_counter()
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster, Client(cluster) as client:
                startup[n] = time.perf_counter() - t0
                client.run(warm_up)
                times[n], tables[n] = timed_sweep(client, inputs, os.path.join(tmp, f"w{n}"))
                print(f"{n} worker(s): 16 tasks in {times[n]:.2f} s "
                      f"(cluster start {startup[n]:.2f} s)")
                if n == 2:
                    t, _ = timed_sweep(client, inputs, os.path.join(tmp, "trivial"),
                                       evaluate=trivial)
                    overhead = t / 16
                    print(f"16 trivial tasks: {t:.3f} s, {1e3 * overhead:.1f} ms per task")
    cols = ["key", "accuracy", "energy_j", "latency_s"]
    identical = bool(tables[1][cols].equals(tables[2][cols]))
    ratio = times[1] / times[2]
    print(f"speed-up on 2 workers: ratio = {ratio:.3f}; tables identical: {identical}")
    result = {
        "benchmark": "bench_sweep", "ratio": ratio,
        "tasks": 16, "seconds_1_worker": times[1], "seconds_2_workers": times[2],
        "seconds_per_task_1_worker": times[1] / 16,
        "cluster_startup_s": {"1_worker": startup[1], "2_workers": startup[2]},
        "overhead_per_trivial_task_s": overhead,
        "tables_identical": identical,
        "mean_accuracy": float(tables[2]["accuracy"].mean()),
        "spec": SPEC,
    }
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
