"""Property-based tests of the public entries (hypothesis).

For arbitrary arrays (dtypes, shapes, values) and parameter values, every entry either raises a
clear ValueError / TypeError / CapacityError whose message names one of its arguments, or returns
a finite result of the documented shape. The example counts are bounded (the "ci" profile) so
that the module runs in seconds; ``HYPOTHESIS_PROFILE=thorough`` runs many more.
"""

import os
import re

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import snn_neurram as sn  # noqa: E402
from snn_neurram.errors import CapacityError  # noqa: E402
from snn_neurram.physics import encoding  # noqa: E402
from snn_neurram.physics.neuron import quantize_inputs  # noqa: E402

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ERRORS = (ValueError, TypeError, CapacityError)

# numbers and arrays a user might pass: every dtype kind, odd values, odd shapes
ODD_FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e308, np.inf, -np.inf,
                              np.nan, 3.7, 1e100])
DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_,
                          np.complex128, np.float16])


def arrays(min_dims=0, max_dims=3, max_side=6):
    return DTYPES.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0,
                             max_side=max_side),
        elements=None if dt in (np.bool_,) else hnp.from_dtype(np.dtype(dt), allow_nan=True,
                                                              allow_infinity=True)))


ANY_VALUE = st.one_of(ODD_FLOATS, st.integers(-10 ** 20, 10 ** 20), st.booleans(), st.none(),
                      st.text(max_size=3), st.just(1 + 2j), st.just([1, 2]))


def names_an_argument(exc, names):
    text = str(exc)
    return any(re.search(rf"\b{re.escape(n)}\b", text) for n in names)


def check_outcome(call, names, shape=None):
    """The call raises a clear error naming an argument, or returns a finite array of
    ``shape``."""
    try:
        out = call()
    except ERRORS as exc:
        assert names_an_argument(exc, names), f"{type(exc).__name__}: {exc}"
        return None
    out = np.asarray(out, dtype=float)
    if shape is not None:
        assert out.shape == shape
    assert np.all(np.isfinite(out))
    return out


@pytest.fixture(scope="module")
def core():
    return sn.Core(seed=0).program(np.random.default_rng(0).normal(size=(8, 4)))


@given(x=arrays())
def test_core_forward_any_array(core, x):
    def call():
        return core.forward(x, 4, 6)
    expect = (x.shape[0], 4) if x.ndim == 2 and x.shape[1] == 8 else None
    out = check_outcome(call, ["x"], expect)
    if out is None:
        assert not (x.ndim == 2 and x.shape[1] == 8 and x.dtype.kind in "biuf"
                    and np.all(np.isfinite(x.astype(float))) and np.abs(x).max(initial=0) < 1e100)


@given(x=arrays(), in_bits=ANY_VALUE, out_bits=ANY_VALUE)
def test_core_backward_any_arguments(core, x, in_bits, out_bits):
    check_outcome(lambda: core.backward(x, in_bits, out_bits), ["y", "in_bits", "out_bits"],
                  (x.shape[0], 8) if x.ndim == 2 and x.shape[1] == 4 else None)


@given(W=arrays(min_dims=2, max_dims=2, max_side=5), bias=st.one_of(st.none(), arrays(1, 1, 5)),
       w_max=st.one_of(st.none(), ODD_FLOATS), x_max=ODD_FLOATS)
def test_to_conductances_any_arguments(W, bias, w_max, x_max):
    def call():
        m = sn.to_conductances(W, bias, w_max=w_max, x_max=x_max)
        return np.concatenate([m.g_plus.ravel(), m.g_minus.ravel()])
    check_outcome(call, ["W", "bias", "w_max", "x_max", "percentile"])


@given(x=arrays(), bits=ANY_VALUE, x_max=ANY_VALUE)
def test_quantize_inputs_any_arguments(x, bits, x_max):
    out = check_outcome(lambda: quantize_inputs(x, bits, x_max), ["x", "in_bits", "x_max"],
                        x.shape)
    if out is not None:
        assert np.all(out == np.round(out)) and np.abs(out).max(initial=0) <= 255


