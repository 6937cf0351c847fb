"""Graded tests of the fixture lab 99 (10 points): public and hidden tests, three questions."""

from course.grading import question


@question("q1", points=2)
def test_add_small_numbers(nb):
    got = nb.add(2, 3)
    assert got == 5, f"add(2, 3) should be 5, got {got!r}"


@question("q1", points=1, hidden=True)
def test_add_negative_numbers(nb):
    got = nb.add(-2, -3)
    assert got == -5, f"add(-2, -3) should be -5, got {got!r}"


@question("q2", points=2)
def test_mean_of_values(nb):
    got = nb.mean([1, 2, 3, 6])
    assert got == 3, f"mean([1, 2, 3, 6]) should be 3, got {got!r}. Hint: sum, then divide."


@question("q2", points=1, hidden=True)
def test_mean_of_nothing_raises(nb):
    assert nb.mean([2, 4]) == 3, "mean([2, 4]) should be 3"  # a stub that always raises fails
    try:
        nb.mean([])
    except ValueError:
        return
    raise AssertionError("mean([]) should raise ValueError")


@question("q3", points=2)
def test_count_words(nb):
    got = nb.count_words("to be or not to be")
    expected = {"to": 2, "be": 2, "or": 1, "not": 1}
    assert got == expected, f"expected {expected}, got {got!r}"


@question("q3", points=2, hidden=True)
def test_count_words_ignores_case(nb):
    got = nb.count_words("The the THE")
    assert got == {"the": 3}, f"'The the THE' has the word 'the' 3 times, got {got!r}"
