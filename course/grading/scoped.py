"""`nb.without(...)` and `nb.using(...)`: a test's calls with bans or references in force.

    nb.without("torch.nn.functional.cross_entropy").cross_entropy(logits, targets)
    nb.using(attention=reference_attention).multi_head(x)

The first fails the call, naming the function, if the student's code calls a function
the question forbids. The second runs the student's later answer on the course's
reference for an earlier one, so one bug costs one question. A reference is a
self-contained function whose source is sent to the worker with the modules it uses.
"""

from __future__ import annotations

import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

from course.grading import probes


class Scoped:
    """The names of `nb`, called with `bans` and `references` in force."""

    def __init__(
        self, nb: Any, bans: tuple[str, ...] = (), references: dict[str, Any] | None = None
    ) -> None:
        self._nb = nb
        self._bans = bans
        self._references = references or {}

    def without(self, *dotted_names: str) -> Scoped:
        return Scoped(self._nb, (*self._bans, *dotted_names), self._references)

    def using(self, **functions: Callable[..., Any]) -> Scoped:
        sent = {name: reference_source(function) for name, function in functions.items()}
        return Scoped(self._nb, self._bans, {**self._references, **sent})

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        target = self._nb[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._nb.scoped(self._bans, self._references, target, args, kwargs)

        return call


def reference_source(function: Callable[..., Any]) -> tuple[str, str, list[Any]]:
    """(name, source, imports) of a reference function: what the worker needs to rebuild it."""
    if not isinstance(function, types.FunctionType):
        raise TypeError(f"a reference must be a plain function, got {type(function).__name__}")
    source = textwrap.dedent(inspect.getsource(function))
    imports = [
        (name, value.__name__)
        for name, value in function.__globals__.items()
        if isinstance(value, types.ModuleType) and name in function.__code__.co_names
    ]
    return function.__name__, source, imports


__all__ = ["Scoped", "probes", "reference_source"]
