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
        Conductances of the used cells right after write-verify and at the read time (µS).
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
    ax1.set_xlabel("conductance (µS)")
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


def layer_colours(n: int) -> list[tuple[float, ...]]:
    """``n`` distinct, saturated RGBA colours, one per layer.

    Up to 10 layers take matplotlib's ``tab10`` cycle; more layers take evenly spaced points of
    the continuous ``turbo`` map, dealt out with a stride of about 0.38 n so that consecutive
    layers (often neighbours on the chip) get far-apart hues. No colour is a pale variant of
    another: pale is kept for replicas.

    Parameters
    ----------
    n : int
        Number of colours (>= 0).

    Returns
    -------
    list of tuple
        ``n`` RGBA tuples (4 floats in [0, 1]), pairwise different.
    """
    import matplotlib

    if n <= 0:
        return []
    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [tuple(float(v) for v in cmap(k)) for k in range(n)]
    from matplotlib.colors import LinearSegmentedColormap

    # turbo's 256 entries, interpolated: distinct colours beyond 256 layers too
    turbo = matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, 256))
    cmap = LinearSegmentedColormap.from_list("turbo_fine", turbo, N=max(256, 4 * n))
    positions = np.linspace(0.03, 0.97, n)
    stride = max(1, int(round(0.382 * n)))
    while np.gcd(stride, n) != 1:           # a stride coprime with n visits every position once
        stride += 1
    return [tuple(float(v) for v in cmap(positions[(k * stride) % n])) for k in range(n)]


def pale(colour: Sequence[float], amount: float = 0.6) -> tuple[float, float, float, float]:
    """``colour`` mixed with white (``amount`` of white), opaque: how replicas are drawn."""
    r, g, b = (float(v) for v in tuple(colour)[:3])
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount, 1.0)


