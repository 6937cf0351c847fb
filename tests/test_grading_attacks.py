"""Attacks on the grader that worked when they were found (each case asserts the right result).

Like tests/test_grading_sandbox.py, each case grades an untouched lab (or a notebook of a
few cells) with a cheat added, and checks the score it should get, a bound on the time,
that the reports can be written, and that nothing outside the worker's folder changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fingerprints import fingerprint

from course.grading import report
from course.grading.notebook import read_notebook
from course.grading.runner import Limits, grade
from course.grading.sandbox import bubblewrap

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "grading_fixtures"
TWIN = FIXTURE / "labs" / "lab99_fixture.ipynb"
TESTS = FIXTURE / "tests" / "labs" / "test_lab99_fixture.py"
ROOMY = Limits(cell=15.0, total=60.0, memory=1500.0)  # importing torch takes seconds when busy

pytestmark = pytest.mark.skipif(bubblewrap() is None, reason="needs bubblewrap")


def _with_cell(base: Path | None, code: str, folder: Path) -> Path:
    """`base` (or an empty notebook) with one code cell appended, written into `folder`."""
    notebook = (
        json.loads(base.read_text())
        if base
        else {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    notebook["cells"].append(cell | {"id": "attack", "source": code})
    path = folder / (base.name if base else "lab10_fast_inference.ipynb")
    path.write_text(json.dumps(notebook))
    return path


# --- A lone surrogate in a cell's error: the reports could not be encoded -----------------


def test_a_lone_surrogate_in_a_cell_error_leaves_the_reports_writable(tmp_path: Path) -> None:
    """Found: `raise ValueError("\\ud800")` in a cell reached the notes undecoded, and
    `python -m course.grade` died with UnicodeEncodeError printing the table (no report)."""
    notebook = _with_cell(TWIN, 'raise ValueError("\\ud800")', tmp_path)
    guarded = (ROOT / "course", ROOT / "tests")
    before = fingerprint(*guarded)
    results = tmp_path / "results.json"
    started = time.monotonic()
    command = [sys.executable, "-m", "course.grade", str(notebook), "--tests", str(TESTS)]
    run = subprocess.run(
        [*command, "--json", str(results)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert time.monotonic() - started < 60
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert json.loads(results.read_text(encoding="utf-8"))["score"] == 0
    grading = grade(read_notebook(notebook), TESTS, Limits(cell=5.0, total=30.0, memory=400.0))
    assert grading.score == 0
    report.table(grading).encode("utf-8")  # every note is encodable
    assert fingerprint(*guarded) == before


# --- Lab 10: peak memory measured in the grader, where the notebook does not run ---------

NAIVE_ATTENTION = """
import torch

def tiled_attention(q, k, v, *, block_size, causal=False):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # the whole (T, S) matrix
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        scores = scores.masked_fill(~keep, float("-inf"))
    return scores.softmax(-1) @ v
"""

PEAK_MEMORY_TEST = """
import torch

from course.grading import probes, question
from course.nn.tiled_attention import naive_attention, peak_memory

COURSE_MODULES = ("memory.py",)


@question("q2", points=2)
def test_tiled_attention_uses_less_peak_memory(nb):  # as in tests/labs/test_lab10_*.py
    q, k, v = (
        torch.randn(1, 1, 512, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)
    )
    naive = peak_memory(lambda: naive_attention(q, k, v))
    tiled = nb.call(probes.peak_memory, nb.tiled_attention, q, k, v, block_size=32)
    assert tiled < naive / 4, f"naive {naive:,} bytes, tiled {tiled:,}"
"""


def test_naive_attention_earns_no_points_for_tiled_peak_memory(tmp_path: Path) -> None:
    """Found: lab 10's q2 memory test ran `peak_memory` in the grader, around a call whose
    work is done in the worker, so it saw only the 32 KB result being rebuilt and an
    attention that builds the whole (T, S) score matrix earned the 2 points. Fixed: the
    test measures in the worker (probes.peak_memory, on the public course.memory)."""
    notebook = _with_cell(None, NAIVE_ATTENTION, tmp_path)
    tests = tmp_path / "test_lab10_memory.py"
    tests.write_text(PEAK_MEMORY_TEST)
    before = fingerprint(ROOT / "course", ROOT / "tests")
    started = time.monotonic()
    grading = grade(read_notebook(notebook), tests, ROOMY)
    assert time.monotonic() - started < 60
    assert grading.score == 0, report.table(grading)
    assert fingerprint(ROOT / "course", ROOT / "tests") == before


# --- Lab 10: the call counter lives next to the notebook, which can switch it off -------

UNCACHED_GENERATION = """
import torch

