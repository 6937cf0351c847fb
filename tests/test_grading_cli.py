"""Small habits of `python -m course.grade` and `make grade`: lab numbers, duplicates, names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.grading import question, report

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_LAB = ROOT / "tests" / "grading_fixtures" / "labs" / "lab99_fixture.ipynb"
FIXTURE_TESTS = ROOT / "tests" / "grading_fixtures" / "tests" / "labs"


def grade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COURSE_TESTS_DIR": str(FIXTURE_TESTS)}
    command = [sys.executable, "-m", "course.grade", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_lab_number_with_or_without_its_zero(tmp_path: Path) -> None:
    (tmp_path / "labs").mkdir()
    shutil.copy(FIXTURE_LAB, tmp_path / "labs")
    for lab in ("99", "099"):
        result = grade("--lab", lab, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Lab 99: labs/lab99_fixture.ipynb" in result.stdout


def test_a_lab_matching_two_notebooks_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "labs").mkdir()
    shutil.copy(FIXTURE_LAB, tmp_path / "labs")
    shutil.copy(FIXTURE_LAB, tmp_path / "labs" / "lab99_fixture-Copy1.ipynb")
    result = grade("--lab", "99", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "lab 99 matches 2 notebooks" in result.stderr
    assert result.stderr.rstrip().endswith("python -m course.grade labs/lab99_fixture.ipynb")


def test_missing_or_bad_lab_numbers_get_one_line(tmp_path: Path) -> None:
    for args, expected in [
        (("--lab", "98"), "no notebook labs/lab98_*.ipynb"),
        (("--lab", "x"), "--lab takes a lab number"),
        ((), "give either a notebook or --lab NN"),
    ]:
        result = grade(*args, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr


def test_metadata_naming_another_lab_gets_a_warning(tmp_path: Path) -> None:
    notebook = json.loads(FIXTURE_LAB.read_text())
    renamed = tmp_path / "lab42_fixture.ipynb"
    renamed.write_text(json.dumps(notebook))  # its metadata still says lab 99
    result = grade(str(renamed), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning == [
        f"grade: warning: {renamed} is named lab 42 but its metadata says lab 99; "
        "grading it as lab 99"
    ]


def test_make_grade_accepts_lab_2_like_02(tmp_path: Path) -> None:
    dry = subprocess.run(
        ["make", "-n", "grade", "LAB=2", "DEPS="], cwd=ROOT, capture_output=True, text=True
    )
    assert "-m course.grade --lab 2 " in dry.stdout, dry.stdout


def test_public_only_line_says_what_can_be_checked_here() -> None:
    assert report.public_only_line(12, 20) == (
        "Public tests only: 12 of 20 points can be checked here; "
        "the other 8 are graded by your instructor's hidden tests."
    )


def test_a_question_can_declare_its_own_time_limit() -> None:
    @question("q1", points=2, seconds=90)
    def test_trains(nb):
        pass

    assert test_trains.__graded_test__.seconds == 90
    for bad in (0, -1, True, "60"):
        with pytest.raises(ValueError, match="seconds of q1"):
            question("q1", seconds=bad)
