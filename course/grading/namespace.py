"""`nb`, the executed notebook's names as seen by a graded test."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Mapping
from typing import Any


class MissingName(AttributeError, AssertionError):
    """A name the test needs is not defined by the notebook.

    An AssertionError, so the test fails (it does not error); an AttributeError, so
    `hasattr(nb, name)` and `getattr(nb, name, default)` still work.
    """


class Namespace:
    """Read access to a notebook's globals: `nb.build_vocabulary` or `nb["vocab"]`.

    `note` is appended to the message of a missing name, e.g. which cells failed.
    """

    __slots__ = ("_names", "_note")

    def __init__(self, names: Mapping[str, Any], note: str = "") -> None:
        self._names = names
        self._note = note

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe dunders: not notebook names
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        try:
            return self._names[name]
        except KeyError:
            raise MissingName(self._explain_missing(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def send(self, value: Any) -> Any:
        """`value` itself: in a live notebook the tests and the notebook share one process.

        Under the grader, `nb.send(value)` puts a copy in the worker and gives a handle, so
        that calls which change their argument (a random generator, a model) change one
        object across calls.
        """
        return value

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`function(*args, **kwargs)`; under the grader it runs inside the worker."""
        from course.grading.probes import KeepHere

        result = function(*args, **kwargs)
        return result.value if isinstance(result, KeepHere) else result

    def without(self, *dotted_names: str) -> Any:
        """The notebook's functions, called with `dotted_names` replaced by loud failures."""
        from course.grading.scoped import Banning

        return Banning(self, dotted_names)

    def banned(self, bans: tuple[str, ...], function: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:  # fmt: skip
        from course.grading.probes import run_banned

        return run_banned(self._names, bans, function, args, kwargs)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def replacing(self, **references: Any) -> Iterator[Namespace]:
        """Bind some of the notebook's names to reference functions while the block runs."""
        from course.grading import probes
        from course.grading.scoped import reference_sources

        saved = probes.bind_references(reference_sources(references), self._names)  # type: ignore[arg-type]
        try:
            yield self
        finally:
            probes.unbind(saved, self._names)  # type: ignore[arg-type]

    def __dir__(self) -> list[str]:
        return sorted(name for name in self._names if not name.startswith("_"))

    def __repr__(self) -> str:
        return f"<notebook namespace with {len(self._names)} names>"

    def _explain_missing(self, name: str) -> str:
        message = f"the notebook defines no `{name}`; did you run its cell, or rename it?"
        close = difflib.get_close_matches(name, [n for n in self._names if isinstance(n, str)], 1)
        if close:
            message += f" (it defines `{close[0]}`)"
        return f"{message} {self._note}".rstrip()


def unfinished_cells_note(cells: list[int]) -> str:
    """The note for a Namespace whose notebook had cells that failed or were skipped."""
    if not cells:
        return ""
    word = "Cell" if len(cells) == 1 else "Cells"
    listed = ", ".join(map(str, sorted(cells)))
    return f"{word} {listed} did not run to the end: names defined after the error are missing."
