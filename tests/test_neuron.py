"""Neuron math: ADC algorithms against the closed forms, integration coefficients, LIF rate."""

import numpy as np
import pytest

from snn_neurram import NeuronConfig
from snn_neurram.physics import kernels
from snn_neurram.physics.neuron import (activate, adc_convert, adc_levels, adc_sar, adc_unary,
                                bit_planes, cycle_coefficients, lif_rate, lif_step,
                                phase_split, quantize_inputs)

LSB = 1.0 / 64          # dyadic: the step-by-step algorithms are exact in floating point


def grid_values(rng):
    exact = np.arange(-300, 301) * LSB / 4          # many exact threshold values
    return np.concatenate([exact, rng.uniform(-3, 3, 5000)])


@pytest.mark.parametrize("levels", [1, 2, 3, 8, 31, 64, 128])
def test_signed_adc_algorithms_equal_closed_form(levels, rng):
    v = grid_values(rng)
    closed = adc_convert(v, LSB, levels, signed=True)
    # independent closed form: (min(floor(|v|/lsb) + 1, L) - 1/2) sign(v), v >= 0 positive
    k = np.minimum(np.floor(np.abs(v) / LSB) + 1, levels)
    expect = (k - 0.5) * np.where(v >= 0, 1, -1)
    assert np.array_equal(closed, expect)
    unary, u_steps = adc_unary(v, LSB, levels, signed=True)
    sar, s_steps = adc_sar(v, LSB, levels, signed=True)
    assert np.array_equal(unary, expect)
    assert np.array_equal(sar, expect)
    assert np.array_equal(u_steps, k)                       # one decrement per magnitude step
    assert np.all(s_steps == 1 + int(levels - 1).bit_length())


@pytest.mark.parametrize("levels", [1, 3, 7, 15, 100, 255])
def test_unsigned_adc_algorithms_equal_closed_form(levels, rng):
    v = grid_values(rng)
    expect = np.clip(np.floor(v / LSB + 0.5), 0, levels)
    assert np.array_equal(adc_convert(v, LSB, levels, signed=False), expect)
    assert np.array_equal(adc_sar(v, LSB, levels, signed=False)[0], expect)
    if levels <= 128:
        assert np.array_equal(adc_unary(v, LSB, levels, signed=False)[0], expect)


def test_adc_levels_and_unary_limit():
    sar, unary = NeuronConfig(adc="sar"), NeuronConfig(adc="unary")
    assert adc_levels(8, "linear", unary) == 128
    assert adc_levels(3, "relu", sar) == 7
    assert adc_levels(3, "relu", sar.replace(relu_clip=5)) == 5
    assert adc_levels(8, "relu", sar) == 255
    with pytest.raises(ValueError, match="at most 128"):
        adc_levels(8, "relu", unary)
    with pytest.raises(ValueError, match=r"out_bits must be an integer in \[1, 8\]"):
        adc_levels(9, "linear", sar)


def test_quantize_inputs_and_bit_planes(rng):
    x = rng.uniform(-1.2, 1.2, (50, 9))
    q = quantize_inputs(x, 3, x_max=1.0)
    assert np.array_equal(q, np.clip(np.rint(x * 7), -7, 7))
    assert set(np.unique(quantize_inputs(x, 1))) <= {-1.0, 0.0, 1.0}
    planes = bit_planes(q, 3)
    assert np.array_equal((planes * (2 ** np.arange(3))[:, None, None]).sum(0), q)
    assert phase_split(8) == [(0, 4), (4, 4)]
    assert phase_split(3) == [(0, 3)]
    with pytest.raises(ValueError, match="x must contain only finite values"):
        quantize_inputs(np.array([[np.inf]]), 4)