def _dark_text(colour: Sequence[float]) -> bool:
    """True when black text reads better than white on ``colour`` (relative luminance)."""
    r, g, b = tuple(colour)[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5


def core_grid_figure(program: Any, path: str, zoom: bool | None = None) -> str:
    """Where every block of every layer sits on the chip, drawn to scale.

    Each core is drawn as its array of 128 row pairs (down, row pair 0 at the top) by 256
    columns (across), with faint lines every 32 columns and 16 row pairs; a block is a rectangle
    at its row and column offset, filled with its layer's colour (one distinct colour per layer,
    see :func:`layer_colours`) and labelled with the layer's index where it fits. Replicas
    (every copy of a block after the first, made by ``replicate=True``) and only they are drawn
    pale and hatched.

    Parameters
    ----------
    program : ChipProgram or ProgramPlan
        The compiled network (``chip`` and ``plans``).
    path : str
        The PNG to write.
    zoom : bool, optional
        Draw only the rectangle of the core grid that holds used cores (with a small map of the
        whole chip for orientation). Default: zoom when that rectangle is smaller than the chip.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Patch, Rectangle

    from ..hw.core import Core

    chip = program.chip
    plans = list(program.plans)
    nx, ny = chip.GRID
    width, height = Core.N_COLS, Core.MAX_INPUTS            # columns, row pairs
    gap_x, gap_y = 0.14 * width, 0.22 * height

    def origin(core: int) -> tuple[float, float]:            # lower-left corner of a core
        gx, gy = core % nx, core // nx
        return gx * (width + gap_x), (ny - 1 - gy) * (height + gap_y)

    used = sorted({pl.core for p in plans for b in p.blocks for pl in b.placements})
    present = range(chip.n_cores)
    box = (range(min(c % nx for c in used), max(c % nx for c in used) + 1),
           range(min(c // nx for c in used), max(c // nx for c in used) + 1)) if used else \
        (range(nx), range(ny))
    if zoom is None:
        zoom = bool(used) and len(box[0]) * len(box[1]) < nx * ny
    cols, rows = (box if zoom else (range(nx), range(ny)))
    shown = [c for c in range(chip.MAX_CORES) if c % nx in cols and c // nx in rows]
    per_core = {1: 3.6, 2: 2.8}.get(len(cols), 1.9 if len(cols) <= 4 else 1.45)  # inches
    fig_w = per_core * len(cols) + 1.0
    fig_h = max(1.9, (per_core * height / width) * len(rows) * 1.12 + 0.9)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), layout="constrained")
    grid_lines = []
    for c in shown:
        x0, y0 = origin(c)
        if c in present:
            ax.add_patch(Rectangle((x0, y0), width, height, fc="#f4f4f4", ec="#555", lw=0.8,
                                   zorder=0, gid=f"core{c}"))
            grid_lines += [[(x0 + x, y0), (x0 + x, y0 + height)] for x in range(32, width, 32)]
            grid_lines += [[(x0, y0 + y), (x0 + width, y0 + y)] for y in range(16, height, 16)]
        else:                                                    # beyond the chip's n_cores
            ax.add_patch(Rectangle((x0, y0), width, height, fill=False, ec="#ccc", lw=0.8,
                                   hatch="//", zorder=0, gid=f"absent{c}"))
        ax.text(x0, y0 + height + 0.03 * height, f"core {c}", fontsize=6, color="#555",
                va="bottom", ha="left")
    ax.add_collection(LineCollection(grid_lines, colors="#dddddd", linewidths=0.4, zorder=0.5))
    colours = layer_colours(len(plans))
    handles: list[Any] = []
    replicas = 0
    for p, colour in zip(plans, colours):
        for b in p.blocks:
            for r, pl in enumerate(b.placements):
                x0, y0 = origin(pl.core)
                w, h = b.c1 - b.c0, b.pairs
                fc = colour if r == 0 else pale(colour)
                replicas += r > 0
                ax.add_patch(Rectangle((x0 + pl.col, y0 + height - pl.row - h), w, h, fc=fc,
                                       ec="k", lw=0.3, hatch=None if r == 0 else "////",
                                       zorder=1, gid=f"layer{p.index}:copy{r}"))
                if w >= 0.09 * width and h >= 0.14 * height:
                    ax.text(x0 + pl.col + w / 2, y0 + height - pl.row - h / 2, str(p.index),
                            ha="center", va="center", fontsize=6, zorder=2,
                            color="k" if _dark_text(fc) else "w")
        handles.append(Patch(fc=colour, ec="k", lw=0.3,
                             label=f"{p.index}: {p.name} ({p.n_in} x {p.n_out})"))
    if replicas:
        handles.append(Patch(fc=pale((0.35, 0.35, 0.35)), ec="k", lw=0.3, hatch="////",
                             label="pale, hatched: a replica"))
    x_lo, y_lo = origin(min(cols) + nx * max(rows))
    x_hi, y_hi = origin(max(cols) + nx * min(rows))
    pad = 0.04 * width
    ax.set_xlim(x_lo - pad, x_hi + width + pad)
    ax.set_ylim(y_lo - pad, y_hi + height + 0.16 * height)
    ax.set_aspect("equal")
    for spine in ax.spines.values():
        spine.set_visible(False)
    if zoom and len(cols) <= 4:                 # few cores: their columns and row pairs
        ax.set_xticks([origin(c)[0] + x for c in (min(cols) + k for k in range(len(cols)))
                       for x in (0, width // 2, width)],
                      [str(x) for _ in cols for x in (0, width // 2, width)], fontsize=6)
        ax.set_yticks([origin(nx * g)[1] + y for g in rows for y in (0, height // 2, height)],
                      [str(height - y) for _ in rows for y in (0, height // 2, height)],
                      fontsize=6)
        ax.set_xlabel(f"column (of {width} per core)", fontsize=8)
        ax.set_ylabel(f"row pair (of {height} per core)", fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    mappings = sum(len(b.placements) for p in plans for b in p.blocks)
    title = (f"{len(used)} of {chip.n_cores} cores used, {mappings} mappings of "
             f"{len(plans)} layer{'s' if len(plans) != 1 else ''}")
    if replicas:
        title += f" ({replicas} replicas)"
    if zoom:
        title += f"\n(zoomed; the {chip.MAX_CORES - len(shown)} cores not drawn are empty)"
    ax.set_title(title, fontsize=9)
    if zoom:                    # a small map of the whole chip, right of the shown cores
        side = 0.6 * width
        inset = ax.inset_axes((x_hi + width + 0.25 * width, y_hi + height - side * ny / nx,
                               side, side * ny / nx), transform=ax.transData)
        for c in range(chip.MAX_CORES):
            gx, gy = c % nx, c // nx
            inset.add_patch(Rectangle((gx, ny - 1 - gy), 0.85, 0.85, ec="#999", lw=0.3,
                                      fc="#4c72b0" if c in used else
                                      ("#eeeeee" if c in present else "w")))
        inset.add_patch(Rectangle((min(cols) - 0.075, ny - max(rows) - 1.075),
                                  len(cols), len(rows), fill=False, ec="r", lw=0.8))
        inset.set_xlim(-0.15, nx)
        inset.set_ylim(-0.15, ny)
        inset.axis("off")
        inset.set_title("the chip\n(blue: used)", fontsize=5.5)
    if handles:
        if zoom:
            fig.legend(handles=handles, loc="outside lower center", fontsize=6.5,
                       frameon=False, ncol=max(1, min(len(handles), int(fig_w // 2.3))))
        else:
            fig.legend(handles=handles, loc="outside right upper", fontsize=6.5, frameon=False,
                       ncol=1 + (len(handles) - 1) // 30)
    return save_figure(fig, path)


_COMPONENT_NAMES = {"wl_switching": "word-line switching", "input_pulses": "input pulses",
                    "neuron": "neurons", "digital": "digital",
                    "transfer": "transfer between cores"}


def energy_figure(acc: dict[str, Any], path: str, title: str | None = None) -> str:
    """Energy per inference of every layer, stacked by component (nJ, left axis), and each
    layer's latency (µs, right axis, diamonds).

    Parameters
    ----------
    acc : dict
        An energy account (:func:`snn_neurram.analysis.energy.program_account`): ``layers``
        (each with ``name``, ``energy_by_component_j``, ``latency_s``),
        ``energy_by_component_j``, ``energy_per_inference_j``, ``latency_per_inference_s``,
        ``tops_per_w``, ``in_bits``, ``out_bits``.
    path : str
        The PNG to write.
    title : str, optional
        Default: the totals per inference.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    layers = acc["layers"]
    comps = list(acc["energy_by_component_j"])
    names = [L["name"] for L in layers]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(layers) + 3), 4.2))
    bottom = np.zeros(len(layers))
    for c in comps:
        vals = np.array([1e9 * L["energy_by_component_j"][c] for L in layers])
        ax.bar(x, vals, bottom=bottom, label=_COMPONENT_NAMES.get(c, c.replace("_", " ")))
        bottom += vals
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_xlabel("layer (in execution order)")
    ax.set_ylabel("energy per inference (nJ)")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    # markers only: the layers are categories, a line between them would mean nothing
    ax2.plot(x, [1e6 * L["latency_s"] for L in layers], "D", color="k", ms=5, mfc="w",
             mew=1.2, label="latency (right axis)")
    ax2.set_ylabel("latency per inference (µs)")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    extra = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left",
              bbox_to_anchor=(1.12, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or f"{1e9 * acc['energy_per_inference_j']:,.1f} nJ and "
                 f"{1e6 * acc['latency_per_inference_s']:,.1f} µs per inference, "
                 f"{acc['tops_per_w']:.2f} TOPS/W ({acc['in_bits']}-bit inputs, "
                 f"{acc['out_bits']}-bit outputs)", fontsize=10)
    return save_figure(fig, path)


