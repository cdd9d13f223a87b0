"""Noise-aware training on the chip, and chip-in-the-loop progressive fine-tuning (digits)."""

import copy
import os

import numpy as np
import pytest
from optional import need

import snn_neurram as sn
from snn_neurram.calibration import calibrate
from snn_neurram.datasets import load_digits_split
from snn_neurram.finetune import ChipDriver, SimulatedChip, progressive_finetune
from snn_neurram.layers import Dense, Sequential

torch = need("torch")
from snn_neurram.training import QuantNet, evaluate, export, train  # noqa: E402

BITS = 3


@pytest.fixture(scope="module")
def digits():
    X_tr, X_te, y_tr, y_te = load_digits_split()
    return X_tr.astype(np.float32), X_te.astype(np.float32), y_tr, y_te


def _mlp(seed, sizes=(64, 64, 10)):
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(0, np.sqrt(2 / a), (a, b)), np.zeros(b),
                    "relu" if i < len(sizes) - 2 else "linear", name=f"fc{i + 1}")
              for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return Sequential(*layers)


def _chip_accuracy(model, X_te, y_te, chip_seed):
    prog = sn.compile(model, sn.Chip(seed=chip_seed), input_shape=(64,))
    return np.mean(prog.run(X_te, in_bits=BITS, out_bits=BITS, head_bits=8).argmax(1) == y_te)


def test_noise_aware_training_beats_plain_training_on_the_chip(digits):
    X_tr, X_te, y_tr, y_te = digits
    gains = []
    for seed in range(3):
        accs = {}
        # plain: quantisation-aware only; aware: weight noise eta = 0.15 and the weights
        # limited as the chip's mapping limits them (95th percentile of |W|)
        for name, noise, eta, clip in (("plain", None, 0.0, None),
                                       ("aware", "relative", 0.15, 95.0)):
            net = QuantNet.from_model(_mlp(seed), in_bits=BITS, act_bits=BITS, noise=noise,
                                      eta=eta, weight_clip=clip, seed=seed)
            train(net, X_tr, y_tr, epochs=60, lr=3e-3, batch_size=64, progress=False, seed=seed)
            accs[name] = np.mean([_chip_accuracy(export(net), X_te, y_te, 100 + c)
                                  for c in range(3)])
        gains.append(accs["aware"] - accs["plain"])
    assert np.mean(gains) > 0.005 and min(gains) > 0, gains


