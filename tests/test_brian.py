"""The Brian2 engine against the core model and against closed forms."""

import numpy as np
import pytest

import brian2 as b2  # a core dependency: a missing Brian2 fails, not skips

from snn_neurram import Core, NeuronConfig, RRAMDevice                      # noqa: E402
from snn_neurram.brian import (NeuRRAMNeurons, RRAMSynapses, TransposableSynapses,  # noqa: E402
                               from_core)
from snn_neurram.neuron import adc_convert, lif_rate                          # noqa: E402


pytestmark = pytest.mark.usefixtures("brian_numpy")


def quiet():
    return RRAMDevice(read_noise=False)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh"])
def test_ann_outputs_equal_core_forward_and_backward(activation, rng):
    W = rng.standard_normal((30, 12)) * 0.5
    core = Core(device=quiet(), seed=1, precision="double").program(W, rng.standard_normal(12))
    x = rng.uniform(-1, 1, (16, 30))
    circuit = from_core(core)
    V, y = circuit.forward(x, 3, 6, activation)
    assert np.allclose(V, core.integrate(x, 3)[0], rtol=1e-9, atol=1e-15)
    assert np.allclose(y, core.forward(x, 3, 6, activation), rtol=1e-9, atol=1e-12)
    yb = rng.uniform(-1, 1, (16, 12))
    Vb, ob = circuit.backward(yb, 2, 6, activation)
    assert np.allclose(Vb, core.integrate(yb, 2, direction="backward")[0], rtol=1e-9,
                       atol=1e-15)
    assert np.allclose(ob, core.backward(yb, 2, 6, activation), rtol=1e-9, atol=1e-12)


def test_adc_code_matches_neuron_module(rng):
    """The Brian2 ADC expression against :func:`snn_neurram.neuron.adc_convert`."""
    W = rng.standard_normal((10, 20))
    core = Core(device=quiet(), seed=3, precision="double").program(W)
    circuit = from_core(core)
    x = rng.uniform(-1, 1, (40, 10))
    V, y = circuit.forward(x, 2, 5, "linear")
    codes = adc_convert(np.clip(V, -0.8, 0.8), core.neuron.adc_lsb, 16, signed=True)
    assert np.allclose(y, codes * np.asarray(circuit.cols.unit[:]))


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_read_noise_statistics_match_core(direction, rng):
    """Over 4000 reads of one input, mean and standard deviation of the integrated voltage
    agree with the core's (per output, within 5 %)."""
    dev = RRAMDevice(read_noise_sigma=0.05, faults=False)
    W = rng.standard_normal((40, 6) if direction == "forward" else (6, 40))
    core = Core(device=dev, seed=1, precision="double").program(W)
    circuit = from_core(core)
    n = 40
    x = np.tile(rng.uniform(0, 1, (1, n)), (4000, 1))
    run = circuit.forward if direction == "forward" else circuit.backward
    V = run(x, 1, 8)[0]
    Vc = core.integrate(x, 1, direction=direction)[0]
    sd = Vc.std(axis=0)
    assert np.allclose(V.std(axis=0), sd, rtol=0.05)
    assert np.all(np.abs(V.mean(axis=0) - Vc.mean(axis=0)) < 5 * sd / np.sqrt(len(x)))


def constant_drive(n, value=1.0):
    g = b2.NeuronGroup(n, "y : 1")
    g.y = value
    return g


@pytest.mark.parametrize("reset, refractory", [("zero", 0), ("zero", 3), ("subtract", 0)])
def test_lif_rate_matches_discrete_time_closed_form(reset, refractory, rng):
    cfg = NeuronConfig(threshold=0.3, reset=reset, refractory=refractory)
    src = constant_drive(8)
    W = np.abs(rng.standard_normal((8, 5))) * np.linspace(0.2, 1.0, 5)
    neurons = NeuRRAMNeurons(5, cfg, mode="lif")
    syn = RRAMSynapses(src, neurons, W, device=RRAMDevice.ideal(), percentile=100)
    spikes = b2.SpikeMonitor(neurons)
    steps = 3000
    b2.Network(src, neurons, syn, spikes).run(steps * b2.defaultclock.dt)
    # independent closed form: the settled line voltage from the conductances, then the rate
    gp = np.asarray(syn.Gp[:]).reshape(8, 5)
    gm = np.asarray(syn.Gm[:]).reshape(8, 5)
    v_sl = cfg.v_read * (gp - gm).sum(0) / (gp + gm).sum(0)
    dv = cfg.c_ratio * v_sl
    if reset == "subtract":
        expect = dv / cfg.threshold
    else:
        expect = 1.0 / (np.ceil(cfg.threshold / dv) + refractory)
    measured = np.bincount(spikes.i[:], minlength=5) / steps
    assert np.allclose(measured, expect, atol=1.5 / steps)
    assert np.allclose([lif_rate(v, cfg) for v in v_sl], expect)


