"""Model-driven calibration, per-column correction, partial reprogramming and stage-wise runs."""

import copy

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.analysis.column_fit import fit_adc_codes, fit_huber, fit_lines
from snn_neurram.calibration import adc_usage, calibrate, layer_disagreement
from snn_neurram.datasets import load_digits_split
from snn_neurram.demo import train_digits_mlp


@pytest.fixture(scope="module")
def digits():
    X_tr, X_te, y_tr, y_te = load_digits_split()
    return X_tr, X_te, y_tr, y_te, train_digits_mlp(X_tr, y_tr)


def test_line_fits_recover_a_known_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (500, 3))
    a, b = np.array([0.6, 1.0, 1.7]), np.array([0.2, -0.1, 0.0])
    y = a * x + b
    assert fit_lines(y, x)[0] == pytest.approx(a) and fit_lines(y, x)[1] == pytest.approx(b)
    noisy = y + rng.normal(0, 0.01, x.shape)
    noisy[:10] += 50.0                                     # outliers: Huber weights ignore them
    gain, offset = fit_huber(noisy, x)
    assert gain == pytest.approx(a, abs=0.01) and offset == pytest.approx(b, abs=0.01)


def _windowed_least_squares(codes, x, top):
    """The per-column fit calibration used before: a least-squares line through the samples
    whose model value lies inside [0.25, 0.75] then [0.05, 0.95] of full scale."""
    gain, offset = np.ones(x.shape[1]), np.zeros(x.shape[1])
    for margin in (0.25, 0.05):
        pred = gain * x + offset
        for j in range(x.shape[1]):
            m = (pred[:, j] > margin * top) & (pred[:, j] < (1 - margin) * top)
            if m.sum() >= 16:
                xm, ym = x[m, j], codes[m, j]
                gain[j] = np.mean((xm - xm.mean()) * (ym - ym.mean())) / xm.var()
                offset[j] = ym.mean() - gain[j] * xm.mean()
    return gain, offset


def test_the_calibration_failure_is_reproduced_and_fixed():
    """Why calibration once made a chip worse. A first convolution has 9 inputs per column:
    its outputs take few values, many sit at the ReLU's cut or at the ADC's top (8 % saturated
    on the failing chip) and read noise is comparable to a step. A ReLU's code 0 then averages
    rectified noise (the mean of small outputs is lifted) and the top code clips the large
    ones, so a least-squares line through the codes -- even restricted to a window of the
    model's values -- finds gains far from the truth. The interval likelihood of
    fit_adc_codes treats code 0 and the top code as the censored observations they are."""
    rng = np.random.default_rng(7)
    L, n, m = 7, 4000, 16
    gain = rng.uniform(0.7, 1.3, m)
    offset = rng.normal(0, 0.3, m)
    sigma = rng.uniform(0.6, 1.0, m)                     # read noise ~ one ADC step
    w = rng.normal(0, 1, (9, m))                         # 9 inputs per column, 3-bit codes
    q = rng.integers(0, 8, (n, 9)).astype(float) * (rng.random((n, 9)) < 0.5)
    x = q @ w / 2.0                                      # model values in ADC steps
    v = gain * x + offset + sigma * rng.normal(size=x.shape)
    codes = np.clip(np.floor(v + 0.5), 0, L)
    assert np.mean(codes == L) / np.mean(codes > 0) > 0.08   # saturated like the failing layer
    model_codes = np.clip(np.floor(x + 0.5), 0, L)
    old, _ = _windowed_least_squares(codes, model_codes, L)
    new, new_offset, _ = fit_adc_codes(codes, x, "relu", L)
    assert np.max(np.abs(old - gain)) > 0.2              # the failure
    assert np.max(np.abs(new - gain)) < 0.06             # the fix
    assert np.max(np.abs(new_offset - offset)) < 0.15


def test_calibration_never_lowers_a_layers_held_out_agreement():
    """Every layer keeps the candidate with the lowest held-out disagreement, the layer as it
    was included; checked again on images calibration never saw."""
    rng = np.random.default_rng(3)
    W1 = rng.normal(0, 0.6, (9, 24))                     # few inputs per column
    W2 = rng.normal(0, 0.3, (24, 10))
    model = sn.Sequential(sn.Dense(W1, rng.normal(0, 0.2, 24), "relu", clip=1.5, x_max=1.0),
                          sn.Dense(W2, None, "linear"))
    X = rng.random((1200, 9))
    for seed in range(3):
        prog = sn.compile(model, sn.Chip(seed=seed), calibration=X[:200])
        fresh, _ = sn.engines.batch.layer_rows(prog.plan, 0, X[800:], 3)
        before = layer_disagreement(prog, 0, fresh, 3, 3, np.random.default_rng(0))
        report = calibrate(prog, X[:800], in_bits=3, out_bits=3, seed=seed)
        for entry in report:
            scores = entry["held_out_disagreement"]
            assert scores[entry["accepted"]] <= scores["as compiled"]
            assert scores[entry["accepted"]] == min(scores.values())
        after = layer_disagreement(prog, 0, fresh, 3, 3, np.random.default_rng(0))
        assert after <= before * 1.05, (seed, before, after)


