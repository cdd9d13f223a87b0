"""The Brian2 objects as a Brian2 user meets them: time, units, capacity, inputs, read noise.

Each check is against a closed form of the chip's physics (the voltage-mode line average, the
discrete-time integrator, the mapping's formula), never against the package's own numbers; and
``docs/brian2.md`` runs as pasted and prints what it quotes.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings

import numpy as np
import pytest

import brian2 as b2  # a core dependency: a missing Brian2 fails, not skips

from snn_neurram import NeuronConfig, RRAMDevice                              # noqa: E402
from snn_neurram.brian import (CYCLE_TIME, MAX_ROW_PAIRS, CycleTimeWarning,  # noqa: E402
                               NeuRRAMNeurons, RRAMSynapses, TransposableSynapses)
from snn_neurram.errors import CapacityError                                  # noqa: E402

#: one chip cycle in seconds, as documented (energy-model fit of the chip's throughput)
T_CYCLE = 0.2816e-6
V_READ = 0.5            # NeuronConfig's default pulse amplitude (V)
C_RATIO = 0.25          # NeuronConfig's default C_sample / C_integ

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "brian2.md")


@pytest.fixture(autouse=True)
def chip_clock():
    """numpy target, one step = one chip cycle, Brian2's random stream seeded; restored after."""
    old_dt, old_target = b2.defaultclock.dt, b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = CYCLE_TIME
    b2.seed(7)
    yield
    b2.defaultclock.dt = old_dt
    b2.prefs.codegen.target = old_target


def drive(n: int, value: float = 1.0) -> b2.NeuronGroup:
    """Rows pulsed with a constant graded value every cycle."""
    g = b2.NeuronGroup(n, "y : 1")
    g.y = value
    return g


def sign_map(W: np.ndarray, w_max: float, g_min: float = 1e-6,
             g_max: float = 40e-6) -> tuple[np.ndarray, np.ndarray]:
    """The chip's "sign" mapping written out: G+ = g_min + max(w, 0) / w_max (g_max - g_min)."""
    u = np.clip(W / w_max, -1, 1)
    return g_min + np.maximum(u, 0) * (g_max - g_min), g_min + np.maximum(-u, 0) * (g_max - g_min)


def line_voltage(x: np.ndarray, gp: np.ndarray, gm: np.ndarray,
                 extra_load: float | np.ndarray = 0.0) -> np.ndarray:
    """Voltage-mode average: V_read sum_i x_i (G+ - G-) / (every cell on the line)."""
    return V_READ * (x @ (gp - gm)) / ((gp + gm).sum(axis=0) + extra_load)


# --------------------------------------------------------------------------- time and dt


def test_cycle_time_is_the_documented_chip_cycle():
    assert float(CYCLE_TIME / b2.second) == pytest.approx(T_CYCLE, rel=1e-9)


def run_small(dt) -> None:
    b2.defaultclock.dt = dt
    src = drive(4)
    n = NeuRRAMNeurons(2)
    syn = RRAMSynapses(src, n, np.ones((4, 2)), device=RRAMDevice.ideal())
    b2.Network(src, n, syn).run(5 * dt)


def test_warns_when_dt_is_not_one_cycle():
    with pytest.warns(CycleTimeWarning, match=r"CYCLE_TIME"):
        run_small(0.1 * b2.ms)                   # Brian2's default dt
    with pytest.warns(CycleTimeWarning):
        run_small(2 * CYCLE_TIME)


def test_no_warning_at_the_cycle_time():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CycleTimeWarning)
        run_small(CYCLE_TIME)
        run_small(0.27 * b2.us)                  # within DT_RTOL of the fitted cycle


# --------------------------------------------------------------------------- units