def test_progressive_finetuning_visits_layers_in_order_and_keeps_accuracy(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = QuantNet.from_model(_mlp(0, (64, 48, 32, 10)), in_bits=BITS, act_bits=BITS, eta=0.1,
                              seed=0)
    train(net, X_tr, y_tr, epochs=60, lr=3e-3, batch_size=64, progress=False, seed=0)
    before, after = [], []
    for c in range(2):
        prog = sn.compile(export(net), sn.Chip(seed=200 + c), calibration=X_tr)
        driver = SimulatedChip(prog, BITS, BITS, head_bits=8)
        calibrate(prog, X_tr, in_bits=BITS, out_bits=BITS, head_bits=8)
        before.append(np.mean(driver.predict(X_te).argmax(1) == y_te))
        tuned = copy.deepcopy(net)
        w0 = tuned.stages[0].weight.detach().clone()
        steps = progressive_finetune(driver, tuned, X_tr, y_tr, epochs=5, lr=3e-4,
                                     batch_size=64, log=None, seed=c)
        after.append(np.mean(driver.predict(X_te).argmax(1) == y_te))
        # stage 0 stays as programmed; every later stage is measured, trained, written, calibrated
        assert torch.equal(tuned.stages[0].weight, w0)
        assert [e["measured_stage"] for e in steps] == [0, 1]
        # on the chip's measured activations the tail does not get worse (trained with weight
        # noise, read without: a few of the 1257 training digits may flip either way)
        assert all(e["tail_accuracy_after"] >= e["tail_accuracy_before"] - 0.005
                   for e in steps), steps
        calls = [c for c in driver.log if c[0] != "measure" or c[1] < 2]
        assert calls[:6] == [("measure", 0), ("program", 1), ("calibrate", 1),
                             ("measure", 1), ("program", 2), ("calibrate", 2)]
        # the chip holds the fine-tuned weights
        W_chip = prog.layers[2].W
        assert np.allclose(W_chip, export(tuned).layers[2].W)
    # rewriting a layer draws new conductance errors: +-2 of the 540 test digits is that noise
    assert np.mean(after) >= np.mean(before) - 0.005, (before, after)


def test_a_finetuning_step_that_lowers_validation_accuracy_is_undone(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = QuantNet.from_model(_mlp(0, (64, 48, 32, 10)), in_bits=BITS, act_bits=BITS, eta=0.1,
                              seed=0)
    train(net, X_tr, y_tr, epochs=40, lr=3e-3, batch_size=64, progress=False, seed=0)
    prog = sn.compile(export(net), sn.Chip(seed=5), calibration=X_tr)
    driver = SimulatedChip(prog, BITS, BITS, head_bits=8)
    calibrate(prog, X_tr, in_bits=BITS, out_bits=BITS, head_bits=8)
    start = np.mean(driver.predict(X_te).argmax(1) == y_te)
    # a learning rate far too large wrecks the tail: the gate must catch it
    steps = progressive_finetune(driver, copy.deepcopy(net), X_tr, y_tr, epochs=3, lr=0.5,
                                 batch_size=64, X_val=X_te, y_val=y_te, log=None, seed=0)
    assert not all(e["accepted"] for e in steps)
    for e in steps:
        if e["accepted"]:
            assert e["chip_val_accuracy"][1] >= e["chip_val_accuracy"][0]
    end = np.mean(driver.predict(X_te).argmax(1) == y_te)
    assert end >= start - 0.02, (start, end)      # rewrites draw new write errors


def test_the_driver_interface_is_what_the_loop_uses(digits):
    X_tr, _, y_tr, _ = digits

    class Broken(ChipDriver):
        n_stages = 2

    net = QuantNet.from_model(_mlp(0), in_bits=BITS, act_bits=BITS, seed=0)
    with pytest.raises(NotImplementedError):
        progressive_finetune(Broken(), net, X_tr[:50], y_tr[:50], log=None)
    with pytest.raises(ValueError, match="net has 2 stages"):
        class Three(ChipDriver):
            n_stages = 3
        progressive_finetune(Three(), net, X_tr[:50], y_tr[:50], log=None)


def test_bench_classify_cli_end_to_end(tmp_path, capsys):
    """A small run of `snn-neurram bench classify`: every row over chips x draws, levers that
    are paired differences of rows, a gap that is the rows' difference, the eta sweep's grid,
    figures, and a rerun that reuses the checkpoints."""
    import json

    from snn_neurram.classify_bench import ROWS
    from snn_neurram.cli import main

    out, path = tmp_path / "bench", tmp_path / "r.json"
    args = ["bench", "classify", "--dataset", "digits", "--epochs", "2", "--chips", "2",
            "--draws", "2", "--out", str(out), "--json", str(path)]
    assert main(args) == 0
    r = json.loads(path.read_text())
    assert set(ROWS) <= set(r["accuracy"])
    co = r["accuracy"]["chip_co_optimised"]
    assert np.shape(co["per_chip_draw"]) == (2, 2) and 0.1 < co["mean"] <= 1.0
    assert co["mean"] == pytest.approx(np.mean(co["per_chip_draw"]))
    assert co["min_chip"] == pytest.approx(np.min(np.mean(co["per_chip_draw"], axis=1)))
    best = r["accuracy"][r["best_chip_row"]]
    assert best["mean"] == max(r["accuracy"][k]["mean"] for k in ROWS if k.startswith("chip"))
    assert r["gap_points"] == pytest.approx(100 * (r["accuracy"]["quantised"] - best["mean"]))
    cal = r["levers"]["calibration, plain network"]
    diff = np.subtract(r["accuracy"]["chip_calibrated"]["per_chip_draw"],
                       r["accuracy"]["chip"]["per_chip_draw"])
    assert cal["per_chip"] == pytest.approx(diff.mean(axis=1).tolist())
    sweep = r["eta_sweep"]
    assert np.shape(sweep["accuracy"]) == (len(sweep["eta_train"]), len(sweep["eta_test"]))
    assert all(os.path.exists(p) for p in r["figures"].values())
    assert "gap (quantised software - best chip row" in capsys.readouterr().out
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.pt")}
    assert len(stamps) == len(sweep["eta_train"]) + 1          # + the distilled network
    assert main(args) == 0                                     # checkpoints are reused
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.pt")} == stamps
