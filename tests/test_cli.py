"""The command line and the benchmark scripts run end to end."""

import json
import os
import subprocess
import sys

import snn_neurram as sn
from snn_neurram.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "fig"
    path = tmp_path / "demo.json"
    assert main(["demo", "--out", str(out), "--json", str(path)]) == 0
    text = capsys.readouterr().out
    assert "core" in text and "device settings" in text
    r = json.loads(path.read_text())
    acc = r["accuracy"]
    assert acc["software"] > 0.95
    # one day of relaxation costs a few points, not the classifier
    assert 0.88 < acc["core"] <= acc["software"] + 0.02
    assert r["core"]["in_band_fraction"] > 0.99
    assert os.path.exists(r["figure"])
    # the shipped noise-aware MLP, calibrated on the chip, stays within ~1 point of software
    chip = r["chip_demo"]["accuracy"]
    assert chip["chip"] > chip["software_4bit"] - 0.015
    # where and how: the command, the versions, the time
    prov = r["provenance"]
    assert prov["command"] == f"snn-neurram demo --out {out} --json {path}"
    assert prov["snn_neurram"] == sn.__version__ and prov["python"] and prov["date"]


def test_cli_reports_bad_input_without_traceback(capsys):
    assert main(["demo", "--in-bits", "0"]) == 2
    err = capsys.readouterr().err
    assert "in_bits must be an integer in [1, 8]" in err


def test_bench_core_writes_ratio(tmp_path):
    path = tmp_path / "b.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_core.py"),
                    "--json", str(path), "--batch", "64", "--repeats", "1", "--inner", "1"],
                   check=True, capture_output=True)
    r = json.loads(path.read_text())
    assert r["ratio"] > 0 and r["core_mvm_per_s"] > 0 and r["baseline_matmul_per_s"] > 0
