"""Device physics against the published fits and closed forms."""

import numpy as np
import pytest

from snn_neurram import RRAMDevice
from snn_neurram.device import FAULT_NONE, FAULT_STUCK_OFF, FAULT_STUCK_ON

# Nature 2022 ED Fig. 3 fits, typed in from DESIGN.md (independent of the package's table)
FIT_1S = (0.348, 16.030, -43.853, 45.393, -16.815)
FIT_1D = (0.701, 22.086, -50.773, 47.095, -16.458)


def published_sigma_uS(g_uS, coeffs):
    x = g_uS / 40.0
    return sum(c * x ** k for k, c in enumerate(coeffs))


@pytest.mark.parametrize("t, coeffs", [(1.0, FIT_1S), (86400.0, FIT_1D)])
@pytest.mark.parametrize("g_uS", [4.0, 10.0, 20.0, 30.0])
def test_relaxation_spread_matches_published_fit(t, coeffs, g_uS):
    dev = RRAMDevice()
    rng = np.random.default_rng(int(g_uS * 10 + t))
    G0 = np.full(200_000, g_uS * 1e-6)
    G = dev.relax(G0, t, rng)
    measured = (G - G0).std() * 1e6
    expected = published_sigma_uS(g_uS, coeffs)
    assert measured == pytest.approx(expected, rel=0.05)
    # relaxation spreads the devices without moving their mean
    assert G.mean() * 1e6 == pytest.approx(g_uS, abs=0.02)
    assert G.min() >= dev.g_floor


def test_relaxation_interpolates_in_log_time():
    g = np.array([4e-6, 10e-6, 25e-6])
    t_mid = np.sqrt(1.0 * 86400.0)          # halfway in log-time
    expected = 0.5 * (published_sigma_uS(g * 1e6, FIT_1S) + published_sigma_uS(g * 1e6, FIT_1D))
    assert RRAMDevice.relaxation_sigma(g, t_mid) * 1e6 == pytest.approx(expected, rel=1e-9)
    # outside the fitted times the nearest fit holds
    assert RRAMDevice.relaxation_sigma(g, 0.01) * 1e6 == pytest.approx(
        published_sigma_uS(g * 1e6, FIT_1S), rel=1e-9)


def test_relaxation_history_is_consistent():
    dev = RRAMDevice()
    rng = np.random.default_rng(3)
    G0 = np.full(50_000, 10e-6)
    z = rng.standard_normal(G0.shape)
    d1 = dev.relax(G0, 1.0, z=z) - G0
    d2 = dev.relax(G0, 86400.0, z=z) - G0
    assert np.corrcoef(d1, d2)[0, 1] > 0.95        # same devices move the same way, further
    assert d2.std() > d1.std()


def test_write_verify_lands_inside_band_with_defaults():
    dev = RRAMDevice()
    rng = np.random.default_rng(0)
    targets = rng.uniform(dev.g_min, dev.g_max, 100_000)
    faults = dev.sample_faults(targets.shape, rng)
    res = dev.program(targets, rng, faults=faults)
    inside = np.abs(res.conductance - targets) <= dev.tolerance
    assert inside.mean() >= 0.99
    assert np.array_equal(inside, res.converged)
    assert res.pulses.min() >= 0 and res.pulses.max() <= dev.max_pulses
    assert res.pulses[faults == FAULT_NONE].mean() > 1      # it really iterates
    # stuck devices ignore the pulses and use up the iteration limit (unless already in band)
    stuck = faults != FAULT_NONE
    far = np.abs(res.conductance - targets) > 2 * dev.tolerance
    assert np.all(res.conductance[faults == FAULT_STUCK_ON] == dev.g_stuck_on)
    assert np.all(res.pulses[stuck & far] == dev.max_pulses)


