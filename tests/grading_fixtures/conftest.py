"""The fixture lab's graded tests run under pytest like a real lab's (see tests/labs/conftest.py).

`--notebook` is registered by tests/labs/conftest.py, or by `-p course.grading.pytest_plugin`
when only this folder is collected.
"""

from course.grading.pytest_plugin import nb

__all__ = ["nb"]
