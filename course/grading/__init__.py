"""Grading of the labs: graded tests, `check()` cells, the grader and the lab generator.

Kept light on purpose: every lab notebook and every graded test file imports it.
"""

from course.grading.assertions import assert_close, must_raise
from course.grading.check import check
from course.grading.mutants import Mutant
from course.grading.questions import question

__all__ = ["Mutant", "assert_close", "check", "must_raise", "question"]
