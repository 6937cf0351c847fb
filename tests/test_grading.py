"""The grader on the fixture lab 99: bad inputs, limits, reports, check(), pytest.

Hostile notebooks, case by case, are in tests/test_grading_robustness.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course.grading import check
from course.grading.labs import REPO_ROOT, Layout, load_tests, read_declarations
from course.grading.namespace import MissingName, Namespace
from course.grading.notebook import read_notebook
from course.grading.results import Grading
from course.grading.runner import Limits, grade, grade_variants

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "grading_fixtures"
MASTER = FIXTURE / "solutions" / "lab99_fixture.ipynb"
TWIN = FIXTURE / "labs" / "lab99_fixture.ipynb"
TESTS = FIXTURE / "tests" / "labs" / "test_lab99_fixture.py"
# Cells of the fixture lab take well under 1 s idle (`%matplotlib inline` the longest):
# 10 s per cell is 10x that, so a loaded machine does not cut a correct cell off.
FAST = Limits(cell=10.0, total=60.0)


def variant(tmp_path: Path, code: str, at: int | None = None, base: Path = MASTER) -> Path:
    """`base` with a code cell of `code` inserted at index `at` (default: appended)."""
    notebook = json.loads(base.read_text())
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    cell |= {"id": "inserted", "source": code}
    cells = notebook["cells"]
    cells.insert(len(cells) if at is None else at, cell)
    path = tmp_path / base.name
    path.write_text(json.dumps(notebook))
    return path


def grade_file(path: Path, limits: Limits = FAST, tests: Path = TESTS) -> Grading:
    return grade(read_notebook(path), tests, limits)


def run_grader(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "course.grade", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def notes(grading: Grading) -> str:
    return "\n".join(grading.notes)


# --- Unusable input: exit 2 with one line, no traceback ---------------------------------


def _unusable_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "text.txt": "just some text\n",
        "corrupt.ipynb": '{"cells": [',
        "list.ipynb": "[1, 2, 3]",
        "object.ipynb": '{"hello": "world"}',
        "nolab.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4}),
        "lab98_no_tests.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return {"missing": tmp_path / "missing.ipynb"} | {n: tmp_path / n for n in files}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "no such file"),
        ("text.txt", "not a notebook"),
        ("corrupt.ipynb", "not valid JSON"),
        ("list.ipynb", "not a Jupyter notebook"),
        ("object.ipynb", "not a Jupyter notebook"),
        ("nolab.ipynb", "which lab"),
        ("lab98_no_tests.ipynb", "no graded tests for lab 98"),
    ],
)
def test_unusable_input_exits_2_with_one_line(tmp_path: Path, case: str, expected: str) -> None:
    result = run_grader(_unusable_inputs(tmp_path)[case])
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import no_such_module\n", "ModuleNotFoundError"),
        ("def test_unmarked(nb):\n    pass\n", "test_unmarked has no @question"),
        ("import os\n", "defines no graded tests"),
        ("def broken(:\n", "SyntaxError"),
        ("COURSE_MODULES = ('data.py', SOMEWHERE)\n", "COURSE_MODULES must be a tuple"),
        ("CELL_SECONDS = -3\n", "CELL_SECONDS must be a positive number"),
    ],
)
def test_broken_test_file_exits_2(tmp_path: Path, source: str, expected: str) -> None:
    tests = tmp_path / "test_lab99_broken.py"
    tests.write_text(source)
    result = run_grader(MASTER, "--tests", tests)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


@pytest.mark.parametrize("tests", sorted(Layout(REPO_ROOT).tests.glob("test_lab*.py")), ids=str)
def test_declarations_read_without_importing_match_the_module(tests: Path) -> None:
    """The worker starts with what read_declarations finds before the tests import."""
    module = load_tests(tests)
    declared = read_declarations(tests)
    assert declared.modules == tuple(getattr(module, "COURSE_MODULES", ()))
    assert declared.cell_seconds == getattr(module, "CELL_SECONDS", None)


# --- Solutions, stubs, reports and exit codes -------------------------------------------


def test_solution_gets_full_marks_and_reports(tmp_path: Path) -> None:
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    result = run_grader(MASTER, "--tests", TESTS, "--json", results, "--junit", junit)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Total: 10/10 points (100%)"

    report = json.loads(results.read_text())
    assert (report["score"], report["max_score"]) == (10, 10)
    assert report["visibility"] == "visible" and report["stdout_visibility"] == "hidden"
    assert len(report["tests"]) == 6
    for test in report["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= test.keys()
        assert test["score"] == test["max_score"]
    visibility = {test["name"]: test["visibility"] for test in report["tests"]}
    assert visibility["q1: test_add_small_numbers"] == "visible"
    assert visibility["q1: test_add_negative_numbers"] == "after_published"
    assert [test["number"] for test in report["tests"][:2]] == ["1.1", "1.2"]

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("6", "0")


def test_untouched_lab_completes_with_zero(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    result = run_grader(TWIN, "--tests", TESTS, "--json", results, "--fail-under", "50")
    assert result.returncode == 1, "--fail-under 50 is not met by a score of 0"
    assert "Total: 0/10 points (0%)" in result.stdout
    report = json.loads(results.read_text())
    assert report["score"] == 0
    for test in report["tests"]:
        assert "not implemented yet" in test["output"], test


def test_fail_under_met_exits_0() -> None:
    assert run_grader(MASTER, "--tests", TESTS, "--fail-under", "100").returncode == 0


def test_lab_number_and_tests_from_metadata(tmp_path: Path) -> None:
    """Renamed, the notebook is still lab 99 by its metadata; its tests come by lab number."""
    renamed = tmp_path / "my work.ipynb"
    renamed.write_text(TWIN.read_text())
    env_dir = {"COURSE_TESTS_DIR": str(TESTS.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "course.grade", str(renamed)],
        env={**os.environ, **env_dir, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Lab 99" in result.stdout and "Total: 0/10" in result.stdout


# --- Limits (each kind of hostile notebook: tests/test_grading_robustness.py) ------------


def test_total_timeout_bounds_grading(tmp_path: Path) -> None:
    # Each call sleeps 3 s, far under the 30 s cell limit (10x), and the calls of the cell
    # and of the tests add up past the 8 s total: the total limit, not speed, ends it.
    code = "import time\n\ndef add(a, b):\n    time.sleep(3)\n    return a + b\n\nadd(0, 0)"
    grading = grade_file(variant(tmp_path, code, at=4), Limits(cell=30.0, total=8.0))
    assert grading.seconds < 8 + 5  # the deadline, its 1 s grace, and slack for a busy machine
    assert "used up the 8 s time limit" in notes(grading)
    assert any("not graded" in mark.message for mark in grading.marks)


def test_ipython_syntax_and_agg_backend(tmp_path: Path) -> None:
    code = (
        "%matplotlib inline\n"
        "!echo this does not run\n"
        "files = !ls\n"
        "%time TIMED = 1 + 1\n"
        "import matplotlib\n"
        "BACKEND = matplotlib.get_backend()\n"
    )
    tests = tmp_path / "test_lab99_extra.py"
    tests.write_text(
        "from course.grading import question\n\n\n"
        "@question('q1')\n"
        "def test_magics(nb):\n"
        "    assert (nb.TIMED, nb.files, nb.BACKEND.lower()) == (2, [], 'agg')\n"
    )
    grading = grade_file(variant(tmp_path, code), tests=tests)
    assert grading.score == 1, grading.marks[0].message


# --- check() in a live notebook ---------------------------------------------------------


def test_check_reports_public_tests(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("COURSE_TESTS_DIR", str(TESTS.parent))
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    names = {"check": check, "LAB": "99", "add": lambda a, b: a + b}
    exec("check('q1')\ncheck('q2')\ncheck('q7')", names)
    exec("def mean(values):\n    while True:\n        pass\ncheck('q2', timeout=0.2)", names)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "q1: 1/1 checks passed (+1 hidden at grading)"
    assert lines[1] == "q2: 0/1 checks passed (+1 hidden at grading)"
    assert "defines no `mean`" in lines[2]
    assert lines[3] == "q7: lab 99 has no such question (its questions: q1, q2, q3)"
    assert "stopped after 0.2 s (the time limit)" in lines[5]


def test_check_without_a_lab_explains(capsys) -> None:
    exec("check('q1')", {"check": check})
    assert "which lab is this?" in capsys.readouterr().out


def test_check_is_silent_while_grading(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("COURSE_GRADING", "1")
    check("q1", lab="99")
    assert capsys.readouterr().out == ""


def test_missing_name_teaches_and_still_acts_like_an_attribute_error() -> None:
    nb = Namespace({"build_vocab": 1})
    with pytest.raises(MissingName, match=r"defines no `build_vocabulary`.*`build_vocab`"):
        nb.build_vocabulary  # noqa: B018
    assert not hasattr(nb, "build_vocabulary") and nb["build_vocab"] == 1


# --- The same tests under plain pytest --------------------------------------------------


@pytest.mark.parametrize(("notebook", "outcome"), [(None, "6 passed"), (TWIN, "6 failed")])
def test_pytest_route(tmp_path: Path, notebook: Path | None, outcome: str) -> None:
    junit = tmp_path / "junit.xml"
    chosen = ["--notebook", str(notebook)] if notebook else []
    command = [sys.executable, "-m", "pytest", "-p", "course.grading.pytest_plugin", str(TESTS)]
    command += [*chosen, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert outcome in result.stdout, result.stdout + result.stderr
    if notebook:
        assert "not implemented yet" in result.stdout
    assert ET.parse(junit).getroot().find("testsuite") is not None


def test_a_variant_that_patches_a_class_is_undone_before_the_next(tmp_path: Path) -> None:
    """grade_variants puts back the attributes of the notebook's classes, not only its
    names: a planted bug that patches a method must not leak into the next variant."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    source = "class Scaler:\n    def scale(self, x):\n        return 2 * x\n"
    notebook = tmp_path / "lab99_scaler.ipynb"
    notebook.write_text(
        json.dumps(
            {
                "cells": [cell | {"id": "c1", "source": source}],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    tests = tmp_path / "test_lab99_scaler.py"
    tests.write_text(
        "from course.grading import question\n\n\n"
        '@question("q1", points=1)\n'
        "def test_scale(nb):\n"
        "    assert nb.Scaler().scale(3) == 6\n"
    )
    patched, untouched = grade_variants(
        read_notebook(notebook), tests, ["Scaler.scale = lambda self, x: 0", "pass"]
    )
    assert (patched.score, untouched.score) == (0, 1)
