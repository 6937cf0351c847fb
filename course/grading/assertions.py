"""Assertions the graded tests share, with messages that teach."""

from __future__ import annotations

from collections.abc import Callable


def must_raise(
    call: Callable[[], object],
    what: str,
    mentioning: str = "",
    errors: tuple[type[Exception], ...] = (ValueError,),
) -> None:
    """Fail unless `call()` raises one of `errors` whose message contains `mentioning`.

    A NotImplementedError passes through, so an unanswered question reads "not implemented".
    Under the grader, a valid call of the notebook's functions must have returned earlier
    in the same test: a function that raises on every input earns nothing.
    """
    expected = " or ".join(error.__name__ for error in errors)
    from course.grading.remote import calls

    if calls.grading and not calls.returned:  # a stub that always raises must earn nothing
        raise AssertionError(
            f"{what}: this test checks the error only after a valid call returns, and none did"
        )
    try:
        call()
    except NotImplementedError:
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
