"""Wall time of grading lab 1's solution and of a clean and a cached book build.

Results go to benchmarks/results/foundation.json. Grading time is reported beyond
interpreter start-up: the median of `python -c pass` is subtracted.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks import record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "foundation.json"
SOLUTION = "solutions/lab01_vectors.ipynb"
REPEATS = 5


def wall_time(command: list[str]) -> float:
    """Seconds one run of `command` takes; raises if it fails."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def median_wall_time(command: list[str], label: str) -> float:
    """Median wall time of REPEATS runs, with a progress bar."""
    times = [wall_time(command) for _ in tqdm(range(REPEATS), desc=label, leave=False)]
    return statistics.median(times)


def book_build_times() -> dict[str, float]:
    """A clean build into an empty output folder, then the same build again (cached)."""
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    with tempfile.TemporaryDirectory() as out:
        command = [jupyter_book, "build", ".", "-W", "-n", "--keep-going", "--path-output", out]
        clean = wall_time(command)
        cached = wall_time(command)
    return {"book_build_clean_s": round(clean, 2), "book_build_cached_s": round(cached, 2)}


def main() -> None:
    startup = median_wall_time([sys.executable, "-c", "pass"], "interpreter start-up")
    grading = median_wall_time([sys.executable, "-m", "course.grade", SOLUTION], "grade lab 1")
    print("building the book twice (clean, then cached)...", flush=True)
    figures = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "repeats": REPEATS,
        "interpreter_startup_s": round(startup, 3),
        "grade_lab01_solution_s": round(grading, 3),
        "grade_lab01_beyond_startup_s": round(grading - startup, 3),
        **book_build_times(),
    }
    record(RESULTS, figures)


if __name__ == "__main__":
    main()
