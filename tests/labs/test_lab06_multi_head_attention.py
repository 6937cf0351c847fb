"""Graded tests for lab 6, "Scaled dot-product and multi-head attention" (22 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
values against PyTorch's own attention, shapes, and the errors raised on bad input.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course.grading import assert_close, must_raise, question

SHAPES = [(1, 1, 1, 1), (3, 5, 4, 2), (7, 7, 8, 8), (4, 9, 16, 3)]  # (T, S, d, dv)
TOLERANCE = 1e-6  # the questions promise agreement with PyTorch to 1e-6


def _reference(q, k, v, mask=None) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# --- Question 1: attention in NumPy -------------------------------------------------


@question("q1", points=2)
def test_numpy_attention_matches_pytorch(nb):
    rng = np.random.default_rng(0)
    for T, S, d, dv in SHAPES:
        q, k, v = (
            rng.standard_normal((T, d)),
            rng.standard_normal((S, d)),
            rng.standard_normal((S, dv)),
        )
        got = nb.attention_numpy(q, k, v)
        assert isinstance(got, np.ndarray), (
            f"attention_numpy should return an array, got {type(got)}"
        )
        assert got.shape == (T, dv), (
            f"q {q.shape}, k {k.shape}, v {v.shape} give ({T}, {dv}), got {got.shape}"
        )
        expected = _reference(*(torch.from_numpy(a) for a in (q, k, v)))
        assert_close(
            got,
            expected,
            what=f"attention_numpy on shapes T={T}, S={S}, d={d}, against PyTorch",
            hint="scores = q @ k.T / sqrt(d), softmax over the keys (last axis), then @ v",
            rtol=0,
            atol=TOLERANCE,
        )


@question("q1", points=2, hidden=True)
def test_numpy_attention_masks_batches_and_large_scores(nb):
    rng = np.random.default_rng(1)
    q, k, v = (
        rng.standard_normal((2, 3, 4, 8)),
        rng.standard_normal((2, 3, 6, 8)),
        rng.standard_normal((2, 3, 6, 5)),
    )
    mask = rng.random((4, 6)) < 0.6
    mask[:, 0] = True  # every query sees at least one key
    tensors = [torch.from_numpy(a) for a in (q, k, v)]
    assert_close(
        nb.attention_numpy(q, k, v),
        _reference(*tensors),
        what="attention_numpy with leading batch axes (2, 3), no mask",
        hint="swap only the last two axes of k (np.swapaxes(k, -1, -2), not k.T), "
        "and divide by sqrt(d) with d = q.shape[-1]",
        rtol=0,
        atol=TOLERANCE,
    )
    assert_close(
        nb.attention_numpy(q, k, v, mask),
        _reference(*tensors, torch.from_numpy(mask)),
        what="attention_numpy with a boolean mask (True = may attend)",
        hint="set the scores where the mask is False to -inf before the softmax",
        rtol=0,
        atol=TOLERANCE,
    )
    big = nb.attention_numpy(1000 * q, k, v)
    assert np.isfinite(big).all(), "large scores overflowed: subtract the row maximum before exp"


# --- Question 2: attention in PyTorch -----------------------------------------------


@question("q2", points=2)
def test_torch_attention_matches_pytorch(nb):
    gen = torch.Generator().manual_seed(2)
    for T, S, d, dv in SHAPES:
        q = torch.randn(2, T, d, generator=gen, dtype=torch.float64)
        k = torch.randn(2, S, d, generator=gen, dtype=torch.float64)
        v = torch.randn(2, S, dv, generator=gen, dtype=torch.float64)
        out, weights = nb.attention_torch(q, k, v)
        assert out.shape == (2, T, dv) and weights.shape == (2, T, S), (
            f"expected output (2, {T}, {dv}) and weights (2, {T}, {S}), "
            f"got {tuple(out.shape)} and {tuple(weights.shape)}"
        )
        assert_close(
            out,
            _reference(q, k, v),
            what=f"attention_torch output on shapes T={T}, S={S}, d={d}, against PyTorch",
            hint="scores = q @ k.transpose(-2, -1) / sqrt(d), torch.softmax over the last axis",
            rtol=0,
            atol=TOLERANCE,
        )
        assert_close(
            weights.sum(-1),
            torch.ones(2, T),
            what="each row of the attention weights summed",
            hint="return the softmax weights themselves, softmax over the keys (dim=-1)",
            rtol=0,
            atol=TOLERANCE,
        )


@question("q2", points=1, hidden=True)
def test_torch_attention_mask_and_shape_errors(nb):
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 5, 8, generator=gen) for _ in range(3))
    mask = torch.rand(5, 5, generator=gen) < 0.5
    mask.fill_diagonal_(True)
    out, weights = nb.attention_torch(q, k, v, mask)
    assert_close(
        out,
        _reference(q, k, v, mask),
        what="attention_torch with a (5, 5) boolean mask over (2, 4) batch axes",
        hint="masked_fill the scores where the mask is False with -inf before the softmax",
        rtol=1e-5,
        atol=1e-5,
    )
    assert (weights.masked_select(~mask) == 0).all(), "masked positions must get weight exactly 0"
    must_raise(lambda: nb.attention_torch(q, k[..., :7], v), "q with d=8 against k with d=7")
    must_raise(lambda: nb.attention_torch(q, k, v[..., :4, :]), "k of length 5 with v of length 4")


# --- Question 3: causal and padding masks -------------------------------------------


@question("q3", points=2)
def test_causal_mask_is_lower_triangle(nb):
    for T in (1, 2, 6):
        got = nb.causal_mask(T)
        assert got.dtype == torch.bool and got.shape == (T, T), (
            f"causal_mask({T}) should be a bool tensor of shape ({T}, {T}), "
            f"got {got.dtype} {tuple(got.shape)}"
        )
        expected = torch.ones(T, T, dtype=torch.bool).tril()
        assert torch.equal(got, expected), (
            f"causal_mask({T}) should be True on and below the diagonal "
            f"(query t sees keys 0..t), got\n{got.int()}"
        )


@question("q3", points=2, hidden=True)
def test_padding_mask_hides_pad_keys(nb):
    got = nb.padding_mask(torch.tensor([3, 1, 4]), 4)
    expected = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert got.dtype == torch.bool and got.shape == (3, 4), (
        "padding_mask(three lengths, 4) should be bool of shape (3, 4), "
        f"got {got.dtype} {tuple(got.shape)}"
    )
    assert torch.equal(got, expected), f"expected\n{expected.int()}\ngot\n{got.int()}"
    must_raise(lambda: nb.padding_mask(torch.tensor([5]), 4), "a length 5 longer than 4")


# --- Question 4: splitting into heads and merging them back -------------------------


@question("q4", points=2)
def test_split_and_merge_heads(nb):
    x = torch.arange(2 * 3 * 12, dtype=torch.float32).view(2, 3, 12)
    heads = nb.split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 3), (
        f"(2, 3, 12) in 4 heads is (2, 4, 3, 3), got {tuple(heads.shape)}"
    )
    assert torch.equal(heads[1, 2, 0], x[1, 0, 6:9]), (
        "head h of position t should hold features h*D .. (h+1)*D of position t. "
        "Hint: view as (B, T, H, D), then swap the T and H axes."
    )
    back = nb.merge_heads(heads)
    assert torch.equal(back, x), "merge_heads(split_heads(x, H)) should give back x exactly"
    must_raise(lambda: nb.split_heads(x, 5), "splitting 12 features into 5 heads")


# --- Question 5: a multi-head attention module --------------------------------------


def _reference_attention_torch(q, k, v, mask=None):
    """The course's answer to q2, in place of the student's while q5 is graded."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _reference_causal_mask(T):
    """The course's answer to q3."""
    return torch.ones(T, T, dtype=torch.bool).tril()