def lif_counts(steps: int, **kw) -> np.ndarray:
    """Spike trains of 3 neurons under constant drive; returns (indices, step of each spike)."""
    gp = np.array([[20e-6, 30e-6, 40e-6]] * 4)
    gm = np.full((4, 3), 1e-6)
    src = drive(4)
    n = NeuRRAMNeurons(3, NeuronConfig(threshold=0.3, reset="zero"), **kw)
    syn = RRAMSynapses(src, n, conductances=(gp, gm), device=RRAMDevice.ideal())
    mon = b2.SpikeMonitor(n)
    b2.Network(src, n, syn, mon).run(steps * b2.defaultclock.dt)
    dv = C_RATIO * line_voltage(np.ones(4), gp, gm)
    return np.asarray(mon.i[:]), np.rint(mon.t_[:] / float(b2.defaultclock.dt_)), dv


def test_refractory_as_time_equals_refractory_in_cycles():
    steps = 600
    i_c, t_c, dv = lif_counts(steps, refractory=2)
    i_t, t_t, _ = lif_counts(steps, refractory=2 * T_CYCLE * b2.second)
    assert np.array_equal(i_c, i_t) and np.array_equal(t_c, t_t)
    # discrete-time closed form: ceil(theta / dv) cycles to threshold, then 2 refractory cycles
    rate = 1.0 / (np.ceil(0.3 / dv) + 2)
    assert np.allclose(np.bincount(i_c, minlength=3) / steps, rate, atol=1.5 / steps)
    # a time between whole cycles is rounded up, as Brian2 holds a neuron for every step
    # that starts inside the refractory period
    i_h, t_h, _ = lif_counts(steps, refractory=1.5 * T_CYCLE * b2.second)
    assert np.array_equal(t_h, t_c)


def test_refractory_and_leak_units():
    assert int(NeuRRAMNeurons(1, refractory=2 * b2.ms).refractory_cycles[:]) == \
        math.ceil(2e-3 / T_CYCLE)
    assert float(NeuRRAMNeurons(1, leak=0.25).leak[:]) == 0.25          # a fraction per cycle
    with pytest.raises(ValueError, match="refractory must be a time"):
        NeuRRAMNeurons(1, refractory=2 * b2.mV)
    with pytest.raises(ValueError, match="refractory"):
        NeuRRAMNeurons(1, refractory=1.5)                               # cycles are whole
    with pytest.raises(ValueError, match="leak must be in"):
        NeuRRAMNeurons(1, leak=1.5)
    with pytest.raises(ValueError, match="leak as a time constant must be > 0"):
        NeuRRAMNeurons(1, leak=0 * b2.us)


@pytest.mark.parametrize("leak, decay", [(20 * T_CYCLE * b2.second, math.exp(-1 / 20)),
                                         (0.3, 0.7)])
def test_leak_time_constant_gives_exponential_decay(leak, decay):
    """v_n = dv (1 - a^n) / (1 - a) with a = exp(-T_cycle / tau): dv/dt = -v/tau + input."""
    gp, gm = np.array([[10e-6], [5e-6]]), np.array([[5e-6], [8e-6]])
    src = drive(2)
    n = NeuRRAMNeurons(1, NeuronConfig(threshold=10.0), leak=leak)
    syn = RRAMSynapses(src, n, conductances=(gp, gm), device=RRAMDevice.ideal())
    mon = b2.StateMonitor(n, "v", record=0, when="end")
    b2.Network(src, n, syn, mon).run(60 * b2.defaultclock.dt)
    dv = C_RATIO * line_voltage(np.ones(2), gp, gm)[0]
    k = np.arange(1, 61)
    assert np.allclose(mon.v_[0], dv * (1 - decay ** k) / (1 - decay), rtol=1e-9)


# --------------------------------------------------------------------------- capacity


