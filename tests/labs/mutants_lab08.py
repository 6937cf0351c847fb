"""Planted bugs for lab 8: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="ties go to the first pair seen, not the smallest",
        code="""
def train_bpe(text, vocab_size):
    if vocab_size < 256:
        raise ValueError(vocab_size)
    ids = list(text.encode("utf-8"))
    merges = []
    while len(merges) < vocab_size - 256:
        counts = get_pair_counts(ids)
        if not counts:
            break
        pair = max(counts, key=counts.get)
        ids = merge(ids, pair, 256 + len(merges))
        merges.append(pair)
    return merges
""",
        must_fail=["test_ties_go_to_the_smallest_pair"],
    ),
    Mutant(
        name="merge lets occurrences overlap",
        code="""
def merge(ids, pair, new_id):
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            out.append(ids[i])
    return out
""",
        must_fail=["test_merge_does_not_overlap_or_mutate"],
    ),
    Mutant(
        name="pair counts only note which pairs occur",
        code="""
def get_pair_counts(ids):
    return {(a, b): 1 for a, b in zip(ids, ids[1:])}
""",
        must_fail=["test_pair_counts_of_the_example", "test_train_on_the_textbook_example"],
    ),
    Mutant(
        name="one merge fewer than the vocabulary allows",
        code="""
_train_bpe_right = train_bpe


def train_bpe(text, vocab_size):
    return _train_bpe_right(text, vocab_size)[:-1]
""",
        must_fail=["test_train_on_the_textbook_example"],
    ),
    Mutant(
        name="encode applies the merges in reverse order",
        code="""
def encode(text, merges):
    ids = list(text.encode("utf-8"))
    for i in reversed(range(len(merges))):
        ids = merge(ids, merges[i], 256 + i)
    return ids
""",
        must_fail=["test_encode_applies_the_merges_in_order"],
    ),
    Mutant(
        name="encode uses code points instead of UTF-8 bytes",
        code="""
def encode(text, merges):
    ids = [ord(c) for c in text]
    for i, pair in enumerate(merges):
        ids = merge(ids, pair, 256 + i)
    return ids
""",
        must_fail=["test_encode_matches_the_reference"],
    ),
    Mutant(
        name="decode skips ids it does not know",
        code="""
def decode(ids, merges):
    pieces = [bytes([b]) for b in range(256)]
    for left, right in merges:
        pieces.append(pieces[left] + pieces[right])
    return b"".join(pieces[t] for t in ids if 0 <= t < len(pieces)).decode("utf-8", "replace")
""",
        must_fail=["test_decode_rejects_unknown_ids"],
    ),
    Mutant(
        name="decode is strict about cut characters",
        code="""
_decode_right = decode


def decode(ids, merges):
    text = _decode_right(ids, merges)
    if "\\ufffd" in text:
        raise UnicodeDecodeError("utf-8", b"", 0, 1, "cut character")
    return text
""",
        must_fail=["test_decode_replaces_cut_characters"],
    ),
]