def test_write_verify_hits_iteration_limit_when_steps_are_tiny():
    dev = RRAMDevice(step_initial=1e-9, step_max=1e-9, step_cv=0.0, variation=False,
                     read_noise=False, faults=False, initial_state="reset", max_pulses=50)
    res = dev.program(np.full(100, 30e-6), np.random.default_rng(0))
    assert np.all(res.pulses == 50)
    assert not res.converged.any()
    # 50 SET pulses of 1 nS each from g_min
    assert np.allclose(res.conductance, dev.g_min + 50e-9)


def test_ideal_device_is_exact(rng):
    dev = RRAMDevice.ideal()
    targets = rng.uniform(dev.g_min, dev.g_max, (64, 64))
    res = dev.program(targets, rng)
    assert np.array_equal(res.conductance, targets)
    assert np.array_equal(dev.relax(targets, 86400.0, rng), targets)
    assert np.array_equal(dev.read(targets, rng), targets)
    assert not dev.sample_faults((64, 64), rng).any()


def test_read_noise_is_relative_and_fresh(rng):
    dev = RRAMDevice()
    G = np.array([2e-6, 20e-6])
    reads = dev.read(G, rng, n_reads=100_000)
    rel_sd = (reads / G).std(axis=0)
    assert rel_sd == pytest.approx(np.full(2, dev.read_noise_sigma), rel=0.02)
    assert not np.array_equal(dev.read(G, rng), dev.read(G, rng))


def test_fault_rates(rng):
    dev = RRAMDevice(stuck_off_rate=0.01, stuck_on_rate=0.02)
    f = dev.sample_faults(200_000, rng)
    n = f.size
    for code, p in ((FAULT_STUCK_OFF, 0.01), (FAULT_STUCK_ON, 0.02)):
        assert abs(np.mean(f == code) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_drift_power_law():
    dev = RRAMDevice.ideal(drift=True, drift_nu=0.05, drift_nu_sigma=0.0, drift_t0=1.0)
    G = np.array([5e-6, 30e-6])
    nu = dev.sample_drift_nu(G.shape, np.random.default_rng(0))
    assert np.allclose(dev.drifted(G, 1000.0, nu), G * 1000.0 ** -0.05)
    assert np.allclose(dev.drifted(G, 0.5, nu), G)          # before t0 nothing happens


def test_device_variation_lognormal(rng):
    dev = RRAMDevice(variation_sigma=0.4)
    r = dev.sample_response(100_000, rng)
    assert np.log(r).std() == pytest.approx(0.4, rel=0.02)
    assert np.all(RRAMDevice(variation=False).sample_response(10, rng) == 1)


def test_brian2_quantities_are_accepted():
    from brian2 import uS

    dev = RRAMDevice(g_max=40 * uS, tolerance=0.5 * uS)
    assert dev.g_max == pytest.approx(40e-6)
    assert dev.tolerance == pytest.approx(0.5e-6)
    from brian2 import mV

    with pytest.raises(ValueError, match="g_max must be in siemens"):
        RRAMDevice(g_max=40 * mV)


@pytest.mark.parametrize("kwargs, match", [
    (dict(g_min=-1e-6), r"g_min must be in \[0"),
    (dict(g_min=50e-6), "g_min must be below g_max"),
    (dict(g_max=float("nan")), "g_max must be finite"),
    (dict(stuck_on_rate=1.5), r"stuck_on_rate must be in \[0, 1\]"),
    (dict(max_pulses=0), r"max_pulses must be an integer in \[1"),
    (dict(initial_state="random"), "initial_state must be one of"),
    (dict(read_noise="yes"), "read_noise must be True or False"),
])
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RRAMDevice(**kwargs)


def test_bad_targets_raise(rng):
    dev = RRAMDevice()
    with pytest.raises(ValueError, match="targets must be finite conductances"):
        dev.program(np.array([1e-6, np.nan]), rng)
    with pytest.raises(ValueError, match="targets must be finite conductances"):
        dev.program(np.array([-1e-6]), rng)
    with pytest.raises(ValueError, match=r"t must be in \(0"):
        dev.relax(np.ones(3) * 1e-6, -1.0, rng)
