"""Planted bugs for the fixture lab 99, one a Mutant and one a plain dict."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="add subtracts",
        code="def add(a, b):\n    return a - b\n",
        must_fail=["test_add_small_numbers", "test_add_negative_numbers"],
    ),
    {
        "name": "count_words keeps case",
        "code": (
            "def count_words(text):\n"
            "    counts = {}\n"
            "    for word in text.split():\n"
            "        counts[word] = counts.get(word, 0) + 1\n"
            "    return counts\n"
        ),
        "must_fail": ["test_count_words_ignores_case"],
    },
]
