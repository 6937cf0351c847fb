"""The grader: runs the notebook in a sandboxed worker and judges it from outside.

The graded tests, their comparisons and the points live here, in a process that
never runs student code. The notebook's cells run in the worker (remote.py); a test's
`nb.f(x)` is a call into it whose result comes back as plain data. When the worker
dies or overruns a limit, the grader kills it, notes which cell or test was running,
and starts a fresh worker that runs the notebook again without that cell (a test
that killed it is failed). Each restart leaves out one more cell or fails one more
test, all within the total time limit, so grading always ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from course.grading import probes
from course.grading.execute import plain_python, translated_ahead, translator
from course.grading.labs import Declared, load_tests, read_declarations
from course.grading.namespace import unfinished_cells_note
from course.grading.notebook import Cell, Notebook, UnusableInput
from course.grading.outcomes import MESSAGE_LIMIT, explain, truncate
from course.grading.questions import GradedTest, TestFunction, collect_tests
from course.grading.remote import GRACE, Output, RemoteNamespace, Worker, WorkerDied, calls
from course.grading.results import Grading, Mark


@dataclass(frozen=True)
class Limits:
    cell: float = 30.0  # seconds for each cell, and for each test
    total: float = 600.0  # seconds for the whole grading, restarts included
    memory: float = 4096.0  # MiB the notebook's processes may use together


def grade(notebook: Notebook, tests: Path, limits: Limits = Limits()) -> Grading:
    """Execute `notebook` in a worker and grade it with the graded tests in file `tests`.

    The worker starts first and runs the notebook while the tests load here.
    """
    declared = read_declarations(tests)
    loading = _Loading(tests, notebook)
    return _Session(notebook, declared.modules, lab_limits(declared, limits)).run(loading)


class _Loading:
    """A graded test file imported in a thread, once `start()`ed; `result()` waits for it.

    The thread first imports IPython's translator if a cell of `notebook` will need it.
    It starts once the worker has been started: before, it would slow that down.
    """

    def __init__(self, tests: Path, notebook: Notebook) -> None:
        self._tests = tests
        self._translate = any(translated_ahead(cell.source) for _, cell in notebook.code_cells())
        self._loaded: tuple[ModuleType, list[tuple[GradedTest, TestFunction]]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:  # not started yet
            self._thread.start()

    def _load(self) -> None:
        try:
            if self._translate:  # imported now, beside the worker's start; cells say if it fails
                with contextlib.suppress(Exception):
                    translator()
            module = load_tests(self._tests)
            self._loaded = module, collect_tests(module)
        except BaseException as error:  # reported by result(), in the grading thread
            self._error = error

    def result(self) -> tuple[ModuleType, list[tuple[GradedTest, TestFunction]]]:
        self.start()
        self._thread.join()
        if self._loaded is None:
            error = self._error
            raise UnusableInput(
                f"cannot load {self._tests}: {type(error).__name__}: {error}"
            ) from None
        return self._loaded


def grade_variants(
    notebook: Notebook, tests: Path, cells: list[str], limits: Limits = Limits()
) -> list[Grading]:
    """Grade `notebook` with each of `cells` appended in turn (planted bugs, say).

    The notebook runs once; each variant cell runs on top of it, is graded, and is
    undone (the notebook's globals are put back). A variant that kills the worker is
    graded again from scratch, as `grade` would.
    """
    module = load_tests(tests)
    run = session(notebook, module, limits)
    results = []
    try:
        for code in cells:
            variant = dataclasses.replace(notebook, cells=(*notebook.cells, Cell("code", code)))
            results.append(run.variant(code) or grade(variant, tests, limits))
    finally:
        run.stop()
    return results


def session(notebook: Notebook, module: ModuleType, limits: Limits = Limits()) -> _Session:
    """A grading session whose tests are run by someone else (pytest); close it with stop()."""
    declared = read_declarations(Path(str(module.__file__)))
    return _Session(
        notebook, declared.modules, lab_limits(declared, limits), module, collect_tests(module)
    )


def lab_limits(declared: Declared, limits: Limits) -> Limits:
    """`limits`, with the cell time a lab's test file declares (CELL_SECONDS) if longer."""
    if declared.cell_seconds is not None and declared.cell_seconds > limits.cell:
        seconds = declared.cell_seconds
        return Limits(seconds, max(limits.total, 4 * seconds), limits.memory)
    return limits


@dataclass
class _Session:
    """One grading: its workers, one after the other, and what the tests found."""

    notebook: Notebook
    modules: tuple[str, ...]  # the course modules the notebook may import
    limits: Limits
    module: ModuleType | None = None  # the graded test file, once loaded
    tests: list[tuple[GradedTest, TestFunction]] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)
    cell_errors: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    output: Output = field(default_factory=Output)
    deadline: float = float("inf")
    worker: Worker | None = None
    loading: _Loading | None = None  # the tests, loading beside the first worker
    sandbox: str = ""
    malformed: int = 0

    def run(self, loading: _Loading | None = None) -> Grading:
        """Grade; `loading`, if given, loads the tests while the notebook runs."""
        started = time.monotonic()
        self.deadline = started + self.limits.total
        self.loading = loading
        try:
            if loading is not None:
                self._ready()  # the notebook runs in the worker while the tests load
                self.module, self.tests = loading.result()
            for graded, test in self.tests:
                if not self._ready():
                    break
                self.marks[graded.name] = self._judge(graded, test)
        finally:
            self._stop()
        unrun = self.notes[-1] if self.notes else "not run"
        marks = [
            self.marks.get(graded.name) or Mark(graded, False, f"not graded: {unrun}")
            for graded, _ in self.tests
        ]
        if self.malformed:
            self.notes.append(
                f"{self.malformed} line(s) on the grader's channel were not valid messages; "
                "they were ignored"
            )
        return Grading(
            lab=self.notebook.lab or "",
            notebook=self.notebook.path,
            marks=marks,
            notes=[*self._cell_notes(), *self.notes],
            output=self.output.text(),
            seconds=time.monotonic() - started,
            sandbox=self.sandbox,
            all_points=_all_points(self.module),
        )

    # --- the worker and the notebook's cells ----------------------------------------

    def _ready(self) -> bool:
        """A worker that has run the notebook; False when time is up or nothing helps."""
        while self.worker is None:
            if time.monotonic() >= self.deadline:
                self._out_of_time()
                return False
            progress = len(self.skipped)
            running = self._start_and_run_cells()
            if running is None:
                return True
            number, died = running
            if died.out_of_time:
                self._out_of_time()
                return False
            self.skipped[number] = f"{died.reason}; the notebook was run again without it"
            if len(self.skipped) == progress:  # pragma: no cover - each round skips one more
                return False
        return True

    def _start_and_run_cells(self) -> tuple[int, WorkerDied] | None:
        """Start a worker and run the cells; (cell, why) if the worker died in one."""
        self._stop()
        try:
            code = "\n".join(cell.source for _, cell in self.notebook.code_cells())
            self.worker = Worker(
                self.notebook.path, self.modules, self.limits.memory, self.output, code
            )
        except OSError as error:
            raise UnusableInput(f"the grader could not start its worker: {error}") from None
        self.sandbox = self.worker.sandbox.label
        if self.loading is not None:
            self.loading.start()
        try:  # an empty cell first: a worker that cannot start is the grader's problem
            self.worker.run_cell(0, "", self.limits.cell, self.deadline)
        except WorkerDied as died:
            self._stop()
            last = self.output.text().strip().splitlines() or [died.reason]
            raise UnusableInput(f"the grader could not start its worker: {last[-1]}") from None
        for number, cell in self.notebook.code_cells():
            if number in self.skipped:
                continue
            source = plain_python(cell.source)
            try:
                error = self.worker.run_cell(number, source, self.limits.cell, self.deadline)
            except WorkerDied as died:
                self._stop()
                return number, died
            if error:
                self.cell_errors[number] = error
            else:
                self.cell_errors.pop(number, None)
        return None

    def stop(self) -> None:
        """End the worker, if one runs."""
        self._stop()

    def _stop(self) -> None:
        if self.worker is not None:
            self.malformed += self.worker.malformed
            self.worker.close()
            self.worker = None

    def _out_of_time(self) -> None:
        note = f"grading stopped: the notebook used up the {self.limits.total:g} s time limit"
        if note not in self.notes:
            self.notes.append(note)

    def _cell_notes(self) -> list[str]:
        cells = dict(self.notebook.code_cells())
        problems = {**self.cell_errors, **self.skipped}
        return [f"cell {n} ({cells[n].label}): {problems[n]}" for n in sorted(problems)]

    # --- the tests ------------------------------------------------------------------

    def namespace(self) -> RemoteNamespace:
        """`nb` for a test: the notebook's names in a worker that has run it."""
        if not self._ready():
            raise UnusableInput("the notebook could not be run within its time limit")
        assert self.worker is not None
        unfinished = sorted({*self.cell_errors, *self.skipped})
        return RemoteNamespace(self.worker, note=unfinished_cells_note(unfinished))

    def variant(self, code: str) -> Grading | None:
        """Grade with `code` run as one more cell, then undo it; None if the worker died."""
        if not self._ready():
            return None
        assert self.worker is not None
        started = time.monotonic()
        number = len(self.notebook.code_cells()) + 1
        try:
            self.worker.apply(probes.save_names, (), {}, self.limits.cell, self.deadline)
            error = self.worker.run_cell(number, code, self.limits.cell, self.deadline)
            marks = [self._judge(graded, test) for graded, test in self.tests]
            if self.worker is None:
                return None
            self.worker.apply(probes.restore_names, (), {}, self.limits.cell, self.deadline)
        except WorkerDied:
            self._stop()
            return None
        notes = [f"cell {number} (the variant): {error}"] if error else []
        return Grading(
            lab=self.notebook.lab or "",
            notebook=self.notebook.path,
            marks=marks,
            notes=[*self._cell_notes(), *notes],
            seconds=time.monotonic() - started,
            sandbox=self.sandbox,
        )

    def _judge(self, graded: GradedTest, test: TestFunction) -> Mark:
        """Run one test here; only its calls into the notebook go to the worker."""
        nb = self.namespace()
        seconds = graded.seconds or self.limits.cell
        calls.start_test(seconds, min(time.monotonic() + seconds + GRACE, self.deadline))
        started = time.perf_counter()
        try:
            test(nb)
        except WorkerDied as died:
            self._stop()
            if died.out_of_time and time.monotonic() >= self.deadline:
                self._out_of_time()
            return self._mark(graded, False, f"{died.reason} during this test", started)
        except BaseException as error:  # KeyboardInterrupt and SystemExit of a test too
            return self._mark(graded, False, explain(error, hide_source=graded.hidden), started)
        finally:
            calls.deadline = float("inf")
            calls.grading = False
        return self._mark(graded, True, "", started)

    def _mark(self, graded: GradedTest, passed: bool, message: Any, started: float) -> Mark:
        text = truncate(str(message), MESSAGE_LIMIT).encode("utf-8", "replace").decode()
        return Mark(graded, passed, text, time.perf_counter() - started)


def _all_points(module: ModuleType | None) -> float | None:
    """ALL_POINTS of a student edition's test file (hidden tests cut out), if it has one."""
    declared = getattr(module, "ALL_POINTS", None)
    return float(declared) if isinstance(declared, int | float) else None
