"""Spiking inference: encoders, conversion, batch engine against Brian2, accuracy."""

import json

import numpy as np
import pytest
from optional import need

import snn_neurram as sn
from snn_neurram import encoding
from snn_neurram.datasets import load_digits_split
from snn_neurram.demo import train_digits_mlp
from snn_neurram.layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Sequential


def test_encoders(rng):
    x = np.array([[0.0, 0.25, 0.5, 1.0, -0.5]])
    T = 4000
    p = encoding.poisson(x, T, np.random.default_rng(1))
    assert p.shape == (T, 1, 5) and p.dtype == np.int8
    assert np.allclose(np.abs(p).mean(axis=0)[0], [0, 0.25, 0.5, 1.0, 0.5], atol=0.03)
    assert np.all(p[:, 0, 4] <= 0)                                    # negative pulses
    assert np.array_equal(p, encoding.poisson(x, T, np.random.default_rng(1)))
    r = encoding.regular(x, 16)
    assert list(np.abs(r).sum(axis=0)[0]) == [0, 4, 8, 16, 8]
    lat = encoding.latency(x, 11)
    assert np.abs(lat).sum(axis=0).max() == 1
    assert [int(np.argmax(np.abs(lat[:, 0, k]))) for k in (1, 2, 3)] == [8, 5, 0]
    assert np.abs(lat[:, 0, 0]).sum() == 0
    bs = encoding.bit_serial(np.array([[5 / 7, -3 / 7]]), 3)          # codes 5, -3
    assert bs.shape == (7, 1, 2)
    assert list(bs[:, 0, 0]) == [1, 0, 0, 1, 1, 1, 1]                # bits 1,0,1 -> 1+0+4
    assert bs[:, 0, 1].sum() == -3
    with pytest.raises(ValueError, match="steps must be an integer"):
        encoding.regular(x, 0)


@pytest.fixture(scope="module")
def digits_program():
    X_tr, X_te, y_tr, y_te = load_digits_split(seed=0)
    model = train_digits_mlp(X_tr, y_tr, seed=0)
    return sn.compile(model, sn.Chip(seed=0), calibration=X_tr), X_te, y_te


def test_rate_snn_accuracy_rises_with_steps_and_reaches_ann(digits_program):
    program, X, y = digits_program
    ann = np.mean(program.run(X, in_bits=4, out_bits=4).argmax(1) == y)
    acc = {T: np.mean(program.run(X, mode="snn", coding="rate", steps=T).predictions == y)
           for T in (4, 16, 128)}
    assert acc[4] < acc[16] <= acc[128] + 0.005
    assert acc[128] >= ann - 0.01


def test_latency_coding_spikes_at_most_once(digits_program):
    program, X, y = digits_program
    r = program.run(X, mode="snn", coding="latency", steps=32)
    assert r.spike_counts[0].max() <= 1                  # every input neuron
    assert r.spike_counts[1].max() <= 1                  # every hidden neuron
    assert np.mean(r.predictions == y) > 0.9
    rate = program.run(X, mode="snn", coding="rate", steps=32)
    assert r.spikes_per_inference < rate.spikes_per_inference / 10


def test_snn_result_accounting(digits_program):
    program, X, _ = digits_program
    r = program.run(X[:20], mode="snn", coding="regular", steps=10, readout="count",
                    record_raster=True)
    assert r.readout.shape == (20, 12, 10) and r.steps_run == 12
    assert [c.shape for c in r.spike_counts] == [(20, 64), (20, 64), (20, 10)]
    assert r.spikes_per_inference == pytest.approx(sum(c.sum() for c in r.spike_counts) / 20)
    assert r.raster[1].shape == (12, 64)
    assert r.energy_per_inference_j > 0 and r.latency_s > 0
    assert r.synaptic_events_per_inference >= r.spike_counts[0].sum() / 20 * 64


@pytest.mark.parametrize("reset, refractory, leak, readout", [
    ("subtract", 0, 0.0, "membrane"), ("zero", 0, 0.0, "membrane"), ("zero", 3, 0.0, "count"),
    ("subtract", 2, 0.0, "count"), ("subtract", 0, 0.05, "membrane"), ("zero", 1, 0.1, "count")])