def log_axis_ticks(axis: Any, lo: float, hi: float) -> None:
    """Labelled major ticks on a logarithmic ``axis`` spanning ``lo`` .. ``hi``: 1-2-5 per
    decade over up to three decades (more where the span is short, decades only beyond), each
    written as a plain number ("20", "0.5")."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = np.log10(hi / lo) if hi > 0 and lo > 0 else 1.0
    subs = ((1.0,) if decades > 3.5 else (1.0, 2.0, 5.0) if decades > 1.2 else
            (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
    axis.set_major_locator(LogLocator(base=10.0, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10.0, subs=tuple(range(2, 10))))
    axis.set_minor_formatter(NullFormatter())


def place_labels(ax: Any, xy: Sequence[tuple[float, float]], texts: Sequence[str],
                 colours: Sequence[Any], fontsize: float = 7.0,
                 avoid: Sequence[Sequence[tuple[float, float]]] = ()) -> list[Any]:
    """Write ``texts`` next to the data points ``xy`` of ``ax`` without overlaps.

    Each label tries offsets around its point, nearest first (right-above, right-below,
    left-above, left-below, above, below, then the same twice and three times as far), and keeps
    the first whose box overlaps neither a marker, a label placed before it nor (less strictly)
    a line of ``avoid``, and stays inside the axes; failing that, the candidate with the least
    overlap. A thin leader line in the label's colour joins a label set further out to its
    point.

    Parameters
    ----------
    ax : matplotlib Axes
        Its scales and limits must be final.
    xy : sequence of (x, y)
        The points, in data coordinates.
    texts : sequence of str
        One label per point.
    colours : sequence of colour
        One text colour per point.
    fontsize : float
    avoid : sequence of polylines
        Lines (each a sequence of data points, e.g. a plotted curve or a whisker) that labels
        should not cover where they can help it.

    Returns
    -------
    list of matplotlib Annotation
    """
    from matplotlib.text import Text

    fig = ax.figure
    fig.canvas.draw()                      # final layout: display coordinates are valid
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72.0
    marks = [ax.transData.transform(p) for p in xy]
    taken = [(x - 4 * scale, y - 4 * scale, x + 4 * scale, y + 4 * scale) for x, y in marks]
    inside = ax.get_window_extent(renderer)
    placed = []
    soft = []                               # small boxes along the lines to avoid, weighted low
    for line in avoid:
        pts = ax.transData.transform(np.asarray(line, dtype=float))
        for p, q in zip(pts[:-1], pts[1:]):
            n = max(2, int(np.hypot(*(q - p)) / (3 * scale)) + 1)
            for t in np.linspace(0.0, 1.0, n):
                x, y = p + t * (q - p)
                soft.append((x - scale, y - scale, x + scale, y + scale))

    def overlap(b: tuple[float, float, float, float]) -> float:
        total = 0.0
        for weight, boxes in ((5.0, taken), (0.25, soft)):
            for o in boxes:
                w = min(b[2], o[2]) - max(b[0], o[0])
                h = min(b[3], o[3]) - max(b[1], o[1])
                if w > 0 and h > 0:
                    total += weight * w * h
        out_w = max(0.0, inside.x0 - b[0]) + max(0.0, b[2] - inside.x1)
        out_h = max(0.0, inside.y0 - b[1]) + max(0.0, b[3] - inside.y1)
        return total + 1e3 * (out_w + out_h)

    for (x, y), text, colour in zip(xy, texts, colours):
        ann = ax.annotate(text, (x, y), xytext=(4, 3), textcoords="offset points",
                          fontsize=fontsize, color=colour, ha="left", va="bottom", zorder=6,
                          bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none",
                                    alpha=0.75),
                          arrowprops=dict(arrowstyle="-", lw=0.5, color=colour, shrinkA=0,
                                          shrinkB=2, alpha=0.7))
        size = Text.get_window_extent(ann, renderer)      # the text alone, no leader line
        w, h = size.width / scale, size.height / scale
        best: tuple[float, tuple[float, float]] | None = None
        px, py = ax.transData.transform((x, y))
        for r in (1.0, 2.0, 3.2):
            reach = 4 * r + (r - 1) * w * 0.3
            for dx, dy in ((reach, 3 * r), (reach, -3 * r - h), (-reach - w, 3 * r),
                           (-reach - w, -3 * r - h), (-w / 2, 5 * r), (-w / 2, -5 * r - h)):
                box = (px + dx * scale, py + dy * scale,
                       px + (dx + w) * scale, py + (dy + h) * scale)
                # further out costs more: a label crossing a thin line near its point reads
                # better than one far away on a long leader
                cost = overlap(box) + 80.0 * (r - 1) * scale ** 2
                if best is None or cost < best[0]:
                    best = (cost, (dx, dy))
            if best is not None and best[0] <= 80.0 * (r - 1) * scale ** 2:
                break                               # nothing overlapped at this distance
        assert best is not None
        ann.xyann = best[1]
        taken.append((px + best[1][0] * scale, py + best[1][1] * scale,
                      px + (best[1][0] + w) * scale, py + (best[1][1] + h) * scale))
        placed.append(ann)
    return placed


def _cost(row: Mapping[str, Any], kind: str) -> float | None:
    """A row's latency in µs (``kind="latency"``) or energy in nJ (``"energy"``) per inference,
    from its SI field (``latency_s``, ``energy_j``) or the older scaled one (``latency_us``,
    ``energy_uj``); None where the row has neither."""
    fields = ({"latency_s": 1e6, "latency_us": 1.0} if kind == "latency" else
              {"energy_j": 1e9, "energy_uj": 1e3})
    for key, factor in fields.items():
        if row.get(key) is not None:
            return float(row[key]) * factor
    return None


def comparison_figure(rows: list[dict[str, Any]], float_accuracy: float, dataset: str,
                      path: str, reference: str = "float software",
                      title: str = "Spiking vs multi-bit inference on NeuRRAM") -> str:
    """Accuracy against latency (left) and against energy (right) per inference.

    A line per configuration family (the ANN mode over its input bits, each SNN over its time
    steps), each point labelled ("4-bit", "T=32") where its label does not hide another;
    whiskers: the 95 % interval over chips, where the rows have one; the reference accuracy
    dashed. An axis whose values span more than a decade is logarithmic, with labelled 1-2-5
    ticks.

    Parameters
    ----------
    rows : list of dict
        ``accuracy`` (fraction), ``latency_s`` and ``energy_j`` (or the older ``latency_us``
        and ``energy_uj``; rows where one is None are left out of that panel), ``mode``
        (``ann``, ``snn``, ``snn_trained``), ``coding``, ``in_bits``, ``steps``, optional
        ``label`` (the family's name) and ``accuracy_summary["ci95"]``.
    float_accuracy : float
        The reference accuracy (fraction).
    dataset : str
        Named in the title.
    path : str
        The PNG to write.
    reference : str
        Legend entry of the reference line.
    title : str

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True, layout="constrained")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["label"] if r.get("label") else "ANN (bit-serial)" if r["mode"] == "ann" else
               f"SNN trained, {r['coding']} coding" if r["mode"] == "snn_trained" else
               f"SNN converted, {r['coding']} coding")
        groups.setdefault(key, []).append(r)
    markers = "osD^vP*Xph"

    def tag(r: dict[str, Any]) -> str:
        if r.get("mode") == "ann":
            return f"{r['in_bits']}-bit" if r.get("in_bits") is not None else ""
        return f"T={r['steps']}" if r.get("steps") is not None else ""

    handles: list[Any] = []
    whiskers = False
    tags: list[tuple[Any, list[Any], list[str], list[Any], list[Any]]] = []
    for ax, field, label in ((axes[0], "latency", "latency per inference (µs, chip time)"),
                             (axes[1], "energy", "energy per inference (nJ)")):
        points: list[tuple[float, float]] = []
        texts: list[str] = []
        colours: list[Any] = []
        lines: list[list[tuple[float, float]]] = []
        for g, (key, members) in enumerate(groups.items()):
            costs = sorted(((c, r) for r in members if (c := _cost(r, field)) is not None),
                           key=lambda cr: cr[0])
            if not costs:
                continue
            xs = [c for c, _ in costs]
            rs = [r for _, r in costs]
            ys = [100 * r["accuracy"] for r in rs]
            line, = ax.plot(xs, ys, marker=markers[g % len(markers)], ms=6, lw=1.4,
                            color=f"C{g % 10}", label=key, zorder=3)
            if ax is axes[0]:
                handles.append(line)
            ci = [(r.get("accuracy_summary") or {}).get("ci95") for r in rs]
            if all(c is not None for c in ci) and any(c[1] > c[0] for c in ci if c):
                whiskers = True                        # 95 % interval over chips
                err = np.abs(np.array([[100 * c[0], 100 * c[1]] for c in ci if c]).T - ys)
                ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor=line.get_color(), capsize=2,
                            lw=0.9, alpha=0.6, zorder=2)
                lines += [[(xv, yv - e0), (xv, yv + e1)] for xv, yv, e0, e1 in
                          zip(xs, ys, err[0], err[1])]
            lines.append(list(zip(xs, ys)))
            for r, xv, yv in zip(rs, xs, ys):
                if tag(r):
                    points.append((xv, yv))
                    texts.append(tag(r))
                    colours.append(line.get_color())
        ref = ax.axhline(100 * float_accuracy, color="k", ls="--", lw=1, label=reference)
        values = [v for v in (_cost(r, field) for r in rows) if v is not None]
        if values and max(values) > 10 * min(values) > 0:
            ax.set_xscale("log")
            lo, hi = min(values), max(values)
            ax.set_xlim(lo / 1.35, hi * 1.6)           # room for the last point's label
            log_axis_ticks(ax.xaxis, lo / 1.35, hi * 1.6)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, which="major")
        if values:
            lines.append([(min(values), 100 * float_accuracy),
                          (max(values), 100 * float_accuracy)])
        tags.append((ax, points, texts, colours, lines))   # placed once the layout is final
    axes[0].set_ylabel("test accuracy (%)")
    fig.legend(handles=handles + [ref], loc="outside lower center", ncol=min(3, len(handles) + 1),
               fontsize=8, frameon=False)
    notes = ("whiskers: 95 % interval over chips; " if whiskers else "") + \
        "labels: input bits (ANN) or time steps T (SNN)"
    fig.suptitle(f"{title} ({dataset})\n{notes}", fontsize=10)
    for ax, points, texts, colours, lines in tags:
        place_labels(ax, points, texts, colours, avoid=lines)
    return save_figure(fig, path)


