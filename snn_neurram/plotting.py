"""Figures. Uses matplotlib's non-interactive Agg backend; every function saves a PNG and returns
its path."""

import os

import numpy as np

__all__ = ["save_figure", "core_demo_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
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


def core_demo_figure(g_programmed_uS, g_relaxed_uS, read_time_s, ideal, chip, path):
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
