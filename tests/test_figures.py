"""The figures say what they show: the artists of each figure are inspected (colours, axis
limits, texts), not its pixels. Each figure function ends in ``save_figure``, which these tests
replace by one that keeps the figure open for inspection."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from snn_neurram.analysis import plotting
from snn_neurram.compiler.plan import BlockPlan, Placement
from snn_neurram.hw.chip import Chip
from snn_neurram.hw.core import Core


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plotting functions made during a test (open, not written)."""
    made: list[Any] = []

    def keep(fig: Any, path: str) -> str:
        made.append(fig)
        return path

    monkeypatch.setattr(plotting, "save_figure", keep)
    yield made
    import matplotlib.pyplot as plt

    for fig in made:
        plt.close(fig)


def _texts(fig: Any) -> list[str]:
    """Every string drawn in ``fig``: titles, axis labels, tick labels, legends, annotations."""
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def _program(layers: int, replicas: dict[int, int] | None = None, n_cores: int = 48) -> Any:
    """A compiled-program stand-in with ``layers`` one-block layers, each 30 columns wide and
    40 row pairs tall, packed onto the cores in turn; layer k has ``replicas[k]`` extra copies
    on later cores."""
    replicas = replicas or {}
    plans = []
    slot = 0                                    # 8 blocks per core: 2 rows of 4 (row, col)

    def place() -> Placement:
        nonlocal slot
        core, k = divmod(slot, 8)
        slot += 1
        return Placement(core=core, block=k, row=40 * (k // 4), col=60 * (k % 4))

    for i in range(layers):
        block = BlockPlan(layer=i, rseg=0, cseg=0, r0=0, r1=39, c0=0, c1=30, pairs=40,
                          has_bias=True, placements=[place()])
        block.placements += [place() for _ in range(replicas.get(i, 0))]
        plans.append(SimpleNamespace(index=i, name=f"fc{i}", n_in=39, n_out=30, blocks=[block]))
    chip = SimpleNamespace(GRID=Chip.GRID, MAX_CORES=Chip.MAX_CORES, n_cores=n_cores)
    return SimpleNamespace(chip=chip, plans=plans)


def _blocks(fig: Any) -> dict[tuple[int, int], tuple[float, ...]]:
    """{(layer, copy): RGBA face colour} of the blocks drawn on the chip map."""
    out = {}
    for patch in fig.axes[0].patches:
        m = re.fullmatch(r"layer(\d+):copy(\d+)", patch.get_gid() or "")
        if m:
            out[(int(m[1]), int(m[2]))] = tuple(np.round(patch.get_facecolor(), 6))
    return out


# ---------------------------------------------------------------------------- the chip map
def test_chip_map_30_layers_30_distinct_colours(figures):
    plotting.core_grid_figure(_program(30), "unused.png")
    blocks = _blocks(figures[0])
    assert len(blocks) == 30
    assert len(set(blocks.values())) == 30


def test_layer_colours_distinct_for_many_layers():
    for n in (1, 7, 10, 11, 20, 21, 64, 300):
        colours = plotting.layer_colours(n)
        assert len(colours) == n
        assert len({tuple(np.round(c, 6)) for c in colours}) == n


def test_replicas_and_only_replicas_are_pale(figures):
    plotting.core_grid_figure(_program(12, replicas={0: 2, 5: 1}), "unused.png")
    blocks = _blocks(figures[0])
    colours = [tuple(np.round(c, 6)) for c in plotting.layer_colours(12)]
    pales = {tuple(np.round(plotting.pale(c), 6)) for c in colours}
    for (layer, copy), fc in blocks.items():
        if copy == 0:                           # every original in its layer's own colour
            assert fc == colours[layer]
        else:
            assert fc == tuple(np.round(plotting.pale(colours[layer]), 6))
    assert sorted(k for k in blocks if k[1] > 0) == [(0, 1), (0, 2), (5, 1)]
    assert not pales & set(colours)             # no layer colour is itself a pale one
    assert any("replica" in t for t in _texts(figures[0]))


def test_chip_map_without_replicas_does_not_mention_them(figures):
    plotting.core_grid_figure(_program(3), "unused.png")
    assert not any("replica" in t for t in _texts(figures[0]))


def test_one_core_model_map_covers_only_that_core(figures):
    plotting.core_grid_figure(_program(2), "unused.png")
    ax = figures[0].axes[0]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x1 - x0 < 1.2 * Core.N_COLS          # one core across ...
    assert y1 - y0 < 1.4 * Core.MAX_INPUTS      # ... and one down
    drawn = {p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("core")}
    assert drawn == {"core0"}
    assert "column" in ax.get_xlabel() and "row pair" in ax.get_ylabel()


def test_full_chip_map_when_the_model_spreads(figures):
    plotting.core_grid_figure(_program(8 * 47 + 1), "unused.png")
    ax = figures[0].axes[0]
    drawn = {p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("core")}
    assert len(drawn) == Chip.MAX_CORES


def test_chip_map_of_a_compiled_model_writes_a_png(tmp_path):
    from snn_neurram.apps.models import build
    from snn_neurram.program import compile as compile_model

    model, shape = build("digits-mlp", seed=0)
    program = compile_model(model, Chip(n_cores=4, seed=0), input_shape=shape,
                            calibration_size=8)
    path = plotting.core_grid_figure(program, str(tmp_path / "map.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- energy
def _account() -> dict[str, Any]:
    comps = ("wl_switching", "input_pulses", "neuron", "digital", "transfer")
    layers = [{"name": f"conv{i}", "latency_s": 1e-4 * (i + 1),
               "energy_by_component_j": {c: 1e-9 * (i + 1) for c in comps}} for i in range(3)]
    return {"layers": layers, "energy_by_component_j": {c: 6e-9 for c in comps},
            "energy_per_inference_j": 3e-8, "latency_per_inference_s": 6e-4,
            "tops_per_w": 0.7, "in_bits": 4, "out_bits": 4}


def test_energy_figure_writes_microseconds(figures):
    plotting.energy_figure(_account(), "unused.png")
    text = " ".join(_texts(figures[0]))
    assert "µs" in text
    assert not re.search(r"\bus\b", text)
    assert "nJ" in text


# ---------------------------------------------------------------------------- classify
def _classify_result(chips: int, draws: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)

    def chip_row(m: float) -> dict[str, Any]:
        pcd = np.clip(m + rng.normal(0, 0.005, (chips, draws)), 0, 1)
        return {"mean": float(pcd.mean()), "ci95": [float(pcd.min()), float(pcd.max())],
                "per_chip_draw": pcd.tolist(), "chips": chips, "draws": draws}

    acc = {"float": 0.97, "quantised": 0.96, "chip": chip_row(0.93),
           "chip_calibrated": chip_row(0.95)}
    return {"accuracy": acc, "dataset": "digits", "network": "digits-mlp", "test_images": 540,
            "best_chip_row": "chip_calibrated", "recipe": {"sweep_draws": 2},
            "eta_sweep": {"eta_train": [0.0, 0.1], "eta_test": [0.0, 0.1],
                          "accuracy": [[0.97, 0.9], [0.96, 0.94]],
                          "std": [[0.0, 0.01], [0.0, 0.01]]}}


ROWS = {"float": "float software", "quantised": "quantised software", "chip": "chip",
        "chip_calibrated": "chip, calibrated"}


def test_classify_bars_start_at_zero_and_one_chip_is_singular(figures):
    plotting.classify_figures(_classify_result(1, 1), "unused", ROWS)
    steps = figures[0]
    bars = [ax for ax in steps.axes if ax.patches]
    assert bars and all(ax.get_ylim()[0] == 0 for ax in bars)
    text = " ".join(_texts(steps))
    assert "1 chip" in text and "1 chips" not in text
    assert "1 read-noise draw" in text and "1 read-noise draws" not in text
    zoomed = [ax for ax in steps.axes if ax.get_ylim()[0] > 0]
    for ax in zoomed:                           # a truncated axis says so
        assert "axis from" in ax.get_ylabel()


def test_classify_title_plural_for_several_chips(figures):
    plotting.classify_figures(_classify_result(3, 2), "unused", ROWS)
    text = " ".join(_texts(figures[0]))
    assert "3 chips" in text and "2 read-noise draws" in text


# ---------------------------------------------------------------------------- RBM recovery
BASELINES = ["scikit-learn BernoulliRBM", "kNN fill (k = 10)", "PCA fill", "mean training image"]


def test_rbm_examples_show_a_row_per_baseline(figures):
    rng = np.random.default_rng(1)
    labels = ["corrupted", "RBM, chip", "RBM, software", *BASELINES, "original"]
    examples = {k: {label: rng.random((4, 64)) for label in labels} for k in ("bottom", "flip")}
    plotting.recovery_figure(examples, "unused.png", "digits")
    fig = figures[0]
    row_labels = [ax.get_ylabel().replace("\n", " ") for ax in fig.axes if ax.get_ylabel()]
    for label in labels:
        assert sum(label in r for r in row_labels) == 1
    assert sum(1 for ax in fig.axes if ax.images) == len(labels) * 4 * 2


def test_rbm_bars_show_every_baseline(figures):
    names = ["RBM, software", "RBM, chip", *BASELINES]
    tables = {"blind": {k: {n: (0.3, 0.25, 0.35) for n in names} for k in ("bottom", "flip")}}
    plotting.recovery_rows_figure(tables, "unused.png", "digits")
    for ax in figures[0].axes:
        assert len(ax.patches) == len(names)
        assert [t.get_text() for t in ax.get_xticklabels()] == names


# ---------------------------------------------------------------------------- compare
def _compare_rows() -> list[dict[str, Any]]:
    rows = [{"mode": "ann", "coding": "bit-serial", "in_bits": b, "steps": None,
             "accuracy": 0.8 + 0.04 * b, "latency_s": 4e-6 * b, "energy_j": 1.3e-9 * b,
             "accuracy_summary": {"ci95": [0.75 + 0.04 * b, 0.85 + 0.04 * b]}}
            for b in (1, 2, 3, 4)]
    for coding in ("rate", "latency"):
        rows += [{"mode": "snn", "coding": coding, "in_bits": None, "steps": t,
                  "accuracy": 0.95, "latency_s": 1.1e-6 * t, "energy_j": 0.26e-9 * t,
                  "accuracy_summary": {"ci95": [0.9, 0.99]}} for t in (8, 16, 64, 128)]
    return rows


def test_comparison_log_axes_have_enough_labelled_ticks(figures):
    plotting.comparison_figure(_compare_rows(), 0.97, "digits", "unused.png")
    fig = figures[0]
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        assert ax.get_xscale() == "log"
        lo, hi = ax.get_xlim()
        labelled = [t for t, lab in zip(ax.get_xticks(), ax.get_xticklabels())
                    if lo <= t <= hi and lab.get_text()]
        assert len(labelled) >= 3
    text = " ".join(_texts(fig))
    assert "µs" in text and not re.search(r"\bus\b", text)


def test_comparison_point_labels_do_not_overlap(figures):
    plotting.comparison_figure(_compare_rows(), 0.97, "digits", "unused.png")
    fig = figures[0]
    fig.canvas.draw()                           # the annotations at their final places
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes[:2]:
        # the texts alone (an annotation's own extent includes its leader line)
        boxes = [matplotlib.text.Text.get_window_extent(a, renderer) for a in ax.texts]
        assert len(boxes) == 12
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b)


def test_comparison_accepts_the_older_scaled_fields(figures):
    rows = [dict(r, latency_us=1e6 * r.pop("latency_s"), energy_uj=1e6 * r.pop("energy_j"))
            for r in _compare_rows()]
    plotting.comparison_figure(rows, 0.97, "digits", "unused.png")
    assert all(len(ax.lines) > 0 for ax in figures[0].axes[:2])


# ---------------------------------------------------------------------------- raster
def _snn_result(output_fires: bool) -> Any:
    rng = np.random.default_rng(2)
    steps = 12
    raster = [rng.random((steps, 16)) < 0.3, rng.random((steps, 8)) < 0.3,
              (rng.random((steps, 10)) < 0.3) if output_fires else np.zeros((steps, 10), bool)]
    membrane = [rng.normal(size=(steps, 8)), rng.normal(size=(steps, 10))]
    return SimpleNamespace(raster=raster, membrane=membrane, layer_names=["input", "fc1", "fc2"],
                           readout=rng.normal(size=(1, steps, 10)), predictions=np.array([7]),
                           coding="rate", steps=steps)


@pytest.mark.parametrize("output_fires", [True, False])
def test_raster_names_its_axes_and_the_class(figures, output_fires):
    plotting.raster_figure(_snn_result(output_fires), "unused.png", true_class=7)
    fig = figures[0]
    title = fig.axes[0].get_title()
    assert "predicted class 7" in title and "true class 7" in title
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert all("neuron" in lab for lab in labels[:2])
    assert ("neuron" in labels[2]) if output_fires else ("membrane / threshold" in labels[2])
    assert "time step" in fig.axes[-1].get_xlabel()


def test_membrane_axis_says_membrane_over_threshold(figures):
    plotting.membrane_figure(_snn_result(True), "unused.png")
    fig = figures[0]
    assert all("membrane / threshold" in ax.get_ylabel() for ax in fig.axes)
    assert "class 7" in fig.axes[0].get_title()
