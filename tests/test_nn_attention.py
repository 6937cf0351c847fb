"""course.nn.attention against F.scaled_dot_product_attention and nn.MultiheadAttention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.nn.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention

torch.manual_seed(0)


def test_causal_mask_is_lower_triangular_and_handles_longer_keys() -> None:
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())
    assert torch.equal(causal_mask(1, 4), torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="non-negative"):
        causal_mask(-1)


@pytest.mark.parametrize(("T", "S", "D", "Dv"), [(1, 1, 4, 4), (5, 7, 8, 3), (16, 16, 32, 32)])
def test_sdpa_matches_pytorch_with_and_without_masks(T: int, S: int, D: int, Dv: int) -> None:
    q, k, v = torch.randn(2, 3, T, D), torch.randn(2, 3, S, D), torch.randn(2, 3, S, Dv)
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, T))
    mask = causal_mask(T, S)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    additive = torch.randn(T, S)
    out, _ = scaled_dot_product_attention(q, k, v, additive)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=additive))


def test_sdpa_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same last size"):
        scaled_dot_product_attention(torch.randn(2, 4), torch.randn(2, 5), torch.randn(2, 5))
    with pytest.raises(ValueError, match="same length"):
        scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 4), torch.randn(2, 4))


def _copy_into_pytorch(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(mha.d_model, mha.n_head, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight])
        )
        ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref.eval()


def test_multi_head_attention_matches_nn_multihead_attention() -> None:
    mha = MultiHeadAttention(24, 4).eval()
    ref = _copy_into_pytorch(mha)
    x, context = torch.randn(3, 6, 24), torch.randn(3, 9, 24)
    torch.testing.assert_close(mha(x), ref(x, x, x, need_weights=False)[0])
    causal = causal_mask(6)
    torch.testing.assert_close(
        mha(x, is_causal=True), ref(x, x, x, attn_mask=~causal, need_weights=False)[0]
    )
    torch.testing.assert_close(mha(x, context), ref(x, context, context, need_weights=False)[0])
    weights = mha.attention_weights(x, context)
    torch.testing.assert_close(weights.mean(1), ref(x, context, context)[1])


@pytest.mark.parametrize("n_kv_head", [1, 2])
def test_grouped_query_attention_equals_mha_with_repeated_kv_heads(n_kv_head: int) -> None:
    gqa = MultiHeadAttention(32, 4, n_kv_head).eval()
    mha = MultiHeadAttention(32, 4).eval()
    groups, D = 4 // n_kv_head, 8
    with torch.no_grad():
        for name in ("q_proj", "out_proj"):
            getattr(mha, name).load_state_dict(getattr(gqa, name).state_dict())
        for name in ("k_proj", "v_proj"):
            src, dst = getattr(gqa, name), getattr(mha, name)
            dst.weight.copy_(
                src.weight.view(n_kv_head, D, 32).repeat_interleave(groups, 0).view(32, 32)
            )
            dst.bias.copy_(src.bias.view(n_kv_head, D).repeat_interleave(groups, 0).flatten())
    assert gqa.k_proj.weight.shape == (n_kv_head * D, 32)
    x = torch.randn(2, 5, 32)
    torch.testing.assert_close(gqa(x, is_causal=True), mha(x, is_causal=True))


def test_multi_head_attention_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="multiple"):
        MultiHeadAttention(12, 4, 3)
    with pytest.raises(ValueError, match="shape"):
        MultiHeadAttention(8, 2)(torch.randn(2, 3, 7))
    with pytest.raises(ValueError, match="context"):
        MultiHeadAttention(8, 2)(torch.randn(2, 3, 8), torch.randn(1, 3, 8))
