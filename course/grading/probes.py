"""Helpers a graded test runs inside the worker, next to the student's code.

They are public on purpose: what they observe (which objects exist, what was called)
is observed inside the student's process, so code written against them can forge it.
A value the grader compares is never taken from here on trust; see the grading appendix.
"""

from __future__ import annotations

from typing import Any


class KeepHere:
    """A result that stays in the worker: the grader gets a handle on `value`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def as_handle(value: Any) -> KeepHere:
    """`value` (unpickled from the grader) kept in the worker, for calls that change it."""
    return KeepHere(value)
