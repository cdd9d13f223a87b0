"""File writing that never leaves a half-written file: write to a temporary file beside the
target, flush it to disk, then rename it into place (atomic on POSIX and Windows).

Temporary files are named ``.<target name>.tmp-<host>-<pid>-<random>``: ``host`` is a short tag
of the machine's name and ``pid`` the writer's process id. A writer killed before the rename
(SIGKILL, power cut) leaves its temporary file behind; every later write of the same target, and
:func:`remove_stale_temps` (which the program loader calls), removes such files once their writer
is gone -- the file of a writer that still runs (another process saving the same target) is
never touched.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import sys
import tempfile
import time
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "write_json", "remove_stale_temps", "temp_prefix"]

# longest part of the target's name that goes into a temporary file's name (names are limited to
# 255 bytes on most file systems; the rest of the temporary name takes about 40)
_NAME_CHARS = 180
# temporary files of the earlier naming (".tmp-<random><target name>") carry no writer id: they are
# removed only once nothing has written to them for this long
_LEGACY_AGE = 3600.0


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """Start of the names of the temporary files that writes of ``path`` use (without the pid)."""
    return f".{os.path.basename(os.fspath(path))[:_NAME_CHARS]}.tmp-"


def _pid_alive(pid: int) -> bool:
    """True unless process ``pid`` certainly does not exist (errs on the side of alive)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)     # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() != 87                # ERROR_INVALID_PARAMETER: no such pid
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259                          # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:         # PermissionError: it exists, under another user
        return True
    return True


def remove_stale_temps(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary files that interrupted writes of ``path`` left in its folder.

    A temporary file is removed when the process that wrote it (its pid, on this machine) no
    longer exists; files of writers on other machines or still running are kept. Temporary files
    of the older naming without a pid are removed once unchanged for an hour. Errors (a read-only
    folder, a file removed meanwhile) are ignored.

    Returns
    -------
    list of str
        Paths of the files removed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    current = re.compile(re.escape(temp_prefix(path)) + r"([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+\Z")
    legacy = re.compile(r"\.tmp-[A-Za-z0-9_]{8}" + re.escape(name) + r"\Z")
    host = _host_tag()
    removed: list[str] = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        full = os.path.join(folder, entry)
        m = current.match(entry)
        if m is not None:
            if m.group(1) != host or _pid_alive(int(m.group(2))):
                continue
        elif legacy.match(entry) is not None:
            try:
                if now - os.stat(full).st_mtime < _LEGACY_AGE:
                    continue
            except OSError:
                continue
        else:
            continue
        try:
            os.remove(full)
        except OSError:
            continue
        removed.append(full)
    return removed


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    try:
        fd = os.open(folder, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode(path: str) -> int:
    """Permission bits for a file written to ``path``: those of the file it replaces, else
    0666 minus the process's umask (what ``open(path, "w")`` would give)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` (bytes) to ``path`` atomically; on failure the previous file stays intact.

    At any moment ``path`` holds either the previous file or the new one, even if the process is
    killed. The temporary files that earlier, killed writers of ``path`` left are removed first
    (see :func:`remove_stale_temps`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{temp_prefix(path)}{_host_tag()}-{os.getpid()}-",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600): give it the mode an ordinary new file gets
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None             # JSON has no NaN or infinity: null (not measured, not reached)
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` (numpy values allowed) as indented JSON, atomically; NaN and infinite
    numbers are written as null (strict JSON has neither). The file gets the permissions of an
    ordinary new file (0666 minus the umask) or those of the file it replaces."""
    atomic_write_bytes(path, (json.dumps(_plain(obj), indent=2, allow_nan=False) +
                              "\n").encode())
