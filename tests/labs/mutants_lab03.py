"""Planted bugs for lab 3: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="skip features pair the current word with itself too",
        code="""
def skip_features(words, t):
    if not 0 <= t < len(words):
        raise ValueError(f"position {t} is outside the sequence")
    return [(earlier, words[t]) for earlier in words[: t + 1]]
""",
        must_fail=[
            "test_skip_features_pair_the_current_word_with_every_earlier_word",
            "test_skip_features_edge_cases",
        ],
    ),
    Mutant(
        name="votes are raw counts, never normalised",
        code="""
def vote_table(sentences, vocab):
    n = len(vocab)
    counts = np.zeros((n * n, n))
    for sentence in sentences:
        words = sentence.split()
        for word in words:
            if word not in vocab:
                raise ValueError(f"{word!r} is not in the vocabulary")
        for t in range(len(words) - 1):
            for earlier, current in skip_features(words, t):
                row = vocab.index(earlier) * n + vocab.index(current)
                counts[row, vocab.index(words[t + 1])] += 1
    return counts
""",
        must_fail=["test_vote_table_matches_counting"],
    ),
    Mutant(
        name="only the word right before is used: plain second order, no skips",
        code="""
def vote_table(sentences, vocab):
    n = len(vocab)
    counts = np.zeros((n * n, n))
    for sentence in sentences:
        words = sentence.split()
        for word in words:
            if word not in vocab:
                raise ValueError(f"{word!r} is not in the vocabulary")
        for t in range(1, len(words) - 1):
            row = vocab.index(words[t - 1]) * n + vocab.index(words[t])
            counts[row, vocab.index(words[t + 1])] += 1
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
""",
        must_fail=["test_vote_table_matches_counting"],
    ),
    Mutant(
        name="active features count repeats instead of marking presence",
        code="""
def active_features(words, vocab):
    if not words:
        raise ValueError("empty")
    n = len(vocab)
    x = np.zeros(n * n)
    for earlier, current in skip_features(words, len(words) - 1):
        x[vocab.index(earlier) * n + vocab.index(current)] += 1.0
    return x
""",
        must_fail=["test_active_features_edge_cases"],
    ),
    Mutant(
        name="the mask is checked but never applied",
        code="""
def masked_vote_totals(words, vocab, table, mask):
    if np.shape(mask) != (len(vocab) ** 2,):
        raise ValueError("bad mask shape")
    return active_features(words, vocab) @ table
""",
        must_fail=["test_mask_hides_features"],
    ),
    Mutant(
        name="lookup_mask reads a column instead of a row",
        code="""
def lookup_mask(word, vocab, masks):
    masks = np.asarray(masks, dtype=float)
    if masks.shape != (len(vocab), len(vocab)) or word not in vocab:
        raise ValueError(f"cannot look up {word!r}")
    one_hot = np.zeros(len(vocab))
    one_hot[vocab.index(word)] = 1.0
    return masks @ one_hot
""",
        must_fail=["test_lookup_mask_selects_the_row"],
    ),
    Mutant(
        name="every word keeps only its sure features, even when all agree",
        code="""
def decisive_masks(table, vocab):
    n = len(vocab)
    by_word = np.asarray(table, dtype=float).reshape(n, n, n).swapaxes(0, 1)
    return (by_word.max(axis=2) == 1.0).astype(float)
""",
        must_fail=["test_decisive_masks_values"],
    ),
]
