"""The core's MVMs against the voltage-mode formulas computed here from the conductances."""

import numpy as np
import pytest

from snn_neurram import CapacityError, Core, NeuronConfig, RRAMDevice


def forward_formula(core, x, in_bits):
    """V_j = c m V_read sum_p q_p (G+_pj - G-_pj) / sum_r G_rj, all 256 rows in the sum."""
    cfg = core.neuron
    L = 2 ** in_bits - 1
    q = np.clip(np.rint(x / core.mapping.x_max * L), -L, L)
    q = np.hstack([q, np.full((len(x), core.n_bias_rows), L)])
    P, N = q.shape[1], core.n_out
    G = core.G[:, :N]
    dG = G[0:2 * P:2] - G[1:2 * P:2]
    return cfg.c_ratio * cfg.pulse_multiplier * cfg.v_read * (q @ dG) / G.sum(axis=0)


def backward_formula(core, y, in_bits, pad="zero"):
    """V_p = c m V_read sum_j y_j (G+_pj / S+_p - G-_pj / S-_p), S over all 256 columns."""
    cfg = core.neuron
    L = 2 ** in_bits - 1
    q = np.clip(np.rint(y * L), -L, L)
    n_pad = 256 - q.shape[1]
    padv = (np.where(np.arange(n_pad) % 2 == 0, L, -L) if pad == "alternate"
            else np.zeros(n_pad))
    q = np.hstack([q, np.tile(padv, (len(y), 1))])
    n = core.n_in
    Gp, Gm = core.G[0:2 * n:2], core.G[1:2 * n:2]            # (n, 256)
    Vp = q @ (Gp / Gp.sum(axis=1, keepdims=True)).T
    Vm = q @ (Gm / Gm.sum(axis=1, keepdims=True)).T
    return cfg.c_ratio * cfg.pulse_multiplier * cfg.v_read * (Vp - Vm)


def quiet_device(**kw):
    """Every non-ideality of the default device except read noise (deterministic reads)."""
    return RRAMDevice(read_noise=False, **kw)


