"""MAX-CUT graphs and solvers (apps.maxcut) and the Ising machine across cores (engines.ising).

Checks go against independent computations: cut values and optima by explicit loops over
edges and partitions, the tiling against the coupling matrix itself, the chip's fields against
J s + b within the ADC's quantisation bound, the sweep energy against the energy model's
per-event constants written out by hand.
"""

import itertools
import json

import numpy as np
import pytest

from snn_neurram.apps.maxcut import (Graph, anneal, exact_maxcut, maxcut_benchmark,
                                     planar_graph, random_graph, read_gset, time_to_target,
                                     toroidal_grid, write_gset)
from snn_neurram.engines.ising import (COLS, PAIRS, IsingMachine, colour_classes,
                                       geometric_schedule)
from snn_neurram.errors import CapacityError
from snn_neurram.hw.chip import Chip
from snn_neurram.physics.device import RRAMDevice
from snn_neurram.physics.energy import EnergyModel


def loop_cut(graph, s):
    """Cut value by a plain loop over the edges."""
    total = 0.0
    for (i, j), w in zip(graph.edges.tolist(), graph.weights.tolist()):
        if s[i] != s[j]:
            total += w
    return total


def brute_force(graph):
    """Maximum cut by a loop over all 2^n partitions."""
    return max(loop_cut(graph, s) for s in itertools.product((-1, 1), repeat=graph.n))


# ---------------------------------------------------------------------------- G-set files
def test_gset_round_trip(tmp_path):
    g = random_graph(30, 0.2, weights="pm1", seed=4)
    path = tmp_path / "g.txt"
    write_gset(g, path)
    lines = path.read_text().splitlines()
    assert lines[0] == f"30 {g.m}"
    i, j, w = lines[1].split()
    assert (int(i) - 1, int(j) - 1, float(w)) == (g.edges[0, 0], g.edges[0, 1], g.weights[0])
    back = read_gset(path)
    assert back.n == g.n and np.array_equal(back.edges, g.edges)
    assert np.array_equal(back.weights, g.weights)


def test_gset_reads_a_hand_written_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("4 3\n1 2 1\n4 2 -1\n\n3 1 2.5\n")
    g = read_gset(path)
    assert g.n == 4 and g.m == 3
    assert g.edges.tolist() == [[0, 1], [1, 3], [0, 2]]
    assert g.weights.tolist() == [1.0, -1.0, 2.5]


@pytest.mark.parametrize("text, where", [
    ("4\n1 2 1\n", "line 1"),
    ("4 x\n1 2 1\n", "line 1"),
    ("4 2\n1 2 1\n", "announces 2 edges"),
    ("4 2\n1 2 1\n2 five 1\n", "line 3"),
    ("4 2\n1 2 1\n2 5 1\n", "line 3"),
    ("4 2\n1 2 1\n3 3 1\n", "line 3"),
    ("4 2\n1 2 1\n2 1 1\n", "line 3"),
    ("4 1\n1 2 1 7\n", "line 2"),
    ("", "empty"),
])
def test_gset_malformed_files_name_the_line(tmp_path, text, where):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=where):
        read_gset(path)


# ---------------------------------------------------------------------------- generators
def test_random_graph_like_g1():
    g = random_graph(800, m=19176, seed=1)
    assert g.n == 800 and g.m == 19176
    assert abs(g.density - 0.06) < 1e-3
    assert np.all(g.weights == 1)
    assert np.all(g.edges[:, 0] < g.edges[:, 1])
    assert len({tuple(e) for e in g.edges.tolist()}) == g.m
    h = random_graph(800, 0.06, seed=1)
    assert h.m == round(0.06 * 800 * 799 / 2)


def test_random_graph_pm1_weights_and_seeds():
    g = random_graph(100, 0.1, weights="pm1", seed=2)
    assert set(np.unique(g.weights)) == {-1.0, 1.0}
    assert abs(np.mean(g.weights)) < 0.15
    again = random_graph(100, 0.1, weights="pm1", seed=2)
    other = random_graph(100, 0.1, weights="pm1", seed=3)
    assert np.array_equal(g.edges, again.edges) and np.array_equal(g.weights, again.weights)
    assert not np.array_equal(g.edges, other.edges)


def test_toroidal_grid_is_four_regular():
    g = toroidal_grid(5, 6, seed=0)
    assert g.n == 30 and g.m == 60
    assert np.array_equal(np.bincount(g.edges.ravel(), minlength=30), np.full(30, 4))
    assert set(np.unique(g.weights)) <= {-1.0, 1.0}
    # node (r, c) = r * 6 + c links to (r, c + 1) and (r + 1, c), wrapping
    pairs = {tuple(e) for e in g.edges.tolist()}
    assert (0, 5) in pairs and (0, 24) in pairs and (7, 8) in pairs and (7, 13) in pairs


