"""Every kind of submission a grader receives: each is graded within a bound, reported, and
earns exactly the points it earned.

Each case takes the fixture lab 99 (10 points: `add` 3, `mean` 3, `count_words` 4) as
its master (full marks) or its untouched twin (0), changes it, grades it under small
limits (1 s a cell or test, 400 MiB of memory), checks the score, the message that
explains it, the time it took and that valid reports were written. The guarantees
these cases check are described in appendix/for_instructors.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from course.grading import report
from course.grading.notebook import read_notebook
from course.grading.results import Grading
from course.grading.runner import Limits, grade

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "grading_fixtures"
MASTER = FIXTURE / "solutions" / "lab99_fixture.ipynb"
TWIN = FIXTURE / "labs" / "lab99_fixture.ipynb"
TESTS = FIXTURE / "tests" / "labs" / "test_lab99_fixture.py"
SCHEMA = json.loads((ROOT / "tests" / "gradescope_results.schema.json").read_text())
LIMITS = Limits(cell=1.0, total=20.0, memory=400.0)
ROOMY = Limits(cell=5.0, total=20.0, memory=300.0)  # memory cases: time enough to fill it
TOP = 2  # insert a cell here: right after the setup cell, before every answer

Edit = Callable[[dict[str, Any]], None]


def insert(code: str, at: int | None = None) -> Edit:
    """Insert a code cell of `code` at cell index `at` (default: at the end)."""

    def edit(notebook: dict[str, Any]) -> None:
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
        cells = notebook["cells"]
        cells.insert(len(cells) if at is None else at, cell | {"id": "x", "source": code})

    return edit


def in_function(body: str, name: str = "add") -> Edit:
    """Append a cell redefining graded function `name` (two arguments) with `body`."""
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return insert(f"def {name}(a, b=None):\n{indented}")


def delete_cell(index: int) -> Edit:
    return lambda notebook: notebook["cells"].pop(index)


def reverse_code_cells(notebook: dict[str, Any]) -> None:
    cells = notebook["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"][::-1]
    notebook["cells"] = [code.pop(0) if cell["cell_type"] == "code" else cell for cell in cells]


def rename_add(notebook: dict[str, Any]) -> None:
    for number, cell in enumerate(notebook["cells"]):
        cell["id"] = f"renamed-{number}"
        cell["source"] = "".join(cell["source"]).replace("add(", "adds(")


def other_jupyter(notebook: dict[str, Any]) -> None:
    """As another Jupyter (or Colab) saves it: format 4.2, no cell ids, sources as strings."""
    for cell in notebook["cells"]:
        cell.pop("id", None)
        cell["source"] = "".join(cell["source"])
        cell["metadata"] = {"colab": {"base_uri": "https://localhost:8080/"}, "tags": ["x"]}
    notebook["nbformat_minor"] = 2
    notebook["metadata"] = {
        "kernelspec": {"display_name": "Python 3.12 (conda)", "name": "conda-env-py312"},
        "language_info": {"name": "python", "version": "3.12.4"},
        "colab": {"provenance": []},
    }


def empty(notebook: dict[str, Any]) -> None:
    notebook["cells"] = []


@dataclass(frozen=True)
class Case:
    name: str
    edit: Edit
    score: float
    says: str  # in the notes, or in the message of test `test`
    test: str | None = None
    base: Path = MASTER
    bound: float = 4.0  # seconds the grading may take
    tests: str | None = None  # another graded test file (source) instead of the fixture's
    limits: Limits = LIMITS


OOM = "ran out of memory"
ADD = "test_add_small_numbers"
SWALLOW = (
    "while True:\n"
    "    try:\n"
    "        while True:\n"
    "            pass\n"
    "    except BaseException:  # swallows the time limit too\n"
    "        pass\n"
)
GARBAGE = (
    "import os, sys\n"
    "os.write(1, bytes(range(256)) * 4000)\n"
    "os.write(2, b'\\xff\\xfe' * 10**5)\n"
    "sys.stdout.close()\n"
    "os.close(1)\n"
    "os.close(2)\n"
)
FAKES = (
    "def check(q):\n"
    "    print(f'{q}: 1/1 checks passed')\n"
    "print('SCORE: 10/10')\n"
    "print('Total: 10/10 points (100%)')\n"
)
FLOOD = "for _ in range(20_000):\n    print('x' * 1000)"
SEGFAULT = "import ctypes\nctypes.string_at(0)"
HOG = "hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))"
SPRAY = (
    "import json, os\n"
    "for name in ['test_add_small_numbers', 'test_add_negative_numbers', 'test_mean_of_values',\n"
    "             'test_mean_of_nothing_raises', 'test_count_words',\n"
    "             'test_count_words_ignores_case']:\n"
    "    for event in ('test', 'test_done'):\n"
    "        line = json.dumps({'event': event, 'name': name, 'passed': True}) + '\\n'\n"
    "        for fd in range(3, 64):\n"
    "            try:\n"
    "                os.write(fd, line.encode())\n"
    "            except OSError:\n"
    "                pass\n"
)
PATCH_GRADER = (
    "import sys\n"
    "import course.grading.namespace as namespace\n"
    "import course.grading.outcomes as outcomes\n"
    "answers = {'add': lambda a, b: a + b, 'mean': lambda v: sum(v) / len(v)}\n"
    "namespace.Namespace.__getattr__ = lambda self, name: answers[name]\n"
    "outcomes.explain = lambda error: 'passed'\n"
    "for module in list(sys.modules.values()):\n"
    "    if getattr(module, '__name__', '').startswith('graded_'):\n"
    "        for name in dir(module):\n"
    "            if name.startswith('test_'):\n"
    "                getattr(module, name).__code__ = (lambda nb: None).__code__\n"
    "frame = sys._getframe()\n"
    "while frame:\n"
    "    frame.f_globals.pop('time_limit', None)\n"
    "    frame = frame.f_back\n"
)
PATCH_BUILTINS = (
    "import builtins, math, sys\n"
    "builtins.isinstance = lambda *args: True\n"
    "builtins.len = lambda thing: 3\n"
    "builtins.print = lambda *args, **kwargs: None\n"
    "math.isclose = lambda *args, **kwargs: True\n"
    "tests = sys.modules.get('graded_test_lab99_tamper')  # not in the worker any more\n"
    "if tests:\n"
    "    tests.same = lambda got, expected: True\n"
    "check = print = None\n"
    "def scale(values, factor):\n"
    "    return 'not a list'\n"
)
TAMPER_TESTS = """
import math

