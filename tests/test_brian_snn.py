"""The Brian2 engine runs every compiled spiking program spike for spike as the batch engine.

Read noise off and the chip in double precision: every layer's spike train (and the output
readout) of ``run_snn_brian`` equals the batch engine's (``program.run(mode="snn")``) on layers
over several row and column segments (digital membranes), convolutions (unrolled) with padding,
stride, max-pooling and replicated blocks, recurrent layers, native gating windows, and the
codings rate, regular, latency and spikes.
"""

import numpy as np
import pytest

import brian2 as b2

import snn_neurram as sn                                                       # noqa: E402
from snn_neurram.engines.brian import build_snn_brian, run_snn_brian           # noqa: E402
from snn_neurram.nn.layers import Conv2d, Dense, Flatten, MaxPool2d, Sequential  # noqa: E402
from snn_neurram.nn.spiking import LIF, SpikingConv2d, SpikingDense            # noqa: E402


pytestmark = pytest.mark.usefixtures("brian_numpy")


def quiet_chip(n_cores, **kw):
    return sn.Chip(n_cores=n_cores, device=sn.RRAMDevice(read_noise=False), seed=0,
                   precision="double", **kw)


def both(program, x, coding, steps=20, readout="count", seed=0):
    a = program.run(x, mode="snn", coding=coding, steps=steps, readout=readout,
                    record_spikes=True, seed=seed)
    b = run_snn_brian(program, x, coding, steps, readout=readout, seed=seed,
                      record_spikes=True)
    return a, b


def assert_same_spikes(a, b, min_spikes=20):
    assert len(a.spikes) == len(b.spikes) and a.layer_names == b.layer_names
    for name, sa, sb in zip(a.layer_names, a.spikes, b.spikes):
        assert sa.shape == sb.shape and sa.dtype == sb.dtype == np.int8, name
        assert np.array_equal(sa, sb), f"{name}: {int((sa != sb).sum())} spikes differ"
    for ca, cb in zip(a.spike_counts, b.spike_counts):
        assert ca.shape == cb.shape and np.array_equal(ca, cb)
    # every hidden layer fires (the comparison means something)
    assert all(int(np.abs(s).sum()) >= min_spikes for s in a.spikes[:-1])
    assert np.allclose(a.readout, b.readout, rtol=1e-9, atol=1e-9)
    assert np.array_equal(a.predictions, b.predictions)


def segments(program):
    return [(p.n_rseg, p.n_cseg) for p in program.plan.plans]


# ---------------------------------------------------------------- (a) multi-segment dense
@pytest.fixture(scope="module")
def converted_mlp():
    rng = np.random.default_rng(1)
    model = Sequential(Dense(rng.standard_normal((200, 300)) * 0.1, rng.standard_normal(300) * 0.1),
                       Dense(rng.standard_normal((300, 10)) * 0.1, None, "linear"))
    program = sn.compile(model, quiet_chip(8), calibration=rng.random((64, 200)))
    assert segments(program) == [(2, 2), (3, 1)]       # > 128 inputs, > 256 outputs
    return program, rng.uniform(-0.2, 1.0, (3, 200))


@pytest.mark.parametrize("coding", ["rate", "regular", "latency"])
def test_converted_multi_segment_mlp(converted_mlp, coding):
    program, x = converted_mlp
    a, b = both(program, x, coding, steps=24)
    assert_same_spikes(a, b, min_spikes=10 if coding == "latency" else 20)
    if coding == "latency":
        assert b.spike_counts[1].max() <= 1            # a hidden neuron fires once


def test_native_multi_segment_mlp():
    rng = np.random.default_rng(2)
    model = Sequential(
        SpikingDense(rng.standard_normal((200, 300)) * 0.15, rng.standard_normal(300) * 0.05,
                     LIF(1.0, 0.9)),
        SpikingDense(rng.standard_normal((300, 10)) * 0.2, None, LIF(1.0, 1.0, "zero", 1)))
    program = sn.compile(model, quiet_chip(8),
                         calibration=(rng.random((16, 200)) < 0.2).astype(float))
    assert segments(program) == [(2, 2), (3, 1)]
    # spike trains with negative pulses; the output layer fires (count readout)
    x = ((rng.random((3, 16, 200)) < 0.2) * rng.choice([-1, 1], (3, 16, 200))).astype(np.int8)
    a, b = both(program, x, "spikes")
    assert_same_spikes(a, b)
    assert b.steps_run == 18 and b.spikes[1][:, 0].sum() == 0     # layer 1 starts in cycle 1


