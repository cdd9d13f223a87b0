import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def brian_numpy():
    """Brian2 on its numpy target, one step per NeuRRAM integration cycle (0.27 us), seeded."""
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.27 * b2.us
    b2.seed(2024)
    yield