@given(x=arrays(min_dims=1, max_dims=3), steps=ANY_VALUE)
def test_encoders_any_arguments(x, steps):
    rng = np.random.default_rng(0)
    for enc in (lambda: encoding.regular(x, steps), lambda: encoding.poisson(x, steps, rng),
                lambda: encoding.latency(x, steps)):
        out = check_outcome(enc, ["x", "steps", "x_max"])
        if out is not None:
            assert set(np.unique(out)) <= {-1.0, 0.0, 1.0}


@given(params=st.fixed_dictionaries({}, optional={
    "tolerance": ODD_FLOATS, "max_pulses": ANY_VALUE, "read_noise_sigma": ODD_FLOATS,
    "g_min": ODD_FLOATS, "g_max": ODD_FLOATS, "step_cv": ODD_FLOATS,
    "stuck_on_rate": ODD_FLOATS, "write_verify": ANY_VALUE}))
def test_device_parameters(params):
    try:
        dev = sn.RRAMDevice(**params)
    except ERRORS as exc:
        assert names_an_argument(exc, list(params) + ["g_floor", "g_ceiling"]), str(exc)
        return
    except UserWarning:
        return
    assert dev.g_min < dev.g_max


@given(params=st.fixed_dictionaries({}, optional={
    "v_read": ODD_FLOATS, "c_ratio": ODD_FLOATS, "leak": ODD_FLOATS, "threshold": ODD_FLOATS,
    "refractory": ANY_VALUE, "reset": ANY_VALUE, "relu_clip": ANY_VALUE,
    "max_phase_bits": ANY_VALUE}))
def test_neuron_parameters(params):
    try:
        cfg = sn.NeuronConfig(**params)
    except ERRORS as exc:
        assert names_an_argument(exc, list(params)), str(exc)
        return
    assert 0 <= cfg.leak < 1 and cfg.v_read > 0


@pytest.fixture(scope="module")
def program():
    r = np.random.default_rng(1)
    model = sn.Sequential(sn.Dense(r.normal(size=(6, 5)), name="h"),
                          sn.Dense(r.normal(size=(5, 3)), None, "linear", name="out"))
    return sn.compile(model, sn.Chip(1, seed=0), input_shape=(6,))


@given(x=arrays(), in_bits=st.one_of(st.integers(-2, 10), ANY_VALUE),
       seed=st.one_of(st.integers(-3, 2 ** 64), ANY_VALUE))
def test_program_run_any_arguments(program, x, in_bits, seed):
    expect = (x.shape[0], 3) if x.ndim == 2 and x.shape[1] == 6 else None
    check_outcome(lambda: program.run(x, in_bits=in_bits, seed=seed), ["x", "in_bits", "seed"],
                  expect)


@pytest.fixture(scope="module")
def rbm():
    X = (np.random.default_rng(2).random((30, 5)) < 0.5).astype(float)
    return sn.RBM(3, n_iter=1, random_state=0).fit(X)


@given(v=arrays(), steps=st.one_of(st.integers(-1, 3), ANY_VALUE),
       bits=st.one_of(st.none(), st.integers(-1, 9)))
def test_rbm_gibbs_any_arguments(rbm, v, steps, bits):
    expect = (v.shape[0], 5) if v.ndim == 2 and v.shape[1] == 5 else None
    out = check_outcome(lambda: rbm.mean_field(v, steps, visible_bits=bits),
                        ["v", "steps", "visible_bits"], expect)
    if out is not None:
        assert out.min(initial=0) >= 0 and out.max(initial=1) <= 1
    out = check_outcome(lambda: rbm.gibbs(v, steps), ["v", "steps"], expect)
    if out is not None:          # binary samples
        assert np.all((out == 0) | (out == 1))


@given(J=arrays(min_dims=2, max_dims=2, max_side=4), temperature=ANY_VALUE,
       sweeps=st.one_of(st.integers(-1, 3), ANY_VALUE))
def test_boltzmann_any_arguments(J, temperature, sweeps):
    def call():
        sym = (J + J.T) / 2 if J.ndim == 2 and J.shape[0] == J.shape[1] else J
        return sn.BoltzmannMachine(sym).sample(sweeps, temperature=temperature, chains=2,
                                               rng=np.random.default_rng(0))
    out = check_outcome(call, ["J", "temperature", "sweeps"])
    if out is not None:
        assert set(np.unique(out)) <= {-1.0, 1.0}