def test_cycle_coefficients_match_cycle_by_cycle_simulation():
    cfg = NeuronConfig(c_ratio=0.3, pulse_multiplier=2, leak=0.05)
    mean, var, total = cycle_coefficients(4, cfg)
    assert total == (1 + 2 + 4 + 8) * 2
    # simulate: a unit input on bit k only, integrate LSB first with leak
    for k in range(4):
        v = 0.0
        for bit in range(4):
            for _ in range(2 ** bit * 2):
                v = (1 - 0.05) * v + 0.3 * (1.0 if bit == k else 0.0)
        assert mean[k] == pytest.approx(v)
    no_leak = cycle_coefficients(4, NeuronConfig(c_ratio=0.3, pulse_multiplier=2))[0]
    assert np.allclose(no_leak, 0.3 * 2 * 2.0 ** np.arange(4))
    assert np.all(var <= mean * 0.3 + 1e-15)


@pytest.mark.parametrize("reset, refractory, leak", [("zero", 0, 0.0), ("zero", 3, 0.0),
                                                      ("subtract", 0, 0.0), ("zero", 2, 0.02)])
def test_lif_rate_matches_closed_form(reset, refractory, leak):
    cfg = NeuronConfig(threshold=0.1, c_ratio=0.25, reset=reset, refractory=refractory, leak=leak)
    v_in = np.linspace(0.02, 0.5, 25) * 1.0137     # away from exact threshold multiples
    v = np.zeros_like(v_in)
    ref = np.zeros(v_in.shape, dtype=int)
    steps = 20_000
    count = np.zeros_like(v_in)
    for _ in range(steps):
        count += lif_step(v, cfg.c_ratio * v_in, ref, cfg)
    measured = count / steps
    # independent closed forms
    dv = 0.25 * v_in
    if reset == "subtract":
        expect = np.minimum(dv / 0.1, 1.0)
    elif leak == 0:
        expect = 1.0 / (np.ceil(0.1 / dv - 1e-12) + refractory)
    else:
        n = np.ceil(np.log(1 - leak * 0.1 / dv) / np.log(1 - leak) - 1e-12)
        expect = np.where(dv / leak > 0.1, 1.0 / (n + refractory), 0.0)
    assert np.allclose(measured, expect, atol=2.0 / steps)
    assert np.allclose([lif_rate(x, cfg) for x in v_in], expect, atol=1e-12)


def test_stochastic_binary_is_sigmoid(rng):
    cfg = NeuronConfig(noise_scale=0.7)
    y = np.repeat(np.array([-2.0, -0.5, 0.0, 0.8, 2.5]), 40_000).reshape(5, -1).T
    p = activate(y, "stochastic_binary", 1, cfg, rng).mean(0)
    expect = 1 / (1 + np.exp(-y[0] / 0.7))
    assert np.allclose(p, expect, atol=4 * np.sqrt(0.25 / 40_000))


def test_sigmoid_and_tanh_levels():
    cfg = NeuronConfig()
    y = np.linspace(-6, 6, 1001)
    s = activate(y, "sigmoid", 3, cfg)
    assert set(np.round(s * 7, 9)) <= set(range(8))
    assert np.abs(s - 1 / (1 + np.exp(-y))).max() <= 0.5 / 7 + 1e-12
    t = activate(y, "tanh", 4, cfg)
    assert np.abs(t - np.tanh(y)).max() <= 1 / 8 + 1e-12


def test_counter_generator_moments():
    z = kernels.counter_normals(2024, 1_000_000)
    assert abs(z.mean()) < 5e-3
    assert z.std() == pytest.approx(1.0, abs=3e-3)
    # kurtosis of a sum of 8 discrete uniforms on 256 values: 3 - 6 (k^2 + 1) / (5 (k^2 - 1)) / 8
    k = 256.0
    kurt = 3 - 6 * (k * k + 1) / (5 * (k * k - 1)) / 8
    assert ((z - z.mean()) ** 4).mean() / z.var() ** 2 == pytest.approx(kurt, abs=0.02)
    assert not np.array_equal(z[:100], kernels.counter_normals(2025, 100))


@pytest.mark.parametrize("kwargs, match", [
    (dict(v_read=0.0), r"v_read must be in \(0"),
    (dict(c_ratio=1.5), r"c_ratio must be in \(0, 1\]"),
    (dict(leak=1.5), r"leak must be in \[0, 1\]"),
    (dict(adc="flash"), "adc must be one of"),
    (dict(pulse_multiplier=0), "pulse_multiplier must be an integer"),
])
def test_bad_neuron_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuronConfig(**kwargs)
