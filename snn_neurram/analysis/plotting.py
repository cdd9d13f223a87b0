"""Figures. Uses matplotlib's non-interactive Agg backend; every function saves a PNG and returns
its path."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["save_figure", "core_demo_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str) -> str:
    """Save ``fig`` to ``path`` atomically (a temporary file renamed into place) and close it."""
    plt = _pyplot()
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.png"
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def core_demo_figure(g_programmed_uS: ArrayLike, g_relaxed_uS: ArrayLike, read_time_s: float,
                     ideal: ArrayLike, chip: ArrayLike, path: str) -> str:
    """Conductance histograms before/after relaxation and chip-vs-ideal outputs, side by side.

    Parameters
    ----------
    g_programmed_uS, g_relaxed_uS : array_like
        Conductances of the used cells right after write-verify and at the read time (uS).
    read_time_s : float
        Time of the second histogram (s).
    ideal, chip : array_like
        Software outputs and the core's outputs for the same inputs.
    path : str
        PNG file to write.
    """
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(0, max(45.0, float(np.max(g_relaxed_uS))), 91)
    ax1.hist(g_programmed_uS, bins=bins, alpha=0.6, label="after write-verify")
    ax1.hist(g_relaxed_uS, bins=bins, alpha=0.6, label=f"after relaxation ({read_time_s:g} s)")
    ax1.set_yscale("log")
    ax1.set_xlabel("conductance (uS)")
    ax1.set_ylabel("cells")
    ax1.set_title("Programmed conductances")
    ax1.legend()
    ideal = np.ravel(ideal)
    chip = np.ravel(chip)
    ax2.plot(ideal, chip, ".", ms=2, alpha=0.4)
    lim = [min(ideal.min(), chip.min()), max(ideal.max(), chip.max())]
    ax2.plot(lim, lim, "k--", lw=1, label="chip = software")
    ax2.set_xlabel("software output  x W + b")
    ax2.set_ylabel("core output")
    ax2.set_title("Core MVM against software")
    ax2.legend()
    return save_figure(fig, path)


def core_grid_figure(program: Any, path: str) -> str:
    """The chip's 8 x 6 core grid with every block drawn where it sits, coloured by layer.

    Each core is a square of 256 columns (across) by 128 row pairs (down); a block is a
    rectangle at its row and column offset, labelled with its layer's index.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    chip = program.chip
    nx, ny = chip.GRID
    fig, ax = plt.subplots(figsize=(nx * 1.35 + 2.5, ny * 1.35))
    cmap = plt.get_cmap("tab20")
    n_layers = len(program.plans)
    for c in range(chip.MAX_CORES):
        gx, gy = c % nx, c // nx
        present = c < chip.n_cores
        ax.add_patch(Rectangle((gx, ny - 1 - gy), 0.92, 0.92, fill=present, fc="#f4f4f4",
                               ec="#555" if present else "#ccc", lw=1, hatch=None if present
                               else "//"))
        ax.text(gx + 0.02, ny - 1 - gy + 0.94, f"{c}", fontsize=6, color="#666", va="bottom")
    handles: dict[int, tuple[Any, str]] = {}
    for p in program.plans:
        color = cmap(p.index % 20)
        for b in p.blocks:
            for r, pl in enumerate(b.placements):
                gx, gy = pl.core % nx, pl.core // nx
                x0 = gx + 0.92 * pl.col / 256
                y0 = ny - 1 - gy + 0.92 * (1 - (pl.row + b.pairs) / 128)
                rect = Rectangle((x0, y0), 0.92 * (b.c1 - b.c0) / 256, 0.92 * b.pairs / 128,
                                 fc=color, ec="k", lw=0.3, alpha=1.0 if r == 0 else 0.55)
                ax.add_patch(rect)
                handles.setdefault(p.index, (rect, f"{p.index}: {p.name} {p.n_in}x{p.n_out}"))
    ax.set_xlim(-0.05, nx)
    ax.set_ylim(-0.05, ny + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    used = {pl.core for p in program.plans for b in p.blocks for pl in b.placements}
    mappings = sum(len(b.placements) for p in program.plans for b in p.blocks)
    ax.set_title(f"{len(used)} of {chip.n_cores} cores, {mappings} mappings "
                 f"({n_layers} layers; pale = replica)", fontsize=10)
    if handles:
        items = [handles[k] for k in sorted(handles)]
        ax.legend([h for h, _ in items], [t for _, t in items], loc="center left",
                  bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return save_figure(fig, path)


def energy_figure(acc: dict[str, Any], path: str, title: str | None = None) -> str:
    """Stacked bars of the energy per inference of every layer, by component, with the latency
    of each layer as a line on a second axis."""
    plt = _pyplot()
    layers = acc["layers"]
    comps = list(acc["energy_by_component_j"])
    names = [L["name"] for L in layers]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(layers) + 3), 4.2))
    bottom = np.zeros(len(layers))
    for c in comps:
        vals = np.array([1e9 * L["energy_by_component_j"][c] for L in layers])
        ax.bar(x, vals, bottom=bottom, label=c.replace("_", " "))
        bottom += vals
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("energy per inference (nJ)")
    ax2 = ax.twinx()
    ax2.plot(x, [1e6 * L["latency_s"] for L in layers], "k.-", label="latency (right axis)")
    ax2.set_ylabel("latency (us)")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    extra = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left",
              bbox_to_anchor=(1.12, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or f"{1e9 * acc['energy_per_inference_j']:.1f} nJ, "
                 f"{1e6 * acc['latency_per_inference_s']:.0f} us per inference, "
                 f"{acc['tops_per_w']:.2f} TOPS/W ({acc['in_bits']}-bit in, "
                 f"{acc['out_bits']}-bit out)", fontsize=10)
    return save_figure(fig, path)


