"""Where and how a number was measured: what the CLI and the benchmarks write beside their
results in ``--json`` files."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .._version import __version__

__all__ = ["provenance"]


def _git(*args: str) -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(argv: Sequence[str] | None = None,
               seeds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The command (``argv``, default ``sys.argv``), the seeds the run used (``seeds``, e.g.
    ``{"seed": 0, "chip_seeds": [0, 1, 2]}``; None when not given), the time (UTC), the package
    version and, in a git checkout, its commit and whether the tree had changes, the versions of
    Python, numpy and Brian2, the platform and its cores. Values that do not apply or are not
    known are None."""
    argv = list(sys.argv if argv is None else argv)
    try:
        from importlib.metadata import version
        brian2 = version("brian2")
    except Exception:                            # not installed, or no metadata
        brian2 = None
    commit = _git("rev-parse", "HEAD")
    return {"command": shlex.join([os.path.basename(argv[0])] + argv[1:]) if argv else "",
            "seeds": None if seeds is None else dict(seeds),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "snn_neurram": __version__, "git_commit": commit,
            "git_dirty": None if commit is None else bool(_git("status", "--porcelain")),
            "python": platform.python_version(), "numpy": np.__version__, "brian2": brian2,
            "platform": platform.platform(), "cpu_count": os.cpu_count()}
