"""Graded tests for lab 8, "Tokenization" (20 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour
only: exact merges, ids, round trips and the errors raised on bad input. The
reference answers come from course.tokenizer with chunking switched off.
"""

from __future__ import annotations

import random

from course import data
from course.grading import must_raise, question
from course.tokenizer import BPETokenizer, train_bpe

#: The course modules the notebook may import while graded (the rest is hidden).
COURSE_MODULES = ("data.py",)

EXAMPLE = "aaabdaaabac"
PYTHON = data.python_source()[:3000]


def _reference_encode(text: str, merges: list[tuple[int, int]]) -> list[int]:
    return BPETokenizer(merges, special_tokens=[], pattern=None).encode(text)


def _random_unicode(seed: int, length: int) -> str:
    rng = random.Random(seed)
    alphabet = "abc xyz_019\n\t(){}:#éüßø日本語漢字😀🐍👍🏽\u0301\u200d"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _as_pairs(merges: object) -> list[tuple[int, int]]:
    return [tuple(pair) for pair in merges]  # type: ignore[union-attr]


# --- Question 1: get_pair_counts ---------------------------------------------------


@question("q1", points=2)
def test_pair_counts_of_the_example(nb):
    ids = list(EXAMPLE.encode("utf-8"))
    expected = {(97, 97): 4, (97, 98): 2, (98, 100): 1, (100, 97): 1, (98, 97): 1, (97, 99): 1}
    got = nb.get_pair_counts(ids)
    assert dict(got) == expected, (
        f"get_pair_counts of the bytes of {EXAMPLE!r} should be {expected}, got {dict(got)}. "
        "Hint: look at each neighbouring pair (ids[i], ids[i + 1]) and add one to its count."
    )


@question("q1", points=1, hidden=True)
def test_pair_counts_overlap_and_short_lists(nb):
    got = nb.get_pair_counts([1, 1, 1])
    assert dict(got) == {(1, 1): 2}, (
        f"[1, 1, 1] holds the pair (1, 1) twice (positions 0-1 and 1-2), got {dict(got)}"
    )
    for short in ([], [5]):
        got = nb.get_pair_counts(short)
        assert dict(got) == {}, f"{short} has no pairs: expected {{}}, got {dict(got)}"


# --- Question 2: merge --------------------------------------------------------------


@question("q2", points=2)
def test_merge_replaces_every_occurrence(nb):
    cases = [
        (([97, 97, 97, 98, 100, 97, 97, 97, 98], (97, 97), 256), [256, 97, 98, 100, 256, 97, 98]),
        (([1, 2, 3, 1, 2], (1, 2), 7), [7, 3, 7]),
        (([1, 2, 3], (2, 1), 7), [1, 2, 3]),
        (([], (1, 2), 7), []),
    ]
    for (ids, pair, new_id), expected in cases:
        got = nb.merge(list(ids), pair, new_id)
        assert list(got) == expected, (
            f"merge({ids}, {pair}, {new_id}) should be {expected}, got {got!r}"
        )


@question("q2", points=1, hidden=True)
def test_merge_does_not_overlap_or_mutate(nb):
    for ids, expected in [([1, 1, 1], [9, 1]), ([1, 1, 1, 1], [9, 9])]:
        original = list(ids)
        got = nb.merge(ids, (1, 1), 9)
        assert list(got) == expected, (
            f"merge({original}, (1, 1), 9) should be {expected}, got {got!r}. Hint: after "
            "merging positions i and i + 1, continue at i + 2."
        )
        assert ids == original, f"merge changed its input list to {ids}: return a new list"


# --- Question 3: train_bpe ----------------------------------------------------------


@question("q3", points=2)
def test_train_on_the_textbook_example(nb):
    expected = [(97, 97), (97, 98), (256, 257)]
    got = _as_pairs(nb.train_bpe(EXAMPLE, 259))
    assert got == expected, (
        f"train_bpe({EXAMPLE!r}, 259) should learn {expected} (aa, then ab, which ties with "
        f"(256, 97) and is the smaller pair, then aa+ab), got {got}"
    )