def test_spike_inputs_integrate_like_graded_pulses(rng):
    """Spikes through on_pre and the same pulses as graded values give the same voltages
    (spikes arrive one cycle later, as they are emitted in one cycle and read in the next)."""
    n_in, n_out, steps = 12, 4, 60
    pattern = rng.random((steps, n_in)) < 0.3
    W = rng.standard_normal((n_in, n_out))
    gp, gm = np.abs(W) * 1e-6 + 1e-6 * (W > 0), np.abs(W) * 1e-6 * (W < 0) + 1e-6
    idx, t_idx = np.nonzero(pattern.T)
    gen = b2.SpikeGeneratorGroup(n_in, idx, t_idx * b2.defaultclock.dt)
    a = NeuRRAMNeurons(n_out, mode="lif", config=NeuronConfig(threshold=100.0))
    sa = RRAMSynapses(gen, a, conductances=(gp, gm), input="spikes", device=quiet())
    ta = b2.TimedArray(np.vstack([np.zeros((1, n_in)), pattern]).astype(float),
                       dt=b2.defaultclock.dt)
    drive = b2.NeuronGroup(n_in, "y = ta(t, i) : 1")
    b = NeuRRAMNeurons(n_out, mode="lif", config=NeuronConfig(threshold=100.0))
    sb = RRAMSynapses(drive, b, conductances=(gp, gm), input="graded", device=quiet())
    ma, mb = b2.StateMonitor(a, "v", record=True), b2.StateMonitor(b, "v", record=True)
    b2.Network(gen, a, sa, drive, b, sb, ma, mb).run(steps * b2.defaultclock.dt)
    assert np.allclose(ma.v_, mb.v_, rtol=1e-10, atol=1e-15)
    assert np.abs(ma.v_).max() > 0


def test_spike_read_noise_matches_graded_read_noise():
    """Spike-driven lines draw the same read noise as graded ones (both exact per cell)."""
    rng = np.random.default_rng(5)
    dev = RRAMDevice(read_noise_sigma=0.05, faults=False)
    n_in, n_out, steps = 20, 3, 4000
    W = rng.standard_normal((n_in, n_out))
    active = rng.random(n_in) < 0.5
    cfg = NeuronConfig(threshold=1e6)
    gen = b2.SpikeGeneratorGroup(n_in, np.repeat(np.nonzero(active)[0], steps),
                                 np.tile(np.arange(steps), active.sum()) * b2.defaultclock.dt)
    a = NeuRRAMNeurons(n_out, cfg, mode="lif", read_noise=0.05)
    sa = RRAMSynapses(gen, a, W, input="spikes", device=dev, seed=1)
    drive = constant_drive(n_in)
    drive.y = active.astype(float)
    b = NeuRRAMNeurons(n_out, cfg, mode="lif", read_noise=0.05)
    sb = RRAMSynapses(drive, b, conductances=(np.asarray(sa.Gp[:]).reshape(n_in, n_out),
                                              np.asarray(sa.Gm[:]).reshape(n_in, n_out)),
                      input="graded", device=dev)
    ma = b2.StateMonitor(a, "v_sl", record=True)
    mb = b2.StateMonitor(b, "v_sl", record=True)
    b2.Network(gen, a, sa, drive, b, sb, ma, mb).run(steps * b2.defaultclock.dt)
    va, vb = ma.v_sl_[:, 1:], mb.v_sl_[:, 1:]
    assert np.allclose(va.std(axis=1), vb.std(axis=1), rtol=0.06)
    assert np.allclose(va.mean(axis=1), vb.mean(axis=1), atol=5 * vb.std(axis=1).max() / 60)


def test_mode_switch_between_runs_without_rebuilding(rng):
    src = constant_drive(6)
    neurons = NeuRRAMNeurons(3, mode="linear", window=4)
    syn = RRAMSynapses(src, neurons, rng.standard_normal((6, 3)), device=quiet(), seed=0)
    net = b2.Network(src, neurons, syn)
    net.run(4 * b2.defaultclock.dt)
    y_lin = np.asarray(neurons.y[:]).copy()
    neurons.set_mode("relu")
    neurons.reset_state()
    net.run(4 * b2.defaultclock.dt)
    assert np.allclose(neurons.y[:], np.maximum(np.round(y_lin), 0), atol=1.0)
    assert np.all(np.asarray(neurons.y[:]) >= 0)
    neurons.set_mode("lif")
    net.run(10 * b2.defaultclock.dt)          # no error, no rebuild
    with pytest.raises(ValueError, match="mode must be one of"):
        neurons.set_mode("softmax")


def test_poisson_inputs_and_monitors(rng):
    inp = b2.PoissonGroup(50, rates=0.2 / b2.defaultclock.dt)
    neurons = NeuRRAMNeurons(10, NeuronConfig(threshold=0.02), mode="lif", read_noise=0.01)
    syn = RRAMSynapses(inp, neurons, np.abs(rng.standard_normal((50, 10))), input="spikes",
                       device=RRAMDevice(), seed=0)
    sm = b2.SpikeMonitor(neurons)
    vm = b2.StateMonitor(neurons, "v", record=[0, 1])
    b2.Network(inp, neurons, syn, sm, vm).run(300 * b2.defaultclock.dt)
    assert sm.num_spikes > 0
    assert vm.v.shape == (2, 300)


