"""The outcome of grading one notebook: a mark per test, notes on cells, the total."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course.grading.questions import GradedTest


@dataclass(frozen=True)
class Mark:
    """One graded test and how it went; `score` can only be 0 or the test's points."""

    test: GradedTest
    passed: bool
    message: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return self.test.points if self.passed else 0.0


@dataclass
class Grading:
    lab: str
    notebook: Path
    marks: list[Mark]  # in the order of the test file
    notes: list[str] = field(default_factory=list)  # cells that failed, were stopped or skipped
    output: str = ""  # what the notebook printed, capped; never parsed
    seconds: float = 0.0
    sandbox: str = ""  # how the worker was isolated, e.g. "sandbox: bubblewrap (cgroup)"
    all_points: float | None = None  # the lab's points with hidden tests, where they are absent

    @property
    def score(self) -> float:
        return sum(mark.score for mark in self.marks)

    @property
    def max_score(self) -> float:
        return sum(mark.test.points for mark in self.marks)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    def by_question(self) -> dict[str, list[Mark]]:
        """Marks grouped by question, questions in order of first appearance."""
        groups: dict[str, list[Mark]] = {}
        for mark in self.marks:
            groups.setdefault(mark.test.question, []).append(mark)
        return groups

    def mark(self, name: str) -> Mark:
        """The mark of the test function called `name`."""
        return next(mark for mark in self.marks if mark.test.name == name)
