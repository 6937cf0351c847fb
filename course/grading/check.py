"""`check("q2")`: run a question's public tests in the live notebook and say what passed."""

from __future__ import annotations

import os
import sys


def check(question: str, *, lab: str | int | None = None, timeout: float = 10.0) -> None:
    """Run the public tests of `question` against the calling notebook's names.

    The lab comes from `lab`, else from the notebook's global `LAB`. Prints one line
    per failing test; never raises (except when you interrupt it), so a failing check
    never stops the notebook. Each test gets `timeout` seconds, or the longer time
    its `@question(seconds=...)` declares. Under the grader
    (COURSE_GRADING=1) it does nothing: the grader runs every test itself.
    """
    if os.environ.get("COURSE_GRADING") == "1":
        return
    names = sys._getframe(1).f_globals
    try:
        print(_check(question, names, names.get("LAB") if lab is None else lab, timeout))
    except KeyboardInterrupt:
        raise
    except Exception as error:
        print(f"{question}: could not run the checks: {type(error).__name__}: {error}")


def _check(question: str, names: dict[str, object], lab: object, timeout: float) -> str:
    # Imported on first use: the setup cell's `from course.grading import check` stays cheap.
    from course.grading.labs import find_tests, load_tests
    from course.grading.namespace import Namespace
    from course.grading.notebook import normalise_lab
    from course.grading.outcomes import run_test
    from course.grading.questions import collect_tests

    if lab is None:
        return (
            f'{question}: which lab is this? Run the setup cell (it sets LAB = "NN"), '
            f'or call check("{question}", lab="NN").'
        )
    tests = collect_tests(load_tests(find_tests(normalise_lab(lab))))
    mine = [(graded, test) for graded, test in tests if graded.question == question]
    if not mine:
        known = ", ".join(dict.fromkeys(graded.question for graded, _ in tests))
        return f"{question}: lab {lab} has no such question (its questions: {known})"
    public = [(graded, test) for graded, test in mine if not graded.hidden]
    hidden = len(mine) - len(public)
    more = f" (+{hidden} hidden at grading)" if hidden else ""
    if not public:
        return f"{question}: no public checks; the grader runs its {hidden} hidden test(s)"
    nb = Namespace(names)
    failures = []
    for graded, test in public:
        outcome = run_test(test, nb, max(timeout, graded.seconds or 0.0))
        if not outcome.passed:
            failures.append(f"  FAIL {graded.name}: {outcome.message}")
    passed = len(public) - len(failures)
    return "\n".join([f"{question}: {passed}/{len(public)} checks passed{more}", *failures])