def test_validation_gate_undoes_what_lowers_accuracy(digits):
    X_tr, X_te, y_tr, y_te, model = digits
    for seed in range(3):
        prog = sn.compile(model, sn.Chip(seed=seed), input_shape=(64,), calibration=X_tr[:300])
        before = np.mean(prog.run(X_te, in_bits=3, out_bits=3, seed=1).argmax(1) == y_te)
        report = calibrate(prog, X_tr, y_tr, in_bits=3, out_bits=3, seed=seed)
        after = np.mean(prog.run(X_te, in_bits=3, out_bits=3, seed=1).argmax(1) == y_te)
        for entry in report:
            if "validation_accuracy" in entry and entry["accepted"] != "as compiled":
                assert entry["validation_accuracy"][1] >= entry["validation_accuracy"][0] - 0.02
        assert after >= before - 0.01, (seed, before, after)
    with pytest.raises(ValueError, match="y must hold one label"):
        calibrate(prog, X_tr, y_tr[:5])
    with pytest.raises(ValueError, match="validation needs the labels"):
        calibrate(prog, X_tr, validation=10)


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
    model = copy.deepcopy(model)        # reprogram_layer writes the new weights into the model
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
    calibrate(prog, X_tr, in_bits=4, out_bits=4, gate=False)
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
    # gated, on 4-bit activations: calibration leaves the ideal chip's answers as they were
    X_te = digits[1]
    before = prog.run(X_te, in_bits=4, out_bits=4, head_bits=8)
    calibrate(prog, X_tr, in_bits=4, out_bits=4, head_bits=8, seed=0)
    after = prog.run(X_te, in_bits=4, out_bits=4, head_bits=8)
    assert np.mean(before.argmax(1) == after.argmax(1)) >= 0.99
    report = calibrate(prog, X_tr, in_bits=4, out_bits=8, samples=600, gate=False)
    for entry in report:                 # the conductances read back say the same exactly
        assert entry["read-back gains"] == pytest.approx([1.0, 1.0], abs=1e-3)
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
    calibrate(prog, X_tr, in_bits=4, out_bits=8, samples=600, gate=False)
    assert prog.plans[0].gain[5] == pytest.approx(0.8 * plan_gain5, abs=0.01)
    assert np.delete(prog.plans[0].gain, 5) == pytest.approx(np.delete(gains, 5), abs=0.02)


def test_reprogram_bias_writes_only_the_bias_rows():
    rng = np.random.default_rng(4)
    W, b = rng.normal(0, 1, (20, 6)), rng.normal(0, 0.5, 6)
    core = sn.Core(seed=2)
    core.program_blocks([dict(W=W, bias=b, x_max=1.0)])
    blk = core.blocks[0]
    G0 = core.G.copy()
    core.reprogram_bias(0, b + 0.3)
    bias_rows = np.zeros(core.G.shape, bool)
    bias_rows[2 * blk.n_in:2 * blk.n_pairs, :6] = True
    assert np.array_equal(core.G[~bias_rows], G0[~bias_rows])
    assert not np.allclose(core.G[bias_rows], G0[bias_rows])
    ideal = sn.Core(device=sn.RRAMDevice.ideal(), seed=0)
    ideal.program_blocks([dict(W=W, bias=b, x_max=1.0)])
    ideal.reprogram_bias(0, b - 0.2)
    W_read, b_read = ideal.effective_weights(0)
    w_max = ideal.blocks[0].mapping.w_max
    assert np.allclose(W_read, np.clip(W, -w_max, w_max), atol=1e-9)
    assert np.allclose(b_read, b - 0.2, atol=1e-9)
    with pytest.raises(ValueError, match="no bias rows"):
        sn.Core(seed=0).program(W).reprogram_bias(0, b)


def test_analog_offsets_move_a_known_offset_into_the_bias_rows():
    """On an exact chip whose bias cells hold a column's bias 0.4 too low, the fitted offset is
    written back into the bias rows: the cut then sits where the model puts it."""
    rng = np.random.default_rng(5)
    W1 = rng.normal(0, 0.5, (16, 12))
    W1 = np.clip(W1, -np.percentile(np.abs(W1), 95), np.percentile(np.abs(W1), 95))
    model = sn.Sequential(sn.Dense(W1, rng.normal(0.3, 0.2, 12), "relu", clip=2.0, x_max=1.0),
                          sn.Dense(rng.normal(0, 0.3, (12, 4)), None, "linear"))
    X = rng.random((600, 16))
    chip = sn.Chip(device=sn.RRAMDevice.ideal(), seed=0, precision="double")
    prog = sn.compile(model, chip, calibration=X[:200])
    shift = np.zeros(12)
    shift[3] = -0.4
    sn.compiler.tiling.reprogram_bias(prog.plan, 0, shift)
    report = calibrate(prog, X, in_bits=4, out_bits=4, analog_offset=True, seed=0)
    assert report[0]["accepted"].startswith("bias rows"), report[0]
    assert prog.plans[0].bias_shift[3] == pytest.approx(0.0, abs=0.03)
    assert np.abs(np.delete(prog.plans[0].bias_shift, 3)).max() < 0.03
