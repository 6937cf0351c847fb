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
    """
    expected = " or ".join(error.__name__ for error in errors)
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
