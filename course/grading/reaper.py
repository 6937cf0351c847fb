"""Find and kill the processes a notebook started that outlive its worker (Linux).

The worker runs in a process group of its own, which the grader kills. A notebook can
still leave that group (`os.setsid()` in a forked child) and, say, write a fake
results.json after grading. While a worker runs, the grader is a "child subreaper":
every orphan of the worker's family becomes the grader's child, so the grader sees it
and kills it. Elsewhere (macOS, Windows) the process group is all there is.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
_ROUNDS = 50  # an orphan may fork again while it is being killed


class Reaper:
    """Created before a worker starts; `kill_all()` once the worker is gone."""

    def __init__(self) -> None:
        self._before = _children()
        self._active = _set_subreaper(True)

    def kill_all(self) -> None:
        if not self._active:
            return
        for _ in range(_ROUNDS):
            strays = _children() - self._before
            if not strays:
                break
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in strays:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        _set_subreaper(False)


def _set_subreaper(on: bool) -> bool:
    if not Path("/proc/self/stat").exists():
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children() -> set[int]:
    """The ids of this process's children, from /proc (empty where there is no /proc)."""
    me = os.getpid()
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == me:  # fields: state, ppid, ...
                found.add(int(stat.parent.name))
    return found
