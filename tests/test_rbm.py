"""RBMs and Boltzmann machines: chip samplers against closed forms and exact enumeration."""

import itertools

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.rbm import (NOISE_SIGMA, RBM, BoltzmannMachine, corrupt, exact_distribution,
                             noise_codes)


@pytest.fixture(scope="module")
def small_rbm():
    rng = np.random.default_rng(0)
    X = (rng.random((300, 20)) < np.linspace(0.1, 0.9, 20)).astype(float)
    return RBM(20, 10, epochs=30, seed=0).fit(X), X


def test_chip_hidden_samples_equal_closed_form(small_rbm):
    """Ideal devices: h = 1[sum_i (q_i / L) W_ij + b_j + sum_r (e_r / L) w_n >= 0] with the
    noise codes e_r the generator drew, W the weights the conductances hold."""
    rbm, X = small_rbm
    chip = sn.Chip(device=sn.RRAMDevice.ideal(), seed=0, n_cores=1, precision="double")
    crbm = rbm.program(chip, seed=5)
    v = X[:50]
    h = crbm.sample_hidden(v, np.random.default_rng(5))
    rng = np.random.default_rng(5)                   # the same stream the sampler used
    L = crbm.L
    codes = noise_codes(rng, (len(v), crbm.R), L)[0]
    core = chip.cores[0]
    W_eff, _ = core.effective_weights()               # rows: visible, bias, noise
    q = np.hstack([np.rint(v * L), np.full((len(v), crbm.k_hb), float(L)), codes])
    a = (q / L) @ W_eff[:, :rbm.n_hidden]
    assert np.array_equal(h, (a >= 0).astype(float))


def test_chip_firing_probability_is_the_sigmoid(small_rbm):
    rbm, X = small_rbm
    crbm = rbm.program(sn.Chip(device=sn.RRAMDevice.ideal(), seed=0, n_cores=1), seed=1)
    v = np.tile(X[:3], (4000, 1))
    freq = crbm.sample_hidden(v, np.random.default_rng(2)).reshape(4000, 3, -1).mean(axis=0)
    v3 = np.floor(X[:3] * crbm.L + 0.5) / crbm.L
    p = rbm.hidden_probs(v3)
    assert np.abs(freq - p).max() < 0.035           # probit of the noise lines vs logistic


def test_brian2_and_batch_samplers_agree(small_rbm):
    b2 = pytest.importorskip("brian2")
    from snn_neurram.brian.rbm_builder import rbm_sampler

    b2.prefs.codegen.target = "numpy"
    rbm, X = small_rbm
    crbm = rbm.program(sn.Chip(seed=0, n_cores=1))
    H, _ = rbm_sampler(crbm, X[0], 3000)
    v = np.tile(X[0], (400, 1))
    samples = []
    g = np.random.default_rng(3)
    for step in range(40):
        h = crbm.sample_hidden(v, g)
        v = crbm.visible_from_hidden(h, g)
        if step >= 10:
            samples.append(h)
    assert np.abs(H[100:].mean(axis=0) - np.mean(samples, axis=(0, 1))).max() < 0.02


def _kl_to_exact(samples, p, n):
    idx = ((samples.reshape(-1, n) > 0) * (2 ** np.arange(n)[::-1])).sum(axis=1)
    counts = np.bincount(idx, minlength=2 ** n) / len(idx)
    m = counts > 0
    return float((counts[m] * np.log(counts[m] / p[m])).sum())


@pytest.mark.parametrize("method", ["sequential", "chromatic"])
def test_boltzmann_machine_matches_exact_enumeration(method):
    rng = np.random.default_rng(3)
    n = 8
    J = rng.normal(0, 0.4, (n, n))
    J = (J + J.T) / 2
    b = rng.normal(0, 0.3, n)
    bm = BoltzmannMachine(J, b)
    _, p = exact_distribution(bm.J, bm.b)
    soft = bm.sample(200, chains=200, method=method, record=True, rng=np.random.default_rng(1))
    assert _kl_to_exact(soft[50:], p, n) < 0.02
    bm.program(sn.Core(device=sn.RRAMDevice.ideal(), seed=0, precision="double"))
    chip = bm.sample(200, chains=200, method=method, record=True, on_chip=True,
                     rng=np.random.default_rng(1))
    assert bm.last_temperatures[0] == pytest.approx(1.0)
    assert _kl_to_exact(chip[50:], p, n) < 0.02