def comparison_figure(rows: list[dict[str, Any]], float_accuracy: float, dataset: str,
                      path: str, reference: str = "float software",
                      title: str = "Spiking vs multi-bit inference on NeuRRAM") -> str:
    """Accuracy against latency and against energy: ANN mode per input bits, SNN per coding
    over its time steps (whiskers: 95 % interval over chips, where the rows have one); a
    logarithmic axis where the values span more than a decade."""
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["label"] if r.get("label") else "ANN (bit-serial)" if r["mode"] == "ann" else
               f"SNN trained, {r['coding']} coding" if r["mode"] == "snn_trained" else
               f"SNN converted, {r['coding']} coding")
        groups.setdefault(key, []).append(r)
    for ax, field, scale, label in ((axes[0], "latency_us", 1.0,
                                     "latency per inference (us, chip time)"),
                                    (axes[1], "energy_uj", 1e3, "energy per inference (nJ)")):
        for key, rs in groups.items():
            xs = [r[field] * scale for r in rs]
            ys = [100 * r["accuracy"] for r in rs]
            line, = ax.plot(xs, ys, "o-", label=key)
            ci = [r.get("accuracy_summary", {}).get("ci95") for r in rs]
            if all(c is not None for c in ci):        # 95 % interval over chips
                err = np.abs(np.array([[100 * c[0], 100 * c[1]] for c in ci]).T - ys)
                ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor=line.get_color(), capsize=2)
            for r, xv, yv in zip(rs, xs, ys):
                tag = f"{r['in_bits']}b" if r["mode"] == "ann" else f"T={r['steps']}"
                ax.annotate(tag, (xv, yv), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.axhline(100 * float_accuracy, color="k", ls="--", lw=1, label=reference)
        values = [r[field] * scale for r in rows]
        if max(values) > 10 * min(values) > 0:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title} ({dataset})", fontsize=11)
    return save_figure(fig, path)


