"""The recovery benchmark's protocols and baselines, and the partition functions of RBMs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.analysis.ais import (ais_log_partition, log_likelihood,
                                      log_partition_brute_force, log_partition_exact)
from snn_neurram.apps.rbm_bench import (ROWS, chip_mean_field, chip_parameters, gibbs_recover,
                                        knn_fill, mean_fill, paper_corrupt, pca_fill,
                                        rbm_parameters, recovery_benchmark)
from snn_neurram.engines.rbm import RBM


def _random_rbm(n_v, n_h, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, scale, (n_v, n_h)), rng.normal(0, scale, n_v),
            rng.normal(0, scale, n_h))


@pytest.fixture(scope="module")
def digits():
    from snn_neurram.apps.datasets import load_digits_split

    X_tr, X_te, y_tr, y_te = load_digits_split()
    return X_tr[:400], X_te[:30], y_tr[:400], y_te[:30]


def test_paper_corruption_and_clamping_keep_known_pixels(digits):
    X_tr, X_te, _, _ = digits
    x, mask = paper_corrupt(X_te, "flip", np.random.default_rng(1), grey=0.3)
    # a flipped pixel shows the truth thresholded and inverted; the others are the truth
    assert np.array_equal(x[mask], (X_te[mask] < 0.7).astype(float))
    assert np.array_equal(x[~mask], X_te[~mask])
    assert abs(mask.mean() - 0.2) < 0.03
    xb, mb = paper_corrupt(X_te, "bottom", np.random.default_rng(1), grey=0.3)
    assert mb[:, 40:].all() and not mb[:, :40].any()           # 8 x 8: the bottom 3 rows
    assert np.all(xb[mb] == 0.3)
    big = np.zeros((2, 784))
    assert paper_corrupt(big, "bottom", np.random.default_rng(0), 0.5)[1].sum() == 2 * 280

    rbm = RBM(n_components=16, n_iter=20, weight_bound=1.0, random_state=0).fit(X_tr)
    W, b_v, b_h = rbm_parameters(rbm)
    assert W.shape == (64, 16)
    soft = gibbs_recover(W, b_v, b_h, x, ~mask, rng=np.random.default_rng(0))
    on_chip = rbm.program(sn.Chip(n_cores=2, seed=0))
    chip = chip_mean_field(on_chip, x, 4, ~mask, 2, 0)
    for out in (soft, chip):
        assert np.array_equal(out[~mask], X_te[~mask])          # reset to the truth
        assert not np.array_equal(out[mask], x[mask])           # the flipped ones moved
    # the read-back weights are the programmed ones up to device errors
    Wc, bvc, bhc = chip_parameters(on_chip, 16)
    assert Wc.shape == W.shape and bvc.shape == b_v.shape and bhc.shape == b_h.shape
    assert np.corrcoef(Wc.ravel(), W.ravel())[0, 1] > 0.9
    assert np.corrcoef(bvc, b_v)[0, 1] > 0.99


def test_baselines_on_cases_with_known_answers():
    rng = np.random.default_rng(0)
    train = rng.random((7, 12))
    x = rng.random((3, 12))
    fill = np.zeros((3, 12), bool)
    fill[:, 8:] = True
    mean = train.mean(axis=0)
    out = mean_fill(x, fill, mean)
    assert np.array_equal(out[:, 8:], np.tile(mean[8:], (3, 1)))
    assert np.array_equal(out[:, :8], x[:, :8])
    # kNN: every training image ten times; corrupted copies of three of them find their own
    X = np.repeat(train, 10, axis=0)
    truth = train[[1, 4, 6]]
    corrupted = np.where(fill, 0.5, truth)
    assert np.allclose(knn_fill(X, corrupted, ~fill, fill, k=10), truth, rtol=0, atol=1e-12)
    per_image = rng.random((3, 12)) < 0.3                     # a mask per image
    noisy = np.where(per_image, 1 - truth, truth)
    assert np.allclose(knn_fill(X, noisy, ~per_image, per_image, k=10), truth, rtol=0,
                       atol=1e-12)
    # PCA: images on a 2-D plane; the fill converges to the point of the plane
    basis = np.linalg.qr(rng.normal(size=(12, 2)))[0]
    centre = rng.random(12)
    plane = centre + rng.normal(size=(50, 2)) @ basis.T
    target = centre + np.array([[0.7, -0.4]]) @ basis.T
    start = np.where(fill[:1], 0.0, target)
    out = pca_fill(plane, start, ~fill[:1], fill[:1], n_components=2, iterations=2000)
    assert np.allclose(out, target, atol=1e-6)
    # with every pixel known: one orthogonal projection onto the plane
    off = target + 0.1 * (np.eye(12)[0] - basis @ basis[0])
    assert np.allclose(pca_fill(plane, off, np.ones((1, 12), bool), np.ones((1, 12), bool),
                                n_components=2), target, atol=1e-9)


def test_partition_function_enumeration_and_ais():
    # enumeration over the hidden units against the sum over all joint states
    W, b_v, b_h = _random_rbm(7, 5, seed=1, scale=0.8)
    assert log_partition_exact(W, b_v, b_h) == pytest.approx(
        log_partition_brute_force(W, b_v, b_h), abs=1e-10)
    # log-likelihood against p(v) = sum_h exp(-E) / Z written out for every state
    states = np.array(list(itertools.product([0.0, 1.0], repeat=7)))
    hidden = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    joint = np.exp(states @ b_v[:, None] + hidden @ b_h + states @ W @ hidden.T)
    p = joint.sum(axis=1) / joint.sum()
    data = states[[3, 17, 17, 90]]
    want = np.mean(np.log(p[[3, 17, 17, 90]]))
    assert log_likelihood(data, W, b_v, b_h, binarize=None) == pytest.approx(want, abs=1e-9)
    # AIS on a 64 x 16 RBM with digit-like weights: within 0.5 nats of the enumeration
    W, b_v, b_h = _random_rbm(64, 16, seed=2, scale=0.3)
    b_v -= 1.0
    exact = log_partition_exact(W, b_v, b_h)
    est = ais_log_partition(W, b_v, b_h, n_chains=100, n_betas=2000, seed=0)
    assert abs(est.log_z - exact) < 0.5
    assert est.log_z_low <= est.log_z <= est.log_z_high
    with pytest.raises(ValueError, match="n_hidden must be in"):
        log_partition_exact(np.zeros((3, 30)), np.zeros(3), np.zeros(30))
    with pytest.raises(ValueError, match="n_betas must be an integer in"):
        ais_log_partition(W, b_v, b_h, n_betas=1)


def test_benchmark_json_holds_both_protocols_and_all_rows(tmp_path):
    recipe = dict(n_hidden=16, epochs=2, train_samples=300, test_samples=40, chips=2,
                  ais_betas=200, ais_chains=20, sample_chains=20, sample_steps=5)
    r = recovery_benchmark("digits", recipe=recipe, protocol="both", log=lambda s: None,
                           figure=str(tmp_path / "rbm.png"))
    r = json.loads(json.dumps(r))
    assert set(r["protocols"]) == {"blind", "paper"}
    for prot in ("blind", "paper"):
        for kind in ("bottom", "flip"):
            e = r["protocols"][prot]["corruptions"][kind]
            for name in ROWS:
                lo, hi = e[name]["ci95_images"]
                assert lo <= hi and np.isfinite(e[name]["error_reduction"])
            assert len(e["software"]["per_run"]) == len(e["chip"]["per_run"]) == 2
            assert e["target_met"] == (e["chip_over_software"] >= 0.95)
    # the blind flip error counts the whole image, the paper's the flipped pixels
    assert (r["protocols"]["blind"]["corruptions"]["flip"]["error_region"] == "whole image")
    assert r["corruptions"] == r["protocols"]["blind"]["corruptions"]
    u = r["uses"]
    assert {"software", "chip", "independent_pixels"} <= set(u["log_likelihood"])
    assert {"software", "chip", "mean_image", "uniform_noise"} <= set(u["samples"]["quality"])
    assert {"label_units_gibbs_chip", "logistic_hidden",
            "logistic_pixels"} <= set(u["classification"]["accuracy"])
    assert (tmp_path / "rbm.png").exists() and (tmp_path / "rbm_rows.png").exists()
    with pytest.raises(ValueError, match="protocol must be one of"):
        recovery_benchmark("digits", protocol="known")


def test_cli_takes_the_protocol():
    from snn_neurram.apps.cli import build_parser

    args = build_parser().parse_args(["bench", "rbm", "--protocol", "paper"])
    assert args.protocol == "paper"
    assert build_parser().parse_args(["bench", "rbm"]).protocol == "blind"
