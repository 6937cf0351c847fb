"""pytest support for graded test files: the `nb` fixture and the `--notebook` option.

tests/labs/conftest.py imports both, so `pytest tests/labs/test_lab01_vectors.py` tests
the lab's master, solutions/lab01_vectors.ipynb (in the student edition, the student's
labs/lab01_vectors.ipynb), and `--notebook PATH` any other
notebook. The notebook runs in the pytest process, once per path; the grader
(`python -m course.grade`) is the route that survives notebooks that crash or hang.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from course.grading.execute import new_namespace, run_cell
from course.grading.namespace import Namespace, unfinished_cells_note
from course.grading.notebook import UnusableInput, read_notebook
from course.grading.runner import Limits


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--notebook",
        metavar="PATH",
        help="notebook to run the graded tests against (default: the lab's master solution)",
    )


@pytest.fixture
def nb(request: pytest.FixtureRequest) -> Namespace:
    """The names of the executed notebook under test."""
    chosen = request.config.getoption("notebook", default=None)
    path = Path(chosen) if chosen else master_of(request.path)
    try:
        return executed(path.resolve())
    except UnusableInput as error:
        pytest.fail(str(error), pytrace=False)


def master_of(test_file: Path) -> Path:
    """<root>/solutions/labNN_slug.ipynb for <root>/tests/labs/test_labNN_slug.py.

    In the student edition, which has no solutions/, it is the student's labs/labNN_slug.ipynb.
    """
    name = f"{test_file.stem.removeprefix('test_')}.ipynb"
    master = test_file.parents[2] / "solutions" / name
    return master if master.exists() else test_file.parents[2] / "labs" / name


@functools.cache
def executed(path: Path) -> Namespace:
    """Run the code cells of `path` in its folder; check() cells stay quiet."""
    notebook = read_notebook(path)
    namespace = new_namespace().__dict__
    unfinished = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_GRADING", "1")
        patch.setenv("MPLBACKEND", "Agg")
        patch.chdir(path.parent)
        for number, cell in notebook.code_cells():
            if run_cell(cell.source, number, namespace, Limits().cell):
                unfinished.append(number)
    return Namespace(namespace, note=unfinished_cells_note(unfinished))