def test_a_line_holds_at_most_128_row_pairs():
    assert MAX_ROW_PAIRS == 128
    n = NeuRRAMNeurons(2)
    RRAMSynapses(drive(128), n, np.ones((128, 2)), device=RRAMDevice.ideal())     # fits
    with pytest.raises(CapacityError, match=r"source puts 129 row pairs.*at most 128"):
        RRAMSynapses(drive(129), NeuRRAMNeurons(2), np.ones((129, 2)),
                     device=RRAMDevice.ideal())
    # two pathways onto one line share its 128 pairs
    m = NeuRRAMNeurons(2)
    RRAMSynapses(drive(100), m, np.ones((100, 2)), device=RRAMDevice.ideal())
    with pytest.raises(CapacityError, match="already hold 100"):
        RRAMSynapses(drive(29), m, np.ones((29, 2)), device=RRAMDevice.ideal())
    with pytest.raises(ValueError, match="at most 128"):                 # CapacityError is one
        TransposableSynapses(NeuRRAMNeurons(129, backward=True), NeuRRAMNeurons(4),
                             np.ones((129, 4)), device=RRAMDevice.ideal())
    with pytest.raises(CapacityError, match="at most 256 columns"):
        TransposableSynapses(NeuRRAMNeurons(4, backward=True), NeuRRAMNeurons(257),
                             np.ones((4, 257)), device=RRAMDevice.ideal())


# --------------------------------------------------------------------------- inputs, targets


def test_input_kind_follows_the_source():
    dev = RRAMDevice.ideal()
    W = np.ones((3, 2))
    parent = NeuRRAMNeurons(5, mode="lif")     # a slice holds its parent weakly: keep it
    kinds = {
        "poisson": b2.PoissonGroup(3, rates=1 * b2.kHz),
        "generator": b2.SpikeGeneratorGroup(3, [0], [0] * b2.ms),
        "thresholded": b2.NeuronGroup(3, "v : 1", threshold="v > 1", reset="v = 0"),
        "graded": drive(3),
        "lif": NeuRRAMNeurons(3, mode="lif"),
        "relu": NeuRRAMNeurons(3, mode="relu"),
        "lif slice": parent[1:4],
    }
    got = {k: RRAMSynapses(src, NeuRRAMNeurons(2), W, device=dev).input_kind
           for k, src in kinds.items()}
    assert got == {"poisson": "spikes", "generator": "spikes", "thresholded": "spikes",
                   "graded": "graded", "lif": "spikes", "relu": "graded",
                   "lif slice": "spikes"}
    with pytest.raises(ValueError, match="does not have.*input='spikes'"):
        RRAMSynapses(b2.PoissonGroup(3, rates=1 * b2.kHz), NeuRRAMNeurons(2), W, device=dev,
                     input="graded")
    with pytest.raises(ValueError, match="both spikes and has a variable 'y'"):
        RRAMSynapses(b2.NeuronGroup(3, "y : 1", threshold="y > 1"), NeuRRAMNeurons(2), W,
                     device=dev)


def test_poisson_source_without_input_reads_the_mean_line_voltage():
    """With spike probability p per cycle and row, the line's mean over cycles is
    V_read p sum_i (G+ - G-) / (every cell on the line)."""
    rng = np.random.default_rng(3)
    n_in, p, steps = 20, 0.2, 3000
    gp = rng.uniform(1e-6, 40e-6, (n_in, 2))
    gm = rng.uniform(1e-6, 40e-6, (n_in, 2))
    inp = b2.PoissonGroup(n_in, rates=p / b2.defaultclock.dt)
    n = NeuRRAMNeurons(2, NeuronConfig(threshold=1e3))
    syn = RRAMSynapses(inp, n, conductances=(gp, gm), device=RRAMDevice.ideal())
    mon = b2.StateMonitor(n, "v_sl", record=True)
    b2.Network(inp, n, syn, mon).run(steps * b2.defaultclock.dt)
    v = mon.v_sl_[:, 1:]                        # spikes of cycle t are read in cycle t + 1
    load = (gp + gm).sum(axis=0)
    mean = V_READ * p * (gp - gm).sum(axis=0) / load
    sd = V_READ * np.sqrt(p * (1 - p) * ((gp - gm) ** 2).sum(axis=0)) / load
    assert np.all(np.abs(v.mean(axis=1) - mean) < 5 * sd / np.sqrt(v.shape[1]))
    assert np.allclose(v.std(axis=1), sd, rtol=0.1)