from course.grading import question


def same(got, expected):
    return got == expected


@question("q1", points=1)
def test_scale_type(nb):
    got = nb.scale([1.0, 2.0], 2.0)
    assert isinstance(got, list), f"scale should return a list, got {type(got).__name__}"


@question("q1", points=1)
def test_scale_length(nb):
    got = nb.scale([1.0, 2.0], 2.0)
    assert len(got) == 2, "scale keeps the length"


@question("q1", points=1)
def test_scale_values(nb):
    got = nb.scale([1.0, 2.0], 2.0)
    assert same(got, [2.0, 4.0]) and math.isclose(got[0], 2.0), f"expected [2.0, 4.0], got {got!r}"
"""
PATCH_IN_TEST = (  # patches on its first call, made by the first test only
    "PATCHED = []\n\n"
    "def scale(values, factor):\n"
    "    import builtins, math\n"
    "    if not PATCHED:\n"
    "        PATCHED.append(True)\n"
    "        builtins.len = lambda thing: 2\n"
    "        math.isclose = lambda *args, **kwargs: True\n"
    "    return [7]\n"
)
ARRAY_TESTS = """
import numpy as np

from course.grading import question


@question("q1", points=1)
def test_normalise(nb):
    got = nb.normalise(np.array([1.0, 3.0], dtype=np.float32))
    assert isinstance(got, np.ndarray), f"expected a numpy array, got {type(got).__name__}"
    assert got.dtype == np.float32, f"expected dtype float32, got {got.dtype}"
    assert got.shape == (2,), f"expected shape (2,), got {got.shape}"
    assert np.isfinite(got).all(), f"expected finite numbers, got {got}"
    assert np.allclose(got, [0.25, 0.75]), f"expected [0.25, 0.75], got {got}"