def _class_text(result: Any, true_class: int | None) -> str:
    """"predicted class 3, true class 3" for the first input of an SNN result."""
    parts = []
    predictions = getattr(result, "predictions", None)
    if predictions is not None and len(predictions):
        parts.append(f"predicted class {int(predictions[0])}")
    if true_class is not None:
        parts.append(f"true class {int(true_class)}")
    return ", ".join(parts)


def raster_figure(result: Any, path: str, max_neurons: int = 128,
                  true_class: int | None = None) -> str:
    """Spikes of one input (the first of the run), a panel per layer.

    A dot-row per neuron (y: the neuron's index in its layer), a tick per spike (x: the time
    step). An output layer that never fires (an integrating readout) is drawn as its membrane
    traces instead, one per class, the predicted class thick.

    Parameters
    ----------
    result : SNNResult
        Recorded with ``record_raster=True`` (``raster``, ``layer_names``, ``membrane`` or
        ``readout``, ``predictions``, ``coding``, ``steps``).
    path : str
        The PNG to write.
    max_neurons : int
        At most this many neurons (the first ones) per layer.
    true_class : int, optional
        The input's label, written in the title next to the predicted class.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(result.raster)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n + 0.8), sharex=True,
                             layout="constrained")
    axes = np.atleast_1d(axes)
    predicted = (int(result.predictions[0]) if getattr(result, "predictions", None) is not None
                 and len(result.predictions) else None)
    for k, (ax, spikes, name) in enumerate(zip(axes, result.raster, result.layer_names)):
        total = spikes.shape[1]
        spikes = spikes[:, :max_neurons]
        if k == n - 1 and not spikes.any():         # a non-firing output: its membrane
            membrane = getattr(result, "membrane", None)
            if membrane:
                traces, unit = np.asarray(membrane[-1]), "membrane / threshold"
            else:
                traces, unit = np.asarray(result.readout[0]), "readout\n(output-range units)"
            for j, trace in enumerate(traces.T):
                ax.plot(trace, lw=2.2 if j == predicted else 0.9, label=f"class {j}",
                        color=f"C{j % 10}", zorder=3 if j == predicted else 2)
            ax.set_ylabel(f"{name}\n{unit}", fontsize=8)
            ax.legend(fontsize=6, ncol=5, loc="upper left")
            continue
        t, i = np.nonzero(spikes)
        ax.plot(t, i, "|", ms=3, color="k")
        shown = f"first {spikes.shape[1]} of {total}" if total > spikes.shape[1] else f"{total}"
        ax.set_ylabel(f"{name}\nneuron index ({shown})", fontsize=8)
        ax.set_ylim(-1, spikes.shape[1])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    axes[-1].set_xlabel("time step (neuron cycle)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    what = _class_text(result, true_class)
    axes[0].set_title(f"spikes of one input, {result.coding} coding, {result.steps} steps"
                      + (f" ({what})" if what else ""), fontsize=10)
    return save_figure(fig, path)


def membrane_figure(result: Any, path: str, neurons: int = 6,
                    true_class: int | None = None) -> str:
    """Membrane potentials of one input (the first of the run): per spiking layer, the first
    ``neurons`` neurons' membrane / threshold (dimensionless) after every step, the threshold
    (dashed, at 1) and each neuron's spikes (ticks above it).

    Parameters
    ----------
    result : SNNResult
        Recorded with ``record_raster=True``.
    path : str
        The PNG to write.
    neurons : int
        Neurons per layer.
    true_class : int, optional
        The input's label, written in the title next to the predicted class.

    Returns
    -------
    str
        ``path``.
    """
    if result.membrane is None:
        raise ValueError("the result has no membrane traces: run with record_raster=True")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(result.membrane)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.0 * n + 0.8), sharex=True,
                             layout="constrained")
    axes = np.atleast_1d(axes)
    names = result.layer_names[1:]
    for ax, trace, spikes, name in zip(axes, result.membrane, result.raster[1:], names):
        for j in range(min(neurons, trace.shape[1])):
            line, = ax.plot(trace[:, j], lw=1, label=f"neuron {j}")
            t = np.nonzero(spikes[:, j])[0]
            ax.plot(t, np.full(len(t), 1.05), "|", ms=6, color=line.get_color())
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_ylabel(f"{name}\nmembrane / threshold", fontsize=8)
        ax.legend(fontsize=6, ncol=min(neurons, 6), loc="lower left")
    axes[-1].set_xlabel("time step (neuron cycle)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    what = _class_text(result, true_class)
    axes[0].set_title("membranes of one input" + (f" ({what})" if what else "") +
                      "; ticks: spikes; dashed: threshold", fontsize=10)
    return save_figure(fig, path)


_CORRUPTIONS = {"blind": {"bottom": "bottom third grey", "flip": "20 % of pixels flipped"},
                "paper": {"bottom": "bottom rows grey", "flip": "20 % of pixels set to 1[x < 0.7]"}}


def recovery_figure(examples: Mapping[str, Any], path: str, dataset: str = "",
                    scores: Mapping[str, Mapping[str, float]] | None = None,
                    protocol: str = "blind") -> str:
    """Example images of the RBM recovery benchmark: a block of columns per corruption, a row
    per method, the corrupted input on top and the original at the bottom.

    Parameters
    ----------
    examples : mapping
        Per corruption (``"bottom"``, ``"flip"``) either a mapping from row label to images
        (n, pixels), drawn top to bottom in its order (e.g. corrupted, RBM on the chip, RBM in
        software, scikit-learn's BernoulliRBM, kNN, PCA and mean-image fills, original), or the
        older four-tuple (corrupted, chip, software, original).
    path : str
        The PNG to write.
    dataset : str
        Named in the title.
    scores : mapping, optional
        Per corruption, per row label, the row's error reduction over the whole test set,
        written under the row's label.
    protocol : {"blind", "paper"}
        Names the corruptions in the block titles.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    kinds = list(examples)
    blocks: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        ex = examples[kind]
        blocks[kind] = (dict(ex) if isinstance(ex, Mapping) else
                        dict(zip(["corrupted", "RBM, chip", "RBM, software", "original"], ex)))
    labels = list(blocks[kinds[0]])
    n = len(next(iter(blocks[kinds[0]].values())))
    cols = n * len(kinds) + len(kinds) - 1                 # an empty column between blocks
    fig, axes = plt.subplots(len(labels), cols, figsize=(0.85 * cols + 1.6,
                                                         0.8 * len(labels) + 0.8),
                             squeeze=False, gridspec_kw={"wspace": 0.08, "hspace": 0.12})
    for kc in range(1, len(kinds)):
        for ax in axes[:, kc * (n + 1) - 1]:
            ax.axis("off")
    for kc, kind in enumerate(kinds):
        start = kc * (n + 1)
        for r, label in enumerate(labels):
            for i, img in enumerate(blocks[kind][label][:n]):
                img = np.asarray(img, dtype=float)
                side = int(round(np.sqrt(img.size)))
                ax = axes[r, start + i]
                ax.imshow(img.reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    score = (scores or {}).get(kind, {}).get(label)
                    text = textwrap.fill(label, 18) if kc == 0 else ""
                    if score is not None:
                        text = f"{text}\n{score:.2f}" if text else f"{score:.2f}"
                    ax.set_ylabel(text, fontsize=7, rotation=0, ha="right", va="center")
        axes[0, start].set_title(_CORRUPTIONS.get(protocol, _CORRUPTIONS["blind"]).get(kind, kind),
                                 fontsize=9, loc="left")
    note = "; numbers: error reduction (1 - L2 after / before) over the test set" if scores \
        else ""
    fig.subplots_adjust(top=1.0 - 0.5 / fig.get_figheight(), bottom=0.02)
    fig.suptitle(f"RBM image recovery against the baselines ({dataset}, {protocol} protocol)"
                 f"{note}", fontsize=9, y=1.0 - 0.1 / fig.get_figheight())
    return save_figure(fig, path)


def recovery_rows_figure(tables: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                         path: str, dataset: str = "") -> str:
    """Bar chart of the recovery benchmark: a panel per (protocol, corruption) cell, a bar per
    row (error reduction, dimensionless, its value written on it; whiskers: the 95 % interval
    over test images). Blue: this package's RBM (software, chip); orange: scikit-learn's
    BernoulliRBM; grey: the fills without an RBM (mean image, kNN, PCA).

    Parameters
    ----------
    tables : mapping
        ``tables[protocol][corruption][row label] = (error reduction, low, high)``.
    path : str
        The PNG to write.
    dataset : str
        Named in the title.

    Returns
    -------
    str
        ``path``.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    cells = [(p, k) for p, kinds in tables.items() for k in kinds]
    if not cells:
        raise ValueError("tables must hold at least one (protocol, corruption) cell")
    fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells) + 0.5, 4.0),
                             sharey=True, squeeze=False, layout="constrained")
    names = {"bottom": "bottom occluded", "flip": "20 % flipped"}

    def colour(label: str) -> str:
        return "C1" if "BernoulliRBM" in label else "C0" if "RBM" in label else "C7"

    for ax, (p, kind) in zip(axes[0], cells):
        rows = tables[p][kind]
        labels = list(rows)
        vals = np.array([rows[n][0] for n in labels], float)
        lo = np.array([rows[n][1] for n in labels], float)
        hi = np.array([rows[n][2] for n in labels], float)
        pos = np.arange(len(labels))
        ax.bar(pos, vals, color=[colour(n) for n in labels],
               yerr=np.vstack([np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)]),
               capsize=3)
        for x, v, h in zip(pos, vals, hi):
            ax.text(x, max(v, h, 0.0) + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=6.5)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xticks(pos)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{p}: {names.get(kind, kind)}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("error reduction (1 - L2 after / before)", fontsize=9)
    fig.legend(handles=[Patch(color="C0", label="this package's RBM"),
                        Patch(color="C1", label="scikit-learn BernoulliRBM"),
                        Patch(color="C7", label="fills without an RBM")],
               loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"RBM image recovery against the baselines ({dataset}); whiskers: 95 % "
                 "interval over test images", fontsize=10)
    return save_figure(fig, path)


def _plural(n: int, word: str) -> str:
    """``"1 chip"``, ``"3 chips"``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def classify_figures(result: dict[str, Any], folder: str,
                     rows: dict[str, str]) -> dict[str, str]:
    """The two figures of ``snn-neurram bench classify``.

    ``classify_<dataset>.png``: the accuracy of each co-optimisation step, twice. Above, bars of
    the mean on an axis from 0 to 100 %; below, the same steps on an axis zoomed to the range of
    the values (its truncation said on the axis and shaded above): the mean (a bar-wide line),
    the 95 % interval over chips (whiskers, with more than one chip) and every chip and
    read-noise draw (dots). Grey: software; orange: chip; blue: the best chip row.
    ``eta_sweep_<dataset>.png``: accuracy against test-time weight noise for networks trained
    at several noise levels (whiskers: one standard deviation over noise draws).

    Parameters
    ----------
    result : dict
        The benchmark's result (``accuracy``, ``dataset``, ``network``, ``test_images``,
        ``best_chip_row``, ``eta_sweep``).
    folder : str
        Where to write the PNGs.
    rows : dict
        Each step's key in ``result["accuracy"]`` and its label, in order.

    Returns
    -------
    dict
        ``{"steps": path, "eta_sweep": path}``.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    acc, ds = result["accuracy"], result["dataset"]
    network = result.get("network", result.get("model", "network"))
    names = list(rows)
    labels = [textwrap.fill(rows[k], 14, break_on_hyphens=False, break_long_words=False)
              for k in names]
    chip = [isinstance(acc[k], dict) for k in names]
    means = np.array([acc[k]["mean"] if c else acc[k] for k, c in zip(names, chip)]) * 100
    colours = ["0.55" if not c else ("tab:blue" if k == result.get("best_chip_row") else
                                      "tab:orange") for k, c in zip(names, chip)]
    some = next((acc[k] for k, c in zip(names, chip) if c), {"chips": 0, "draws": 0})
    n_chips, n_draws = int(some["chips"]), int(some["draws"])
    x = np.arange(len(names))
    fig, (top, ax) = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True, layout="constrained",
                                  gridspec_kw={"height_ratios": [1.0, 1.5]})
    # above: the whole axis, from 0
    top.bar(x, means, color=colours, alpha=0.85)
    for i, m in enumerate(means):
        top.text(i, m - 3, f"{m:.2f}", ha="center", va="top", fontsize=8, color="white",
                 fontweight="bold")
    top.set_ylim(0, 100)
    top.set_ylabel("test accuracy (%)")
    top.grid(axis="y", alpha=0.3)
    # below: the same values, zoomed
    points = [100 * np.asarray(acc[k]["per_chip_draw"], float) if c else np.array([[100 * acc[k]]])
              for k, c in zip(names, chip)]
    low = min(float(np.min(p)) for p in points)
    high = max(float(np.max(p)) for p in points)
    for k, c in zip(names, chip):
        if c:
            low = min(low, 100 * float(acc[k]["ci95"][0]))
            high = max(high, 100 * float(acc[k]["ci95"][1]))
    span = max(high - low, 1.0)
    bottom = max(0.0, np.floor((low - 0.15 * span) * 2) / 2)
    ceiling = min(100.0, np.ceil((high + 0.15 * span) * 2) / 2)
    for i, (k, c) in enumerate(zip(names, chip)):
        ax.hlines(means[i], i - 0.38, i + 0.38, color=colours[i], lw=3, zorder=3)
        if not c:
            continue
        v = acc[k]
        lo, hi = 100 * np.array(v["ci95"])
        if n_chips > 1:
            ax.errorbar(i, means[i], yerr=[[means[i] - lo], [hi - means[i]]], color="k",
                        capsize=4, lw=1, zorder=4)
        pts = points[i]
        jitter = np.linspace(-0.22, 0.22, pts.shape[0]) if pts.shape[0] > 1 else [0.0]
        for j, row in zip(jitter, pts):
            ax.plot(np.full(len(row), i + j), row, ".", color="k", ms=4, alpha=0.6, zorder=5)
    ax.set_ylim(bottom, ceiling)
    ax.set_ylabel(f"test accuracy (%)\nzoomed: axis from {bottom:g} %")
    ax.grid(axis="y", alpha=0.3)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_xlim(-0.6, len(names) - 0.4)
    top.axhspan(bottom, ceiling, color="0.85", alpha=0.5, zorder=0, lw=0)
    top.legend(handles=[Patch(color="0.55", label="software"),
                        Patch(color="tab:orange", label="chip"),
                        Patch(color="tab:blue", label="best chip row"),
                        Patch(color="0.85", alpha=0.5, label="range zoomed below")],
               loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    whisker = (f"whiskers: 95 % interval over {_plural(n_chips, 'chip')}" if n_chips > 1 else
               "1 chip, so no interval over chips")
    top.set_title(f"{network} on {ds} ({result['test_images']} test images)\nabove: mean, axis "
                  f"from 0; below: zoomed; {whisker}; dots: one chip, one of "
                  f"{_plural(n_draws, 'read-noise draw')}", fontsize=8)
    paths = {"steps": save_figure(fig, os.path.join(folder, f"classify_{ds}.png"))}

    sw = result["eta_sweep"]
    draws = (result.get("recipe") or {}).get("sweep_draws")
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    for eta, row, std in zip(sw["eta_train"], sw["accuracy"], sw["std"]):
        ax.errorbar(sw["eta_test"], 100 * np.array(row), yerr=100 * np.array(std), marker="o",
                    ms=3, capsize=2, label=f"trained at η = {eta:g}")
    ax.set_xlabel("test-time weight noise η (σ / max|W|)")
    ax.set_ylabel("test accuracy (%)")
    over = f" over {_plural(int(draws), 'noise draw')}" if draws else " over noise draws"
    ax.set_title(f"{network} on {ds}: noise-aware training\nwhiskers: ± 1 standard deviation"
                 f"{over}", fontsize=9)
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
                markersize=5, markeredgewidth=0, label=str(label))
    if log_x:
        ax.set_xscale("log")
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), list(xticklabels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"{len(chips)} chips, one dot per chip and value")
    ax.grid(alpha=0.3)
    if len(chips) <= 10:                        # beyond, colours repeat: no legend
        ax.legend(title="chip seed", fontsize=7, title_fontsize=7, loc="best",
                  ncol=1 + (len(chips) - 1) // 5)
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