def test_a_plain_neurongroup_target_is_refused_clearly():
    with pytest.raises(TypeError, match="target must be snn_neurram.brian.NeuRRAMNeurons"):
        RRAMSynapses(drive(3), b2.NeuronGroup(2, "v : volt"), np.ones((3, 2)),
                     device=RRAMDevice.ideal())
    with pytest.raises(TypeError, match="cols must be snn_neurram.brian.NeuRRAMNeurons"):
        TransposableSynapses(NeuRRAMNeurons(3, backward=True), b2.NeuronGroup(2, "y : 1"),
                             np.ones((3, 2)), device=RRAMDevice.ideal())
    whole = NeuRRAMNeurons(4)
    with pytest.raises(TypeError, match="target must be a whole NeuRRAMNeurons group"):
        RRAMSynapses(drive(3), whole[:2], np.ones((3, 2)), device=RRAMDevice.ideal())
    with pytest.raises(TypeError, match="source must be a Brian2 group"):
        RRAMSynapses(np.ones(3), NeuRRAMNeurons(2), np.ones((3, 2)), device=RRAMDevice.ideal())


# --------------------------------------------------------------------------- read noise


def test_read_noise_is_given_once_in_the_device():
    """The neurons take the device's read noise; the line's spread is that of per-cell noise:
    to first order sd(V) = V_read sigma sqrt(sum_r G_r^2 (u_r - m)^2) / S, m = V / V_read."""
    rng = np.random.default_rng(11)
    sigma, n_in, steps = 0.05, 16, 3000
    gp = rng.uniform(1e-6, 40e-6, (n_in, 1))
    gm = rng.uniform(1e-6, 40e-6, (n_in, 1))
    src = drive(n_in)
    n = NeuRRAMNeurons(1, NeuronConfig(threshold=1e3))          # read noise not repeated here
    syn = RRAMSynapses(src, n, conductances=(gp, gm),
                       device=RRAMDevice(read_noise_sigma=sigma, faults=False))
    assert float(n.sigma_read[:]) == sigma
    mon = b2.StateMonitor(n, "v_sl", record=0)
    b2.Network(src, n, syn, mon).run(steps * b2.defaultclock.dt)
    g = np.concatenate([gp[:, 0], gm[:, 0]])
    u = np.concatenate([np.ones(n_in), -np.ones(n_in)])
    m = (u * g).sum() / g.sum()
    sd = V_READ * sigma * np.sqrt((g ** 2 * (u - m) ** 2).sum()) / g.sum()
    assert mon.v_sl_[0].std() == pytest.approx(sd, rel=0.06)
    assert mon.v_sl_[0].mean() == pytest.approx(V_READ * m, abs=5 * sd / np.sqrt(steps))
    # another device with other read noise on the same lines is refused, naming both
    with pytest.raises(ValueError, match="read_noise=0.05.*reads with 0"):
        RRAMSynapses(drive(2), n, conductances=(gp[:2], gm[:2]), device=RRAMDevice.ideal())
    # the old form, stated twice and consistent, still works
    k = NeuRRAMNeurons(1, read_noise=sigma)
    RRAMSynapses(drive(2), k, conductances=(gp[:2], gm[:2]),
                 device=RRAMDevice(read_noise_sigma=sigma))


# --------------------------------------------------------------------------- physics a user meets


