"""Regression tests of bad inputs that were once silently accepted or gave unhelpful errors.

Each case names the argument in a ValueError (or CapacityError) and says the allowed range.
"""

import time
import warnings

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.errors import CapacityError
from snn_neurram.physics import encoding


@pytest.fixture(scope="module")
def core():
    return sn.Core(seed=0).program(np.random.default_rng(0).normal(size=(8, 4)))


@pytest.fixture(scope="module")
def program():
    r = np.random.default_rng(1)
    model = sn.Sequential(sn.Dense(r.normal(size=(6, 5)), name="h"),
                          sn.Dense(r.normal(size=(5, 3)), None, "linear", name="out"))
    return sn.compile(model, sn.Chip(1, seed=0), input_shape=(6,))


@pytest.fixture(scope="module")
def rbm():
    X = (np.random.default_rng(2).random((40, 6)) < 0.5).astype(float)
    return sn.RBM(4, n_iter=2, n_labels=2, random_state=0).fit(X, np.arange(40) % 2)


BAD_ARRAYS = [
    (np.ones((3, 8)) + 1j, "complex"),
    ([["1"] * 8] * 3, "strings"),
    (np.array([[object()] * 8] * 3), "objects"),
    ([[1, 2], [3]], "numeric array"),
    (np.full((3, 8), np.nan), "finite"),
    (np.full((3, 8), 1e300), "magnitude"),
]


@pytest.mark.parametrize("x, words", BAD_ARRAYS)
def test_core_refuses_non_real_data(core, x, words):
    with pytest.raises(ValueError, match=f"^x .*{words}"):
        core.forward(x)


@pytest.mark.parametrize("x, words", BAD_ARRAYS[:2])
def test_every_data_entry_refuses_complex_and_strings(program, rbm, core, x, words):
    x6 = np.asarray(x)[:, :6]
    with pytest.raises(ValueError, match=words):
        program.run(x6)
    with pytest.raises(ValueError, match=words):
        core.program(np.asarray(x)[:, :4] if np.asarray(x).dtype.kind != "U" else x)
    with pytest.raises(ValueError, match=words):
        sn.Dense(x6)
    with pytest.raises(ValueError, match=words):
        rbm.gibbs(x6[:, :6].tolist() if np.asarray(x).dtype.kind == "U" else x6[:, :8])
    with pytest.raises(ValueError, match=words):
        encoding.regular(x6, 4)
    with pytest.raises(ValueError, match=words):
        sn.BoltzmannMachine(np.asarray(x)[:3, :3])


def test_from_conductances_is_checked():
    g = np.full((4, 3), 5e-6)
    with pytest.raises(ValueError, match="g_plus must contain only finite"):
        sn.from_conductances(np.full((4, 3), np.nan), g, 1.0, 1e-6, 40e-6)
    with pytest.raises(ValueError, match="w_max must be in"):
        sn.from_conductances(g, g, 0.0, 1e-6, 40e-6)
    with pytest.raises(ValueError, match="g_max must be in"):
        sn.from_conductances(g, g, 1.0, 40e-6, 1e-6)
    with pytest.raises(ValueError, match="n_bias_rows must be an integer in \\[0, 4\\]"):
        sn.from_conductances(g, g, 1.0, 1e-6, 40e-6, n_bias_rows=9)


def test_huge_bias_fails_before_allocating():
    t0 = time.perf_counter()
    for b, x_max in ((0.1, 1e-4), (1.0, 1e-9)):
        with pytest.raises(CapacityError, match="bias row pairs.*a core has 128"):
            sn.to_conductances(np.ones((3, 2)), np.full(2, b), x_max=x_max)
    assert time.perf_counter() - t0 < 1.0


def test_rbm_inputs_are_checked(rbm):
    v = np.full((2, 8), 0.5)
    with pytest.raises(ValueError, match="v must contain only finite"):
        rbm.gibbs(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="v must hold values in \\[0, 1\\]"):
        rbm.gibbs(np.full((2, 8), 5.0))
    with pytest.raises(ValueError, match="axis 1 must have length 8"):
        rbm.gibbs(np.full((2, 7), 0.5))
    with pytest.raises(ValueError, match="visible_bits must be an integer in \\[1, 8\\]"):
        rbm.mean_field(v, visible_bits=0)
    with pytest.raises(ValueError, match="labels must hold integer labels in \\[0, 1\\]"):
        rbm.reconstruct(np.full((2, 6), 0.5), labels=[-1, 0])
    with pytest.raises(ValueError, match="0 sample"):
        sn.RBM(4).fit(np.zeros((0, 6)))
    with pytest.raises(ValueError, match="X has 7 features, but RBM is expecting 6"):
        rbm.transform(np.full((2, 7), 0.5))
    with pytest.raises(ValueError, match=r"y must hold integer labels in \[0, 1\]"):
        sn.RBM(4, n_labels=2).fit(np.full((3, 6), 0.5), [0, 1, 2])
    with pytest.raises(ValueError, match="not trained yet"):   # NotFittedError
        from snn_neurram.engines.rbm import ChipRBM
        ChipRBM(sn.RBM(4), sn.Chip(1, seed=0))