#: q2's and q3's answers, the course's own, while q5 grades the module alone.
EARLIER = {"attention_torch": _reference_attention_torch, "causal_mask": _reference_causal_mask}


def _copied_reference(mha) -> nn.MultiheadAttention:
    d_model = mha.q_proj.weight.shape[1]
    n_head = mha.n_head
    ref = nn.MultiheadAttention(d_model, n_head, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight])
        )
        ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref.eval()


@question("q5", points=3)
def test_multi_head_attention_matches_nn_multihead_attention(nb):
    # graded on the course's attention_torch and causal_mask: only q5's code counts
    with nb.replacing(**EARLIER):
        torch.manual_seed(5)
        mha = nb.MultiHeadAttention(24, 4)
        ref = _copied_reference(mha)
        x = torch.randn(3, 6, 24)
        with torch.no_grad():
            got = mha(x)
            expected = ref(x, x, x, need_weights=False)[0]
            assert got.shape == (3, 6, 24), (
                f"output shape should be (3, 6, 24), got {tuple(got.shape)}"
            )
            assert_close(
                got,
                expected,
                what="MultiHeadAttention(24, 4) against nn.MultiheadAttention with its weights",
                hint="q, k, v from q_proj, k_proj, v_proj; split heads, attend, merge, out_proj "
                "(graded with the course's own attention_torch and causal_mask)",
                rtol=1e-5,
                atol=1e-5,
            )
            causal = torch.ones(6, 6, dtype=torch.bool).tril()
            got = mha(x, is_causal=True)
            expected = ref(x, x, x, attn_mask=~causal, need_weights=False)[0]
        assert_close(
            got,
            expected,
            what="MultiHeadAttention with is_causal=True",
            hint="pass causal_mask(T) to your attention",
            rtol=1e-5,
            atol=1e-5,
        )


