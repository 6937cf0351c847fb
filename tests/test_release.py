"""The student edition (`make release DEST=...`) and the CI workflow it ships.

The edition is written once into a temporary folder. Its book is not built here (too
slow for CI); the tests check that it holds every file its book build needs and none
that executes a solution, then run its grader, its check() cells, its Makefile and the
commands of its GitHub Actions workflow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from course.grading.labs import load_tests
from course.grading.questions import collect_tests
from course.grading.release import release

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "gradescope_results.schema.json").read_text())
LAB = "labs/lab01_vectors.ipynb"
# Make variables that skip the bootstrap (.venv is this one) and grade one lab only.
QUICK_MAKE = f"DEPS= PY={sys.executable} LABS={LAB}"


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    environment.pop("PYTHONPATH", None)  # the edition's own `course` package must be used
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("release") / "student-course"
    result = run(["make", "-s", "release", f"DEST={dest}", f"PY={sys.executable}", "DEPS="], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return dest


def test_release_needs_a_destination() -> None:
    result = run(["make", "-s", "release", "DEPS="], ROOT)
    assert result.returncode == 2 and "usage: make release DEST=" in result.stderr


def test_edition_leaves_out_solutions_mutants_and_course_tests(edition: Path) -> None:
    assert not (edition / "solutions").exists() and not (edition / ".ci").exists()
    tests = sorted(p.relative_to(edition).as_posix() for p in (edition / "tests").rglob("*.py"))
    assert tests and all(
        re.fullmatch(r"tests/labs/(conftest|test_lab\d\d_\w+)\.py", t) for t in tests
    )
    assert sorted(p.name for p in (edition / "labs").glob("lab*.ipynb")) == sorted(
        p.name for p in (ROOT / "labs").glob("lab*.ipynb")
    )


def test_edition_keeps_public_tests_only(edition: Path) -> None:
    for mine in sorted((ROOT / "tests" / "labs").glob("test_lab*.py")):
        theirs = edition / "tests" / "labs" / mine.name
        public = [g.name for g, _ in collect_tests(load_tests(mine)) if not g.hidden]
        shipped = collect_tests(load_tests(theirs))
        assert [g.name for g, _ in shipped] == public, mine.name
        assert "hidden=True" not in theirs.read_text()


def test_edition_holds_what_its_book_build_needs(edition: Path) -> None:
    for name in ["_config.yml", "_toc.yml", "intro.md", "package.json", "package-lock.json"]:
        assert (edition / name).is_file(), name
    for name in ["requirements.txt", "constraints.txt", "pyproject.toml", "course/__init__.py"]:
        assert (edition / name).is_file(), name
    config = yaml.safe_load((edition / "_config.yml").read_text())
    for bib in config.get("bibtex_bibfiles", []):
        assert (edition / bib).is_file(), bib
    pages = _toc_files(yaml.safe_load((edition / "_toc.yml").read_text()))
    assert pages
    for page in pages:
        found = [edition / f"{page}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(path.is_file() for path in found), f"{page} is in _toc.yml but not shipped"
        text = next(path for path in found if path.is_file()).read_text()
        for cell in re.findall(r"```\{code-cell\}.*?```", text, re.DOTALL):
            assert "solutions" not in cell, f"{page} runs code on solutions/, absent here"


def test_edition_grades_a_lab_with_public_tests(edition: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    untouched = run([sys.executable, "-m", "course.grade", LAB, "--json", str(results)], edition)
    assert untouched.returncode == 0, untouched.stderr
    report = json.loads(results.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["score"] == 0 and all(t["visibility"] == "visible" for t in report["tests"])

    solved = tmp_path / "lab01_vectors.ipynb"
    solved.write_bytes((ROOT / "solutions" / "lab01_vectors.ipynb").read_bytes())
    student = run([sys.executable, "-m", "course.grade", str(solved)], edition)
    instructor = run([sys.executable, "-m", "course.grade", str(solved)], ROOT)
    public_total = re.search(r"Total: (\S+)/(\S+) points \(100%\)", student.stdout)
    full_total = re.search(r"Total: (\S+)/(\S+) points \(100%\)", instructor.stdout)
    assert public_total and full_total, student.stdout + instructor.stdout
    assert float(public_total[2]) == report["max_score"]
    assert float(full_total[2]) > float(public_total[2]), (
        "the instructor's grader runs hidden tests"
    )


def test_check_cells_work_in_the_edition(edition: Path) -> None:
    code = "from course.grading import check\nLAB = '01'\ncheck('q1')"
    result = run([sys.executable, "-c", code], edition)
    assert result.returncode == 0, result.stderr
    assert re.match(r"q1: 0/\d+ checks passed\n", result.stdout), result.stdout
    assert "hidden" not in result.stdout


def test_edition_make_test_builds_the_book_then_grades(edition: Path) -> None:
    dry = run(["make", "-n", "test", "DEPS=", "ASSETS="], edition)
    assert "jupyter-book build" in dry.stdout and "course.grading.grade_labs" in dry.stdout
    assert "solutions" not in dry.stdout
    graded = run(["make", "-s", "-o", "book", "test"], edition, MAKEFLAGS=QUICK_MAKE)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert re.search(r"\| lab01_vectors\.ipynb \| 0/\d+ \(0%\) \|", graded.stdout), graded.stdout


def test_workflow_grades_every_lab_with_the_course_commands(edition: Path, tmp_path: Path) -> None:
    workflow = yaml.safe_load((edition / ".github" / "workflows" / "grade.yml").read_text())
    assert "push" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["grade"]["steps"]
    commands = [step["run"] for step in steps if "run" in step]
    assert commands[0] == "make venv"
    summary = tmp_path / "summary.md"
    for command in commands[1:]:
        assert command.startswith(("make ", "cat grades/")), f"not a course command: {command}"
        result = run(
            ["bash", "-c", command],
            edition,
            MAKEFLAGS=QUICK_MAKE,
            GITHUB_STEP_SUMMARY=str(summary),
        )
        assert result.returncode == 0, command + result.stdout + result.stderr
    assert re.search(
        r"\| lab01_vectors\.ipynb \| 0/\d+ \(0%\) \| test_\w+: not implemented", summary.read_text()
    )
    report = json.loads((edition / "grades" / "lab01" / "results.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert (edition / "grades" / "lab01" / "junit.xml").is_file()


def _toc_files(node: object) -> list[str]:
    """Every `file:` (and `root:`) entry of a Jupyter Book table of contents."""
    if isinstance(node, dict):
        found = [node["root"]] if isinstance(node.get("root"), str) else []
        found += [node["file"]] if isinstance(node.get("file"), str) else []
        return found + [f for value in node.values() for f in _toc_files(value)]
    if isinstance(node, list):
        return [f for item in node for f in _toc_files(item)]
    return []


def test_grade_labs_reports_a_notebook_it_cannot_grade(tmp_path: Path) -> None:
    broken = tmp_path / "lab01_broken.ipynb"
    broken.write_text("{not json")
    out = tmp_path / "grades"
    command = [sys.executable, "-m", "course.grading.grade_labs", str(broken), "--out", str(out)]
    result = run(command, ROOT)
    assert result.returncode == 0, result.stderr
    assert "| lab01_broken.ipynb | not graded |" in (out / "summary.md").read_text()
    assert run([sys.executable, "-m", "course.grading.grade_labs"], ROOT).returncode == 2


def test_release_refuses_a_folder_inside_the_course_or_not_empty(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside the course"):
        release(ROOT, ROOT / "student-edition")
    (tmp_path / "something").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        release(ROOT, tmp_path)


def test_edition_readme_and_makefile_are_the_students(edition: Path) -> None:
    readme = (edition / "README.md").read_text()
    for topic in ("## Doing a lab", "check(", "make grade LAB=01", "hidden tests", "What CI shows"):
        assert topic in readme, topic
    makefile = (edition / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.$()-]+):", makefile, re.MULTILINE))
    assert {"lab", "grade", "grades", "book", "test"} <= targets
    assert not {"labs", "release", "bench", "lint"} & targets
    for word in ("solutions", "mutants", "release", "generate"):
        assert word not in makefile, word
    helped = run(["make", "-s", "help"], edition).stdout
    assert "make grade LAB=NN" in helped and "make labs" not in helped


def test_edition_makefile_shares_the_course_recipes() -> None:
    """The student's Makefile is a template: its recipes must not drift from the course's."""
    template = ROOT / "course" / "grading" / "student_edition" / "Makefile"
    mine, theirs = _recipes((ROOT / "Makefile").read_text()), _recipes(template.read_text())
    for target in ("venv", "$(DEPS)", "assets", "$(ASSETS)", "book", "lab", "grade"):
        assert theirs[target] == mine[target], f"`{target}` differs from the course Makefile"
    assert "course.grading.grade_labs" in theirs["test"]
    assert "course.grading.grade_labs" in theirs["grades"]  # a class is the instructor's
    assert "classroom" not in theirs["grades"]


def test_edition_tests_record_the_labs_full_points(edition: Path) -> None:
    for mine in sorted((ROOT / "tests" / "labs").glob("test_lab*.py")):
        module = load_tests(edition / "tests" / "labs" / mine.name)
        full = sum(graded.points for graded, _ in collect_tests(load_tests(mine)))
        assert full == module.ALL_POINTS, mine.name


def _recipes(makefile: str) -> dict[str, str]:
    """Each rule's line and recipe, by target."""
    rules = re.findall(r"^([^\s:#=]+):(.*\n(?:\t.*\n)*)", makefile, re.MULTILINE)
    return {target: body for target, body in rules}


def test_edition_grader_says_how_many_points_it_can_check(edition: Path) -> None:
    from course.grading import report
    from course.grading.notebook import read_notebook
    from course.grading.runner import grade

    tests = next((edition / "tests" / "labs").glob("test_lab01_*.py"))
    grading = grade(read_notebook(ROOT / "solutions" / "lab01_vectors.ipynb"), tests)
    line = report.table(grading).splitlines()[-1]
    assert line.startswith("Public tests only: ") and "hidden tests" in line, line
    assert f"of {report.points(grading.all_points)} points" in line