"""
ARRAY_ANSWERS = {
    "right": "return values / values.sum()",
    "float64": "return (values / values.sum()).astype(np.float64)",
    "shape": "return (values / values.sum()).reshape(2, 1)",
    "nan": "return values / 0 * 0",
    "liar": "class Liar:\n    def __eq__(self, other):\n        return True\nreturn Liar()",
    "list": "return [0.25, 0.75]",
}


def array_case(answer: str, score: float, says: str) -> Case:
    body = ARRAY_ANSWERS[answer].replace("\n", "\n    ")
    code = f"import numpy as np\n\ndef normalise(values):\n    {body}\n"
    return Case(
        f"answer {answer}", insert(code), score, says, "test_normalise", TWIN, 5.0, ARRAY_TESTS
    )


CASES = [
    # The notebook's top level: the cell is reported, the rest still runs and is graded.
    Case(
        "exception at top level",
        insert("1 / 0", TOP),
        10,
        "ZeroDivisionError: division by zero (cell 3, line 1)",
    ),
    Case(
        "infinite loop at top level",
        insert("while True:\n    pass", TOP),
        10,
        "stopped after 1 s (the time limit)",
    ),
    Case(
        "loop swallowing the time limit",
        insert(SWALLOW, TOP),
        10,
        "stopped after 1 s (the time limit); the notebook was run again without it",
        bound=6.0,
    ),
    Case(
        "sys.exit() at top level",
        insert("import sys\nsys.exit()", TOP),
        10,
        "the code called sys.exit()",
    ),
    Case(
        "raise SystemExit at top level",
        insert("raise SystemExit(3)", TOP),
        10,
        "the code called sys.exit(3)",
    ),
    Case(
        "os._exit() at top level",
        insert("import os\nos._exit(3)", TOP),
        10,
        "ended the grading process (exit code 3)",
    ),
    Case(
        "KeyboardInterrupt at top level",
        insert("raise KeyboardInterrupt", TOP),
        10,
        "KeyboardInterrupt",
    ),
    Case(
        "segfault at top level", insert(SEGFAULT, TOP), 10, "killed the grading process (SIGSEGV)"
    ),
    Case(
        "kill -9 at top level", insert("import os\nos.kill(os.getpid(), 9)", TOP), 10, "(SIGKILL)"
    ),
    Case("memory blow-up at top level", insert(HOG, TOP), 10, OOM, limits=ROOMY, bound=8),
    Case("output flood (20 MB)", insert(FLOOD, TOP), 10, ""),
    Case("binary output, stdout closed", insert(GARBAGE, TOP), 10, ""),
    Case("syntax error", insert("def broken(:\n    pass", TOP), 10, "SyntaxError"),
    # Inside a graded function: only that function's tests fail, each within the test limit.
    Case(
        "exception in a graded function",
        in_function("raise ValueError('bad')"),
        7,
        "ValueError: bad (in `add`",
        ADD,
    ),
    Case(
        "infinite loop in a graded function",
        in_function("while True:\n    pass"),
        7,
        "stopped after 1 s (the time limit)",
        ADD,
        bound=6.0,
    ),
    Case(
        "sys.exit() in a graded function",
        in_function("import sys\nsys.exit(0)"),
        7,
        "sys.exit(0)",
        ADD,
    ),
    Case(
        "os._exit() in a graded function",
        in_function("import os\nos._exit(0)"),
        7,
        "(exit code 0) during this test",
        ADD,
    ),
    Case(
        "KeyboardInterrupt in a graded function",
        in_function("raise KeyboardInterrupt"),
        7,
        "KeyboardInterrupt",
        ADD,
    ),
    Case(
        "segfault in a graded function",
        in_function(SEGFAULT, "mean"),
        7,
        "(SIGSEGV) during this test",
        "test_mean_of_values",
    ),
    Case(
        "kill -9 in a graded function",
        in_function("import os\nos.kill(os.getpid(), 9)", "mean"),
        7,
        "(SIGKILL) during this test",
        "test_mean_of_values",
    ),
    Case(
        "memory blow-up in a graded function", in_function(HOG), 7, OOM, ADD, limits=ROOMY, bound=8
    ),
    Case(
        "graded function replaced by a number",
        insert("add = 5"),
        7,
        "'int' object is not callable",
        ADD,
    ),
    # The notebook's structure.
    Case(
        "deleted cell", delete_cell(6), 7, "the notebook defines no `mean`", "test_mean_of_values"
    ),
    Case("reordered cells", reverse_code_cells, 10, "NameError: name 'check' is not defined"),
    Case("renamed function and cell ids", rename_add, 7, "(it defines `adds`)", ADD),
    Case("saved by another Jupyter and kernel", other_jupyter, 10, ""),
    Case("empty notebook", empty, 0, "the notebook defines no `count_words`", "test_count_words"),
    # Tampering with the grader, its channel and the tests' helpers.
    Case("fake check() and fake output", insert(FAKES), 0, "not implemented yet", ADD, TWIN),
    Case(
        "forged progress lines at top level",
        insert(SPRAY),
        0,
        "were not valid messages; they were ignored",
        base=TWIN,
    ),
    Case(
        "forged progress lines in a graded function",
        in_function(SPRAY + "return 0"),
        0,
        "they were ignored",
        base=TWIN,
    ),
    Case(
        "forged progress lines from a thread",
        insert(
            "import threading, time\n\ndef forge():\n    for _ in range(300):\n"
            + "".join(f"        {line}\n" for line in SPRAY.splitlines())
            + "        time.sleep(0.005)\n\nthreading.Thread(target=forge, daemon=True).start()\n"
            + "\ndef add(a, b):  # slow and wrong: the thread forges while the tests run\n"
            + "    time.sleep(0.3)\n"
            + "    return a - b\n"
        ),
        0,
        "they were ignored",
        base=TWIN,
    ),
    Case(
        "grader and test functions patched",
        insert(PATCH_GRADER),
        0,
        "not implemented yet",
        ADD,
        TWIN,
    ),
    Case(
        "builtins, math and test helpers patched",
        insert(PATCH_BUILTINS),
        0,
        "scale should return a list, got str",
        "test_scale_type",
        TWIN,
        tests=TAMPER_TESTS,
    ),
    Case(
        "builtins patched inside a graded function",
        insert(PATCH_IN_TEST),
        1,
        "scale keeps the length",
        "test_scale_length",
        TWIN,
        tests=TAMPER_TESTS,
    ),
    # Wrong answers: the tests say what is wrong, nothing is rewarded.
    array_case("right", 1, ""),
    array_case("float64", 0, "expected dtype float32, got float64"),
    array_case("shape", 0, "expected shape (2,), got (2, 1)"),
    array_case("nan", 0, "expected finite numbers"),
    array_case("liar", 0, "expected a numpy array, got Liar"),
    array_case("list", 0, "expected a numpy array, got list"),
]


def build(case: Case, tmp_path: Path) -> tuple[Path, Path]:
    notebook = json.loads(case.base.read_text())
    case.edit(notebook)
    path = tmp_path / "lab99_fixture.ipynb"
    path.write_text(json.dumps(notebook))
    tests = TESTS
    if case.tests:
        tests = tmp_path / "test_lab99_tamper.py"
        tests.write_text(case.tests)
    return path, tests


def check_reports(grading: Grading, tmp_path: Path) -> dict[str, Any]:
    """The reports are written and valid; returns results.json."""
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    report.write_json(grading, results)
    report.write_junit(grading, junit)
    data = json.loads(results.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == grading.score
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) == len(grading.marks)
    return data


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_submission_is_graded_within_its_bound(case: Case, tmp_path: Path) -> None:
    notebook, tests = build(case, tmp_path)
    started = time.monotonic()
    grading = grade(read_notebook(notebook), tests, case.limits)
    took = time.monotonic() - started
    assert took < case.bound, f"grading took {took:.1f} s, over its bound of {case.bound} s"
    where = grading.mark(case.test).message if case.test else "\n".join(grading.notes)
    assert case.says in where, f"expected {case.says!r} in:\n{where}"
    assert grading.score == case.score, report.table(grading)
    if case.test:
        assert not grading.mark(case.test).passed or case.score == grading.max_score
    check_reports(grading, tmp_path)
    assert len(grading.output) < 70_000


ADD = "def add(a, b):\n    return a + b\n"
IPYTHON_CELLS = {  # a cell appended to the untouched lab: its code, the score, the notes
    "shell commands and line magics do nothing": (
        "!pip install nothing\n%cd /\nfound = !ls\nassert found == [], found\n" + ADD,
        3,
        "",
    ),
    "a cell magic runs its code": ("%%time\n" + ADD, 3, ""),
    "500 shell commands stop at the time limit": (
        "\n".join(["!echo"] * 500) + "\n" + ADD,
        0,
        "stopped after 1 s (the time limit)",
    ),
}


@pytest.mark.parametrize("name", IPYTHON_CELLS)
def test_ipython_syntax_runs_as_under_jupyter(name: str, tmp_path: Path) -> None:
    """Magics and shell commands are translated as Jupyter would (the grader translates
    short cells itself, the worker the rest), and never stall the grader."""
    code, score, says = IPYTHON_CELLS[name]
    notebook, tests = build(Case(name, insert(code), score, says, base=TWIN), tmp_path)
    lab = read_notebook(notebook)
    started = time.monotonic()
    grading = grade(lab, tests, LIMITS)
    assert time.monotonic() - started < 6.0
    assert grading.score == score, report.table(grading)
    appended = f"cell {lab.code_cells()[-1][0]} "
    about_it = [note for note in grading.notes if note.startswith(appended)]
    assert len(about_it) == bool(says) and all(says in note for note in about_it), about_it


def test_output_flood_is_capped(tmp_path: Path) -> None:
    notebook, tests = build(CASES[[c.name for c in CASES].index("output flood (20 MB)")], tmp_path)
    grading = grade(read_notebook(notebook), tests, LIMITS)
    assert "more bytes not kept" in grading.output


# --- Files that are not a usable notebook, and cheats that act after grading -----------


def run_grader(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "course.grade", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("zero bytes", b"", "is empty"),
        (
            "not UTF-8",
            MASTER.read_text().replace("Lab 99", "Lab 99 \xe9t\xe9").encode("latin-1"),
            "not UTF-8",
        ),
        ("truncated", MASTER.read_bytes()[: len(MASTER.read_bytes()) // 2], "not valid JSON"),
        (
            "format 3",
            json.dumps({"worksheets": [], "metadata": {}, "nbformat": 3}).encode(),
            "format 3",
        ),
    ],
)
def test_unusable_file_exits_2_with_one_line(
    tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    path = tmp_path / "lab99_fixture.ipynb"
    path.write_bytes(content)
    result = run_grader(path, "--tests", TESTS)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "lab99_fixture.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + MASTER.read_bytes())
    result = run_grader(path, "--tests", TESTS)
    assert result.stdout.splitlines()[-1] == "Total: 10/10 points (100%)", result.stderr


def test_fake_results_written_during_and_after_grading_are_replaced(tmp_path: Path) -> None:
    """A cell writes a fake results.json, and leaves a process that writes another later."""
    cheat = (
        "import json, os, time\n"
        "fake = json.dumps({'score': 10, 'max_score': 10, 'tests': []})\n"
        "open('results.json', 'w').write(fake)\n"
        "print('SCORE: 10/10')\n"
        "if os.fork() == 0:  # a process that leaves the worker's group, waits for the report\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        for _ in range(500):\n"
        "            time.sleep(0.01)\n"
        "            if open('results.json').read() != fake:\n"
        "                open('results.json', 'w').write(fake)\n"
        "                break\n"
        "    os._exit(0)\n"
    )
    notebook = tmp_path / "lab99_fixture.ipynb"
    data = json.loads(TWIN.read_text())
    insert(cheat)(data)
    notebook.write_text(json.dumps(data))
    result = run_grader(notebook, "--tests", TESTS, "--json", "results.json", cwd=tmp_path)
    assert [line for line in result.stdout.splitlines() if "10/10" in line] == []
    time.sleep(0.5)  # a leftover process would have written by now
    report_data = json.loads((tmp_path / "results.json").read_text())
    assert report_data["score"] == 0 and report_data["tests"], "the grader's report stands"