def raster_figure(result: Any, path: str, max_neurons: int = 128) -> str:
    """Spikes of one input, layer by layer (an SNNResult recorded with ``record_raster``)."""
    plt = _pyplot()
    n = len(result.raster)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.8 * n + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for k, (ax, spikes, name) in enumerate(zip(axes, result.raster, result.layer_names)):
        spikes = spikes[:, :max_neurons]
        if k == n - 1 and not spikes.any():         # a non-firing output: its membrane
            for j, trace in enumerate(result.readout[0].T):
                ax.plot(trace, lw=1, label=str(j))
            ax.set_ylabel(f"{name}\nmembrane", fontsize=8)
            ax.legend(fontsize=6, ncol=5, loc="upper left")
            continue
        t, i = np.nonzero(spikes)
        ax.plot(t, i, "|", ms=3, color="k")
        ax.set_ylabel(f"{name}\n({spikes.shape[1]})", fontsize=8)
        ax.set_ylim(-1, spikes.shape[1])
    axes[-1].set_xlabel("time step (neuron cycle)")
    axes[0].set_title(f"{result.coding} coding, {result.steps} steps: spikes of one input",
                      fontsize=10)
    return save_figure(fig, path)


def membrane_figure(result: Any, path: str, neurons: int = 6) -> str:
    """Membrane traces (membrane / threshold after every step) of the first ``neurons`` neurons
    of every spiking layer for one input, with the threshold and the neurons' spikes (an
    SNNResult recorded with ``record_raster``)."""
    if result.membrane is None:
        raise ValueError("the result has no membrane traces: run with record_raster=True")
    plt = _pyplot()
    n = len(result.membrane)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.0 * n + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    names = result.layer_names[1:]
    for ax, trace, spikes, name in zip(axes, result.membrane, result.raster[1:], names):
        for j in range(min(neurons, trace.shape[1])):
            line, = ax.plot(trace[:, j], lw=1, label=f"neuron {j}")
            t = np.nonzero(spikes[:, j])[0]
            ax.plot(t, np.full(len(t), 1.05), "|", ms=6, color=line.get_color())
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_ylabel(f"{name}\nv / threshold", fontsize=8)
        ax.legend(fontsize=6, ncol=min(neurons, 6), loc="lower left")
    axes[-1].set_xlabel("time step (neuron cycle)")
    axes[0].set_title("membranes of one input (ticks: spikes; dashed: threshold)", fontsize=10)
    return save_figure(fig, path)


def recovery_figure(examples: Mapping[str, Sequence[np.ndarray]], path: str,
                    dataset: str = "") -> str:
    """Rows: corrupted, recovered on the chip, recovered in software, original; a block of
    columns per corruption."""
    plt = _pyplot()
    kinds = list(examples)
    n = len(examples[kinds[0]][0])
    fig, axes = plt.subplots(4, n * len(kinds), figsize=(1.1 * n * len(kinds) + 1, 4.8))
    labels = ["corrupted", "chip", "software", "original"]
    for kc, kind in enumerate(kinds):
        for r, imgs in enumerate(examples[kind]):
            for i, img in enumerate(imgs):
                side = int(round(np.sqrt(img.size)))
                ax = axes[r, kc * n + i]
                ax.imshow(np.asarray(img).reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if kc * n + i == 0:
                    ax.set_ylabel(labels[r], fontsize=8)
        axes[0, kc * n].set_title({"bottom": "bottom third grey", "flip": "20 % flipped"}[kind],
                                  fontsize=9, loc="left")
    fig.suptitle(f"RBM image recovery ({dataset})", fontsize=10)
    return save_figure(fig, path)


def recovery_rows_figure(tables: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                         path: str, dataset: str = "") -> str:
    """Bar chart of the recovery benchmark: a panel per (protocol, corruption) cell, a bar per
    row (error reduction, dimensionless; whiskers: the 95 % interval over test images).

    ``tables[protocol][corruption][row] = (error reduction, low, high)``.
    """
    plt = _pyplot()
    cells = [(p, k) for p, kinds in tables.items() for k in kinds]
    if not cells:
        raise ValueError("tables must hold at least one (protocol, corruption) cell")
    fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells) + 0.5, 3.6),
                             sharey=True, squeeze=False)
    names = {"bottom": "bottom occluded", "flip": "20 % flipped"}
    for ax, (p, kind) in zip(axes[0], cells):
        rows = tables[p][kind]
        labels = list(rows)
        vals = np.array([rows[n][0] for n in labels], float)
        lo = np.array([rows[n][1] for n in labels], float)
        hi = np.array([rows[n][2] for n in labels], float)
        pos = np.arange(len(labels))
        colors = ["C0" if "RBM" in n else "C7" for n in labels]
        ax.bar(pos, vals, color=colors,
               yerr=np.vstack([np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)]),
               capsize=3)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xticks(pos)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{p}: {names.get(kind, kind)}", fontsize=9)
    axes[0, 0].set_ylabel("error reduction (1 - L2 after / before)")
    fig.suptitle(f"RBM image recovery against fills without an RBM ({dataset})", fontsize=10)
    return save_figure(fig, path)


