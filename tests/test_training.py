"""Noise-aware, quantisation-aware training (snn_neurram.training)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from optional import need

from snn_neurram.datasets import load_digits_split
from snn_neurram.device import RRAMDevice
from snn_neurram.layers import Conv2d, Dense, Flatten, MaxPool2d, Sequential
from snn_neurram.models import digits_mlp, resnet20
from snn_neurram.training import weight_noise_sigma

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Published 1-day relaxation fit (Nature 2022, ED Fig. 3): sigma in uS of x = G / 40 uS.
DAY_FIT = (0.701, 22.086, -50.773, 47.095, -16.458)
G_MIN, G_MAX = 1e-6, 40e-6


def day_sigma(G):
    x = min(max(G / 40e-6, 0.0), 1.0)
    return max(sum(c * x ** i for i, c in enumerate(DAY_FIT)), 0.0) * 1e-6


def hand_sigma(w, w_max, read_noise=0.0):
    """sigma of one weight stored as a sign-scheme pair, computed by hand."""
    w = min(max(w, -w_max), w_max)
    gp = G_MIN + max(w, 0.0) / w_max * (G_MAX - G_MIN)
    gm = G_MIN + max(-w, 0.0) / w_max * (G_MAX - G_MIN)
    var = sum(day_sigma(g) ** 2 + (read_noise * g) ** 2 for g in (gp, gm))
    return w_max / (G_MAX - G_MIN) * np.sqrt(var)


# ---------------------------------------------------------------------------- numpy only
def test_weight_noise_sigma_matches_hand_computation():
    W = np.array([[0.5, -1.0], [0.0, 2.0]])
    relax_only = RRAMDevice.ideal(relaxation=True)
    got = weight_noise_sigma(W, relax_only, read_time=86400.0, percentile=100.0)
    want = np.array([[hand_sigma(w, 2.0) for w in row] for row in W])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # read noise (1 % of G) adds in quadrature; the default device has both switched on
    got = weight_noise_sigma(W, RRAMDevice(), 86400.0, 100.0)
    want = np.array([[hand_sigma(w, 2.0, 0.01) for w in row] for row in W])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # every spread switched off: no spread
    assert np.all(weight_noise_sigma(W, RRAMDevice.ideal(), 86400.0, 100.0) == 0)


def test_weight_noise_sigma_clips_beyond_w_max():
    W = np.array([[0.5, -1.0], [0.0, 2.0]])
    s = weight_noise_sigma(W, RRAMDevice.ideal(relaxation=True), percentile=50.0)
    w_max = 0.75                       # median of |W| = (0.5, 1, 0, 2)
    assert s[1, 1] == pytest.approx(hand_sigma(w_max, w_max))
    assert s[0, 1] == pytest.approx(hand_sigma(-w_max, w_max))
    assert s[0, 0] == pytest.approx(hand_sigma(0.5, w_max))


def test_weight_noise_sigma_rejects_bad_arguments():
    with pytest.raises(ValueError, match="read_time"):
        weight_noise_sigma(np.ones((2, 2)), read_time=0.0)
    with pytest.raises(ValueError, match="percentile"):
        weight_noise_sigma(np.ones((2, 2)), percentile=120.0)
    with pytest.raises(ValueError, match="device"):
        weight_noise_sigma(np.ones((2, 2)), device="rram")


def test_import_without_torch_gives_install_hint():
    code = (
        "import sys, numpy as np\n"
        "import snn_neurram, snn_neurram.training as t\n"
        "assert 'torch' not in sys.modules, 'torch imported at package import'\n"
        "print(t.weight_noise_sigma(np.eye(2)).shape)\n"
        "sys.modules['torch'] = None\n"
        "try:\n"
        "    t.QuantNet\n"
        "except ImportError as exc:\n"
        "    print('ERROR:', exc)\n")
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(2, 2)" in out.stdout
    assert ("ERROR: snn_neurram.training needs PyTorch: pip install 'snn_neurram[train]' "
            "(torch==2.13.0, CPU build)") in out.stdout


# ---------------------------------------------------------------------------- with torch
torch = need("torch")
from snn_neurram.training import (QuantNet, evaluate, evaluate_draws, export,  # noqa: E402
                                  load_checkpoint, train)
from snn_neurram.training.quant import clipped_relu, quantize_input  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def one_layer_net(W, **kw):
    return QuantNet.from_model(Sequential(Dense(W, None, activation="linear")), **kw)


def test_relative_noise_has_the_asked_spread():
    W = np.random.default_rng(3).standard_normal((4, 3))
    net = one_layer_net(W, noise="relative", eta=0.15, seed=7)
    eye = torch.eye(4)                        # exactly on the input grid: the output is W'
    with torch.no_grad():                     # built in evaluation mode: no noise
        np.testing.assert_allclose(net(eye).numpy(), W, atol=1e-6)
    net.train()
    with torch.no_grad():
        draws = np.stack([net(eye).numpy() for _ in range(2000)])
    dev = draws - W
    assert dev.std() == pytest.approx(0.15 * np.abs(W).max(), rel=0.03)
    assert abs(dev.mean()) < 0.01 * np.abs(W).max()
    net.eval()                                  # no noise in evaluation mode ...
    with torch.no_grad():
        np.testing.assert_allclose(net(eye).numpy(), W, atol=1e-6)
        net.test_eta = 0.3                      # ... unless asked for
        dev = np.stack([net(eye).numpy() for _ in range(500)]) - W
    assert dev.std() == pytest.approx(0.3 * np.abs(W).max(), rel=0.06)


def test_device_noise_follows_weight_noise_sigma():
    W = np.random.default_rng(4).standard_normal((4, 3))
    net = one_layer_net(W, noise="device", device=RRAMDevice(), read_time=86400.0)
    net.train()
    with torch.no_grad():
        draws = np.stack([net(torch.eye(4)).numpy() for _ in range(4000)])
    want = weight_noise_sigma(W.astype(np.float32), RRAMDevice(), 86400.0)
    np.testing.assert_allclose(draws.std(axis=0), want, rtol=0.08)


def test_device_noise_training_runs(digits):
    X_tr, y_tr = digits[0][:256], digits[2][:256]
    net = QuantNet.from_model(digits_mlp(), noise="device", read_time=3600.0)
    h = train(net, X_tr, y_tr, epochs=2, lr=1e-2, progress=False)
    assert np.all(np.isfinite(h["loss"])) and h["loss"][1] < h["loss"][0]


def test_no_noise_mode_is_deterministic():
    W = np.random.default_rng(5).standard_normal((4, 3))
    net = one_layer_net(W, noise=None)
    net.train()
    np.testing.assert_allclose(net(torch.eye(4)).detach().numpy(), W, atol=1e-6)


def test_input_quantiser_grid_and_straight_through_gradient():
    x = torch.linspace(-0.503, 1.497, 201, requires_grad=True)   # no point on 0 or 1
    y = quantize_input(x, 1.0, 3)
    xn = x.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), np.round(np.clip(xn, 0, 1) * 7) / 7,
                               atol=1e-6)
    y.sum().backward()
    inside = (xn > 0) & (xn < 1)
    np.testing.assert_array_equal(x.grad.numpy(), inside.astype(np.float32))


def test_clipped_relu_grid_and_gradients():
    gen = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(500, generator=gen)).requires_grad_()
    alpha = torch.tensor(2.0, requires_grad=True)
    y = clipped_relu(x, alpha, bits=3)
    k = y.detach().numpy() / (2.0 / 7)
    np.testing.assert_allclose(k, np.round(k), atol=1e-5)
    assert k.min() >= 0 and k.max() <= 7 + 1e-5
    xn = x.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(),
                               np.round(np.clip(xn, 0, 2) / 2 * 7) * 2 / 7, atol=1e-6)
    g = torch.rand(500, generator=gen)
    (y * g).sum().backward()
    gn = g.numpy()
    np.testing.assert_allclose(x.grad.numpy(), gn * ((xn > 0) & (xn < 2)), atol=1e-7)
    assert float(alpha.grad) == pytest.approx(gn[xn > 2].sum(), rel=1e-5)


def test_from_model_structure_and_rejections():
    model = Sequential(Conv2d(np.ones((2, 1, 3, 3)), np.zeros(2), padding=1, name="c1"),
                       MaxPool2d(2, name="p1"), Flatten(name="f"),
                       Dense(np.ones((8, 4)), None, name="d1"),
                       Dense(np.ones((4, 3)), None, activation="linear", name="out"))
    net = QuantNet.from_model(model, clip_init=2.5)
    assert net.n_stages == 3
    assert [type(m).__name__ for m in net.stages[0].digital] == ["MaxPool2d", "Flatten"]
    assert net.clips() == [2.5, 2.5, None]
    with pytest.raises(ValueError, match="Residual"):
        QuantNet.from_model(resnet20())
    with pytest.raises(ValueError, match="sigmoid"):
        QuantNet.from_model(Sequential(Dense(np.ones((2, 2)), activation="sigmoid")))
    with pytest.raises(ValueError, match="act_bits"):
        QuantNet.from_model(model, act_bits=0)
    with pytest.raises(ValueError, match="noise"):
        QuantNet.from_model(model, noise="gaussian")


# ---------------------------------------------------------------------------- training
TRAIN = dict(epochs=40, lr=1e-2, batch_size=128, progress=False, seed=1)


@pytest.fixture(scope="module")
def trained(digits):
    """A noise-aware (eta 0.15) and a plain quantisation-aware digits MLP, same recipe."""
    X_tr, X_te, y_tr, y_te = digits
    nets, hist = {}, {}
    for noise in ("relative", None):
        nets[noise] = QuantNet.from_model(digits_mlp(seed=1), noise=noise, eta=0.15)
        hist[noise] = train(nets[noise], X_tr, y_tr, X_val=X_te, y_val=y_te, **TRAIN)
    return nets, hist


def test_training_reaches_high_accuracy(trained, digits):
    nets, hist = trained
    X_te, y_te = digits[1], digits[3]
    for noise in ("relative", None):
        assert evaluate(nets[noise], X_te, y_te) > 0.93
        h = hist[noise]
        assert h["epochs_done"] == 40 and len(h["loss"]) == 40
        assert h["loss"][-1] < 0.5 * h["loss"][0]
        assert h["val_accuracy"][-1] == pytest.approx(evaluate(nets[noise], X_te, y_te))
    c = nets[None].clips()
    assert c[1] is None and 0 < c[0] < 20


def test_noise_aware_training_holds_accuracy_under_weight_noise(trained, digits):
    nets, _ = trained
    X_te, y_te = digits[1], digits[3]
    aware = evaluate_draws(nets["relative"], X_te, y_te, eta=0.15, draws=10, seed=3)
    plain = evaluate_draws(nets[None], X_te, y_te, eta=0.15, draws=10, seed=3)
    # seeds 0-5 of this recipe give margins of 3.5 to 6.7 points
    assert aware.mean() > plain.mean() + 0.02
    assert evaluate(nets[None], X_te, y_te, eta=0.15, draws=10, seed=3) == \
        pytest.approx(plain.mean())


def test_evaluate_draws_are_seeded_and_leave_the_net_alone(trained, digits):
    net = trained[0]["relative"]
    X_te, y_te = digits[1], digits[3]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    a = evaluate_draws(net, X_te, y_te, eta=0.3, draws=3, seed=5)
    b = evaluate_draws(net, X_te, y_te, eta=0.3, draws=3, seed=5)
    np.testing.assert_array_equal(a, b)
    assert len(set(a)) > 1                      # each draw is a different noisy chip
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])
    assert net.test_eta is None and not net.training


def test_training_is_reproducible(digits):
    X_tr, y_tr = digits[0], digits[2]
    states = []
    for _ in range(2):
        net = QuantNet.from_model(digits_mlp(), eta=0.15)
        train(net, X_tr, y_tr, epochs=2, progress=False, seed=4)
        states.append(net.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k])


def test_progress_output(digits, capsys):
    X_tr, y_tr = digits[0][:300], digits[2][:300]
    net = QuantNet.from_model(digits_mlp())
    train(net, X_tr, y_tr, epochs=2, X_val=X_tr, y_val=y_tr, progress=True)
    out = capsys.readouterr()
    text = (out.out + out.err).splitlines()
    lines = [line for line in text if line.startswith("epoch 2/2: loss")]
    assert len(lines) == 1 and "train acc" in lines[0] and "val acc" in lines[0]


# ---------------------------------------------------------------------------- checkpoints
def _fresh(**kw):
    return QuantNet.from_model(digits_mlp(seed=2), eta=0.15, **kw)


CK = dict(epochs=3, lr=3e-3, batch_size=128, progress=False, seed=11)


def test_resumed_training_equals_uninterrupted(digits, tmp_path):
    X_tr, y_tr = digits[0], digits[2]
    straight = _fresh()
    h_straight = train(straight, X_tr, y_tr, checkpoint=tmp_path / "a.pt", **CK)

    interrupted = _fresh()
    calls = {"n": 0}
    forward = interrupted.forward

    def forward_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 14:                # 10 steps per epoch: in the middle of epoch 2
            raise KeyboardInterrupt
        return forward(*args, **kwargs)

    interrupted.forward = forward_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, X_tr, y_tr, checkpoint=tmp_path / "b.pt", **CK)
    assert load_checkpoint(tmp_path / "b.pt")["epoch"] == 1
    assert all(p.requires_grad for p in interrupted.parameters())

    resumed = _fresh()                       # as after a restart: rebuilt from the model
    h_resumed = train(resumed, X_tr, y_tr, checkpoint=tmp_path / "b.pt", **CK)
    assert h_resumed["epochs_done"] == 3
    np.testing.assert_allclose(h_resumed["loss"], h_straight["loss"], rtol=1e-6)
    a, b = straight.state_dict(), resumed.state_dict()
    for k in a:
        np.testing.assert_allclose(b[k].numpy(), a[k].numpy(), atol=1e-6, err_msg=k)
    # a finished checkpoint just gives back its result
    again = _fresh()
    h = train(again, X_tr, y_tr, checkpoint=tmp_path / "a.pt", **CK)
    assert h["loss"] == h_straight["loss"]
    assert torch.equal(again.stages[0].weight, straight.stages[0].weight)


def test_checkpoint_config_mismatch_names_the_key(digits, tmp_path):
    X_tr, y_tr = digits[0][:256], digits[2][:256]
    path = tmp_path / "c.pt"
    train(_fresh(), X_tr, y_tr, checkpoint=path, **dict(CK, epochs=1))
    with pytest.raises(ValueError, match="lr=0.003.*lr=0.002"):
        train(_fresh(), X_tr, y_tr, checkpoint=path, **dict(CK, epochs=1, lr=2e-3))
    with pytest.raises(ValueError, match="act_bits"):
        train(_fresh(act_bits=4), X_tr, y_tr, checkpoint=path, **dict(CK, epochs=1))
    # resume=False starts afresh and overwrites
    h = train(_fresh(), X_tr, y_tr, checkpoint=path, resume=False, **dict(CK, epochs=1, lr=2e-3))
    assert h["epochs_done"] == 1 and load_checkpoint(path)["config"]["lr"] == 2e-3


def test_interrupted_save_keeps_previous_checkpoint(digits, tmp_path, monkeypatch):
    X_tr, y_tr = digits[0][:256], digits[2][:256]
    path = tmp_path / "d.pt"
    cfg = dict(CK, epochs=2)
    net = _fresh()
    first = train(net, X_tr, y_tr, checkpoint=path, **dict(cfg))
    path.unlink()
    # redo: epoch 1 saves normally, the save of epoch 2 dies half-way
    real_save = torch.save
    count = {"n": 0}

    def dying_save(obj, f, *a, **k):
        count["n"] += 1
        if count["n"] == 2:
            f.write(b"half a checkpoint")
            raise OSError("disk full")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        train(_fresh(), X_tr, y_tr, checkpoint=path, **dict(cfg))
    monkeypatch.undo()
    ck = load_checkpoint(path)
    assert ck["epoch"] == 1 and ck["history"]["loss"] == first["loss"][:1]
    assert os.listdir(tmp_path) == ["d.pt"]          # no temporary file left behind


# ---------------------------------------------------------------------------- start=k, export
def test_training_from_a_later_stage_leaves_earlier_stages_alone(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = QuantNet.from_model(digits_mlp(), eta=0.15)
    train(net, X_tr, y_tr, epochs=5, lr=1e-2, progress=False)
    with torch.no_grad():
        H_tr = net(X_tr, stop=1).numpy()      # what the chip's first layer would give
        H_te = net(X_te, stop=1).numpy()
    assert evaluate(net, H_te, y_te, start=1) == evaluate(net, X_te, y_te)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train(net, H_tr, y_tr, start=1, epochs=3, lr=1e-2, progress=False)
    after = net.state_dict()
    for k in ("stages.0.weight", "stages.0.bias", "stages.0.clip"):
        assert torch.equal(after[k], before[k]), k
    assert not torch.equal(after["stages.1.weight"], before["stages.1.weight"])
    assert all(p.requires_grad for p in net.parameters())


def _quantise(x, top, bits):
    L = 2 ** bits - 1
    return np.round(np.clip(x, 0, top) / top * L) * top / L


def test_export_matches_an_independent_forward_pass(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = QuantNet.from_model(digits_mlp(), in_bits=3, act_bits=3, eta=0.15)
    train(net, X_tr, y_tr, epochs=5, lr=1e-2, progress=False)
    model = export(net)
    fc1, fc2 = model.layers
    alpha = net.clips()[0]
    assert (fc1.name, fc2.name) == ("fc1", "fc2")
    assert (fc1.activation, fc1.clip, fc1.x_max) == ("relu", pytest.approx(alpha), 1.0)
    assert (fc2.activation, fc2.clip, fc2.x_max) == ("linear", None, pytest.approx(alpha))
    assert fc1.W.shape == (64, 64) and fc2.W.shape == (64, 10) and fc1.W.dtype == np.float64
    np.testing.assert_array_equal(fc1.W, net.stages[0].weight.detach().numpy().T)
    # the chip's computation in numpy: 3-bit inputs, 3-bit clipped-ReLU levels
    h = _quantise(_quantise(X_te, 1.0, 3) @ fc1.W + fc1.b, alpha, 3)
    logits = h @ fc2.W + fc2.b
    with torch.no_grad():
        out = net(X_te).numpy()
    rows_equal = np.all(np.isclose(out, logits, atol=1e-4), axis=1)
    assert rows_equal.mean() > 0.99          # a level may flip at an exact rounding tie


def test_export_float_model_agrees_at_8_bits(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = QuantNet.from_model(digits_mlp(), in_bits=3, act_bits=8, eta=0.15)
    train(net, X_tr, y_tr, epochs=5, lr=1e-2, progress=False)
    float_model = export(net)
    pred = float_model.forward_float(_quantise(X_te, 1.0, 3)).argmax(1)
    with torch.no_grad():
        assert np.mean(pred == net(X_te).numpy().argmax(1)) > 0.99


def test_export_of_a_convolutional_net():
    rng = np.random.default_rng(0)
    model = Sequential(Conv2d(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3),
                              stride=1, padding=1, name="c1"),
                       MaxPool2d(2, name="p1"), Flatten(name="fl"),
                       Dense(rng.standard_normal((27, 4)), rng.standard_normal(4),
                             activation="linear", name="out"), name="tiny")
    net = QuantNet.from_model(model, in_bits=16, act_bits=16, clip_init=50.0)
    back = export(net)
    assert [l.name for l in back.layers] == ["c1", "p1", "fl", "out"]
    assert back.name == "tiny" and back.layers[0].padding == 1
    np.testing.assert_allclose(back.layers[0].W, model.layers[0].W, rtol=1e-6)
    np.testing.assert_allclose(back.layers[3].W, model.layers[3].W, rtol=1e-6)
    assert back.layers[3].x_max == 50.0
    x = rng.uniform(0, 1, (5, 2, 6, 6))
    with torch.no_grad():
        out = net(x).numpy()
    np.testing.assert_allclose(back.forward_float(_quantise(x, 1.0, 16)), out,
                               rtol=1e-3, atol=1e-3)


def test_weight_clip_limits_weights_as_the_mapping_does(digits):
    import snn_neurram as sn
    from snn_neurram.mapping import weight_scale

    X_tr, _, y_tr, _ = digits
    net = QuantNet.from_model(digits_mlp(seed=0), weight_clip=95.0, seed=0)
    train(net, X_tr, y_tr, epochs=3, lr=3e-3, batch_size=64, progress=False, seed=0)
    W = net.stages[0].weight.detach().numpy()
    p95 = np.percentile(np.abs(W), 95)              # numpy's percentile: independent of torch
    W_used = net.stages[0].effective_weight().detach().numpy()
    assert np.allclose(W_used, np.clip(W, -p95, p95), atol=1e-4)
    model = export(net)
    assert np.abs(model.layers[0].W).max() == pytest.approx(p95, rel=1e-3)
    # the compiler's w_max is that same limit: nothing more is clipped on the chip
    assert weight_scale(model.layers[0].W, sn.Chip().percentile) == pytest.approx(
        np.abs(model.layers[0].W).max(), rel=1e-3)
    with pytest.raises(ValueError, match="weight_clip"):
        QuantNet.from_model(digits_mlp(seed=0), weight_clip=0.0)