def generate_with_cache(model, idx, max_new_tokens):
    if idx.shape[1] + max_new_tokens > model.config.block_size:
        raise ValueError("past block_size")
    for module in model.modules():  # the grader's call counter is one of the hooks
        for hook in list(module._forward_hooks.values()):
            if hasattr(getattr(hook, "__self__", None), "positions"):
                module._forward_hooks.clear()
    with torch.no_grad():
        for _ in range(max_new_tokens):  # no cache: the whole sequence again every step
            idx = torch.cat([idx, model(idx)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx
"""

CALL_COUNT_TEST = """
import torch

from course.grading import must_raise, probes, question
from course.grading.visible import GPT_MODULES
from course.nn.gpt import GPT, GPTConfig

COURSE_MODULES = GPT_MODULES


def _model(seed):
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=40, block_size=64, n_layer=2, n_head=4, d_model=32)
    return GPT(config).eval()


@question("q5", points=2, hidden=True)
def test_cached_generation_reads_each_position_once(nb):  # as in tests/labs/test_lab10_*.py
    model = nb.send(_model(2))
    counter = nb.call(probes.count_calls, model.tok_emb)
    prompt = torch.randint(0, 40, (1, 6), generator=torch.Generator().manual_seed(2))
    nb.generate_with_cache(model, prompt, 20)
    counter.remove()
    assert counter.positions <= 6 + 20, f"embedded {counter.positions} positions"
    must_raise(lambda: nb.generate_with_cache(model, prompt.repeat(1, 10), 10), "past block_size")
"""


def test_generation_without_a_cache_cannot_silence_the_call_counter(tmp_path: Path) -> None:
    """Found: lab 10's hidden q5 test (and q6's target-call count) read a
    `probes.CallCounter` that was a forward hook on the notebook's own copy of the model;
    the notebook cleared `_forward_hooks`, recomputed all positions every step (310 embedded,
    26 allowed) and got 2/2. Fixed: the counter wraps the module's forward. Code written
    to unwrap it can still forge the count (see the grading appendix's threat model)."""
    notebook = _with_cell(None, UNCACHED_GENERATION, tmp_path)
    tests = tmp_path / "test_lab10_counter.py"
    tests.write_text(CALL_COUNT_TEST)
    before = fingerprint(ROOT / "course", ROOT / "tests")
    started = time.monotonic()
    grading = grade(read_notebook(notebook), tests, ROOMY)
    assert time.monotonic() - started < 90
    assert grading.score == 0, report.table(grading)
    assert fingerprint(ROOT / "course", ROOT / "tests") == before


# --- A line of 16 MiB of "[]," on the answer pipe: ~450 MiB of lists in the grader -------

BRACKET_BOMB = """
import os
line = b'{"id": 0, "x": [' + b"[]," * (16 * 2**20 // 3) + b'[]]}\\n'
view = memoryview(line)
while view:
    view = view[os.write(4, view):]
del line, view
"""

MEASURE = """
import resource, sys
from pathlib import Path
from course.grading.notebook import read_notebook
from course.grading.runner import Limits, grade
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
grading = grade(read_notebook(Path(sys.argv[1])), Path(sys.argv[2]), Limits(5.0, 30.0, 400.0))
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
print(grading.score, grown, grading.notes[-1])
"""


def test_a_line_of_empty_lists_does_not_swell_the_grader(tmp_path: Path) -> None:
    """Found: the grader ran json.loads on any line up to wire.MAX_LINE (256 MiB), even one
    with an id never asked for; "[]," costs ~80 bytes as a list, so a 16 MiB line grew the
    grader by ~430 MiB and a 256 MiB one would need ~7 GB, outside the worker's cgroup.
    Fixed: a line with more than wire.MAX_CONTAINERS brackets is counted and dropped unread."""
    notebook = _with_cell(TWIN, BRACKET_BOMB, tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(notebook), str(TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    score, grown, note = run.stdout.split(" ", 2)
    assert float(score) == 0
    assert int(grown) < 200, f"the grader grew by {grown} MiB"
    assert "not valid messages" in note


# --- A function that answers its first call and raises on every later one ---------------

FIRST_CALL_ONLY = """
calls = 0

def square_root(x):
    global calls
    calls += 1
    if calls == 1:  # the test's valid call comes first: answer it, raise on the rest
        return 2.0
    raise ValueError(f"{x} has no real square root")
"""

CORRECT_SQUARE_ROOT = """
def square_root(x):
    if x < 0:
        raise ValueError(f"{x} has no real square root")
    return x ** 0.5
"""

BAD_INPUT_TEST = """
from course.grading import must_raise, question


@question("q1", points=1)
def test_square_root_rejects_negative_numbers(nb):
    assert nb.square_root(4.0) == 2.0
    must_raise(lambda: nb.square_root(-1.0), "square_root(-1.0)", mentioning="-1.0")
"""


def test_raising_after_the_first_call_earns_nothing_on_a_bad_input_test(tmp_path: Path) -> None:
    """Found: every bad-input test made its valid call first, so a function that answered
    one call and then raised on every later one earned the points. Fixed: must_raise makes
    the valid call once more, before or after the bad one at random."""
    tests = tmp_path / "test_lab01_square_root.py"
    tests.write_text(BAD_INPUT_TEST)
    before = fingerprint(ROOT / "course", ROOT / "tests")
    started = time.monotonic()
    for code, score in ((FIRST_CALL_ONLY, 0), (CORRECT_SQUARE_ROOT, 1)):
        folder = tmp_path / f"expects_{score}"
        folder.mkdir()
        grading = grade(read_notebook(_with_cell(None, code, folder)), tests, ROOMY)
        assert grading.score == score, report.table(grading)
    assert time.monotonic() - started < 60
    assert fingerprint(ROOT / "course", ROOT / "tests") == before