def test_gibbs_order_is_controllable(rng):
    """forward_first: the rows see the columns' new outputs within the same step."""
    for order in ("forward_first", "backward_first"):
        rows = NeuRRAMNeurons(4, mode="linear", backward=True)
        cols = NeuRRAMNeurons(3, mode="linear")
        TransposableSynapses(rows, cols, rng.standard_normal((4, 3)), device=quiet(),
                             order=order)           # sets the orders of the two groups
        first = cols.cycle_op.order < rows.cycle_op.order
        assert first == (order == "forward_first")
        # each group converts right after it integrates, before the other pathway is summed
        assert rows.readout_op.order == rows.cycle_op.order + 1


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="rows must be NeuRRAMNeurons"):
        TransposableSynapses(NeuRRAMNeurons(2), NeuRRAMNeurons(2), np.ones((2, 2)),
                             device=quiet())
    # read noise is given once, in the device; neurons told otherwise refuse the synapses
    with pytest.raises(ValueError, match="read_noise"):
        RRAMSynapses(constant_drive(2), NeuRRAMNeurons(2, read_noise=0.0), np.ones((2, 2)),
                     device=RRAMDevice())
    with pytest.raises(ValueError, match="source x target"):
        RRAMSynapses(constant_drive(3), NeuRRAMNeurons(2), np.ones((2, 2)), device=quiet())
    core = Core(device=quiet()).program(rng.standard_normal((4, 3)))
    with pytest.raises(ValueError, match="single-phase"):
        from_core(core).forward(np.zeros((1, 4)), in_bits=6)


@pytest.mark.cython
def test_cython_target_equals_core(rng):
    b2.prefs.codegen.target = "cython"
    W = rng.standard_normal((16, 8))
    core = Core(device=quiet(), seed=1, precision="double").program(W, rng.standard_normal(8))
    x = rng.uniform(-1, 1, (8, 16))
    V, y = from_core(core).forward(x, 2, 6, "relu")
    assert np.allclose(V, core.integrate(x, 2)[0], rtol=1e-9, atol=1e-15)
    assert np.allclose(y, core.forward(x, 2, 6, "relu"), rtol=1e-9, atol=1e-12)


STANDALONE_SCRIPT = r"""
import json, sys
import numpy as np
import brian2 as b2
b2.set_device("cpp_standalone", directory=sys.argv[1])
b2.defaultclock.dt = 0.27 * b2.us
from snn_neurram import NeuronConfig, RRAMDevice
from snn_neurram.brian import NeuRRAMNeurons, RRAMSynapses
cfg = NeuronConfig(threshold=0.3, reset="zero", refractory=2)
drive = b2.NeuronGroup(8, "y : 1")
drive.y = 1
out = NeuRRAMNeurons(4, cfg, mode="lif")
W = np.abs(np.random.default_rng(0).standard_normal((8, 4))) * np.linspace(0.3, 1, 4)
syn = RRAMSynapses(drive, out, W, device=RRAMDevice.ideal(), percentile=100)
spikes = b2.SpikeMonitor(out)
b2.run(2000 * b2.defaultclock.dt)
gp, gm = np.asarray(syn.Gp[:]).reshape(8, 4), np.asarray(syn.Gm[:]).reshape(8, 4)
counts = np.bincount(np.asarray(spikes.i[:]), minlength=4)
v_sl = cfg.v_read * (gp - gm).sum(0) / (gp + gm).sum(0)
print(json.dumps({"counts": counts.tolist(), "v_sl": v_sl.tolist()}))
"""


@pytest.mark.standalone
def test_cpp_standalone_lif_network(tmp_path):
    """A LIF network of NeuRRAMNeurons and RRAMSynapses builds and runs in cpp_standalone, at
    the closed-form discrete-time rate."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", STANDALONE_SCRIPT, str(tmp_path / "build")],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    cfg = NeuronConfig(threshold=0.3, reset="zero", refractory=2)
    expect = [2000 * lif_rate(v, cfg) for v in r["v_sl"]]
    assert np.allclose(r["counts"], expect, atol=1.5)
    assert min(r["counts"]) > 0


def test_from_core_block_at_an_offset(rng):
    """A block away from the core's origin, sharing its columns with another block."""
    core = Core(device=quiet(), seed=2, precision="double")
    core.program_blocks([dict(W=rng.standard_normal((20, 12))),
                         dict(W=rng.standard_normal((10, 8)), row=20, col=4)])
    x = rng.uniform(-1, 1, (6, 10))
    V, y = from_core(core, block=1).forward(x, 2, 8)
    assert np.allclose(V, core.integrate(x, 2, block=1)[0], rtol=1e-9, atol=1e-15)
    yb = rng.uniform(-1, 1, (6, 8))
    Vb, _ = from_core(core, block=1).backward(yb, 2, 8)
    assert np.allclose(Vb, core.integrate(yb, 2, direction="backward", block=1)[0], rtol=1e-9,
                       atol=1e-15)
