"""Planted bugs for lab 1: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="vocabulary in order of first appearance, not sorted",
        code="""
def build_vocabulary(sentences):
    return list(dict.fromkeys(w for s in sentences for w in s.lower().split()))
""",
        must_fail=["test_vocabulary_of_the_commands"],
    ),
    Mutant(
        name="one-hot vectors of integers",
        code="""
def one_hot(word, vocab):
    if word not in vocab:
        raise ValueError(word)
    vector = np.zeros(len(vocab), dtype=int)
    vector[vocab.index(word)] = 1
    return vector
""",
        must_fail=["test_one_hot_marks_the_word_index"],
    ),
    Mutant(
        name="decode trusts argmax and accepts any matrix",
        code="""
def decode(matrix, vocab):
    return " ".join(vocab[i] for i in np.asarray(matrix).argmax(axis=1))
""",
        must_fail=["test_decode_rejects_matrices_that_are_not_one_hot"],
    ),
    Mutant(
        name="dot silently truncates to the shorter vector",
        code="""
def dot(a, b):
    return float(sum(x * y for x, y in zip(a, b)))
""",
        must_fail=["test_dot_rejects_different_lengths"],
    ),
    Mutant(
        name="matmul fills the transpose of the product",
        code="""
def matmul(A, B):
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"cannot multiply {A.shape} by {B.shape}")
    C = np.zeros((B.shape[1], A.shape[0]))
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            C[j, i] = dot(A[i, :], B[:, j])
    return C
""",
        must_fail=["test_matmul_matches_numpy_on_random_shapes"],
    ),
    Mutant(
        name="cosine similarity divides by one length only",
        code="""
def cosine_similarity(u, v):
    norm_u = np.sqrt(dot(u, u))
    if norm_u == 0.0:
        raise ValueError("zero vector")
    return dot(u, v) / norm_u
""",
        must_fail=["test_cosine_similarity_values"],
    ),
]