@question("q5", points=2, hidden=True)
def test_cross_attention_and_bad_sizes(nb):
    # graded on the course's attention_torch and causal_mask: only q5's code counts
    with nb.replacing(**EARLIER):
        torch.manual_seed(6)
        mha = nb.MultiHeadAttention(16, 2)
        ref = _copied_reference(mha)
        x, context = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
        with torch.no_grad():
            got = mha(x, context)
            expected = ref(x, context, context, need_weights=False)[0]
        assert got.shape == (2, 3, 16), (
            f"3 queries reading a context of 7 give (2, 3, 16), got {tuple(got.shape)}. "
            "Hint: queries from x, keys and values from the context."
        )
        assert_close(
            got,
            expected,
            what="cross-attention of (2, 3, 16) queries over a (2, 7, 16) context",
            hint="queries from x, keys and values from the context",
            rtol=1e-5,
            atol=1e-5,
        )
        must_raise(lambda: nb.MultiHeadAttention(10, 3), "MultiHeadAttention(10, 3)")
        must_raise(lambda: mha(torch.randn(2, 3, 15)), "an input of width 15 into d_model=16")


# --- Question 6: grouped-query attention --------------------------------------------


@question("q6", points=2)
def test_repeat_kv_and_gqa_shapes(nb):
    kv = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).view(2, 2, 3, 4)
    got = nb.repeat_kv(kv, 3)
    assert got.shape == (2, 6, 3, 4), (
        f"2 kv heads repeated 3 times: (2, 6, 3, 4), got {tuple(got.shape)}"
    )
    expected = kv.repeat_interleave(3, dim=1)
    assert torch.equal(got, expected), (
        "query heads 0, 1, 2 share kv head 0 and heads 3, 4, 5 share kv head 1: repeat each "
        "kv head in place (0, 0, 0, 1, 1, 1), not the whole stack (0, 1, 0, 1, 0, 1)."
    )
    gqa = nb.GroupedQueryAttention(32, 8, 2)
    assert gqa.k_proj.weight.shape == (8, 32) and gqa.v_proj.weight.shape == (8, 32), (
        "with 8 query heads of size 4 and 2 kv heads, k_proj and v_proj map 32 -> 2 * 4 = 8"
    )
    out = gqa(torch.randn(2, 5, 32))
    assert out.shape == (2, 5, 32), f"output should be (2, 5, 32), got {tuple(out.shape)}"


@question("q6", points=2, hidden=True)
def test_gqa_equals_mha_with_repeated_weights(nb):
    torch.manual_seed(7)
    gqa = nb.GroupedQueryAttention(32, 4, 2)
    D, groups = 8, 2
    ref = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    with torch.no_grad():
        k_w = gqa.k_proj.weight.view(2, D, 32).repeat_interleave(groups, 0).reshape(32, 32)
        v_w = gqa.v_proj.weight.view(2, D, 32).repeat_interleave(groups, 0).reshape(32, 32)
        k_b = gqa.k_proj.bias.view(2, D).repeat_interleave(groups, 0).flatten()
        v_b = gqa.v_proj.bias.view(2, D).repeat_interleave(groups, 0).flatten()
        ref.in_proj_weight.copy_(torch.cat([gqa.q_proj.weight, k_w, v_w]))
        ref.in_proj_bias.copy_(torch.cat([gqa.q_proj.bias, k_b, v_b]))
        ref.out_proj.load_state_dict(gqa.out_proj.state_dict())
        x = torch.randn(2, 5, 32)
        causal = torch.ones(5, 5, dtype=torch.bool).tril()
        got = gqa(x, is_causal=True)
        expected = ref(x, x, x, attn_mask=~causal, need_weights=False)[0]
    assert_close(
        got,
        expected,
        what="GroupedQueryAttention(32, 4, 2) against MHA whose kv heads are copies",
        hint="repeat each kv head in place (repeat_interleave on the head axis)",
        rtol=1e-5,
        atol=1e-5,
    )
    must_raise(lambda: nb.GroupedQueryAttention(32, 4, 3), "4 query heads in groups of 3 kv heads")
