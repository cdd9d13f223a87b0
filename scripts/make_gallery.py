"""Regenerate the figure gallery (docs/gallery.md): run every figure-making command of the
``snn-neurram`` CLI with small, fast options and copy the PNGs to docs/images/gallery/.

Each command runs in a fresh scratch folder, exactly as docs/gallery.md shows it (its outputs go
to ``out/`` there; ``SWEEP_SPEC`` stands for scripts/gallery_sweep.toml); only the PNGs are
copied, so checkpoints and sweep results never reach the repository. Running it again
overwrites the same files: the gallery is regenerated, not added to.

Usage::

    python scripts/make_gallery.py               # every figure, a few minutes on 2 cores
    python scripts/make_gallery.py map energy    # only these jobs
    python scripts/make_gallery.py --list        # the jobs and their commands
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "images" / "gallery"
SWEEP_SPEC = ROOT / "scripts" / "gallery_sweep.toml"


@dataclass(frozen=True)
class Job:
    """One CLI command and the PNGs (names in ``out/``) it makes."""

    name: str
    argv: tuple[str, ...]
    pngs: tuple[str, ...]


#: The gallery's commands, in the order of docs/gallery.md.
JOBS: tuple[Job, ...] = (
    Job("demo", ("demo", "--out", "out"), ("core_demo.png", "chip_map.png")),
    Job("map", ("map", "digits-mlp", "--figure", "out/map_digits-mlp.png"),
        ("map_digits-mlp.png",)),
    Job("map-resnet20", ("map", "resnet20", "--figure", "out/map_resnet20.png"),
        ("map_resnet20.png",)),
    Job("map-replicated", ("map", "mnist-cnn", "--replicate", "--figure",
                           "out/map_mnist-cnn_replicated.png"),
        ("map_mnist-cnn_replicated.png",)),
    Job("energy", ("energy", "mnist-cnn", "--figure", "out/energy_mnist-cnn.png"),
        ("energy_mnist-cnn.png",)),
    Job("compare", ("compare", "--dataset", "digits", "--test-samples", "200", "--chips", "3",
                    "--steps", "8,16,64,128", "--out", "out"),
        ("compare_digits.png", "raster_converted_digits.png", "membrane_converted_digits.png",
         "raster_trained_digits.png", "membrane_trained_digits.png")),
    Job("compare-keywords", ("compare", "--dataset", "keywords", "--keywords-size", "ci",
                             "--chips", "1", "--out", "out"),
        ("compare_keywords-ci.png",)),
    Job("rbm", ("bench", "rbm", "--out", "out"), ("rbm_digits.png", "rbm_digits_rows.png")),
    Job("classify", ("bench", "classify", "--chips", "3", "--draws", "2", "--epochs", "10",
                     "--out", "out"),
        ("classify_digits.png", "eta_sweep_digits.png")),
    Job("sweep", ("sweep", "SWEEP_SPEC", "--workers", "1", "--out", "out"),
        ("accuracy_read_time.png", "chips_read_time.png", "chips_read_noise_sigma.png",
         "heatmap_read_time_read_noise_sigma.png")),
)


def command(job: Job) -> str:
    """The job's command line as docs/gallery.md prints it."""
    args = ["scripts/gallery_sweep.toml" if a == "SWEEP_SPEC" else a for a in job.argv]
    return " ".join(["snn-neurram", *args])


def _cli() -> str:
    """The ``snn-neurram`` next to this Python (the project's virtualenv), else on the PATH."""
    here = Path(sys.executable).parent / "snn-neurram"
    found = str(here) if here.exists() else shutil.which("snn-neurram")
    if not found:
        raise SystemExit("snn-neurram not found: install the project (pip install -e .)")
    return found


def run(job: Job, gallery: Path = GALLERY, quiet: bool = True) -> float:
    """Run ``job`` in a scratch folder and copy its PNGs into ``gallery``; returns seconds.

    Raises
    ------
    RuntimeError
        If the command fails or does not write one of its PNGs.
    """
    argv = [_cli(), *(str(SWEEP_SPEC) if a == "SWEEP_SPEC" else a for a in job.argv)]
    gallery.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"gallery-{job.name}-") as scratch:
        env = dict(os.environ, MPLBACKEND="Agg")
        proc = subprocess.run(argv, cwd=scratch, env=env, text=True,
                              stdout=subprocess.PIPE if quiet else None,
                              stderr=subprocess.STDOUT if quiet else None)
        if proc.returncode != 0:
            raise RuntimeError(f"{command(job)} failed (exit {proc.returncode}):\n"
                               f"{proc.stdout or ''}")
        for name in job.pngs:
            src = Path(scratch) / "out" / name
            if not src.exists():
                raise RuntimeError(f"{command(job)} did not write out/{name}")
            shutil.copyfile(src, gallery / name)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="*", metavar="JOB",
                        help=f"jobs to run (default: all): {', '.join(j.name for j in JOBS)}")
    parser.add_argument("--list", action="store_true", help="print the jobs and stop")
    parser.add_argument("--verbose", action="store_true", help="show the commands' output")
    parser.add_argument("--gallery", type=Path, default=GALLERY,
                        help="where the PNGs go (default: docs/images/gallery)")
    args = parser.parse_args(argv)
    unknown = set(args.jobs) - {j.name for j in JOBS}
    if unknown:
        parser.error(f"unknown job(s): {', '.join(sorted(unknown))}")
    jobs = [j for j in JOBS if not args.jobs or j.name in args.jobs]
    if args.list:
        for j in jobs:
            print(f"{j.name:<18s}{command(j)}")
        return 0
    total = 0.0
    for j in jobs:
        print(f"{j.name:<18s}{command(j)}", flush=True)
        seconds = run(j, args.gallery, quiet=not args.verbose)
        total += seconds
        print(f"{'':<18s}{seconds:.1f} s: {', '.join(j.pngs)}", flush=True)
    print(f"{len(jobs)} jobs, {total:.0f} s; PNGs in {args.gallery}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