def test_planar_graph_size():
    g = planar_graph(800, seed=0)
    # G14: 800 nodes, 4694 edges -- two triangulations of <= 3n - 6 edges each at 99 %
    assert 4400 <= g.m <= 2 * (3 * 800 - 6)
    one = planar_graph(200, layers=1, keep=1.0, seed=1)
    assert one.m <= 3 * 200 - 6
    assert np.all(g.weights == 1)


def test_graph_rejects_bad_edges():
    with pytest.raises(ValueError, match="self-loops"):
        Graph(3, np.array([[0, 0]]), np.ones(1))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        Graph(3, np.array([[0, 3]]), np.ones(1))
    with pytest.raises(ValueError, match="repeat"):
        Graph(3, np.array([[0, 1], [1, 0]]), np.ones(2))
    with pytest.raises(ValueError, match="density"):
        random_graph(10, 1.5)


# ---------------------------------------------------------------------------- cut and optimum
def test_cut_matches_a_loop():
    g = random_graph(12, 0.4, weights="pm1", seed=5)
    rng = np.random.default_rng(0)
    s = rng.choice([-1.0, 1.0], (7, 12))
    assert np.allclose(g.cut(s), [loop_cut(g, row) for row in s])
    assert g.cut(s[0]) == loop_cut(g, s[0])
    assert g.cut((s[0] > 0).astype(int)) == loop_cut(g, s[0])


@pytest.mark.parametrize("seed", range(4))
def test_exact_maxcut_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 5 + seed
    g = random_graph(n, 0.6, seed=seed)
    g = Graph(n, g.edges, rng.normal(0, 1, g.m))              # arbitrary real weights
    best, s = exact_maxcut(g, chunk=7)
    assert best == pytest.approx(brute_force(g))
    assert loop_cut(g, s) == pytest.approx(best)


def test_exact_maxcut_limit():
    with pytest.raises(ValueError, match="22"):
        exact_maxcut(random_graph(23, 0.1))


# ---------------------------------------------------------------------------- software annealer
@pytest.mark.parametrize("graph", [random_graph(16, 0.4, seed=1),
                                   random_graph(18, 0.5, weights="pm1", seed=2),
                                   planar_graph(20, seed=3)])
def test_annealer_reaches_the_optimum(graph):
    best, _ = exact_maxcut(graph)
    r = anneal(graph, 200, chains=8, seed=0)
    assert r.best_cuts.max() == pytest.approx(best)
    assert np.allclose(r.best_cuts, [loop_cut(graph, s) for s in r.best_states])
    assert np.allclose(r.trace[-1], [loop_cut(graph, s) for s in r.states])


def test_annealer_is_seeded():
    g = random_graph(40, 0.2, seed=0)
    a = anneal(g, 30, chains=3, seed=7)
    anneal(g, 5, chains=2, seed=1)
    b = anneal(g, 30, chains=3, seed=7)
    assert np.array_equal(a.trace, b.trace) and np.array_equal(a.states, b.states)


def test_schedule_is_geometric():
    t = geometric_schedule(np.ones((2, 2)), 5, 4.0, 0.25)
    assert np.allclose(t, [4.0, 2.0, 1.0, 0.5, 0.25])


def test_time_to_target():
    assert time_to_target(1.0, 2.0) == 2.0
    assert time_to_target(0.0, 2.0) == np.inf
    assert time_to_target(0.5, 1.0) == pytest.approx(np.log(0.01) / np.log(0.5))


# ---------------------------------------------------------------------------- chip machine
def test_colour_classes_are_independent_sets():
    g = random_graph(60, 0.15, seed=3)
    J = g.couplings()
    classes = colour_classes(J)
    assert sorted(np.concatenate(classes).tolist()) == list(range(60))
    for c in classes:
        for i in c:
            for j in c:
                assert J[i, j] == 0


@pytest.mark.parametrize("method", ["chromatic", "sequential", "parallel"])
def test_chip_machine_reaches_the_optimum(method):
    g = random_graph(16, 0.4, seed=1)
    best, _ = exact_maxcut(g)
    machine = IsingMachine(g.couplings()).program(Chip(n_cores=1, seed=0))
    r = machine.anneal(60, chains=8, method=method, seed=0)
    cuts = (g.weights.sum() - r.best_energies) / 2
    assert cuts.max() == pytest.approx(best)
    assert np.allclose(cuts, [loop_cut(g, s) for s in r.best_states])