def test_batch_and_brian2_spike_trains_identical(rng, reset, refractory, leak, readout):
    """Every LIF option of the chip's neuron, both engines, read noise off: the same spikes."""
    import brian2 as b2                 # a core dependency: fails, not skips, without it
    from snn_neurram.brian.snn_builder import run_snn_brian

    b2.prefs.codegen.target = "numpy"
    model = Sequential(Dense(rng.standard_normal((20, 16)) * 0.3, rng.standard_normal(16) * 0.1),
                       Dense(rng.standard_normal((16, 5)) * 0.3, None, "linear"))
    neuron = sn.NeuronConfig(reset=reset, refractory=refractory, leak=leak)
    chip = sn.Chip(device=sn.RRAMDevice(read_noise=False), neuron=neuron, seed=0,
                   precision="double")
    program = sn.compile(model, chip, calibration=rng.uniform(0, 1, (64, 20)))
    x = rng.uniform(0, 1, (6, 20))
    a = program.run(x, mode="snn", coding="rate", steps=30, seed=3, record_raster=True,
                    readout=readout)
    b = run_snn_brian(program, x, "rate", 30, seed=3, readout=readout)
    assert a.spike_counts[1].sum() > 30
    assert np.array_equal(a.spike_counts[0], b.spike_counts[0])
    assert np.array_equal(a.spike_counts[1], b.spike_counts[1])
    assert np.array_equal(a.raster[1], b.raster[1][0])            # step by step, input 0
    assert np.allclose(a.readout, b.readout, atol=1e-9)


def test_conv_snn_and_unsupported_layers(rng):
    model = Sequential(Conv2d(rng.standard_normal((4, 1, 3, 3)) * 0.5, None, padding=1),
                       MaxPool2d(2), Flatten(),
                       Dense(rng.standard_normal((4 * 4 * 4, 3)) * 0.2, None, "linear"))
    x = rng.uniform(0, 1, (5, 1, 8, 8))
    program = sn.compile(model, sn.Chip(seed=0, n_cores=2), calibration=x)
    r = program.run(x, mode="snn", steps=12)
    assert r.outputs.shape == (5, 3) and r.spike_counts[1].shape == (5, 4, 8, 8)
    assert r.spike_counts[1].sum() > 0
    bad = sn.compile(Sequential(Conv2d(rng.standard_normal((2, 1, 3, 3)), None, padding=1),
                                AvgPool2d(2), Flatten(),
                                Dense(rng.standard_normal((32, 2)), None, "linear")),
                     sn.Chip(seed=0, n_cores=1), calibration=x)
    with pytest.raises(ValueError, match="AvgPool2d .* has no spiking form"):
        bad.run(x, mode="snn", steps=4)
    with pytest.raises(ValueError, match="coding must be one of"):
        program.run(x, mode="snn", coding="phase")


def test_compare_cli_json(tmp_path):
    from snn_neurram.cli import main

    out = tmp_path / "c.json"
    assert main(["compare", "--dataset", "digits", "--steps", "4,8", "--ann-bits", "2",
                 "--test-samples", "60", "--chips", "2", "--no-trained", "--out",
                 str(tmp_path), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [(r["mode"], r["coding"]) for r in rows] == [
        ("ann", "bit-serial"), ("snn", "rate"), ("snn", "rate"), ("snn", "latency"),
        ("snn", "latency")]
    for r in rows:
        assert set(r) >= {"mode", "coding", "in_bits", "steps", "accuracy", "latency_s",
                          "energy_j", "spikes", "synaptic_events", "software_accuracy"}
        summary = r["accuracy_summary"]
        assert summary["chips"] == 2 and len(summary["per_chip"]) == 2
        assert r["accuracy"] == pytest.approx(np.mean(summary["per_chip"]))
    assert result["chip_seeds"] == [0, 1] and "skipped" in result["trained_snn"]
    assert (tmp_path / "compare_digits.png").exists()


def test_compare_trains_an_snn_and_measures_its_software_on_the_chips_spikes(tmp_path):
    need("torch")
    from snn_neurram.apps.compare import run_comparison

    result = run_comparison("digits", steps=(4,), ann_bits=(2,), codings=("rate",), chips=1,
                            trained_steps=(4,), test_samples=60, out_dir=str(tmp_path),
                            log=lambda s: None)
    trained = [r for r in result["rows"] if r["mode"] == "snn_trained"]
    assert len(trained) == 1 and trained[0]["steps"] == 4
    assert 0.6 < trained[0]["software_accuracy"] <= 1 and trained[0]["accuracy"] > 0.6
    assert trained[0]["synaptic_events"] > 0 and result["trained_snn"]["steps"] == 4
    assert {"raster_trained", "membrane_trained"} <= set(result["figures"])