def test_boltzmann_inputs_are_checked():
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    bm = sn.BoltzmannMachine(J)
    for t in (0, -1, np.nan):
        with pytest.raises(ValueError, match="temperature"):
            bm.sample(2, temperature=t)
    with pytest.raises(ValueError, match="schedule must"):
        bm.sample(2, schedule=[1.0, -0.5])
    with pytest.raises(ValueError, match="schedule must contain only finite"):
        bm.sample(2, schedule=[1.0, np.nan])
    with pytest.raises(ValueError, match="states must hold spins"):
        bm.sample(2, states=[[0.5, 1.0]])
    with pytest.raises(ValueError, match="at least one unit"):
        sn.BoltzmannMachine(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="self-loop"):
        sn.BoltzmannMachine.maxcut([(0, 1), (2, 2)], 3)
    with pytest.raises(ValueError, match="edges\\[0\\] must be an integer in \\[0, 2\\]"):
        sn.BoltzmannMachine.maxcut([(0, 5)], 3)


def test_device_settings_that_cannot_converge():
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        sn.RRAMDevice(tolerance=0)
    with pytest.raises(ValueError, match="max_pulses must be an integer in \\[1, 1000\\]"):
        sn.RRAMDevice(max_pulses=100000)
    with pytest.warns(UserWarning, match="without converging"):
        sn.RRAMDevice(tolerance=0.05e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sn.RRAMDevice(tolerance=0.0, write_verify=False)     # no write-verify: no tolerance


@pytest.mark.parametrize("seed", [-1, True, 1.5, "3", 2 ** 64])
def test_bad_seeds_name_the_argument(seed):
    with pytest.raises(ValueError, match="^seed must be an integer"):
        sn.Chip(1, seed=seed)
    with pytest.raises(ValueError, match="^seed must be an integer"):
        sn.Core(seed=seed)


def test_run_options_are_checked(program):
    x = np.ones((2, 6))
    for chunk in (0, True, -1):
        with pytest.raises(ValueError, match="chunk must be an integer"):
            program.run(x, chunk=chunk)
    with pytest.raises(ValueError, match="seed must be an integer"):
        program.run(x, seed=True)
    with pytest.raises(ValueError, match="in_bits must be an integer in \\[1, 8\\]"):
        program.run(x, in_bits=99)


def test_empty_batches_give_empty_results(program, core):
    assert program.run(np.zeros((0, 6))).shape == (0, 3)
    assert program.run_stages(np.zeros((0, 6))).shape == (0, 3)
    assert core.forward(np.zeros((0, 8))).shape == (0, 4)


def test_models_and_layers_are_checked():
    with pytest.raises(ValueError, match="layers\\[0\\] must be a layer"):
        sn.compile([5], sn.Chip(1, seed=0), input_shape=(3,))
    with pytest.raises(ValueError, match="module must be a torch nn.Module"):
        sn.from_torch(None)
    with pytest.raises(ValueError, match="at least one layer"):
        sn.Sequential()
    with pytest.raises(ValueError, match="W must have at least one input"):
        sn.Dense(np.ones((0, 3)))
    with pytest.raises(ValueError, match="clip must be in"):
        sn.Residual([sn.Dense(np.ones((2, 2)))], clip=-1)
    with pytest.raises(ValueError, match="maxpool2d: input 2x2 is smaller than the 5x5"):
        sn.Sequential(sn.MaxPool2d(5), sn.Flatten()).output_shape((1, 2, 2))


def test_read_time_is_named_and_checked_before_programming():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="^read_time must be in"):
        sn.Core(seed=0).program(np.ones((128, 256)), read_time=-1)
    assert time.perf_counter() - t0 < 0.5                # refused before write-verify