# ---------------------------------------------------------------- (b) convolutions
def test_native_conv_pool_flatten_dense():
    """SpikingConv2d over two row segments (16 x 3 x 3 patch rows, padding 1), MaxPool2d, a
    second, analog SpikingConv2d (stride 2), MaxPool2d with overlapping windows (stride 1),
    Flatten, SpikingDense; the first convolution replicated over several cores."""
    rng = np.random.default_rng(3)
    model = Sequential(
        SpikingConv2d(rng.standard_normal((6, 16, 3, 3)) * 0.3, rng.standard_normal(6) * 0.1,
                      padding=1, neuron=LIF(1.0, 0.9, "zero", 1)),
        MaxPool2d(2),
        SpikingConv2d(rng.standard_normal((8, 6, 2, 2)) * 0.6, None, stride=2,
                      neuron=LIF(0.8)),
        MaxPool2d(2, 1), Flatten(),
        SpikingDense(rng.standard_normal((8, 5)) * 0.8, None, LIF(1.0)))
    program = sn.compile(model, quiet_chip(6), calibration=rng.random((16, 16, 8, 8)) * 0.5,
                         replicate=True)
    assert segments(program)[0] == (2, 1) and segments(program)[1] == (1, 1)
    assert len(program.plan.plans[0].blocks[0].placements) > 1
    x = (rng.random((2, 14, 16, 8, 8)) < 0.3).astype(np.int8)
    a, b = both(program, x, "spikes", readout="membrane")
    assert_same_spikes(a, b, min_spikes=5)
    assert b.spike_counts[1].shape == (2, 6, 8, 8) and b.spike_counts[3].shape == (2, 5)


def test_converted_conv_latency_and_rate():
    """A converted CNN (analog convolution, pooled spikes latched into the dense layer)."""
    rng = np.random.default_rng(4)
    model = Sequential(Conv2d(rng.standard_normal((4, 1, 3, 3)) * 0.5,
                              rng.standard_normal(4) * 0.1, padding=1),
                       MaxPool2d(2), Flatten(),
                       Dense(rng.standard_normal((64, 5)) * 0.2, None, "linear"))
    program = sn.compile(model, quiet_chip(2), calibration=rng.random((32, 1, 8, 8)))
    x = rng.uniform(-0.3, 1.0, (3, 1, 8, 8))
    for coding in ("latency", "rate"):
        a, b = both(program, x, coding, steps=16)
        assert_same_spikes(a, b, min_spikes=10)


# ---------------------------------------------------------------- (c) recurrence
def test_native_recurrent_snn():
    """A recurrent layer over two row segments (its 40 input rows and 100 own rows straddle
    them) and an analog recurrent output layer (100 + 20 rows, one segment)."""
    rng = np.random.default_rng(5)
    model = Sequential(
        SpikingDense(rng.standard_normal((40, 100)) * 0.3, rng.standard_normal(100) * 0.05,
                     LIF(1.0, 0.9), W_rec=rng.standard_normal((100, 100)) * 0.1),
        SpikingDense(rng.standard_normal((100, 20)) * 0.3, None, LIF(1.0, 0.95, "zero", 2),
                     W_rec=rng.standard_normal((20, 20)) * 0.3))
    program = sn.compile(model, quiet_chip(4), calibration=rng.random((16, 40)) * 0.5)
    assert segments(program) == [(2, 1), (1, 1)]
    x = (rng.random((3, 20, 40)) < 0.3).astype(np.int8)
    a, b = both(program, x, "spikes")
    assert_same_spikes(a, b)


