"""Helpers a graded test runs inside the worker, next to the student's code.

They are public on purpose: what they observe (which objects exist, what was called)
is observed inside the student's process, so code written against them can forge it.
A value the grader compares is never taken from here on trust; see the grading appendix.
"""

from __future__ import annotations

import contextlib
from typing import Any


class KeepHere:
    """A result that stays in the worker: the grader gets a handle on `value`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def as_handle(value: Any) -> KeepHere:
    """`value` (unpickled from the grader) kept in the worker, for calls that change it."""
    return KeepHere(value)


def input_gradients(
    function: Any, inputs: tuple[Any, ...], weights: Any, *args: Any, **kwargs: Any
) -> list[Any]:
    """d/d inputs of sum(function(*inputs, *args, **kwargs) * weights), by autograd here.

    A gradient cannot cross between processes, so a test that checks one asks for it here;
    an input that got no gradient gives None.
    """
    for tensor in inputs:
        tensor.requires_grad_(True)
        tensor.grad = None
    (function(*inputs, *args, **kwargs) * weights).sum().backward()
    return [tensor.grad for tensor in inputs]


def with_gradient(data: Any, requires_grad: bool, grad: Any) -> Any:
    """A tensor (or Parameter) rebuilt in the worker with the gradient it had in the grader."""
    data.requires_grad_(requires_grad)
    data.grad = grad
    return data


def repeat(times: int, function: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """`function(*args, **kwargs)` called `times` times here, its results in a list.

    One request instead of `times`: a test that draws thousands of samples waits for
    one round trip, not thousands. The results are plain data checked by the grader.
    """
    return [function(*args, **kwargs) for _ in range(times)]


class CallCounter:
    """Counts the forward calls of a module and the token positions its inputs held.

    It wraps the module's own `forward` (not a hook, which clearing `_forward_hooks`
    would silence); code written to unwrap it can still forge the count.
    """

    def __init__(self, module: Any) -> None:
        self.calls = self.positions = 0
        self._module = module
        original = module.forward

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.positions += args[0].shape[-1] if args else 0
            return original(*args, **kwargs)

        module.forward = counted

    def remove(self) -> None:
        """Stop counting."""
        vars(self._module).pop("forward", None)


def count_calls(module: Any) -> KeepHere:
    """A CallCounter on `module`, kept in the worker (its counts are read through a handle)."""
    return KeepHere(CallCounter(module))


_saved_names: dict[str, Any] = {}
_saved_classes: dict[type, dict[str, Any]] = {}
_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: built-in classes cannot be patched


def save_names() -> None:
    """Remember the notebook's globals (a shallow copy) before a variant cell runs, and
    the attributes of every class among them (a variant may patch `LayerNorm.forward`)."""
    from course.grading import worker

    _saved_names.clear()
    _saved_names.update(worker.notebook_names())
    _saved_classes.clear()
    for value in _saved_names.values():
        if isinstance(value, type) and not value.__flags__ & _IMMUTABLE_TYPE:
            _saved_classes[value] = dict(vars(value))


def restore_names() -> None:
    """Put the globals and their classes back as `save_names` found them: the variant
    cell is undone."""
    from course.grading import worker

    names = worker.notebook_names()
    names.clear()
    names.update(_saved_names)
    for cls, attributes in _saved_classes.items():
        for name in set(vars(cls)) - set(attributes):
            with contextlib.suppress(AttributeError, TypeError):
                delattr(cls, name)
        for name, value in attributes.items():
            if vars(cls).get(name) is not value:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(cls, name, value)


class BannedCall(BaseException):
    """A function a question forbids was called. A BaseException: `except Exception` in the
    student's code does not hide it."""


def banned_call(bans: tuple[str, ...], function: Any, *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` in the worker, with the dotted names in `bans` banned."""
    from course.grading import worker

    return run_banned(worker.notebook_names(), bans, function, args, kwargs)


def run_banned(
    names: dict[str, Any],
    bans: tuple[str, ...],
    function: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call `function` with each dotted name in `bans` (and the notebook's globals bound to
    the same objects) replaced by a function that fails loudly; everything is put back
    afterwards. A banned call raises BannedCall, also if the code caught it."""
    called: list[str] = []
    undo: list[tuple[Any, str, Any]] = []
    try:
        for dotted in bans:
            owner, attribute = _resolve(dotted)
            original = getattr(owner, attribute)
            loud = _banned(dotted, called)
            undo.append((owner, attribute, original))
            setattr(owner, attribute, loud)
            for name, value in list(names.items()):
                if value is original:
                    undo.append((names, name, original))
                    names[name] = loud
        result = function(*args, **kwargs)
    finally:
        for owner, attribute, original in reversed(undo):
            if isinstance(owner, dict):
                owner[attribute] = original
            else:
                setattr(owner, attribute, original)
    if called:
        raise BannedCall(_banned_message(called[0]))
    return result


def bind_references(references: dict[str, Any], names: dict[str, Any] | None = None) -> Any:
    """Bind notebook globals to the course's references: {name: (function name, source,
    imports)}. Returns what they were, for `unbind` (kept in the worker under the grader)."""
    from course.grading import worker

    names = worker.notebook_names() if names is None else names
    saved = {name: names.get(name, _ABSENT) for name in references}
    for name, (function_name, source, imports) in references.items():
        names[name] = _compile_reference(function_name, source, imports)
    return saved if names is not worker.notebook_names() else KeepHere(saved)


def unbind(saved: dict[str, Any], names: dict[str, Any] | None = None) -> None:
    """Put back the globals `bind_references` replaced."""
    from course.grading import worker

    names = worker.notebook_names() if names is None else names
    for name, value in dict(saved).items():
        if value is _ABSENT:
            names.pop(name, None)
        else:
            names[name] = value


_ABSENT = object()


def _resolve(dotted: str) -> tuple[Any, str]:
    """(object, attribute) of "torch.nn.functional.cross_entropy" or "torch.Tensor.softmax"."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:-1]:
            owner = getattr(owner, part)
        return owner, parts[-1]
    raise ValueError(f"cannot find {dotted}")


def _banned(dotted: str, called: list[str]) -> Any:
    def banned(*args: Any, **kwargs: Any) -> Any:
        called.append(dotted)
        raise BannedCall(_banned_message(dotted))

    return banned


def _banned_message(dotted: str) -> str:
    return f"the code called {dotted}, which this question asks you not to use"


def _compile_reference(function_name: str, source: str, imports: list[Any]) -> Any:
    import importlib

    scope: dict[str, Any] = {alias: importlib.import_module(module) for alias, module in imports}
    exec(compile(source, f"<reference {function_name}>", "exec"), scope)
    return scope[function_name]


def peak_memory(function: Any, *args: Any, **kwargs: Any) -> int:
    """Bytes `function(*args, **kwargs)` holds at its peak, measured where it runs."""
    from course.memory import peak_memory as measure

    return measure(lambda: function(*args, **kwargs))
