"""`python -m course.grade NOTEBOOK`: grade a lab notebook, print a table, write reports.

Exit status: 0 when grading completed (whatever the score), 1 when --fail-under is not
met, 2 with one line on stderr when the input cannot be graded.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course.grading import report, sandbox
from course.grading.labs import find_tests
from course.grading.notebook import UnusableInput, lab_from_name, normalise_lab, read_notebook
from course.grading.runner import Limits, grade


def parser() -> argparse.ArgumentParser:
    defaults = Limits()
    cli = argparse.ArgumentParser(
        prog="python -m course.grade",
        description="Run a lab notebook in a separate process and grade it with its tests.",
    )
    cli.add_argument(
        "notebook", type=Path, nargs="?", help="the lab notebook, e.g. labs/lab01_vectors.ipynb"
    )
    cli.add_argument(
        "--lab", metavar="NN", help="grade labs/labNN_*.ipynb instead (1 and 01 both work)"
    )
    cli.add_argument("--json", type=Path, metavar="FILE", help="write Gradescope results.json")
    cli.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    cli.add_argument(
        "--fail-under", type=float, metavar="PCT", help="exit 1 when the score is below PCT %%"
    )
    cli.add_argument(
        "--cell-timeout",
        type=_seconds,
        default=defaults.cell,
        metavar="S",
        help="seconds for each cell and each test (default %(default)g)",
    )
    cli.add_argument(
        "--timeout",
        type=_seconds,
        default=defaults.total,
        metavar="S",
        help="seconds for the whole grading (default %(default)g)",
    )
    cli.add_argument(
        "--memory",
        type=_seconds,
        default=defaults.memory,
        metavar="MIB",
        help="memory the notebook may allocate, in MiB (default %(default)g)",
    )
    cli.add_argument(
        "--tests", type=Path, metavar="FILE", help="graded test file (default: by lab number)"
    )
    cli.add_argument(
        "--require-sandbox",
        action="store_true",
        help="refuse to grade (exit 2) where the worker cannot be sandboxed",
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    # The tests' references are small models: one thread each, here as in the worker. A
    # second thread only waits on a busy machine (lab 10: 34 s instead of 8 s, measured).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        if options.require_sandbox and sandbox.bubblewrap() is None:
            raise UnusableInput(
                "no sandbox here (bubblewrap is not installed or not usable), and "
                "--require-sandbox was given"
            )
        for report_path in (options.json, options.junit):
            report.check_path(report_path)
        path = _notebook_path(options.notebook, options.lab)
        notebook = read_notebook(path)
        named = lab_from_name(path)
        if named is not None and notebook.lab != named:
            print(
                f"grade: warning: {path} is named lab {named} but its metadata says lab "
                f"{notebook.lab}; grading it as lab {notebook.lab}",
                file=sys.stderr,
            )
        tests = options.tests or find_tests(_lab(notebook.lab, path))
        if not tests.is_file():
            raise UnusableInput(f"no such test file: {tests}")
        limits = Limits(options.cell_timeout, options.timeout, options.memory)
        grading = grade(notebook, tests, limits)
    except UnusableInput as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    print(report.table(grading))
    if options.json:
        report.write_json(grading, options.json)
    if options.junit:
        report.write_junit(grading, options.junit)
    if options.fail_under is not None and grading.percent < options.fail_under:
        print(f"Score {report.percent(grading)} is under {options.fail_under:g}%", file=sys.stderr)
        return 1
    return 0


def _notebook_path(notebook: Path | None, lab: str | None) -> Path:
    """The notebook to grade: the one given, or the one labs/labNN_*.ipynb of `--lab`."""
    if (notebook is None) == (lab is None):
        raise UnusableInput("give either a notebook or --lab NN (for example --lab 01)")
    if notebook is not None:
        return notebook
    try:
        number = normalise_lab(lab)
    except ValueError:
        raise UnusableInput(f"--lab takes a lab number such as 01 or 1, got {lab!r}") from None
    found = sorted(Path("labs").glob(f"lab{number}_*.ipynb"))
    if not found:
        raise UnusableInput(f"no notebook labs/lab{number}_*.ipynb for lab {number}")
    if len(found) > 1:
        names = ", ".join(str(path) for path in found)
        raise UnusableInput(
            f"lab {number} matches {len(found)} notebooks ({names}): "
            f"grade one with python -m course.grade {min(found, key=lambda p: len(p.name))}"
        )
    return found[0]


def _lab(lab: str | None, path: Path) -> str:
    if lab is None:
        raise UnusableInput(
            f"cannot tell which lab {path} is: name it labNN_*.ipynb "
            'or set its metadata "course": {"lab": "NN"}'
        )
    return lab


def _seconds(text: str) -> float:
    """A positive number (of seconds or MiB) from the command line."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a limit must be a positive number, got {text}")
    return value
