"""The `@question` decorator: ties a graded test to a question, its points and visibility."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

TestFunction = Callable[[Any], object]
F = TypeVar("F", bound=TestFunction)

_MARK = "__graded_test__"


@dataclass(frozen=True)
class GradedTest:
    """What the grader knows of one test before running it."""

    name: str  # the test function's name, unique in its file
    question: str  # "q1"
    points: float
    hidden: bool = False  # hidden tests run only in the grader, not in check()
    seconds: float | None = None  # this test's time limit; None: the grader's default


def question(
    name: str, *, points: float = 1, hidden: bool = False, seconds: float | None = None
) -> Callable[[F], F]:
    """Mark a test function `test_x(nb)` as worth `points` towards question `name`.

    `seconds` declares the test's own time limit, for a test that trains or decodes
    for longer than the grader's default allows; leave it None otherwise.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"question name must be a non-empty string, got {name!r}")
    if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
        raise ValueError(f"points of {name} must be a positive number, got {points!r}")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0
    ):
        raise ValueError(f"seconds of {name} must be a positive number or None, got {seconds!r}")

    if seconds is not None and not (isinstance(seconds, int | float) and seconds > 0):
        raise ValueError(f"seconds of {name} must be a positive number, got {seconds!r}")

    def mark(function: F) -> F:
        graded = GradedTest(function.__name__, name, points, bool(hidden), seconds)
        setattr(function, _MARK, graded)
        return function

    return mark


def collect_tests(module: ModuleType) -> list[tuple[GradedTest, TestFunction]]:
    """The graded tests of a test module, in the order they are defined.

    Every function pytest would collect (name starting with "test") must carry a
    `@question`: a test that the grader silently skipped would be worth nothing.
    """
    tests = []
    for name, value in vars(module).items():
        if not (name.startswith("test") and callable(value)):
            continue
        graded = getattr(value, _MARK, None)
        if not isinstance(graded, GradedTest):
            raise ValueError(
                f"{module.__file__}: {name} has no @question(...): "
                "give every graded test a question and its points"
            )
        tests.append((graded, value))
    if not tests:
        raise ValueError(f"{module.__file__} defines no graded tests (functions named test_*)")
    return tests