@pytest.mark.parametrize("device", [RRAMDevice.ideal(), quiet_device()], ids=["ideal", "relaxed"])
def test_forward_equals_voltage_mode_formula(device, rng):
    W = rng.standard_normal((37, 21))
    b = rng.standard_normal(21)
    core = Core(device=device, seed=3, precision="double").program(W, b)
    x = rng.uniform(-1, 1, (64, 37))
    V = core.integrate(x, 4)
    assert V.shape == (1, 64, 21)
    assert np.allclose(V[0], forward_formula(core, x, 4), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("pad", ["zero", "alternate"])
@pytest.mark.parametrize("device", [RRAMDevice.ideal(), quiet_device()], ids=["ideal", "relaxed"])
def test_backward_equals_transposed_formula(device, pad, rng):
    W = rng.standard_normal((40, 30))
    core = Core(device=device, seed=4, precision="double").program(W, rng.standard_normal(30))
    y = rng.uniform(-1, 1, (50, 30))
    V = core.integrate(y, 3, direction="backward", pad=pad)
    assert V.shape == (1, 50, 40)
    assert np.allclose(V[0], backward_formula(core, y, 3, pad), rtol=1e-9, atol=1e-15)
    out = core.backward(y, 3, 8, pad=pad)
    assert out.shape == (50, 40)


def test_backward_reads_the_same_conductances(rng):
    W = rng.standard_normal((16, 8))
    core = Core(device=quiet_device(), seed=5, precision="double").program(W)
    y = rng.uniform(-1, 1, (20, 8))
    before = core.integrate(y, 2, direction="backward")
    core.G[0, 0] += 5e-6            # change one cell: forward and backward both see it
    core.refresh()
    after = core.integrate(y, 2, direction="backward")
    assert not np.allclose(before[0][:, 0], after[0][:, 0])
    assert np.allclose(before[0][:, 1:], after[0][:, 1:])


def test_forward_within_one_lsb_of_ideal_quantised_product(rng):
    W = rng.standard_normal((50, 40)) * 0.2
    b = rng.standard_normal(40) * 0.3
    core = Core(device=RRAMDevice.ideal(), seed=0, percentile=100, precision="double")
    core.program(W, b)
    x = rng.uniform(-1, 1, (400, 50))
    core.set_operating_point(x, 4, 8, percentile=100)
    L = 15
    q = np.clip(np.rint(x * L), -L, L) / L
    ideal = q @ W + b
    y = core.forward(x, 4, 8)
    unit = core.forward(x, 4, 8)[0] / core.forward(x, 4, 8, return_codes=True)[0]
    assert np.all(np.abs(y - ideal) <= np.abs(unit) * (1 + 1e-9))
    # the codes are the closed-form ADC of the formula's voltage
    codes = core.forward(x, 4, 8, return_codes=True)
    v = forward_formula(core, x, 4) / core.neuron.adc_lsb
    assert np.all(np.abs(codes - v) <= 0.5 + 1e-9)


def test_two_phase_inputs_combine_shift_and_add(rng):
    W = rng.standard_normal((30, 10)) * 0.2
    core = Core(device=RRAMDevice.ideal(), seed=0, percentile=100, precision="double")
    core.program(W)
    x = rng.uniform(-1, 1, (300, 30))
    cfg = core.set_operating_point(x, 4, 8, percentile=100)
    core.neuron = cfg.replace(v_read=cfg.v_read / 4)    # the LSB phase must not saturate
    L = 2 ** 6 - 1
    ideal = (np.clip(np.rint(x * L), -L, L) / L) @ W
    codes = core.forward(x, 6, 8, return_codes=True)
    y = core.forward(x, 6, 8)
    unit = (y / codes)[0]                          # output units per LSB, per column
    assert np.allclose(y / codes, unit)
    # each phase is off by at most half its LSB; the MSB phase counts 2**4 times
    assert np.all(np.abs(y - ideal) <= 0.5 * (1 + 16) * np.abs(unit) * (1 + 1e-9))
    # and on average like two independent uniform rounding errors (LSB and 16 LSB)
    rms = np.sqrt(np.mean(((y - ideal) / unit) ** 2))
    assert rms < 1.2 * np.sqrt((1 + 16 ** 2) / 12)


def test_leak_fast_path_equals_cycle_by_cycle(rng):
    neuron = NeuronConfig(leak=0.08, pulse_multiplier=2)
    W = rng.standard_normal((12, 9))
    core = Core(device=quiet_device(), neuron=neuron, seed=1, precision="double").program(W)
    x = rng.uniform(-1, 1, (40, 12))
    fast = core.integrate(x, 3, noise_model="output")
    ref = core.integrate(x, 3, noise_model="device")
    assert np.allclose(fast, ref, rtol=1e-9, atol=1e-14)
    y = rng.uniform(-1, 1, (40, 9))
    assert np.allclose(core.integrate(y, 3, direction="backward"),
                       core.integrate(y, 3, direction="backward", noise_model="device"),
                       rtol=1e-9, atol=1e-14)


NOISE_CASES = [
    # direction, input bits, input range, weights: the v-dependent terms matter most for
    # non-negative inputs on positive weights, where the line voltage nears V_read
    ("forward", 2, (-1, 1), "normal"),
    ("forward", 2, (0, 1), "normal"),
    ("forward", 1, (0.5, 1), "positive"),
    ("backward", 2, (-1, 1), "normal"),
    ("backward", 1, (0, 1), "normal"),
]


@pytest.mark.parametrize("direction, bits, lim, weights", NOISE_CASES)
def test_output_noise_matches_per_device_reads(direction, bits, lim, weights):
    """Mean and standard deviation of the fast path's read noise against the per-device
    reference (every cell read afresh every cycle), over 6000 reads of one input."""
    rng = np.random.default_rng(7)
    device = RRAMDevice(read_noise_sigma=0.05, faults=False)
    shape = (120, 6) if direction == "forward" else (6, 64)
    W = rng.standard_normal(shape)
    if weights == "positive":
        W = np.abs(W)
    core = Core(device=device, seed=2, precision="double", percentile=100).program(W)
    n_in = shape[0] if direction == "forward" else shape[1]
    reads = 6000
    x = np.tile(rng.uniform(*lim, (1, n_in)), (reads, 1))
    fast = core.integrate(x, bits, direction=direction)[0]
    ref = core.integrate(x, bits, direction=direction, noise_model="device")[0]
    sd_ref = ref.std(axis=0)
    assert np.allclose(fast.std(axis=0), sd_ref, rtol=0.05)
    assert np.all(np.abs(fast.mean(0) - ref.mean(0)) < 5 * sd_ref / np.sqrt(reads))


def test_same_seed_is_bit_identical_different_seed_differs(rng):
    W = rng.standard_normal((64, 32))
    x = rng.uniform(-1, 1, (100, 64))
    a = Core(seed=11).program(W).forward(x, 4, 6)
    b = Core(seed=11).program(W).forward(x, 4, 6)
    c = Core(seed=12).program(W).forward(x, 4, 6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    core = Core(seed=11).program(W)
    assert not np.array_equal(core.forward(x, 4, 8), core.forward(x, 4, 8))   # fresh noise


def test_effective_weights_and_ageing(rng):
    W = rng.standard_normal((20, 10))
    b = rng.standard_normal(10)
    ideal = Core(device=RRAMDevice.ideal(), percentile=100).program(W, b)
    W2, b2 = ideal.effective_weights()
    assert np.allclose(W2, W) and np.allclose(b2, b)
    core = Core(seed=3, read_time=1.0).program(W, b)
    err_1s = np.std(core.effective_weights()[0] - np.clip(W, -core.mapping.w_max,
                                                          core.mapping.w_max))
    core.age(86400.0)
    err_1d = np.std(core.effective_weights()[0] - np.clip(W, -core.mapping.w_max,
                                                          core.mapping.w_max))
    assert err_1d > err_1s > 0


def test_operating_point_fills_adc_range(rng):
    W = rng.standard_normal((64, 16)) * 0.1
    core = Core(device=RRAMDevice.ideal(), seed=0, precision="double").program(W)
    x = rng.uniform(0, 1, (500, 64))
    cfg = core.set_operating_point(x, 4, 6, percentile=99)
    v = core.integrate(x, 4)[0]
    top = min(32 * cfg.adc_lsb, cfg.v_swing)
    assert np.percentile(np.abs(v), 99) == pytest.approx(top, rel=1e-6)


def test_capacity_errors(rng):
    core = Core()
    with pytest.raises(CapacityError, match="at most 128 differential input pairs"):
        core.program(rng.standard_normal((129, 4)))
    with pytest.raises(CapacityError, match="a core has 256"):
        core.program(rng.standard_normal((4, 257)))
    with pytest.raises(CapacityError, match="bias row pairs"):
        core.program(np.full((127, 4), 0.01), np.full(4, 10.0))


def test_bad_input_errors(rng):
    core = Core()
    with pytest.raises(RuntimeError, match="not programmed"):
        core.forward(np.zeros((1, 4)))
    core.program(rng.standard_normal((8, 4)))
    with pytest.raises(ValueError, match="x must contain only finite values"):
        core.forward(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match=r"axis 1 must have length 8"):
        core.forward(np.zeros((2, 7)))
    with pytest.raises(ValueError, match=r"in_bits must be an integer in \[1, 8\]"):
        core.forward(np.zeros((2, 8)), in_bits=0)
    with pytest.raises(ValueError, match=r"out_bits must be an integer in \[1, 8\]"):
        core.forward(np.zeros((2, 8)), out_bits=9)
    with pytest.raises(ValueError, match="W must contain only finite values"):
        core.program(np.full((2, 2), np.inf))
    with pytest.raises(ValueError, match="activation must be one of"):
        core.forward(np.zeros((2, 8)), activation="softmax")
    with pytest.raises(ValueError, match="y has shape"):
        core.backward(np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"read_time must be in \(0"):
        Core(read_time=0)
