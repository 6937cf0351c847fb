"""Planted bugs for lab 2: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="counting runs across sentence boundaries",
        code="""
from itertools import pairwise


def count_transitions(sentences, vocab):
    words = " ".join(sentences).lower().split()
    counts = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    for a, b in pairwise(words):
        if a not in vocab or b not in vocab:
            raise ValueError(f"{a!r} or {b!r} is not in the vocabulary")
        counts[vocab.index(a), vocab.index(b)] += 1
    return counts
""",
        must_fail=["test_counts_stay_inside_sentences_and_handle_empty_input"],
    ),
    Mutant(
        name="unseen rows left as zeros (0/0 replaced by 0)",
        code="""
def transition_matrix(counts, k=0.0):
    if k < 0:
        raise ValueError("negative k")
    smoothed = np.asarray(counts, dtype=np.float64) + k
    totals = smoothed.sum(axis=1, keepdims=True)
    return np.divide(smoothed, totals, out=np.zeros_like(smoothed), where=totals > 0)
""",
        must_fail=["test_unseen_rows_smoothing_and_bad_k"],
    ),
    Mutant(
        name="k added after normalising instead of before",
        code="""
def transition_matrix(counts, k=0.0):
    if k < 0:
        raise ValueError("negative k")
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    rows = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 1 / counts.shape[1])
    rows = rows + k
    return rows / rows.sum(axis=1, keepdims=True)
""",
        must_fail=["test_unseen_rows_smoothing_and_bad_k"],
    ),
    Mutant(
        name="greedy sampling: always the most likely word",
        code="""
def sample_next(word, vocab, P, rng):
    return vocab[int(np.argmax(next_word_distribution(word, vocab, P)))]
""",
        must_fail=["test_sample_next_follows_the_probabilities"],
    ),
    Mutant(
        name="generate samples every word from the start word's row",
        code="""
def generate(start, n_words, vocab, P, seed):
    if n_words < 0:
        raise ValueError("negative n_words")
    rng = np.random.default_rng(seed)
    return [sample_next(start, vocab, P, rng) for _ in range(n_words)]
""",
        must_fail=[
            "test_generate_is_reproducible_and_follows_the_chain",
            "test_generate_uses_one_rng_choice_per_word",
        ],
    ),
    Mutant(
        name="log-likelihood in base 10",
        code="""
from itertools import pairwise


def log_likelihood(sentence, vocab, P):
    ids = [vocab.index(word) for word in sentence.lower().split()]
    with np.errstate(divide="ignore"):
        return float(sum(np.log10(P[a, b]) for a, b in pairwise(ids)))
""",
        must_fail=["test_log_likelihood_and_perplexity_values"],
    ),
    Mutant(
        name="perplexity averages over sentences, not pairs",
        code="""
def perplexity(sentences, vocab, P):
    if not any(len(s.split()) > 1 for s in sentences):
        raise ValueError("no pairs")
    total = sum(log_likelihood(s, vocab, P) for s in sentences)
    return float(np.exp(-total / len(sentences)))
""",
        must_fail=["test_log_likelihood_and_perplexity_values"],
    ),
    Mutant(
        name="second-order rows indexed by (last, before) instead of (before, last)",
        code="""
def second_order_counts(sentences, vocab):
    n = len(vocab)
    counts = np.zeros((n * n, n), dtype=np.int64)
    for sentence in sentences:
        words = sentence.lower().split()
        for word in words:
            if word not in vocab:
                raise ValueError(f"{word!r} is not in the vocabulary")
        for a, b, c in zip(words, words[1:], words[2:], strict=False):
            counts[vocab.index(b) * n + vocab.index(a), vocab.index(c)] += 1
    return counts
""",
        must_fail=["test_second_order_rows_tell_battery_from_program"],
    ),
    Mutant(
        name="entropy in nats instead of bits",
        code="""
def row_entropy(P):
    P = np.asarray(P, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(P > 0, -P * np.log(P), 0.0).sum(axis=1)
""",
        must_fail=[
            "test_entropy_of_simple_rows",
            "test_entropy_matches_a_reference_on_random_rows",
        ],
    ),
]
