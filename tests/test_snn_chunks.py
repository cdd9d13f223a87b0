"""Spiking runs in chunks: deterministic per (seed, chunk size), a batch within one chunk runs as
a whole, merged results, progress bar, argument checks."""

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.engines.spiking import CHUNK_BYTES, default_chunk, run_snn
from snn_neurram.layers import Conv2d, Dense, Flatten, MaxPool2d, Sequential

SHAPE = (1, 10, 10)


def _cnn(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2d(rng.standard_normal((6, 1, 3, 3)) * 0.5, rng.standard_normal(6) * 0.1, padding=1),
        MaxPool2d(2), Flatten(),
        Dense(rng.standard_normal((6 * 5 * 5, 10)) * 0.2, np.zeros(10), activation="linear")])


@pytest.fixture(scope="module")
def program():
    """Read noise on (the chip's defaults); the convolution replicated over several cores, the
    dense layer split over two row segments (a digital membrane)."""
    cal = np.random.default_rng(1).random((64,) + SHAPE)
    return sn.compile(_cnn(), sn.Chip(seed=0, n_cores=4), calibration=cal, replicate=True)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(2).random((9,) + SHAPE)


def _assert_identical(a, b):
    for name in ("predictions", "outputs", "readout", "spikes_per_inference",
                 "synaptic_events_per_inference", "energy_per_inference_j", "latency_s",
                 "steps", "steps_run", "layer_names"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert len(a.spike_counts) == len(b.spike_counts)
    for ca, cb in zip(a.spike_counts, b.spike_counts):
        assert ca.dtype == cb.dtype and np.array_equal(ca, cb)
    assert (a.raster is None) == (b.raster is None)
    if a.raster is not None:
        assert all(np.array_equal(ra, rb) for ra, rb in zip(a.raster, b.raster))


def test_the_program_exercises_replicas_read_noise_and_partial_sums(program):
    assert program.chip.device.read_noise
    assert len(program.plans[0].blocks[0].placements) > 1          # conv replicas
    assert len(program.plans[1].blocks) > 1                         # dense: digital membrane


@pytest.mark.parametrize("coding, readout", [("rate", "count"), ("latency", "membrane")])
def test_chunked_runs_are_reproducible(program, x, coding, readout):
    """Read noise on: the same seed and chunk size give the same result bit for bit, a chunk
    as large as the batch is the whole-batch run, another seed gives another result."""
    kw = dict(coding=coding, steps=3, readout=readout, seed=3, record_raster=True)
    whole = program.run(x, mode="snn", **kw)
    assert whole.raster is not None and whole.energy_per_inference_j > 0
    _assert_identical(program.run(x, mode="snn", chunk=len(x), **kw), whole)
    for chunk in (1, 4):
        a = program.run(x, mode="snn", chunk=chunk, **kw)
        _assert_identical(program.run(x, mode="snn", chunk=chunk, **kw), a)
        assert a.readout.shape == whole.readout.shape
        assert [c.shape for c in a.spike_counts] == [c.shape for c in whole.spike_counts]
    other = program.run(x, mode="snn", chunk=4, **(kw | {"seed": 4}))   # the seed matters
    assert not np.array_equal(other.readout, program.run(x, mode="snn", chunk=4, **kw).readout)


def test_chunks_merge_as_one_run_without_random_draws():
    """No read noise and a deterministic code: only the chunking differs, and the merged result
    equals the whole-batch run (spike counts exactly; per-inference figures as size-weighted
    means of the chunks')."""
    cal = np.random.default_rng(1).random((64,) + SHAPE)
    quiet = sn.compile(_cnn(), sn.Chip(seed=0, n_cores=4, device=sn.RRAMDevice(read_noise=False),
                                       precision="double"), calibration=cal)
    xs = np.random.default_rng(5).random((9,) + SHAPE)
    whole = run_snn(quiet, xs, "regular", 4, seed=1, record_raster=True)
    parts = [run_snn(quiet, xs[a:b], "regular", 4, seed=1) for a, b in ((0, 2), (2, 4),
                                                                       (4, 6), (6, 8), (8, 9))]
    merged = run_snn(quiet, xs, "regular", 4, seed=1, chunk=2, record_raster=True)
    for cw, cm in zip(whole.spike_counts, merged.spike_counts):
        assert np.array_equal(cw, cm)
    assert np.array_equal(whole.predictions, merged.predictions)
    assert np.allclose(whole.readout, merged.readout, rtol=1e-9, atol=1e-12)
    sizes = np.array([2, 2, 2, 2, 1])
    for name in ("spikes_per_inference", "synaptic_events_per_inference",
                 "energy_per_inference_j", "latency_s"):
        expect = np.dot(sizes, [getattr(p, name) for p in parts]) / 9
        assert getattr(merged, name) == pytest.approx(expect, rel=1e-12), name
    assert all(np.array_equal(a, b) for a, b in zip(whole.raster, merged.raster))


def test_device_noise_depends_only_on_seed_and_chunk_size(program, x):
    kw = dict(coding="regular", steps=2, noise_model="device", seed=1)
    a = program.run(x[:3], mode="snn", chunk=2, **kw)
    _assert_identical(program.run(x[:3], mode="snn", chunk=2, **kw), a)
    assert a.predictions.shape == (3,)


def test_progress_bar(program, x, capsys):
    program.run(x[:3], mode="snn", steps=2, progress=True)
    assert "spiking run" in capsys.readouterr().err
    program.run(x[:3], mode="snn", steps=2, progress=False)
    program.run(x[:3], mode="snn", steps=2)                 # small batch: no bar by default
    assert "spiking run" not in capsys.readouterr().err


@pytest.mark.parametrize("chunk", [0, True, -3, 2.5, "4"])
def test_bad_chunk_rejected(program, x, chunk):
    with pytest.raises(ValueError, match="chunk"):
        program.run(x[:2], mode="snn", steps=2, chunk=chunk)
    with pytest.raises(ValueError, match="chunk"):
        run_snn(program, x[:2], steps=2, chunk=chunk)


def test_empty_batch(program):
    r = program.run(np.zeros((0,) + SHAPE), mode="snn", steps=3, record_raster=True)
    assert r.predictions.shape == (0,) and r.outputs.shape == (0, 10)
    assert r.readout.shape == (0, r.steps_run, 10) and r.steps_run == 5
    assert [c.shape for c in r.spike_counts] == [(0,) + SHAPE, (0, 6, 10, 10), (0, 10)]
    assert r.raster is None


@pytest.mark.parametrize("kw, name", [({"in_bits": 99}, "in_bits"), ({"out_bits": 0}, "out_bits"),
                                      ({"in_bits": 2.5}, "in_bits")])
def test_bits_checked_in_snn_mode(program, x, kw, name):
    with pytest.raises(ValueError, match=name):
        program.run(x[:2], mode="snn", steps=2, **kw)


def test_default_chunk_bounds_the_state(program):
    c8 = default_chunk(program, SHAPE, steps=8)
    c64 = default_chunk(program, SHAPE, steps=64)
    assert c8 > c64 >= 1
    # at least the input spikes of every step and the membranes: far below CHUNK_BYTES
    assert c8 < CHUNK_BYTES / (8 * 100)
    assert default_chunk(program, SHAPE, steps=100000) >= 1
