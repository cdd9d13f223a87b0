"""Statistics of accuracy tables: checked against hand computations and t-table values."""

import numpy as np
import pytest

from snn_neurram.analysis.stats import paired_difference, summarize, t_interval, binomial_se


def test_t_interval_matches_the_t_table():
    # t(0.975, 2 d.o.f.) = 4.303 from any t table; sd of (0.8, 0.9, 1.0) is 0.1
    lo, hi = t_interval([0.8, 0.9, 1.0])
    assert (hi - lo) / 2 == pytest.approx(4.303 * 0.1 / np.sqrt(3), rel=1e-3)
    assert (lo + hi) / 2 == pytest.approx(0.9)
    assert t_interval([0.7]) == (0.7, 0.7)                  # one chip: no spread to estimate


def test_summary_of_a_chip_by_draw_table():
    acc = [[0.90, 0.92], [0.86, 0.86], [0.88, 0.90]]        # 3 chips x 2 draws
    s = summarize(acc, n_images=1000)
    assert s["mean"] == pytest.approx(0.886666, abs=1e-5)
    assert s["per_chip"] == pytest.approx([0.91, 0.86, 0.89])
    assert s["std_chips"] == pytest.approx(np.sqrt(((0.91 - 0.8866667) ** 2 + (0.86 - 0.8866667)
                                                    ** 2 + (0.89 - 0.8866667) ** 2) / 2))
    # within-chip variances (ddof 1): 0.0002, 0, 0.0002 -> pooled sqrt(0.000133)
    assert s["std_draws"] == pytest.approx(np.sqrt(0.0004 / 3))
    assert s["min_chip"] == pytest.approx(0.86) and s["max_chip"] == pytest.approx(0.91)
    assert s["chips"] == 3 and s["draws"] == 2
    assert s["test_set_se"] == pytest.approx(np.sqrt(0.886666 * 0.113333 / 1000), rel=1e-4)
    assert 0 <= s["ci95"][0] < s["mean"] < s["ci95"][1] <= 1


def test_paired_difference_cancels_what_two_steps_share():
    before = np.array([[0.80, 0.82], [0.90, 0.88]])         # chips differ by 8 points
    after = before + [[0.01, 0.01], [0.02, 0.02]]
    d = paired_difference(after, before)
    assert d["mean"] == pytest.approx(0.015)
    assert d["per_chip"] == pytest.approx([0.01, 0.02])
    assert d["min_chip"] == pytest.approx(0.01) and d["worse_chips"] == 0
    lo, hi = d["ci95"]
    # t(0.975, 1) = 12.706; sd of (0.01, 0.02) = 0.00707
    assert (hi - lo) / 2 == pytest.approx(12.706 * 0.0070711 / np.sqrt(2), rel=1e-3)


def test_binomial_standard_error_of_an_accuracy():
    assert binomial_se(0.9, 1000) == pytest.approx(0.0094868, rel=1e-4)
