"""Undo what a notebook did to shared modules before the graded tests look at its answers.

The worker loads the graded tests and takes a `Pristine` copy of the modules they
rely on before any student code runs. After the notebook's cells, and again before
each test, it puts back every name, function body and class attribute that the
notebook rebound: `builtins.isinstance = ...`, `numpy.allclose = ...`, the test
file's helpers or the grader's own functions. Names the notebook added are removed
from the modules the tests use, except submodules it imported.

This stops tampering done by a cell. Code that tampers from inside a graded
function, while a test is running, is limited to that one test: the next test
starts from the pristine state again.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from types import FunctionType, ModuleType
from typing import Any

_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes written in Python, whose attributes can change
_MISSING = object()


class Pristine:
    """Bindings of `namespaces` (module dicts), their functions' code and their classes.

    `strict` namespaces lose the names added after the copy; the others keep them
    (a library may cache things in its module at run time). Classes are copied only
    when `classes` is true: copying every class of every module costs too much time.
    """

    def __init__(
        self,
        namespaces: Iterable[dict[str, Any]],
        strict: Iterable[dict[str, Any]],
        classes: bool = True,
    ) -> None:
        strict_ids = {id(names) for names in strict}
        self._names = tuple(
            (names, tuple(names.items()), id(names) in strict_ids) for names in namespaces
        )
        functions, copied, seen = [], [], set()
        for _, items, is_strict in self._names:
            for _, value in items:
                if type(value) is FunctionType:
                    functions.append(_function_state(value))
                elif classes and isinstance(value, type) and value.__flags__ & _HEAP_TYPE:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                    attributes = tuple(vars(value).items())
                    copied.append((value, attributes, is_strict))
                    methods = [v for _, v in attributes if type(v) is FunctionType]
                    functions += map(_function_state, methods)
        self._functions = tuple(functions)
        self._classes = tuple(copied)

    def restore(self) -> None:
        """Put back everything copied; safe to call any number of times."""
        for names, items, is_strict in self._names:
            for key, value in items:
                if names.get(key, _MISSING) is not value:
                    names[key] = value
            if is_strict and len(names) != len(items):
                _drop_added(names, {key for key, _ in items})
        for function, code, defaults, kwdefaults in self._functions:
            if function.__code__ is not code:
                function.__code__ = code
            if function.__defaults__ is not defaults:
                function.__defaults__ = defaults
            if function.__kwdefaults__ is not kwdefaults:
                function.__kwdefaults__ = kwdefaults
        for cls, attributes, is_strict in self._classes:
            current = vars(cls)
            for key, value in attributes:
                if current.get(key, _MISSING) is not value:
                    with contextlib.suppress(Exception):  # a metaclass may refuse
                        type.__setattr__(cls, key, value)
            if is_strict and len(current) != len(attributes):
                known = {key for key, _ in attributes}
                for key in [key for key in current if key not in known]:
                    with contextlib.suppress(Exception):
                        type.__delattr__(cls, key)


def snapshot(tests: ModuleType, own: dict[str, Any]) -> tuple[Pristine, Pristine]:
    """(everything, focused): every loaded module, and the few that graded tests touch.

    `focused` (builtins, the grader, the test file `tests`, the grading worker's
    globals `own` and the modules the test file refers to, with their classes) is
    cheap enough to restore after every cell and before every test; `everything`
    (names and functions of every module) is restored once, after the cells.
    """
    modules = [m for m in list(sys.modules.values()) if type(m) is ModuleType]
    everything = Pristine([sys.modules, *(m.__dict__ for m in modules)], strict=(), classes=False)
    focused_modules = {id(m): m for m in modules if _is_focused(m, tests)}
    for value in list(vars(tests).values()):
        owner = value if type(value) is ModuleType else sys.modules.get(_module_of(value))
        if type(owner) is ModuleType:
            focused_modules[id(owner)] = owner
    names = [own, *(m.__dict__ for m in focused_modules.values())]
    return everything, Pristine(names, strict=names)


def _is_focused(module: ModuleType, tests: ModuleType) -> bool:
    name = getattr(module, "__name__", "")
    return (
        module is tests
        or name in {"builtins", "sys", "os", "json", "math", "signal"}
        or name.startswith("course.grading")
    )


def _module_of(value: object) -> str:
    try:
        name = type.__getattribute__(value, "__module__") if isinstance(value, type) else None
        if name is None and type(value) is FunctionType:
            name = value.__module__
    except AttributeError:
        return ""
    return name if isinstance(name, str) else ""


def _function_state(function: FunctionType) -> tuple[FunctionType, Any, Any, Any]:
    return (function, function.__code__, function.__defaults__, function.__kwdefaults__)


def _drop_added(names: dict[str, Any], known: set[str]) -> None:
    """Remove the names added to a module since the copy, except its imported submodules."""
    package = names.get("__name__")
    for key in [key for key in names if key not in known]:
        value = names[key]
        if type(value) is ModuleType and sys.modules.get(f"{package}.{key}") is value:
            continue
        del names[key]