def test_chip_machine_is_seeded():
    g = random_graph(20, 0.3, seed=2)
    machine = IsingMachine(g.couplings()).program(Chip(n_cores=1, seed=0))
    a = machine.anneal(10, chains=3, seed=5)
    machine.anneal(3, chains=2, seed=1)
    b = machine.anneal(10, chains=3, seed=5)
    assert np.array_equal(a.trace, b.trace) and np.array_equal(a.states, b.states)


def test_tiling_over_several_cores_and_ideal_fields():
    n = 300
    rng = np.random.default_rng(0)
    J = np.triu(rng.normal(0, 1, (n, n)) * (rng.random((n, n)) < 0.2), 1)
    J = J + J.T
    b = rng.normal(0, 0.5, n)
    machine = IsingMachine(J, b)
    chip = Chip(n_cores=8, device=RRAMDevice.ideal(), seed=1)
    machine.program(chip, percentile=100.0)
    blocks = machine.blocks
    assert len(blocks) == 6 and len({blk.core_index for blk in blocks}) == 6
    covered = np.zeros((n, n), int)
    for blk in blocks:
        assert blk.n_pairs <= PAIRS and blk.c1 - blk.c0 <= COLS
        covered[np.ix_(blk.rows, np.arange(blk.c0, blk.c1))] += 1
        core = chip.cores[blk.core_index]
        assert core.n_in == len(blk.rows) and core.n_out == blk.c1 - blk.c0
        assert blk.bias == (blk.rseg == 0) and (core.n_bias_rows > 0) == blk.bias
    assert np.all(covered == 1)
    assert len(blocks[0].rows) == PAIRS - chip.cores[blocks[0].core_index].n_bias_rows
    s = np.random.default_rng(1).choice([-1.0, 1.0], (50, n))
    h = machine.local_fields(s, np.random.default_rng(2))
    exact = s @ J + b
    # ideal devices: only the ADC's quantisation, half a step per block and column
    bound = np.zeros(n)
    for blk in blocks:
        core = chip.cores[blk.core_index]
        bound[blk.c0:blk.c1] += 0.5 * core.output_unit(1, neuron=blk.config) + 1e-9
    err = np.abs(h - exact)
    assert np.mean(err <= bound) > 0.99
    assert np.sqrt(np.mean((h - exact) ** 2)) < 0.05 * exact.std()


def test_fields_with_read_noise_stay_close():
    g = random_graph(200, 0.1, seed=0)
    J = g.couplings()
    machine = IsingMachine(J).program(Chip(n_cores=4, seed=0))
    s = np.random.default_rng(3).choice([-1.0, 1.0], (40, 200))
    h = machine.local_fields(s, np.random.default_rng(4))
    exact = s @ J
    assert np.corrcoef(h.ravel(), exact.ravel())[0, 1] > 0.97


def test_sparse_rows_are_left_out():
    g = toroidal_grid(50, 60, seed=0)                    # G48's size: 3000 spins, 6000 edges
    blocks = IsingMachine(g.couplings()).tile()
    assert len(blocks) <= 48
    J = g.couplings()
    kept = np.zeros(J.shape, bool)
    for blk in blocks:
        assert len(blk.rows) <= PAIRS
        kept[np.ix_(blk.rows, np.arange(blk.c0, blk.c1))] = True
    assert not np.any((J != 0) & ~kept)                  # every coupling is on some block


def test_sparse_blocks_are_skipped_and_capacity():
    J = np.zeros((400, 400))
    J[0, 1] = J[1, 0] = -1.0
    J[390, 399] = J[399, 390] = -1.0
    machine = IsingMachine(J)
    blocks = machine.tile()
    assert len(blocks) == 2                        # one per column segment, 2 rows each
    assert [b.rows.tolist() for b in blocks] == [[0, 1], [390, 399]]
    g = random_graph(300, 0.1, seed=0)
    with pytest.raises(CapacityError, match="cores"):
        IsingMachine(g.couplings()).program(Chip(n_cores=2, seed=0))


def test_rcm_order_fits_a_sparse_graph_and_keeps_the_fields():
    g = planar_graph(300, layers=1, seed=0)              # sparse, nodes in random order
    J = g.couplings()
    machine = IsingMachine(J)
    natural, rcm = machine.tile("natural"), machine.tile("rcm")
    assert len(rcm) < len(natural)
    chip = Chip(n_cores=len(rcm), device=RRAMDevice.ideal(), seed=0)
    with pytest.raises(CapacityError):
        IsingMachine(J).program(chip, order="natural")
    machine.program(chip)                                # "auto" falls back to rcm
    assert machine.order == "rcm"
    assert sorted(machine.perm.tolist()) == list(range(300))
    s = np.random.default_rng(0).choice([-1.0, 1.0], (20, 300))
    h = machine.local_fields(s, np.random.default_rng(1))
    assert np.sqrt(np.mean((h - s @ J) ** 2)) < 0.1 * (s @ J).std()
    best = machine.anneal(40, chains=4, seed=0)
    assert np.allclose((g.weights.sum() - best.best_energies) / 2,
                       [loop_cut(g, x) for x in best.best_states])
    assert machine.sweep_account("chromatic")["mvms"] > 0


