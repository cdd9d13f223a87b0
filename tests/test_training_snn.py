"""Surrogate-gradient training of native spiking networks (snn_neurram.training.snn)."""

import numpy as np
import pytest
from optional import need

import snn_neurram as sn

torch = need("torch")

from snn_neurram.apps.datasets import load_digits_split  # noqa: E402
from snn_neurram.compiler.native import simulate_float  # noqa: E402
from snn_neurram.nn.layers import Flatten, MaxPool2d, Sequential, layer_from_dict  # noqa: E402
from snn_neurram.nn.spiking import LIF, SpikingConv2d, SpikingDense  # noqa: E402
from snn_neurram.physics.device import RRAMDevice  # noqa: E402
from snn_neurram.physics.encoding import regular  # noqa: E402
from snn_neurram.physics.mapping import weight_scale  # noqa: E402
from snn_neurram.training import (SpikingNet, encode_inputs, evaluate_snn,  # noqa: E402
                                  export_snn, load_checkpoint, train_snn, weight_noise_sigma)
from snn_neurram.training.snn import spike_fn  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny per-step ops: one thread is faster (and steadier on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0)


def _jitter(net, seed, scale=0.1):
    """Move every weight off its initial grid (random float64 values: no ties by accident)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return net


def _nets():
    return {
        "mlp-subtract": SpikingNet.mlp([20, 30, 6], beta=1.0, reset="subtract", gain=3.0,
                                       seed=1),
        "mlp-zero-leaky": SpikingNet.mlp([20, 30, 6], beta=0.8, reset="zero", gain=3.0, seed=2),
        "mlp-recurrent": SpikingNet.mlp([20, 30, 25, 6], beta=0.9, recurrent=True, gain=3.0,
                                        seed=3),
        "mlp-memoryless": SpikingNet.mlp([20, 30, 6], beta=0.0, reset="zero", gain=3.0, seed=6),
        "mlp-refractory-count": SpikingNet.mlp([20, 30, 6], beta=0.9, reset="zero", refractory=2,
                                               gain=3.0, seed=4, readout="count"),
        "conv": SpikingNet.conv((2, 8, 8), (4, 6), 6, kernel=3, padding=1, pool=2, hidden=(12,),
                                beta=0.9, gain=2.0, seed=5),
    }


# ---------------------------------------------------------------------------- forward semantics
@pytest.mark.parametrize("kind", list(_nets()))
def test_forward_equals_simulate_float_spike_for_spike(kind):
    net = _jitter(_nets()[kind], seed=len(kind))
    net.saturation = False                 # simulate_float has no integrator saturation
    net.double()
    shape = (2, 8, 8) if kind == "conv" else (20,)
    X = np.random.default_rng(7).random((9,) + shape)
    s = encode_inputs(X, 12, "rate", torch.Generator().manual_seed(3)).double()
    with torch.no_grad():
        out, spikes = net.run(s, record=True)
    model = export_snn(net)
    ref = simulate_float(model, s.numpy().astype(np.int8), readout=net.readout)
    assert len(spikes) == len(ref.spikes)
    for k, (a, b) in enumerate(zip(spikes, ref.spikes)):
        np.testing.assert_array_equal(a.numpy(), b, err_msg=f"layer {k}")
    np.testing.assert_allclose(out.numpy(), ref.outputs, rtol=1e-12, atol=1e-12)
    rates = [float(a.mean()) for a in spikes[:-1]]
    assert all(0.02 < r < 0.9 for r in rates), rates        # the comparison means something
    # the weights were limited to the chip's range, the limited weights got exported, and the
    # compiler's w_max of them is that limit again (it clips nothing more)
    M = np.abs(model.layers[0].matrix()[0])
    assert np.mean(M == M.max()) > 0.03
    assert weight_scale(M, 95.0) == M.max()


def test_ties_fire_and_resets():
    """v reaching the threshold exactly fires (>=): a 0.5 weight driven every step fires every
    other step with either reset; with beta 0.5 the membrane only approaches the threshold."""
    for reset, beta, want in [("subtract", 1.0, [0, 1, 0, 1, 0, 1]),
                              ("zero", 1.0, [0, 1, 0, 1, 0, 1]),
                              ("zero", 0.5, [0, 0, 0, 0, 0, 0])]:
        model = Sequential(SpikingDense(np.full((1, 1), 0.5), None, LIF(1.0, beta, reset)),
                           SpikingDense(np.ones((1, 1)), None, LIF(1.0)))
        net = SpikingNet.from_model(model, weight_clip=None, saturation=False).double()
        s = torch.ones((6, 1, 1), dtype=torch.float64)
        with torch.no_grad():
            _, spikes = net.run(s, record=True)
        assert spikes[0].flatten().tolist() == want, (reset, beta)
        ref = simulate_float(export_snn(net), np.ones((6, 1, 1), np.int8))
        np.testing.assert_array_equal(spikes[0].numpy(), ref.spikes[0])


def _chip_limits(model):
    """v_swing / volts per weight unit of the first layer's neurons, on an ideal chip that holds
    the compiled network (the compiler's V_read and the core's own gains)."""
    from snn_neurram.compiler.conversion import spiking_plan

    chip = sn.Chip(n_cores=4, device=sn.RRAMDevice.ideal(), percentile=95.0, seed=0)
    prog = sn.compile(model, chip, input_shape=model.layers[0].W.shape[:1])
    layer = model.layers[0]
    sp = spiking_plan(prog.plan, layer, False, "membrane", "spikes", 8)
    return sp.neuron.v_swing * layer.neuron.thresholds(sp.theta.size) / sp.theta


def test_saturation_follows_the_row_segment_rule():
    # 64 inputs + 1 bias row fit a row segment; 128 + bias do not: a digital membrane
    net = SpikingNet.mlp([64, 128, 10], threshold=0.5, seed=3)
    first, second = net.saturations()
    assert first.shape == (128,) and second is None
    # where the chip saturates: the compiled chip's own gains at its V_read agree
    np.testing.assert_allclose(first, _chip_limits(export_snn(net))[:128], rtol=1e-5)
    # closed form: weights all +w_max (G+ = g_max, G- = g_min), 40 pairs, no bias
    W = np.full((40, 3), 0.2)
    g_min, g_max = 1e-6, 40e-6
    load = 40 * (g_max + g_min) + (256 - 80) * g_min
    per_volt = 0.25 * (g_max - g_min) / (0.2 * load)
    for th in (0.05, 40.0):                    # V_read held at the drivers' 0.85 V; below it
        v_read = min(0.85, 0.5 * 0.8 / (per_volt * th))
        model = Sequential(SpikingDense(W, None, LIF(th)), SpikingDense(np.ones((3, 2))))
        got = SpikingNet.from_model(model).saturations()[0]
        np.testing.assert_allclose(got, 0.8 / (per_volt * v_read), rtol=1e-6)   # float32
        np.testing.assert_allclose(got, _chip_limits(model), rtol=1e-5)
    np.testing.assert_allclose(got, 2 * 40.0, rtol=1e-6)   # V_read = 0.37 V: two thresholds
    # recurrent rows count: 20 + 120 own spikes + bias > 128
    assert SpikingNet.mlp([20, 120, 5], recurrent=True).saturations()[0] is None
    # per-channel thresholds of a convolution: the largest one sets the block's V_read
    conv = Sequential(SpikingConv2d(np.full((3, 1, 3, 3), 0.1), None, 1, 1,
                                    LIF([2.0, 4.0, 6.0])),
                      Flatten(), SpikingDense(np.ones((192, 2))))
    sats = SpikingNet.from_model(conv).saturations()
    np.testing.assert_allclose(sats[0], 2 * 6.0, rtol=1e-6)
    assert sats[1] is None
    # the clip acts in every step: a membrane driven by +3 per step stops at the limit
    model = Sequential(SpikingDense(np.full((1, 1), 3.0), None, LIF(1.0)))
    net = SpikingNet.from_model(model, weight_clip=None).double()
    limit = float(net.saturations()[0][0])
    s = torch.ones((4, 1, 1), dtype=torch.float64)
    with torch.no_grad():
        assert net(s).item() == pytest.approx(min(12.0, limit))
        assert net(-s).item() == pytest.approx(-min(12.0, limit))
        net.saturation = False
        assert net(s).item() == 12.0


def test_input_codes():
    X = np.random.default_rng(0).random((50, 7))
    np.testing.assert_array_equal(encode_inputs(X, 10, "regular").numpy(), regular(X, 10))
    a = encode_inputs(X, 400, "rate", torch.Generator().manual_seed(5))
    b = encode_inputs(X, 400, "rate", torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert a.mean(0).numpy() == pytest.approx(X, abs=0.09)
    trains = np.random.default_rng(1).integers(0, 2, (5, 6, 3))
    assert encode_inputs(trains, 6, "spikes").shape == (6, 5, 3)
    with pytest.raises(ValueError, match="coding"):
        encode_inputs(X, 10, "latency")


def test_device_noise_follows_weight_noise_sigma():
    net = SpikingNet.mlp([30, 40, 5], seed=3, bias=False)
    layer = net.layers[0]
    W = layer.weight.detach().double().numpy()
    want = weight_noise_sigma(W, RRAMDevice(), 86400.0, 95.0)
    gen = torch.Generator().manual_seed(0)
    draws = np.stack([net.draw_noise("device", generator=gen)[0][0].numpy() for _ in range(400)])
    assert draws.std(axis=0).mean() == pytest.approx(want.mean(), rel=0.05)
    assert np.corrcoef(draws.std(axis=0).ravel(), want.ravel())[0, 1] > 0.8


def test_export_round_trips_and_rebuilds():
    net = _jitter(_nets()["conv"], seed=1)
    model = export_snn(net)
    kinds = [type(l).__name__ for l in model.layers]
    assert kinds == ["SpikingConv2d", "MaxPool2d", "SpikingConv2d", "MaxPool2d", "Flatten",
                     "SpikingDense", "SpikingDense"]
    assert isinstance(model.layers[0], SpikingConv2d) and model.layers[0].neuron.beta == 0.9
    again = layer_from_dict(model.to_dict())
    s = encode_inputs(np.random.default_rng(2).random((4, 2, 8, 8)), 6, "regular").double()
    with torch.no_grad():
        a = SpikingNet.from_model(again).double()(s)
        b = net.double()(s)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    rec = export_snn(_nets()["mlp-recurrent"]).layers[0]
    assert rec.W_rec is not None and rec.W_rec.shape == (30, 30)
    with pytest.raises(ValueError, match="no spiking layer"):
        SpikingNet.from_model(Sequential(Flatten(), MaxPool2d(2)))


# ---------------------------------------------------------------------------- gradients
def test_surrogate_gradient_is_finite_and_nonzero():
    v = torch.linspace(-1, 3, 9, requires_grad=True)
    for surrogate in ("fast_sigmoid", "arctan"):
        s = spike_fn(v, torch.ones(9), surrogate)
        assert s.tolist() == [float(x >= 1) for x in v.tolist()]
        (g,) = torch.autograd.grad(s.sum(), v)
        assert torch.all(torch.isfinite(g)) and torch.all(g > 0)
        assert int(g.argmax()) == 4                           # largest at the threshold
    net = SpikingNet.mlp([64, 32, 10], recurrent=True, seed=0)
    X = np.random.default_rng(0).random((32, 64))
    s = encode_inputs(X, 8, "rate", torch.Generator().manual_seed(0))
    loss = torch.nn.functional.cross_entropy(
        net(s, net.draw_noise("device", generator=torch.Generator().manual_seed(1))),
        torch.arange(32) % 10)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.all(torch.isfinite(p.grad)), name
        assert p.grad.abs().sum() > 0, name


def test_one_training_step_lowers_the_loss():
    net = SpikingNet.mlp([64, 32, 10], seed=0)
    X = np.random.default_rng(0).random((64, 64))
    y = torch.arange(64) % 10
    s = encode_inputs(X, 8, "rate", torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    before = torch.nn.functional.cross_entropy(net(s), y)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(net(s), y)
    assert after.item() < before.item()


# ---------------------------------------------------------------------------- training
def test_digits_training_reaches_a_sensible_accuracy(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = SpikingNet.mlp([64, 128, 10], beta=0.9, threshold=1.0, reset="subtract", seed=0)
    h = train_snn(net, X_tr, y_tr, steps=8, coding="rate", epochs=6, lr=5e-3, batch_size=64,
                  noise="device", progress=False, seed=0)
    assert h["epochs_done"] == 6 and h["loss"][-1] < h["loss"][0]
    acc = evaluate_snn(net, X_te, y_te, steps=8, coding="rate", seed=0)
    assert acc >= 0.85                      # measured 0.93-0.95
    noisy = evaluate_snn(net, X_te, y_te, steps=8, noise="device", draws=2)
    assert noisy >= 0.8
    # the exported model gives the same answers in numpy (deterministic code)
    s = encode_inputs(X_te[:200], 8, "regular")
    net.saturation = False                  # simulate_float has no integrator saturation
    with torch.no_grad():
        ours = net.double()(s.double()).argmax(1).numpy()
    ref = simulate_float(export_snn(net), s.numpy().astype(np.int8))
    assert np.mean(ours == ref.predictions) == 1.0


def test_training_on_given_spike_trains_and_validation(digits):
    X_tr, X_te, y_tr, y_te = digits
    trains = encode_inputs(X_tr[:200], 6, "regular").transpose(0, 1).numpy()   # (N, steps, 64)
    net = SpikingNet.mlp([64, 32, 10], seed=1)
    h = train_snn(net, trains, y_tr[:200], steps=6, coding="spikes", epochs=2, lr=5e-3,
                  noise="relative", eta=0.1, X_val=trains[:50], y_val=y_tr[:50],
                  progress=False, threads=2)
    assert len(h["val_accuracy"]) == 2 and all(0 <= a <= 1 for a in h["val_accuracy"])
    assert torch.get_num_threads() == 1                    # the caller's setting is restored
    with pytest.raises(ValueError, match="spike trains"):
        train_snn(net, X_tr[:20], y_tr[:20], steps=6, coding="spikes", epochs=1)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train_snn(net, X_tr[:20] * 16, y_tr[:20], steps=6, epochs=1)


CK = dict(steps=6, coding="rate", epochs=3, lr=5e-3, batch_size=64, noise="device",
          progress=False, seed=11)


def _fresh():
    return SpikingNet.mlp([64, 32, 10], recurrent=True, seed=4)


def test_resumed_training_equals_uninterrupted(digits, tmp_path):
    X_tr, y_tr = digits[0][:320], digits[2][:320]            # 5 batches per epoch
    straight = _fresh()
    h_straight = train_snn(straight, X_tr, y_tr, checkpoint=tmp_path / "a.pt", **CK)

    interrupted = _fresh()
    calls = {"n": 0}
    forward = interrupted.forward

    def forward_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:                 # in the middle of epoch 2
            raise KeyboardInterrupt
        return forward(*args, **kwargs)

    interrupted.forward = forward_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        train_snn(interrupted, X_tr, y_tr, checkpoint=tmp_path / "b.pt", **CK)
    assert load_checkpoint(tmp_path / "b.pt")["epoch"] == 1

    resumed = _fresh()                       # as after a restart
    h_resumed = train_snn(resumed, X_tr, y_tr, checkpoint=tmp_path / "b.pt", **CK)
    assert h_resumed["epochs_done"] == 3
    assert h_resumed["loss"] == h_straight["loss"]
    a, b = straight.state_dict(), resumed.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # settings must match to resume
    with pytest.raises(ValueError, match="lr=0.005.*lr=0.002"):
        train_snn(_fresh(), X_tr, y_tr, checkpoint=tmp_path / "a.pt", **dict(CK, lr=2e-3))
    h = train_snn(_fresh(), X_tr, y_tr, checkpoint=tmp_path / "a.pt", resume=False,
                  **dict(CK, epochs=1))
    assert h["epochs_done"] == 1


def test_lazy_names_are_registered():
    import snn_neurram.training as t

    for name in ("SpikingNet", "train_snn", "evaluate_snn", "export_snn", "encode_inputs"):
        assert name in t.__all__ and getattr(t, name) is not None