# ---------------------------------------------------------------- (d) the MLP case
@pytest.mark.parametrize("readout", ["membrane", "count"])
def test_single_block_mlp_unchanged(readout, rng):
    model = Sequential(Dense(rng.standard_normal((20, 16)) * 0.3, rng.standard_normal(16) * 0.1),
                       Dense(rng.standard_normal((16, 5)) * 0.3, None, "linear"))
    chip = sn.Chip(device=sn.RRAMDevice(read_noise=False), seed=0, precision="double",
                   neuron=sn.NeuronConfig(leak=0.05, refractory=1))
    program = sn.compile(model, chip, calibration=rng.uniform(0, 1, (64, 20)))
    x = rng.uniform(0, 1, (6, 20))
    a = program.run(x, mode="snn", coding="rate", steps=30, seed=3, record_raster=True,
                    readout=readout, record_spikes=True)
    b = run_snn_brian(program, x, "rate", 30, seed=3, readout=readout)
    assert b.spikes is None
    assert np.array_equal(a.raster[1], b.raster[1][0])             # step by step, input 0
    assert np.array_equal(a.spikes[1], b.raster[1])
    assert np.array_equal(a.spike_counts[1], b.spike_counts[1])
    assert np.allclose(a.readout, b.readout, atol=1e-9)


# ---------------------------------------------------------------- read noise, errors
def test_read_noise_on_runs_and_matches_in_the_mean():
    rng = np.random.default_rng(6)
    model = Sequential(SpikingDense(rng.standard_normal((150, 40)) * 0.2, None, LIF(1.0, 0.9)),
                       SpikingDense(rng.standard_normal((40, 5)) * 0.3, None, LIF(1.0)))
    chip = sn.Chip(n_cores=2, device=sn.RRAMDevice(read_noise_sigma=0.05), seed=0)
    program = sn.compile(model, chip, calibration=(rng.random((16, 150)) < 0.2) * 1.0)
    x = (rng.random((4, 40, 150)) < 0.2).astype(np.int8)
    a, b = both(program, x, "spikes")
    na, nb = a.spike_counts[1].sum(), b.spike_counts[1].sum()
    assert na > 100 and abs(nb - na) < 0.1 * na
    circuit = build_snn_brian(program, x[:1], "spikes")
    assert circuit.n_synapses == 150 * 40 + 40 * 5
    circuit.run(2)
    # the read noise is seeded by the run's seed: the same call repeats its spikes after other
    # draws from Brian2's generator, another seed changes them
    first = run_snn_brian(program, x, "spikes", seed=3).spike_counts[1]
    b2.seed(12345)
    np.random.seed(54321)
    assert np.array_equal(run_snn_brian(program, x, "spikes", seed=3).spike_counts[1], first)
    assert not np.array_equal(run_snn_brian(program, x, "spikes", seed=4).spike_counts[1], first)


def test_bad_inputs(converted_mlp):
    program, x = converted_mlp
    with pytest.raises(ValueError, match="coding must be one of"):
        run_snn_brian(program, x, "phase")
    with pytest.raises(ValueError, match="spike trains of shape"):
        run_snn_brian(program, x, "spikes")
    with pytest.raises(ValueError, match="values -1, 0 or 1"):
        run_snn_brian(program, np.full((1, 3, 200), 0.5), "spikes")
    with pytest.raises(ValueError, match="which the model does not take"):
        run_snn_brian(program, x[:, :50], "rate")


def test_silent_segments_are_skipped_in_both_engines():
    """Segments none of whose rows pulse in a step are not converted: with spikes only on the
    first segment's rows (and in some steps none at all), both engines leave the other
    segments out, and a silent input's membrane stays at zero."""
    rng = np.random.default_rng(11)
    model = Sequential(SpikingDense(rng.normal(0, 0.3, (300, 6)), None, LIF(0.8, 0.9)),
                       SpikingDense(rng.normal(0, 0.5, (6, 3)), None, LIF(1.0)))
    x = np.zeros((3, 12, 300), np.int8)
    x[0, ::2, :60] = rng.random((6, 60)) < 0.4
    x[1, :, 200:] = rng.random((12, 100)) < 0.2
    program = sn.compile(model, quiet_chip(4), calibration=np.abs(x))
    assert program.plan.plans[0].n_rseg == 3
    a, b = both(program, x, "spikes", readout="membrane")
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)
    np.testing.assert_allclose(a.outputs, b.outputs, atol=1e-9)
    assert a.outputs[2].tolist() == [0.0, 0.0, 0.0] and b.outputs[2].tolist() == [0.0] * 3
    assert a.spike_counts[1][:2].sum() > 0
