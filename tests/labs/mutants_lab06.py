"""Planted bugs for lab 6: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="numpy attention divides by d instead of sqrt(d)",
        code="""
def attention_numpy(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / q.shape[-1]
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True) @ v
""",
        must_fail=["test_numpy_attention_matches_pytorch"],
    ),
    Mutant(
        name="numpy softmax without subtracting the maximum",
        code="""
def attention_numpy(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True) @ v
""",
        must_fail=["test_numpy_attention_masks_batches_and_large_scores"],
    ),
    Mutant(
        name="torch softmax over the queries instead of the keys",
        code="""
def attention_torch(q, k, v, mask=None):
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError("shapes")
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights
""",
        must_fail=["test_torch_attention_matches_pytorch"],
    ),
    Mutant(
        name="causal mask hides the diagonal",
        code="""
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1)
""",
        must_fail=["test_causal_mask_is_lower_triangle"],
    ),
    Mutant(
        name="padding mask keeps one pad token",
        code="""
def padding_mask(lengths, S):
    if (lengths > S).any():
        raise ValueError("too long")
    return torch.arange(S)[None, :] <= lengths[:, None]
""",
        must_fail=["test_padding_mask_hides_pad_keys"],
    ),
    Mutant(
        name="split_heads reshapes without transposing",
        code="""
def split_heads(x, n_head):
    B, T, C = x.shape
    if C % n_head:
        raise ValueError("not divisible")
    return x.reshape(B, n_head, T, C // n_head)


def merge_heads(x):
    B, H, T, D = x.shape
    return x.reshape(B, T, H * D)
""",
        must_fail=[
            "test_split_and_merge_heads",
            "test_multi_head_attention_matches_nn_multihead_attention",
        ],
    ),
    Mutant(
        name="cross-attention takes values from x, not the context",
        code="""
_forward = MultiHeadAttention.forward


def _cross_bug(self, x, context=None, is_causal=False):
    if context is None:
        return _forward(self, x, None, is_causal)
    q = split_heads(self.q_proj(x), self.n_head)
    k = split_heads(self.k_proj(context), self.n_head)
    v = split_heads(self.v_proj(context[:, : x.shape[1]]), self.n_head)
    k = k[:, :, : x.shape[1]]
    out, _ = attention_torch(q, k, v)
    return self.out_proj(merge_heads(out))


MultiHeadAttention.forward = _cross_bug
""",
        must_fail=["test_cross_attention_and_bad_sizes"],
    ),
    Mutant(
        name="repeat_kv tiles the whole stack of heads",
        code="""
def repeat_kv(kv, n_rep):
    return kv.repeat(1, n_rep, 1, 1)
""",
        must_fail=["test_repeat_kv_and_gqa_shapes", "test_gqa_equals_mha_with_repeated_weights"],
    ),
]
