"""Helpers a graded test runs inside the worker, next to the student's code.

They are public on purpose: what they observe (which objects exist, what was called)
is observed inside the student's process, so code written against them can forge it.
A value the grader compares is never taken from here on trust; see the grading appendix.
"""

from __future__ import annotations

from typing import Any


class KeepHere:
    """A result that stays in the worker: the grader gets a handle on `value`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def as_handle(value: Any) -> KeepHere:
    """`value` (unpickled from the grader) kept in the worker, for calls that change it."""
    return KeepHere(value)


def input_gradients(function: Any, inputs: tuple[Any, ...], weights: Any) -> list[Any]:
    """d/d inputs of sum(function(*inputs) * weights), computed by autograd in the worker.

    A gradient cannot cross between processes, so a test that checks one asks for it here;
    an input that got no gradient gives None.
    """
    for tensor in inputs:
        tensor.grad = None
    (function(*inputs) * weights).sum().backward()
    return [tensor.grad for tensor in inputs]


def with_gradient(data: Any, requires_grad: bool, grad: Any) -> Any:
    """A tensor (or Parameter) rebuilt in the worker with the gradient it had in the grader."""
    data.requires_grad_(requires_grad)
    data.grad = grad
    return data


class CallCounter:
    """Counts the forward calls of a module and the token positions its inputs held."""

    def __init__(self, module: Any) -> None:
        self.calls = self.positions = 0
        self._hook = module.register_forward_hook(self._count)

    def _count(self, module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        self.calls += 1
        self.positions += inputs[0].shape[-1]

    def remove(self) -> None:
        """Stop counting."""
        self._hook.remove()


def count_calls(module: Any) -> KeepHere:
    """A CallCounter on `module`, kept in the worker (its counts are read through a handle)."""
    return KeepHere(CallCounter(module))


_saved_names: dict[str, Any] = {}


def save_names() -> None:
    """Remember the notebook's globals (a shallow copy) before a variant cell runs."""
    from course.grading import worker

    _saved_names.clear()
    _saved_names.update(worker.notebook_names())


def restore_names() -> None:
    """Put the globals back as `save_names` found them: the variant cell is undone."""
    from course.grading import worker

    names = worker.notebook_names()
    names.clear()
    names.update(_saved_names)
