"""Differential mapping: closed-form relations of the two schemes and the exact inverse."""

import numpy as np
import pytest

from snn_neurram import from_conductances, to_conductances
from snn_neurram.mapping import weight_scale

G_MIN, G_MAX = 1e-6, 40e-6


@pytest.mark.parametrize("scheme", ["sign", "offset"])
def test_difference_is_proportional_to_weight(scheme, rng):
    W = rng.standard_normal((30, 7))
    m = to_conductances(W, scheme=scheme, w_max=3.0, g_min=G_MIN, g_max=G_MAX)
    Wc = np.clip(W, -3.0, 3.0)
    assert np.allclose(m.g_plus - m.g_minus, Wc / 3.0 * (G_MAX - G_MIN), rtol=0, atol=1e-18)
    assert m.g_plus.min() >= G_MIN - 1e-18 and m.g_plus.max() <= G_MAX + 1e-18
    if scheme == "sign":
        assert np.allclose(np.minimum(m.g_plus, m.g_minus), G_MIN)
    else:
        assert np.allclose(m.g_plus + m.g_minus, G_MIN + G_MAX)


def test_round_trip_with_bias(rng):
    W = rng.standard_normal((20, 5))
    b = np.array([0.5, -4.0, 2.0, 0.0, 7.0])
    m = to_conductances(W, b, w_max=2.0, x_max=0.5, g_min=G_MIN, g_max=G_MAX)
    # bias / x_max = up to 14, w_max 2 -> 7 bias row pairs, each holding b / (7 x_max)
    assert m.n_bias_rows == 7
    W2, b2 = from_conductances(m.g_plus, m.g_minus, m.w_max, G_MIN, G_MAX, m.n_bias_rows,
                               m.x_max)
    assert np.allclose(W2, np.clip(W, -2, 2))
    assert np.allclose(b2, b)


def test_default_scale_is_95th_percentile(rng):
    W = rng.standard_normal((100, 100))
    m = to_conductances(W)
    assert m.w_max == pytest.approx(np.percentile(np.abs(W), 95))
    assert m.clipped_fraction == pytest.approx(0.05, abs=0.002)
    assert weight_scale(np.zeros((3, 3))) == 1.0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="W must contain only finite values"):
        to_conductances(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="W must be a 2-D array"):
        to_conductances(np.ones(4))
    with pytest.raises(ValueError, match="bias has shape"):
        to_conductances(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        to_conductances(np.ones((3, 2)), percentile=0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        to_conductances(np.ones((3, 2)), scheme="balanced")
