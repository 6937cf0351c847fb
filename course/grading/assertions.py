"""Assertions the graded tests share, with messages that teach."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported by the comparisons that use it: the grading worker
    import numpy as np  # imports this package, and must start fast for labs without arrays


def must_raise(
    call: Callable[[], object],
    what: str,
    mentioning: str = "",
    errors: tuple[type[Exception], ...] = (ValueError,),
) -> None:
    """Fail unless `call()` raises one of `errors` whose message contains `mentioning`.

    A NotImplementedError passes through, so an unanswered question reads "not implemented".
    Under the grader, a valid call of the notebook's functions must have returned earlier
    in the same test, and it is made once more, before or after the bad one at random: a
    function that raises on every input, or after its first call, earns nothing.
    """
    from course.grading.remote import calls

    if not calls.grading:
        _raises(call, what, mentioning, errors)
        return
    again = calls.again
    if again is None:  # a stub that always raises must earn nothing
        raise AssertionError(
            f"{what}: this test checks the error only after a valid call returns, and none did"
        )
    steps = [lambda: _raises(call, what, mentioning, errors), lambda: _returns(again, what)]
    random.SystemRandom().shuffle(steps)  # an order the notebook cannot predict
    for step in steps:
        step()


def _raises(
    call: Callable[[], object], what: str, mentioning: str, errors: tuple[type[Exception], ...]
) -> None:
    from course.grading.remote import WorkerDied

    expected = " or ".join(error.__name__ for error in errors)
    try:
        call()
    except (NotImplementedError, WorkerDied):  # "not implemented"; the grader's own report
        raise
    except errors as error:
        assert mentioning in str(error), (
            f"{what}: the {type(error).__name__} should mention {mentioning!r}, "
            f"its message was {str(error)!r}"
        )
        return
    except Exception as other:
        raise AssertionError(
            f"{what} should raise {expected}, it raised {type(other).__name__}: {other}"
        ) from None
    raise AssertionError(f"{what} should raise {expected}, it returned normally")


def _returns(again: Callable[[], object], what: str) -> None:
    """The test's last valid call, made again beside the bad one, must still return."""
    from course.grading.remote import WorkerDied

    try:
        again()
    except WorkerDied:
        raise
    except Exception as error:
        raise AssertionError(
            f"{what}: a valid call that returned earlier in this test raised when made "
            f"again ({type(error).__name__}: {error}); valid and bad inputs are mixed here"
        ) from None


SHOWN_ENTRIES = 3  # differing entries a failure message lists


def assert_close(
    got: object,
    expected: object,
    *,
    what: str,
    hint: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    """Fail unless `got` equals `expected` within `atol + rtol * |expected|`, entry by entry.

    Accepts numbers, nested lists, NumPy arrays and torch tensors. The failure message
    says what was checked, the shapes when they differ, how many entries are off, the
    first few of them (index, expected, got) and the hint.
    """
    import numpy as np

    expected_array = _as_array(expected)
    try:
        got_array = _as_array(got)
    except (TypeError, ValueError):
        raise AssertionError(
            _joined(f"{what}: expected numbers, got {type(got).__name__} {got!r:.80}", hint)
        ) from None
    if got_array.shape != expected_array.shape:
        raise AssertionError(
            _joined(
                f"{what}: expected shape {expected_array.shape}, got shape {got_array.shape}",
                hint,
            )
        )
    close = np.isclose(got_array, expected_array, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    tolerance = f"within {atol:g} + {rtol:g}·|expected|"
    if expected_array.ndim == 0:
        message = f"{what}: expected {expected_array.item():.6g}, got {got_array.item():.6g}"
        raise AssertionError(_joined(f"{message} (checked {tolerance})", hint))
    wrong = np.argwhere(~close)
    shown = "; ".join(
        f"at {tuple(int(i) for i in index)} expected {expected_array[tuple(index)]:.6g}, "
        f"got {got_array[tuple(index)]:.6g}"
        for index in wrong[:SHOWN_ENTRIES]
    )
    with np.errstate(invalid="ignore"):
        largest = np.max(np.abs(got_array - expected_array)[~close])
    message = (
        f"{what}: {len(wrong)} of {close.size} entries of shape {expected_array.shape} "
        f"are not {tolerance} (largest difference {largest:.3g}); first: {shown}"
    )
    raise AssertionError(_joined(message, hint))


def _as_array(value: object) -> np.ndarray:
    """`value` as a float64 array (complex stays complex); TypeError when not numbers."""
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, of any dtype (bfloat16 has no NumPy twin)
        tensor = value.detach().cpu()
        value = (tensor.double() if tensor.is_floating_point() else tensor).numpy()
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"not numeric: {array.dtype}")
    return array if np.iscomplexobj(array) else array.astype(np.float64)


def _joined(message: str, hint: str) -> str:
    return f"{message}. Hint: {hint}" if hint else message