def test_scaling_W_changes_nothing():
    """W, 10 W and 0.1 W give the same spikes: the mapping divides W by its own scale w_max,
    and the line's average sum x (G+ - G-) / sum G is a ratio of those conductances."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((40, 8))

    def spikes(scale):
        b2.seed(5)
        inp = b2.PoissonGroup(40, rates=0.1 / b2.defaultclock.dt)
        n = NeuRRAMNeurons(8, NeuronConfig(threshold=0.02))
        syn = RRAMSynapses(inp, n, scale * W, seed=1)           # every non-ideality on
        mon = b2.SpikeMonitor(n)
        b2.Network(inp, n, syn, mon).run(400 * b2.defaultclock.dt)
        return np.asarray(mon.i[:]), np.asarray(mon.t_[:])

    ref = spikes(1.0)
    assert len(ref[0]) > 20
    for scale in (10.0, 0.1):
        got = spikes(scale)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])

    # the closed form: with ideal cells the line voltage is the same for every scale c
    x = (rng.random(40) < 0.5).astype(float)
    for c in (1.0, 10.0, 0.1):
        src = drive(40)
        src.y = x
        n = NeuRRAMNeurons(8, NeuronConfig(threshold=1e3))
        syn = RRAMSynapses(src, n, c * W, device=RRAMDevice.ideal(), percentile=100)
        mon = b2.StateMonitor(n, "v_sl", record=True, when="end")
        b2.Network(src, n, syn, mon).run(b2.defaultclock.dt)
        expect = line_voltage(x, *sign_map(c * W, np.abs(c * W).max()))
        assert np.allclose(mon.v_sl_[:, 0], expect, rtol=1e-9)
        assert np.allclose(expect, line_voltage(x, *sign_map(W, np.abs(W).max())), rtol=1e-12)
    # a fixed w_max makes the scale matter (weights above it clip)
    src = drive(40)
    src.y = x
    n = NeuRRAMNeurons(8, NeuronConfig(threshold=1e3))
    syn = RRAMSynapses(src, n, 0.1 * W, device=RRAMDevice.ideal(), w_max=np.abs(W).max())
    mon = b2.StateMonitor(n, "v_sl", record=True, when="end")
    b2.Network(src, n, syn, mon).run(b2.defaultclock.dt)
    expect = line_voltage(x, *sign_map(0.1 * W, np.abs(W).max()))
    assert np.allclose(mon.v_sl_[:, 0], expect, rtol=1e-9)
    assert not np.allclose(expect, line_voltage(x, *sign_map(W, np.abs(W).max())), rtol=0.01)


def test_a_silent_pathway_dilutes_the_line():
    """A second pathway that never fires still loads the line: V = V_read sum_A dG /
    (load_A + load_B), so with load_B = load_A a neuron with reset by subtraction fires at
    half the rate, c_ratio V / theta."""
    steps = 800
    gp_a, gm_a = np.full((8, 3), 12e-6), np.full((8, 3), 2e-6) * np.array([1, 2, 3])
    load_a = (gp_a + gm_a).sum(axis=0)
    gp_b = np.full((10, 3), 1e-6)
    gm_b = (load_a - 10e-6) / 10 * np.ones((10, 3))              # load_B = load_A per line
    rates = []
    for silent in (False, True):
        src = drive(8)
        n = NeuRRAMNeurons(3, NeuronConfig(threshold=0.2, reset="subtract"))
        objs = [src, n, RRAMSynapses(src, n, conductances=(gp_a, gm_a),
                                     device=RRAMDevice.ideal())]
        if silent:
            quiet = b2.PoissonGroup(10, rates=0 * b2.Hz)
            objs += [quiet, RRAMSynapses(quiet, n, conductances=(gp_b, gm_b),
                                         device=RRAMDevice.ideal())]
        mon = b2.SpikeMonitor(n)
        b2.Network(*objs, mon).run(steps * b2.defaultclock.dt)
        extra = (gp_b + gm_b).sum(axis=0) if silent else 0.0
        v = line_voltage(np.ones(8), gp_a, gm_a, extra)
        measured = np.bincount(mon.i[:], minlength=3) / steps
        assert np.allclose(measured, C_RATIO * v / 0.2, atol=1.5 / steps)
        rates.append(measured)
    assert np.allclose(rates[1] / rates[0], 0.5, atol=0.02)


# --------------------------------------------------------------------------- the page


def _page_blocks() -> list[tuple[str, str | None]]:
    """(python code, the ```text block right after it or None) of docs/brian2.md."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in re.finditer(r"```python\n(.*?)```(\s*```text\n(.*?)```)?", text, flags=re.S):
        out.append((m.group(1), m.group(3)))
    return out


def test_brian2_page_runs_as_pasted_and_prints_what_it_quotes():
    blocks = _page_blocks()
    assert len(blocks) >= 4
    namespace: dict = {}
    for k, (code, quoted) in enumerate(blocks):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"docs/brian2.md block {k}", "exec"), namespace)
        if quoted is not None:
            assert buf.getvalue().strip() == quoted.strip(), f"block {k} prints otherwise"
