"""Course checks over every lab, found by its master solutions/labNN_*.ipynb.

For the course and for the grader's fixture lab alike: the master scores 100%, the
untouched student lab scores 0 with "not implemented" messages, labs/ is in sync with
the masters, and each planted bug (tests/labs/mutants_labNN.py) loses the points of
the tests that must catch it.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from course.grading.generate import problems
from course.grading.labs import REPO_ROOT, Layout, find_tests
from course.grading.mutants import Mutant
from course.grading.notebook import lab_from_name, read_notebook
from course.grading.results import Grading
from course.grading.runner import Limits, grade, grade_variants

LAYOUTS = [Layout(REPO_ROOT), Layout(REPO_ROOT / "tests" / "grading_fixtures")]
# Lab 9's training cell takes about 15 s idle (46 s measured beside other jobs): 150 s per
# cell is 10x its idle time, as its CELL_SECONDS declares.
LIMITS = Limits(cell=150.0, total=600.0)


@dataclass(frozen=True)
class Lab:
    layout: Layout
    master: Path

    @property
    def number(self) -> str:
        number = lab_from_name(self.master)
        assert number is not None, f"{self.master}: a master's name starts with labNN_"
        return number

    @property
    def tests(self) -> Path:
        return find_tests(self.number, self.layout.tests)

    @property
    def twin(self) -> Path:
        return self.layout.labs / self.master.name

    def mutants(self) -> list[Mutant]:
        path = self.layout.tests / f"mutants_lab{self.number}.py"
        if not path.exists():
            return []
        spec = importlib.util.spec_from_file_location(f"mutants_lab{self.number}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return [Mutant.of(mutant) for mutant in module.MUTANTS]


LABS = [
    Lab(layout, master)
    for layout in LAYOUTS
    for master in sorted(layout.solutions.glob("lab*.ipynb"))
]
MUTANTS = [(lab, mutant) for lab in LABS for mutant in lab.mutants()]


def _shared(*values: object, lab: Lab) -> object:
    """A test case of `lab` that reads _gradings(lab): under `pytest -n` all of a lab's
    such cases run in one process, so its master notebook runs once there."""
    return pytest.param(*values, marks=pytest.mark.xdist_group(f"gradings-{lab.master.stem}"))


@pytest.mark.parametrize(
    "lab", [_shared(lab, lab=lab) for lab in LABS], ids=[lab.master.stem for lab in LABS]
)
def test_master_scores_full_marks(lab: Lab) -> None:
    grading = _gradings(lab)[MASTER]
    failed = [f"{mark.test.name}: {mark.message}" for mark in grading.marks if not mark.passed]
    assert grading.percent == 100, "\n".join([*failed, *grading.notes])


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.master.stem)
def test_untouched_lab_scores_zero_and_says_not_implemented(lab: Lab) -> None:
    assert lab.twin.exists(), f"{lab.twin} is missing: run `make labs`"
    grading = grade(read_notebook(lab.twin), lab.tests, LIMITS)
    assert grading.score == 0, [mark.test.name for mark in grading.marks if mark.passed]
    for mark in grading.marks:
        assert "not implemented" in mark.message, f"{mark.test.name}: {mark.message}"


@pytest.mark.parametrize("layout", LAYOUTS, ids=["course", "grading_fixtures"])
def test_labs_are_generated_from_their_masters(layout: Layout) -> None:
    assert problems(layout) == [], "run `make labs` (python -m course.grading.generate)"


MASTER = ""  # the variant that adds nothing: the master itself


@functools.cache
def _gradings(lab: Lab) -> dict[str, Grading]:
    """The master (key MASTER) and every mutant of `lab`, graded on one run of the master
    (see runner.grade_variants): each lab's slowest cells run once for all of them."""
    mutants = lab.mutants()
    codes = [MASTER, *(mutant.code for mutant in mutants)]
    gradings = grade_variants(read_notebook(lab.master), lab.tests, codes, LIMITS)
    names = [MASTER, *(mutant.name for mutant in mutants)]
    return dict(zip(names, gradings, strict=True))


@pytest.mark.parametrize(
    ("lab", "mutant"),
    [_shared(lab, mutant, lab=lab) for lab, mutant in MUTANTS],
    ids=[f"{lab.number}-{mutant.name}" for lab, mutant in MUTANTS],
)
def test_mutant_loses_the_points_of_its_tests(lab: Lab, mutant: Mutant) -> None:
    grading = _gradings(lab)[mutant.name]
    names = {mark.test.name for mark in grading.marks}
    assert set(mutant.must_fail) <= names, f"unknown tests in must_fail: {mutant.must_fail}"
    caught = {name for name in mutant.must_fail if not grading.mark(name).passed}
    assert caught == set(mutant.must_fail), (
        f"these tests passed the bug: {set(mutant.must_fail) - caught}"
    )
    assert grading.percent < 100


def _course_lab(number: str) -> Lab:
    return next(lab for lab in LABS if lab.number == number and lab.layout.root == REPO_ROOT)


BANNED_CALLS = [  # (lab, the mutant that calls what a question bans, what its message names)
    (
        "09",
        "cross_entropy by the banned F.cross_entropy (costs q1 only)",
        "functional.cross_entropy",
    ),
    ("09", "clip_grad_norm by the banned clip_grad_norm_ (costs q4 only)", "clip_grad_norm_"),
    ("09", "AdamW by subclassing the banned torch.optim.AdamW (costs q6 only)", "adam.adam"),
    ("10", "tiled attention by the banned fused kernel", "scaled_dot_product_attention"),
]


@pytest.mark.parametrize(
    ("lab", "mutant", "says"),
    [_shared(_course_lab(n), m, says, lab=_course_lab(n)) for n, m, says in BANNED_CALLS],
    ids=[f"{number}-{mutant}" for number, mutant, _ in BANNED_CALLS],
)
def test_a_banned_call_costs_its_question_and_is_named(lab: Lab, mutant: str, says: str) -> None:
    """A notebook that calls what its question forbids loses that question's points only,
    and the message names the banned function."""
    grading = _gradings(lab)[mutant]
    planted = next(m for m in lab.mutants() if m.name == mutant)
    for mark in grading.marks:
        if mark.test.name in planted.must_fail:
            assert "which this question asks you not to use" in mark.message, mark.message
    lost = {mark.test.question for mark in grading.marks if not mark.passed}
    assert lost == {grading.mark(planted.must_fail[0]).test.question}, lost
    assert any(says in mark.message for mark in grading.marks if not mark.passed)
