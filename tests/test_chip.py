"""The 48-core chip: tiling, placement, the batch engine, reports and persistence."""

import json
import os

import numpy as np
import pytest
from optional import need

import snn_neurram as sn
from snn_neurram import (AvgPool2d, CapacityError, Chip, Conv2d, Core, Dense, Flatten, MaxPool2d,
                         ProgramFileError, RRAMDevice, Residual, Sequential)
from snn_neurram.models import build, digits_mlp, mnist_cnn, resnet20


def ideal_chip(**kw):
    return Chip(device=RRAMDevice.ideal(), seed=0, precision="double", percentile=100, **kw)


def exact_compile(model, x, **kw):
    return sn.compile(model, ideal_chip(), calibration=x, range_percentile=100,
                      adc_percentile=100, **kw)


def test_tiling_reassembles_the_matrix(rng):
    W = rng.standard_normal((300, 600))
    b = rng.standard_normal(600)
    x = rng.uniform(-1, 1, (32, 300))
    prog = exact_compile(Sequential(Dense(W, b, "linear")), x)
    plan = prog.plans[0]
    assert (plan.n_rseg, plan.n_cseg) == (3, 3)
    W2 = np.full(W.shape, np.nan)
    b2 = np.zeros(600)
    for blk in plan.blocks:
        pl = blk.placements[0]
        wb, bb = prog.chip.cores[pl.core].effective_weights(pl.block)
        assert np.all(np.isnan(W2[blk.r0:blk.r1, blk.c0:blk.c1]))      # no overlap
        W2[blk.r0:blk.r1, blk.c0:blk.c1] = wb
        if bb is not None:
            b2[blk.c0:blk.c1] += bb
    assert np.allclose(W2, W, rtol=1e-12, atol=1e-12)
    assert np.allclose(b2, b, rtol=1e-12, atol=1e-12)
    # every block sits on a core rectangle of its own
    for core in prog.chip.cores:
        if core.blocks:
            cells = sum(b.n_pairs * b.n_out for b in core.blocks)
            assert core.used_cells().sum() == 2 * cells


def test_blocks_sharing_a_core_follow_the_voltage_mode_formula(rng):
    """Two matrices on one core: each forward MVM is loaded by every cell of its columns,
    the other block's included."""
    core = Core(device=RRAMDevice(read_noise=False), seed=1, precision="double")
    A, B = rng.standard_normal((40, 30)), rng.standard_normal((70, 50))
    core.program_blocks([dict(W=A, row=0, col=0), dict(W=B, row=40, col=10)])
    x = rng.uniform(-1, 1, (8, 70))
    V = core.integrate(x, 3, block=1)[0]
    cfg = core.blocks[1].neuron
    q = np.clip(np.rint(x * 7), -7, 7)
    G = core.G[:, 10:60]
    dG = G[80:220:2] - G[81:220:2]
    expect = cfg.c_ratio * cfg.v_read * (q @ dG) / G.sum(axis=0)
    assert np.allclose(V, expect, rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match="overlaps"):
        core.program_blocks([dict(W=A, row=0, col=0), dict(W=B, row=30, col=20)])


def test_dense_layers_equal_float_within_adc_steps(rng):
    """Ideal devices, no clipping: each layer's output is within its ADC steps of the float
    layer on the same (quantised) input -- half a step per partial sum of the three row
    segments plus half a requantisation step, one step (sign + magnitude) for a single one."""
    l1 = Dense(rng.standard_normal((300, 40)) * 0.1, rng.standard_normal(40) * 0.1, "relu")
    l2 = Dense(rng.standard_normal((40, 10)) * 0.3, None, "linear")
    x = rng.uniform(0, 1, (200, 300))
    prog = exact_compile(Sequential(l1, l2), x)
    in_bits, out_bits = 4, 8
    L = 2 ** in_bits - 1
    h = x
    for k, (layer, plan) in enumerate(zip((l1, l2), prog.plans)):
        y = prog.run_stages(h, k, k + 1, in_bits, out_bits)

        def unit(blk):
            pl = blk.placements[0]
            return np.abs(prog.chip.cores[pl.core].output_unit(
                in_bits, block=pl.block, neuron=prog.operating_point(blk, plan, in_bits,
                                                                     out_bits)))
        hq = np.clip(np.rint(h / plan.x_max * L), -L, L) * plan.x_max / L
        ref = layer.forward_float(hq)
        if plan.n_rseg == 1:
            bound = unit(plan.blocks[0])
        else:
            bound = 0.5 * plan.out_top / (2 ** out_bits - 1)
            for blk in plan.blocks:
                bound = bound + 0.5 * unit(blk)
        assert np.all(np.abs(y - ref) <= bound * (1 + 1e-6) + 1e-9), plan.name
        h = layer.forward_float(h)          # the calibration saw the float activations