def classify_figures(result: dict[str, Any], folder: str,
                     rows: dict[str, str]) -> dict[str, str]:
    """Two figures of ``snn-neurram bench classify``: the accuracy of each co-optimisation step
    (bars: mean; whiskers: 95 % interval over chips; dots: every chip and read-noise draw;
    ``rows`` maps each step's key to its label) and the eta
    sweep (accuracy vs test-time weight noise for networks trained at several eta). Returns
    {name: path}."""
    plt = _pyplot()
    acc, ds = result["accuracy"], result["dataset"]
    names = list(rows)
    labels = [textwrap.fill(rows[k], 14, break_on_hyphens=False, break_long_words=False)
              for k in names]
    chip = [isinstance(acc[k], dict) for k in names]
    means = np.array([acc[k]["mean"] if c else acc[k] for k, c in zip(names, chip)]) * 100
    fig, ax = plt.subplots(figsize=(10, 4.2))
    colours = ["0.55" if not c else ("tab:blue" if k == result.get("best_chip_row") else
                                      "tab:orange") for k, c in zip(names, chip)]
    ax.bar(range(len(names)), means, color=colours, alpha=0.8)
    for i, (k, c) in enumerate(zip(names, chip)):
        if not c:
            continue
        v = acc[k]
        lo, hi = 100 * np.array(v["ci95"])
        ax.errorbar(i, means[i], yerr=[[means[i] - lo], [hi - means[i]]], color="k",
                    capsize=3, lw=1)
        pts = 100 * np.array(v["per_chip_draw"])
        jitter = np.linspace(-0.25, 0.25, pts.shape[0])
        for j, row in zip(jitter, pts):
            ax.plot(np.full(len(row), i + j), row, ".", color="k", ms=3, alpha=0.6)
    low = min(float(np.min(100 * np.array(acc[k]["per_chip_draw"]))) if c else acc[k] * 100
              for k, c in zip(names, chip))
    bottom = max(0.0, np.floor(low / 5) * 5 - 5)
    for i, m in enumerate(means):                      # the mean, written inside the bar
        ax.text(i, bottom + 0.5, f"{m:.2f}", ha="center", va="bottom", fontsize=8,
                color="white", fontweight="bold")
    ax.set_ylim(bottom, 100)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    some = next(acc[k] for k, c in zip(names, chip) if c)
    ax.set_title(f"{result['model']} on {ds} ({result['test_images']} test images)\nbars: mean; "
                 f"whiskers: 95 % interval over {some['chips']} chips; dots: one chip, one of "
                 f"{some['draws']} read-noise draws", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    paths = {"steps": save_figure(fig, os.path.join(folder, f"classify_{ds}.png"))}

    sw = result["eta_sweep"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for eta, row, std in zip(sw["eta_train"], sw["accuracy"], sw["std"]):
        ax.errorbar(sw["eta_test"], 100 * np.array(row), yerr=100 * np.array(std), marker="o",
                    ms=3, capsize=2, label=f"trained at η = {eta:g}")
    ax.set_xlabel("test-time weight noise η (σ / max|W|)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result['model']} on {ds}: noise-aware training", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths["eta_sweep"] = save_figure(fig, os.path.join(folder, f"eta_sweep_{ds}.png"))
    return paths


def accuracy_bands_figure(curves: Sequence[Mapping[str, Any]], path: str,
                          xlabel: str = "read time after programming (s)",
                          title: str | None = None) -> str:
    """Accuracy (%) against a logarithmic x axis: per curve (``label``, ``x``, ``mean``,
    ``lo``, ``hi``) a line of the means and a band from ``lo`` to ``hi`` (e.g. a 95 %
    interval over chips)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c in curves:
        order = np.argsort(np.asarray(c["x"], dtype=float))
        x = np.asarray(c["x"], dtype=float)[order]
        line, = ax.plot(x, np.asarray(c["mean"])[order], marker="o", label=c["label"])
        ax.fill_between(x, np.asarray(c["lo"])[order], np.asarray(c["hi"])[order],
                        color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def chip_scatter_figure(chips: Mapping[Any, tuple[ArrayLike, ArrayLike]], path: str,
                        xlabel: str, title: str | None = None, log_x: bool = False,
                        xticklabels: Sequence[str] | None = None) -> str:
    """Accuracy (%) of every chip at every value of one parameter, one dot per chip and value,
    each chip's dots linked by a thin line so that a chip can be followed across the values.

    Parameters
    ----------
    chips : mapping
        Per chip (key: its label) a pair ``(x, accuracy in %)`` of equal-length arrays.
    path : str
        The PNG to write.
    xlabel : str
        The x axis label (with its unit).
    title : str, optional
        Default: the number of chips.
    log_x : bool
        A logarithmic x axis (e.g. read time).
    xticklabels : list of str, optional
        Names of the x positions 0, 1, ... of a categorical parameter.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, (x, y)) in enumerate(chips.items()):
        x = np.asarray(x, dtype=float)
        order = np.argsort(x)
        y = np.asarray(y, dtype=float)[order]
        ax.plot(x[order], y, color=f"C{i % 10}", alpha=0.35, linewidth=0.8)
        ax.plot(x[order], y, color=f"C{i % 10}", alpha=0.85, linestyle="none", marker="o",
                markersize=5, markeredgewidth=0)
    if log_x:
        ax.set_xscale("log")
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), list(xticklabels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"{len(chips)} chips, one dot per chip and value")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def heatmap_figure(values: ArrayLike, xticklabels: Sequence[str], yticklabels: Sequence[str],
                   path: str, xlabel: str, ylabel: str, title: str | None = None,
                   colorbar_label: str = "mean test accuracy (%)", fmt: str = "{:.1f}") -> str:
    """A heat map with each value written in its cell.

    Parameters
    ----------
    values : array_like, shape (len(yticklabels), len(xticklabels))
        Rows: the y values (drawn from bottom to top); columns: the x values.
    xticklabels, yticklabels : list of str
        Names of the columns and rows.
    path : str
        The PNG to write.
    xlabel, ylabel : str
        Axis labels (with units).
    title : str, optional
    colorbar_label : str
        Label of the colour scale.
    fmt : str
        Format of the cell texts.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    v = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(max(4.8, 1.1 * v.shape[1] + 2.4),
                                    max(3.2, 0.6 * v.shape[0] + 1.8)))
    im = ax.imshow(v, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(v.shape[1]), list(xticklabels))
    ax.set_yticks(range(v.shape[0]), list(yticklabels))
    lo, hi = np.nanmin(v), np.nanmax(v)
    mid = (lo + hi) / 2
    for (r, c), val in np.ndenumerate(v):
        ax.text(c, r, fmt.format(val), ha="center", va="center", fontsize=8,
                color="black" if val > mid else "white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, label=colorbar_label)
    return save_figure(fig, path)
