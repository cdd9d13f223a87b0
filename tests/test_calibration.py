"""Model-driven calibration, per-column correction, partial reprogramming and stage-wise runs."""

import copy

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.calibration import adc_usage, calibrate, fit_column_correction
from snn_neurram.datasets import load_digits_split
from snn_neurram.demo import train_digits_mlp


@pytest.fixture(scope="module")
def digits():
    X_tr, X_te, y_tr, y_te = load_digits_split()
    return X_tr, X_te, y_tr, y_te, train_digits_mlp(X_tr, y_tr)


def test_column_correction_recovers_a_known_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (500, 3))
    a, b = np.array([0.6, 1.0, 1.7]), np.array([0.2, -0.1, 0.0])
    y = a * x + b + rng.normal(0, 0.01, x.shape)
    valid = np.ones_like(x, bool)
    valid[:, 2] = False                                    # no samples: left alone
    gain, offset = fit_column_correction(y, x, valid)
    assert gain[:2] == pytest.approx(a[:2], abs=0.005)
    assert offset[:2] == pytest.approx(b[:2], abs=0.005)
    assert gain[2] == 1.0 and offset[2] == 0.0


def test_calibration_moves_outputs_into_the_adc_range_and_helps(digits):
    X_tr, X_te, y_tr, y_te, model = digits
    accs = []
    for seed in range(3):
        # compiled without data: operating points from random inputs in [0, 1]
        prog = sn.compile(model, sn.Chip(seed=seed), input_shape=(64,))
        before = np.mean(prog.run(X_te, in_bits=3, out_bits=3).argmax(1) == y_te)
        usage0 = adc_usage(prog, 0, X_tr[:300], 3, 3)
        report = calibrate(prog, X_tr, in_bits=3, out_bits=3, seed=seed)
        after = np.mean(prog.run(X_te, in_bits=3, out_bits=3).argmax(1) == y_te)
        accs.append((before, after))
        for entry in report:
            assert 0.6 <= entry["after"]["p99"] <= 1.0, entry
            assert entry["after"]["saturated"] < 0.02, entry
        # random inputs set the hidden layer's range from the float model's outputs for
        # noise: on digits about 1 % of its codes hit full scale; calibrated, almost none
        assert usage0["saturated"] > 0.005
        assert report[0]["after"]["saturated"] < usage0["saturated"] / 5
    before, after = np.mean(accs, axis=0)
    assert after > before + 0.02, accs


def test_reprogram_block_touches_only_its_cells():
    rng = np.random.default_rng(1)
    core = sn.Core(seed=3)
    W1, W2 = rng.normal(0, 1, (20, 8)), rng.normal(0, 1, (30, 5))
    core.program_blocks([dict(W=W1), dict(W=W2, row=40, col=100)])
    G_before = core.G.copy()
    W2b = rng.normal(0, 1, (30, 5))
    core.reprogram_block(1, W2b)
    region = np.zeros(core.G.shape, bool)
    region[80:140, 100:105] = True
    assert np.array_equal(core.G[~region], G_before[~region])
    assert not np.allclose(core.G[region], G_before[region])
    ideal = sn.Core(device=sn.RRAMDevice.ideal(), seed=0)
    ideal.program_blocks([dict(W=W1), dict(W=W2, row=40, col=100)])
    ideal.reprogram_block(1, W2b)
    W_read, _ = ideal.effective_weights(1)
    w_max = ideal.blocks[1].mapping.w_max
    assert np.allclose(W_read, np.clip(W2b, -w_max, w_max), atol=1e-9)
    with pytest.raises(ValueError, match="W has shape"):
        core.reprogram_block(1, W2b[:5])


def test_stages_and_reprogram_layer_keep_the_network_consistent(digits, tmp_path):
    X_tr, X_te, y_tr, y_te, model = digits
    chip = sn.Chip(device=sn.RRAMDevice.ideal(), seed=0, precision="double")
    prog = sn.compile(model, chip, calibration=X_tr)
    # running stage by stage equals running the whole network
    h = prog.run_stages(X_te[:50], 0, 1, 4, 4)
    assert np.allclose(prog.run_stages(h, 1, 2, 4, 4), prog.run(X_te[:50], in_bits=4,
                                                                out_bits=4))
    # new weights for layer 1: the chip follows the model
    W = model.layers[1].W * -1.0
    prog.reprogram_layer(1, W, model.layers[1].b)
    out = prog.run_stages(h, 1, 2, 4, 4)
    L = 15
    q = np.clip(np.rint(h / prog.plans[1].x_max * L), 0, L) * prog.plans[1].x_max / L
    ref = q @ W + model.layers[1].b
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.99
    calibrate(prog, X_tr, in_bits=4, out_bits=4)
    path = tmp_path / "p.snn"
    prog.save(path)
    back = sn.load(path)
    assert np.allclose(back.plans[0].gain, prog.plans[0].gain)
    assert back.plans[0].adc_top == prog.plans[0].adc_top
    assert np.allclose(back.run(X_te[:50], in_bits=4, out_bits=4),
                       prog.run(X_te[:50], in_bits=4, out_bits=4))
    with pytest.raises(ValueError, match="need 0 <= start < stop"):
        prog.run_stages(h, 1, 1)


def test_correction_is_the_identity_on_an_ideal_chip_and_finds_a_known_gain(digits):
    """An ideal chip computes what the weights say: read with 8-bit outputs (the ADC's steps
    far below the signal), the fitted correction must be gain 1 and offset 0 for every column.
    With one column's weights written 0.8 x as large as the model's, the fit must find 0.8
    there and leave the other columns at 1."""
    X_tr, _, _, _, model = digits
    model = copy.deepcopy(model)
    for layer in model.layers:          # weights inside the mapping's range (it clips at P95)
        w_max = np.percentile(np.abs(layer.W), 95)
        layer.W = np.clip(layer.W, -w_max, w_max)
    chip = sn.Chip(device=sn.RRAMDevice.ideal(), seed=0, precision="double")
    prog = sn.compile(model, chip, calibration=X_tr)
    calibrate(prog, X_tr, in_bits=4, out_bits=8, samples=600)
    plan = prog.plans[0]
    assert np.median(plan.gain) == pytest.approx(1.0, abs=0.003)
    assert plan.gain == pytest.approx(1.0, abs=0.05)
    assert plan.offset == pytest.approx(0.0, abs=0.02 * plan.out_top)
    gains, plan_gain5 = plan.gain.copy(), plan.gain[5]
    original = copy.deepcopy(prog.layers[0])
    W, b = original.W.copy(), original.b.copy()
    W[:, 5] *= 0.8
    b[5] *= 0.8
    prog.reprogram_layer(0, W, b)
    prog.layers[0] = original                         # the model keeps its own weights
    calibrate(prog, X_tr, in_bits=4, out_bits=8, samples=600)
    assert prog.plans[0].gain[5] == pytest.approx(0.8 * plan_gain5, abs=0.01)
    assert np.delete(prog.plans[0].gain, 5) == pytest.approx(np.delete(gains, 5), abs=0.02)