def test_compiled_cnn_matches_float_model(rng):
    """Conv (unrolled, tiled over two row segments), pooling, residual add, dense: with ideal
    devices and generous bits the compiled model tracks the float model."""
    model = Sequential(
        Conv2d(rng.standard_normal((8, 1, 3, 3)) * 0.5, rng.standard_normal(8) * 0.1, padding=1),
        MaxPool2d(2),
        Residual([Conv2d(rng.standard_normal((16, 8, 3, 3)) * 0.15, None, padding=1),
                  Conv2d(rng.standard_normal((16, 16, 3, 3)) * 0.1, None, padding=1,
                         activation="linear")],
                 shortcut=Conv2d(rng.standard_normal((16, 8, 1, 1)) * 0.3, None,
                                 activation="linear")),
        AvgPool2d(2), Flatten(), Dense(rng.standard_normal((16 * 4 * 4, 10)) * 0.1, None,
                                       "linear"))
    x = rng.uniform(0, 1, (48, 1, 16, 16))
    prog = exact_compile(model, x)
    assert max(p.n_rseg for p in prog.plans) == 2           # 16*9 = 144 inputs: two segments
    y = prog.run(x, in_bits=8, out_bits=8)
    ref = prog.run_float(x)
    assert np.abs(y - ref).max() < 0.04 * np.abs(ref).max()
    assert np.sqrt(np.mean((y - ref) ** 2)) < 0.025 * ref.std()
    assert np.corrcoef(y.ravel(), ref.ravel())[0, 1] > 0.999
    assert np.mean(y.argmax(1) == ref.argmax(1)) > 0.95


def test_noisy_chip_is_reproducible_and_seeded(rng):
    model = digits_mlp(seed=1)
    x = rng.uniform(0, 1, (30, 64))
    a = sn.compile(model, Chip(seed=5), calibration=x).run(x)
    b = sn.compile(model, Chip(seed=5), calibration=x).run(x)
    c = sn.compile(model, Chip(seed=6), calibration=x).run(x)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_reference_models_fit_and_resnet20_report():
    for name, limit in (("mnist-cnn", 48), ("digits-mlp", 48)):
        model, shape = build(name)
        rep = sn.compile(model, Chip(seed=0), input_shape=shape, calibration_size=8).report()
        assert 1 <= rep["cores_used"] <= limit
    model, shape = build("resnet20")
    rep = sn.compile(model, Chip(seed=0), input_shape=shape, calibration_size=4).report()
    assert len(rep["layers"]) == 22
    assert rep["mappings"] == sum(l["blocks"] for l in rep["layers"])
    assert rep["weights"] == 270_896
    assert rep["cores_used"] <= 48


def test_too_large_model_raises_with_core_count(rng):
    model = Sequential(Dense(rng.standard_normal((1000, 300)), None, "relu"),
                       Dense(rng.standard_normal((300, 10)), None, "linear"))
    with pytest.raises(CapacityError, match=r"needs \d+ cores .* the chip has 4; .*layer 0"):
        sn.compile(model, Chip(n_cores=4, seed=0), input_shape=(1000,), calibration_size=4)


