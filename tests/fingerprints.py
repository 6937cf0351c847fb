"""What the attack tests compare before and after a grading: the files under some folders."""

from __future__ import annotations

import contextlib
from pathlib import Path


def fingerprint(*folders: Path) -> dict[str, tuple[int, int] | None]:
    """(size, mtime) of every file under `folders`, None for each folder; caches excluded.

    Folders count by their presence only: their mtime changes whenever another test
    process creates a cache beside them, which is not a change to the course.
    """
    found: dict[str, tuple[int, int] | None] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if "__pycache__" in path.parts or ".pytest_cache" in path.parts:
                continue
            with contextlib.suppress(OSError):  # a file removed while the folder is walked
                stat = path.lstat()
                found[str(path)] = None if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return found
