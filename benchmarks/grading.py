"""Time to grade each lab's solution: the grader that judges from outside vs the one before.

Both run in one sitting on the same machine, alternating lab by lab, each as
`python -m course.grade` from its own tree: the current one, and the tree of commit
BEFORE (the grader that ran the tests inside the worker), unpacked with `git archive`.
The figure per lab is the fastest of REPEATS runs (the one least disturbed by other work
on the machine), minus the fastest start-up of a bare `python -c pass`, and the ratio
new/old, with the number of graded tests in each tree (labs 5, 7 and 9 gained questions
since BEFORE, so the new grader does more there). Written to benchmarks/results/grading.json.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from benchmarks import record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "grading.json"
BEFORE = "dddda9b"  # the last commit of the in-worker grader
REPEATS = 3


def _old_tree(folder: Path) -> Path:
    """The course at BEFORE, unpacked into `folder`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BEFORE], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _seconds(tree: Path, notebook: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "course.grade", notebook], cwd=tree, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    took = time.perf_counter() - started
    if "(100%)" not in run.stdout:
        raise RuntimeError(
            f"{tree} did not grade {notebook} at 100 %: {run.stdout[-300:]}{run.stderr[-300:]}"
        )
    return took


def main() -> None:
    start_up = min([_timed([sys.executable, "-c", "pass"]) for _ in range(REPEATS)])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True).stdout.strip()  # fmt: skip
    figures: dict[str, object] = {
        "measured_at": f"commit {commit}, {time.strftime('%Y-%m-%d')}",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python_start_s": round(start_up, 3),
        "repeats": REPEATS,
    }
    with tempfile.TemporaryDirectory() as folder:
        old = _old_tree(Path(folder))
        for master in sorted((ROOT / "solutions").glob("lab*.ipynb")):
            if not (old / "solutions" / master.name).exists():
                continue
            name = f"solutions/{master.name}"
            new_times, old_times = [], []
            for _ in range(REPEATS):  # alternate, so that load on the machine hits both
                new_times.append(_seconds(ROOT, name))
                old_times.append(_seconds(old, name))
            new_s = min(new_times) - start_up
            old_s = min(old_times) - start_up
            figures[master.stem] = {
                "new_s": round(new_s, 2),
                "old_s": round(old_s, 2),
                "ratio": round(new_s / old_s, 2),
                "questions_new_old": [_questions(ROOT, master.stem), _questions(old, master.stem)],
            }
    record(RESULTS, figures)


def _questions(tree: Path, lab: str) -> int:
    """Graded tests of `lab` in `tree`: a lab that gained questions since BEFORE does more."""
    return (tree / "tests" / "labs" / f"test_{lab}.py").read_text().count("@question(")


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