def test_maxcut_by_annealing_on_chip():
    rng = np.random.default_rng(7)
    n = 12
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.4]
    best = max(BoltzmannMachine.cut_value(edges, np.array(s))
               for s in itertools.product([-1, 1], repeat=n))
    bm = BoltzmannMachine.maxcut(edges, n).program(sn.Core(seed=0))
    s = bm.sample(60, chains=20, schedule=np.geomspace(3.0, 0.3, 60), on_chip=True,
                  rng=np.random.default_rng(0))
    cuts = BoltzmannMachine.cut_value(edges, s)
    assert cuts.max() == best


def test_recovery_on_digits_ci_sized(tmp_path):
    """`snn-neurram bench rbm`: chip and software RBM recover digits; the chip keeps >= 0.9 of the
    software's error reduction; both beat scikit-learn's BernoulliRBM under the same schedule."""
    import json

    from snn_neurram.cli import main

    path = tmp_path / "rbm.json"
    assert main(["bench", "rbm", "--dataset", "digits", "--out", str(tmp_path),
                 "--json", str(path)]) == 0                  # the full recipe: ~10 s
    r = json.loads(path.read_text())
    assert (tmp_path / "rbm_digits.png").stat().st_size > 10_000
    for kind, e in r["corruptions"].items():
        assert e["software"]["error_reduction"] > 0.2, kind
        assert e["chip_over_software"] >= 0.9, kind
        assert e["software"]["error_reduction"] > e["sklearn"]["error_reduction"], kind
        assert e["chip"]["error_reduction"] > e["sklearn"]["error_reduction"], kind
    # the error before recovery, computed here from the bare images: grey bottom 3 rows
    from snn_neurram.datasets import load_dataset

    X_te = np.asarray(load_dataset("digits", flat=True, seed=0)[1], float)
    before = np.sqrt(((X_te[:, 40:] - 0.5) ** 2).sum(axis=1)).mean()
    assert r["corruptions"]["bottom"]["l2_before"] == pytest.approx(before, rel=1e-9)


def test_labels_classify_and_corruptions(small_rbm):
    from snn_neurram.datasets import load_digits_split

    X_tr, X_te, y_tr, y_te = load_digits_split()
    rbm = RBM(64, 120, n_labels=10, epochs=30, seed=0).fit(X_tr, y_tr)
    assert np.mean(rbm.predict(X_te[:200], steps=20) == y_te[:200]) > 0.8
    x, mask = corrupt(X_te[:5], "bottom", np.random.default_rng(0))
    assert np.all(x[mask] == 0.5) and mask[:, -8:].all() and not mask[:, :40].any()
    x, mask = corrupt(X_te, "flip", np.random.default_rng(0))
    assert abs(mask.mean() - 0.2) < 0.01
    with pytest.raises(ValueError, match="needs y"):
        RBM(64, 8, n_labels=10).fit(X_tr)
    with pytest.raises(ValueError, match=r"X must hold values in \[0, 1\]"):
        RBM(64, 8).fit(X_tr * 2)
    with pytest.raises(ValueError, match="J must be symmetric"):
        BoltzmannMachine(np.array([[0, 1.0], [0.5, 0]]))
    assert NOISE_SIGMA == pytest.approx(1.596, abs=1e-3)


def test_gibbs_on_a_bare_chip_programs_it_once(small_rbm):
    rbm, X = small_rbm
    chip = sn.Chip(seed=0, n_cores=1)
    a = rbm.gibbs(X[:20], 2, on=chip)
    first = rbm._programmed
    rbm.gibbs(X[:20], 2, on=chip)
    assert rbm._programmed is first and a.shape == (20, 20)
    # 3-bit visible readout: every value is a multiple of 1/7
    assert np.allclose(a * 7, np.rint(a * 7))
    with pytest.raises(ValueError, match="on must be a ChipRBM or a Chip"):
        rbm.gibbs(X[:2], on="chip")
