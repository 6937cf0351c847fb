"""A second, differently written correct solution of each lab must score full marks too.

tests/labs/second_style/labNN_*.ipynb are correct answers written in another style than
the masters (loops against vectorised code, float64 or a float32 scale, another order
of operations, another tie-break the text allows). A test that fails one of them is
stricter than its question's text: a false negative a student would pay for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course.grading.labs import REPO_ROOT, Layout, find_tests, read_declarations
from course.grading.notebook import lab_from_name, read_notebook
from course.grading.runner import Limits, grade

SECOND_STYLE = REPO_ROOT / "tests" / "labs" / "second_style"
NOTEBOOKS = sorted(SECOND_STYLE.glob("lab*.ipynb"))


def _limits(tests: Path) -> Limits:
    """The default limits, with the per-cell limit a test file declares as CELL_SECONDS."""
    cell = read_declarations(tests).cell_seconds or Limits().cell
    return Limits(cell=max(cell, Limits().cell), total=900.0)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_second_style_solution_scores_full_marks(notebook: Path) -> None:
    lab = lab_from_name(notebook)
    assert lab is not None, f"{notebook.name}: name it labNN_*.ipynb"
    assert (Layout(REPO_ROOT).solutions / notebook.name).exists(), "named after its master"
    tests = find_tests(lab)
    grading = grade(read_notebook(notebook), tests, _limits(tests))
    failed = [f"{mark.test.name}: {mark.message}" for mark in grading.marks if not mark.passed]
    assert grading.percent == 100, "\n".join([*failed, *grading.notes])


def test_every_lab_up_to_ten_has_a_second_style_solution() -> None:
    labs = {lab_from_name(path) for path in NOTEBOOKS}
    assert {f"{n:02d}" for n in range(1, 11)} <= labs
