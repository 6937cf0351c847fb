"""Graded lab tests under plain pytest: `nb` is the lab's master run, or `--notebook PATH`."""

from course.grading.pytest_plugin import nb, pytest_addoption

__all__ = ["nb", "pytest_addoption"]
