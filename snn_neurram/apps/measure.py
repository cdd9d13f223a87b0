"""Measurements the benchmarks share: a function run in a forked child process, so that its
memory growth and time are its own."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from typing import Any

__all__ = ["in_child"]


def in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` run in a child forked from this process; its (picklable) result.

    Raises
    ------
    RuntimeError
        The child failed (its exit code is in the message).
    """
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target() -> None:
        child.send(fn(*args))
        child.close()

    proc = ctx.Process(target=target)
    proc.start()
    child.close()
    result = parent.recv()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"measurement child failed (exit code {proc.exitcode})")
    return result