def test_replication_spreads_layers_over_free_cores(rng):
    model = mnist_cnn(seed=0)
    x = rng.uniform(0, 1, (8, 1, 28, 28))
    prog = sn.compile(model, Chip(seed=0, n_cores=6), calibration=x, replicate=True)
    conv1 = prog.plans[0].blocks[0].placements
    assert len(conv1) > 1 and len({pl.core for pl in conv1}) == len(conv1)
    assert prog.report()["cores_used"] == 6
    assert prog.run(x).shape == (8, 10)


def test_save_load_is_bit_exact_and_damage_is_detected(tmp_path, rng):
    x = rng.uniform(0, 1, (12, 1, 28, 28))
    prog = sn.compile(mnist_cnn(seed=2), Chip(seed=3, n_cores=8), calibration=x)
    path = tmp_path / "cnn.snn"
    prog.save(path)
    loaded = sn.load(path)
    assert np.array_equal(prog.run(x), loaded.run(x))          # same state, same noise
    assert np.array_equal(prog.run(x), loaded.run(x))
    data = path.read_bytes()
    (tmp_path / "short.snn").write_bytes(data[:-100])
    with pytest.raises(ProgramFileError, match="truncated"):
        sn.load(tmp_path / "short.snn")
    bad = bytearray(data)
    bad[-5000] ^= 0x40
    (tmp_path / "bad.snn").write_bytes(bytes(bad))
    with pytest.raises(ProgramFileError, match="checksum"):
        sn.load(tmp_path / "bad.snn")
    (tmp_path / "other.snn").write_bytes(b"hello")
    with pytest.raises(ProgramFileError, match="not an snn_neurram program"):
        sn.load(tmp_path / "other.snn")


def test_interrupted_save_leaves_previous_file(tmp_path, rng, monkeypatch):
    x = rng.uniform(0, 1, (8, 64))
    prog = sn.compile(digits_mlp(), Chip(seed=0, n_cores=2), calibration=x)
    path = tmp_path / "mlp.snn"
    prog.save(path)
    before = path.read_bytes()

    def crash(*a, **k):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        sn.compile(digits_mlp(seed=9), Chip(seed=1, n_cores=2), calibration=x).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.snn"]


def test_bad_arguments(rng):
    prog = sn.compile(digits_mlp(), Chip(seed=0, n_cores=2), input_shape=(64,),
                      calibration_size=4)
    with pytest.raises(ValueError, match=r"in_bits must be an integer in \[1, 8\]"):
        prog.run(np.zeros((2, 64)), in_bits=9)
    with pytest.raises(ValueError, match="x must contain only finite values"):
        prog.run(np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="expected \\(64,\\)"):
        prog.run(np.zeros((2, 63)))
    with pytest.raises(ValueError, match="mode must be one of"):
        prog.run(np.zeros((2, 64)), mode="quantum")
    with pytest.raises(ValueError, match="n_cores must be an integer in \\[1, 48\\]"):
        Chip(n_cores=49)
    with pytest.raises(ValueError, match="give calibration inputs or input_shape"):
        sn.compile(digits_mlp(), Chip(n_cores=1))


def test_from_torch_matches_torch():
    torch = need("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU6(), nn.Flatten(),
                        nn.Linear(6 * 5 * 5, 10))
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    x = np.random.default_rng(0).uniform(0, 1, (5, 1, 14, 14))
    model = sn.from_torch(net)
    with torch.no_grad():
        ref = net(torch.tensor(x, dtype=torch.float64).float()).double().numpy()
    assert np.allclose(model.forward_float(x), ref, atol=1e-4)
    prog = sn.compile(net, Chip(seed=0, n_cores=2), calibration=x)
    assert prog.run(x).shape == (5, 10)


def test_map_cli_writes_json_and_figure(tmp_path):
    from snn_neurram.cli import main

    out = tmp_path / "m.json"
    fig = tmp_path / "m.png"
    assert main(["map", "digits-mlp", "--json", str(out), "--figure", str(fig)]) == 0
    rep = json.loads(out.read_text())
    assert rep["cores_used"] == 1 and rep["layers"][0]["matrix"] == [64, 64]
    assert fig.exists() and fig.stat().st_size > 1000