@question("q3", points=1)
def test_ties_go_to_the_smallest_pair(nb):
    got = _as_pairs(nb.train_bpe("xyab", 257))
    assert got == [(97, 98)], (
        "in 'xyab' every pair occurs once; the tie goes to the smallest pair (97, 98) = 'ab', "
        f"not to the first pair seen. Got {got}."
    )


@question("q3", points=2, hidden=True)
def test_train_matches_the_reference_on_python_and_unicode(nb):
    for text, vocab_size in [(PYTHON, 300), (_random_unicode(3, 400), 290)]:
        expected = train_bpe(text, vocab_size, pattern=None)
        got = _as_pairs(nb.train_bpe(text, vocab_size))
        first = next((i for i, pair in enumerate(expected) if got[i : i + 1] != [pair]), None)
        assert got == expected, (
            f"train_bpe on a {len(text)}-character text with vocab_size={vocab_size} should "
            f"learn {len(expected)} merges, got {len(got)}; first difference at merge {first}: "
            f"expected {expected[first : (first or 0) + 3]}, got {got[first : (first or 0) + 3]}"
        )


@question("q3", points=1, hidden=True)
def test_train_stops_early_and_rejects_small_vocabularies(nb):
    got = _as_pairs(nb.train_bpe("abab", 1000))
    assert got == [(97, 98), (256, 256)], (
        f"'abab' allows only two merges, then a single token is left: expected "
        f"[(97, 98), (256, 256)], got {got}"
    )
    must_raise(lambda: nb.train_bpe("abc", 100), "train_bpe('abc', 100)")


# --- Question 4: encode -------------------------------------------------------------


@question("q4", points=2)
def test_encode_applies_the_merges_in_order(nb):
    merges = [(97, 97), (97, 98), (256, 257)]
    got = nb.encode(EXAMPLE, merges)
    assert list(got) == [258, 100, 258, 97, 99], (
        f"encode({EXAMPLE!r}) with the textbook merges should be [258, 100, 258, 97, 99] "
        f"(aaab d aaab a c), got {got!r}"
    )


@question("q4", points=2, hidden=True)
def test_encode_matches_the_reference(nb):
    merges = train_bpe(PYTHON, 320, pattern=None)
    for text in [PYTHON[:500], "def f(x):\n    return x  # é 🐍", _random_unicode(4, 200)]:
        expected = _reference_encode(text, merges)
        got = list(nb.encode(text, merges))
        assert got == expected, (
            f"encode({text[:30]!r}...) should give {expected[:12]}..., got {got[:12]}... "
            "Hint: start from the UTF-8 bytes and apply merge i (new id 256 + i) in order."
        )


# --- Question 5: decode -------------------------------------------------------------


@question("q5", points=2)
def test_decode_inverts_encode_on_random_unicode(nb):
    merges = train_bpe(PYTHON, 300, pattern=None)
    for seed in range(20):
        text = _random_unicode(seed, 60)
        ids = _reference_encode(text, merges)
        got = nb.decode(ids, merges)
        assert got == text, f"decode(encode({text!r})) should give the text back, got {got!r}"


@question("q5", points=1, hidden=True)
def test_decode_replaces_cut_characters(nb):
    got = nb.decode([0xF0, 0x9F], [])
    assert got == "\ufffd", (
        f"the ids [240, 159] are the first two bytes of an emoji; decode should give the "
        f"replacement character '\\ufffd', got {got!r}. Hint: .decode('utf-8', errors='replace')"
    )


@question("q5", points=1, hidden=True)
def test_decode_rejects_unknown_ids(nb):
    merges = [(97, 97)]
    nb.decode([97, 256], merges)  # a valid call returns first
    must_raise(lambda: nb.decode([97, 257], merges), "decode([97, 257])", "257")
    must_raise(lambda: nb.decode([-1], merges), "decode([-1])", "-1")
