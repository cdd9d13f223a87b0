"""Every script in benchmarks/ still runs: each is run with its smallest settings (numbers not
checked: they are the benchmarks' job) and must write a JSON with a finite ``ratio``, the
provenance of the run and no scaled unit suffixes. A benchmark that reads the library's internals
breaks silently otherwise (bench_noise_model did once)."""

import json
import math
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The smallest settings of each script: seconds instead of minutes.
TINY = {
    "bench_brian": ["--steps", "5", "--target", "numpy"],
    "bench_brian_chip": ["--batch", "1", "--steps", "3", "--repeats", "1"],
    "bench_chip": ["--images", "100", "--chunk", "50"],
    "bench_core": ["--batch", "64", "--repeats", "2", "--inner", "2"],
    "bench_maxcut": ["--sweeps", "10", "--chains", "2"],
    "bench_noise_model": ["--reads", "200"],
    "bench_rbm": ["--chains", "20", "--sweeps", "2"],
    "bench_snn": ["--steps", "4", "--target", "numpy", "--images", "10"],
    "bench_snn_memory": ["--images", "100", "--baseline-images", "20", "--steps", "2"],
}
#: Scripts left out, with the reason.
LEFT_OUT = {"bench_sweep": "has no smaller setting (16 tasks on 1 and 2 workers); its pieces "
                           "are tested in tests/test_sweep.py"}
SCALED = re.compile(r"_(us|ms|ns|uj|nj|pj|mj|mb|kb|gb|uS)$")


def test_every_benchmark_is_listed():
    scripts = {f[:-3] for f in os.listdir(os.path.join(ROOT, "benchmarks"))
               if f.startswith("bench_") and f.endswith(".py")}
    assert scripts == set(TINY) | set(LEFT_OUT)


def _keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _keys(v)


@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_runs_and_writes_its_json(name, tmp_path):
    path = tmp_path / f"{name}.json"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", f"{name}.py"),
                          "--json", str(path), *TINY[name]], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(path.read_text())
    assert isinstance(result["ratio"], (int, float)) and math.isfinite(result["ratio"])
    prov = result["provenance"]
    assert prov["snn_neurram"] and prov["python"] and prov["date"]
    scaled = [k for k in _keys(result) if SCALED.search(k)]
    assert not scaled, f"keys with scaled units: {scaled}"