def test_sweep_energy_by_hand():
    g = random_graph(20, 0.3, seed=2)
    machine = IsingMachine(g.couplings()).program(Chip(n_cores=1, seed=0))
    model = EnergyModel()
    blk = machine.blocks[0]
    cfg, R, bits = blk.config, 2 * blk.n_pairs, machine.out_bits
    m = cfg.pulse_multiplier
    # one MVM of 1-bit inputs: one phase, one pulse per row, m cycles, out_bits SAR steps
    mvm_rows = R * (model.e_wl_phase + model.e_wl_pulse + model.e_input_pulse)
    per_neuron = model.e_neuron_phase + m * model.e_neuron_cycle + bits * model.e_adc_step
    t_mvm = model.t_phase + m * model.t_cycle + bits * model.t_adc_step
    seq = machine.sweep_account("sequential", model=model)
    assert seq["mvms"] == 20
    analog = seq["wl_switching"] + seq["input_pulses"] + seq["neuron"]
    assert analog == pytest.approx(20 * (mvm_rows + per_neuron))
    assert seq["time"] == pytest.approx(20 * t_mvm)
    chrom = machine.sweep_account("chromatic", model=model)
    k = chrom["groups"]
    assert chrom["mvms"] == k
    analog = chrom["wl_switching"] + chrom["input_pulses"] + chrom["neuron"]
    assert analog == pytest.approx(k * mvm_rows + 20 * per_neuron)
    assert 0 < chrom["total"] < seq["total"]
    assert chrom["time"] == pytest.approx(k * t_mvm)


def test_sweep_energy_scales_with_mvms():
    small = IsingMachine(random_graph(100, 0.1, seed=0).couplings())
    big = IsingMachine(random_graph(300, 0.1, seed=0).couplings())
    small.program(Chip(n_cores=1, device=RRAMDevice.ideal(), seed=0))
    big.program(Chip(n_cores=6, device=RRAMDevice.ideal(), seed=0))
    a, b = small.sweep_account("parallel"), big.sweep_account("parallel")
    assert a["mvms"] == 1 and b["mvms"] == 6
    assert b["total"] > 3 * a["total"] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="symmetric"):
        IsingMachine(np.array([[0, 1], [0, 0]]))
    machine = IsingMachine(-np.ones((3, 3)))
    with pytest.raises(RuntimeError, match="program"):
        machine.anneal(2)
    machine.program(Chip(n_cores=1, seed=0))
    with pytest.raises(ValueError, match="method"):
        machine.anneal(2, method="random")
    with pytest.raises(ValueError, match="p_update"):
        machine.anneal(2, method="parallel", p_update=0.0)
    with pytest.raises(ValueError, match="schedule"):
        machine.anneal(2, schedule=[1.0, -1.0])


def test_benchmark_small_run_is_json():
    r = maxcut_benchmark(random_graph(40, 0.2, seed=0), chip_sweeps=20, chains=4,
                         small_sizes=(10,), small_sweeps=40)
    json.dumps(r, allow_nan=False)
    assert r["exact"][0]["reached"]
    assert 0 < r["chip"]["best_fraction_of_reference"] <= 1.0 + 1e-12
    assert r["chip"]["chip_energy_per_sweep_j"] > 0 and r["ratio"] > 0


def test_bench_maxcut_cli_on_a_gset_file(tmp_path):
    import json

    from snn_neurram.cli import main

    path = tmp_path / "c5.txt"
    path.write_text("5 6\n1 2 1\n2 3 1\n3 4 1\n4 5 1\n5 1 1\n1 3 1\n")
    out = tmp_path / "mc.json"
    assert main(["bench", "maxcut", str(path), "--sweeps", "30", "--chains", "4",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    # a 5-cycle with the chord 1-3: the triangle 1-2-3 keeps one edge uncut, so at most 5 of
    # the 6 edges are cut, and sides {1, 4}, {2, 3, 5} cut 5
    assert result["reference"]["best_cut"] == 5 and result["chip"]["best_cut"] == 5
    assert all(e["reached"] for e in result["exact"])
    assert result["provenance"]["command"].startswith("snn-neurram bench maxcut")
