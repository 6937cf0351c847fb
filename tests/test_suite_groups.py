"""`make test` runs the suite in parallel (pytest-xdist, --dist loadgroup); tests that share
one costly run (a lab's master notebook, the built book) must stay in one process.

pytest-xdist 3.8 groups by rewriting node ids, which pytest 9.2 no longer honours
(pytest-xdist issue #1386): the groups would silently fall apart, and each process would
run the same notebooks again. This checks the grouping on the real tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_labs_shared_gradings_run_in_one_process() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist",
         "loadgroup", "-v", "tests/test_labs.py", "tests/labs/test_lab01_vectors.py",
         "-k", "lab01 or 01- or test_lab01"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    ran = re.findall(r"^\[(gw\d)\] \[ *\d+%\] PASSED (.+?) *$", run.stdout, re.MULTILINE)
    by_group: dict[str, list[str]] = {}  # group -> the process of each of its tests
    for worker, nodeid in ran:
        by_group.setdefault(nodeid.rpartition("@")[2] if "@" in nodeid else nodeid, []).append(
            worker
        )
    for group in ("gradings-lab01_vectors", "test_lab01_vectors"):
        workers = by_group.get(group, [])
        assert len(workers) > 1 and len(set(workers)) == 1, f"{group}: {workers} in {ran}"
