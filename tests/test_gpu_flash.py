"""The Triton FlashAttention kernel and the tiled PyTorch attention against the naive one.

Without CUDA the kernel runs in Triton's CPU interpreter (TRITON_INTERPRET=1, set before
Triton is imported), so the shapes here are tiny; the CUDA tests at the end use real sizes.
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from course.gpu.attention import naive_attention, tiled_attention, tiled_attention_backward
from course.gpu.flash_triton import flash_attention, flash_forward

HAS_CUDA = torch.cuda.is_available()
DEVICE = "cuda" if HAS_CUDA else "cpu"
#: Largest |error| allowed per input dtype against a float32 reference.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 4e-2}


def _qkv(t_q: int, t_k: int, d: int, dtype: torch.dtype, seed: int = 0, b: int = 1, h: int = 2):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(b, h, t_q, d), (b, h, t_k, d), (b, h, t_k, d)]
    return [torch.randn(s, generator=gen).to(DEVICE, dtype) for s in shapes]


def _max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return (got.float() - want.float()).abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(
    ("t_q", "t_k", "d"), [(16, 16, 16), (37, 37, 32), (21, 50, 16), (19, 19, 64)]
)
def test_triton_forward_matches_naive(dtype, causal, t_q, t_k, d):
    q, k, v = _qkv(t_q, t_k, d, dtype)
    out, lse = flash_forward(q, k, v, causal, block_m=16, block_n=16)
    want = naive_attention(q.float(), k.float(), v.float(), causal)
    assert out.dtype == dtype and out.shape == q.shape
    assert _max_error(out, want) < TOLERANCE[dtype]
    scores = q.float() @ k.float().transpose(-2, -1) / d**0.5
    if causal:
        scores = scores.masked_fill(
            torch.ones(t_q, t_k, dtype=torch.bool, device=DEVICE).tril(t_k - t_q).logical_not(),
            float("-inf"),
        )
    assert _max_error(lse, torch.logsumexp(scores, dim=-1)) < 1e-4


def test_triton_forward_head_dim_128_with_tails():
    q, k, v = _qkv(17, 17, 128, torch.float32)
    out, _ = flash_forward(q, k, v, causal=True, block_m=16, block_n=16)
    assert _max_error(out, naive_attention(q, k, v, causal=True)) < 1e-5


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("t", "d"), [(23, 16), (40, 32)])
def test_triton_backward_matches_autograd(causal, t, d):
    q, k, v = (x.requires_grad_() for x in _qkv(t, t, d, torch.float32, seed=1))
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(2)).to(DEVICE)
    got = torch.autograd.grad((flash_attention(q, k, v, causal, 16) * grad).sum(), (q, k, v))
    want = torch.autograd.grad((naive_attention(q, k, v, causal) * grad).sum(), (q, k, v))
    for name, g, w in zip("qkv", got, want, strict=True):
        assert _max_error(g, w) < 1e-4, f"d{name}"


def test_triton_backward_in_bfloat16():
    q, k, v = (x.requires_grad_() for x in _qkv(20, 20, 16, torch.bfloat16, seed=3))
    got = torch.autograd.grad(flash_attention(q, k, v, True, 16).float().sum(), (q, k, v))
    ref = [x.detach().float().requires_grad_() for x in (q, k, v)]
    want = torch.autograd.grad(naive_attention(*ref, causal=True).sum(), ref)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == torch.bfloat16
        assert _max_error(g, w) < 0.1


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_tiled_attention_and_backward_match_naive(causal):
    q, k, v = _qkv(30, 45, 8, torch.float32, seed=4)
    out, lse = tiled_attention(q, k, v, causal, block=7)
    assert _max_error(out, naive_attention(q, k, v, causal)) < 1e-5
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(5)).to(DEVICE)
    want = torch.autograd.grad((naive_attention(*leaves, causal=causal) * grad).sum(), leaves)
    got = tiled_attention_backward(q, k, v, out, lse, grad, causal, block=7)
    for g, w in zip(got, want, strict=True):
        assert _max_error(g, w) < 1e-4


def test_bad_inputs_raise_one_clear_error():
    q, k, v = _qkv(8, 8, 16, torch.float32)
    with pytest.raises(ValueError, match="head dim"):
        flash_forward(*_qkv(8, 8, 24, torch.float32))
    with pytest.raises(TypeError, match="dtype"):
        flash_forward(q, k.half(), v)
    with pytest.raises(ValueError, match="Tq <= Tk"):
        flash_forward(*_qkv(9, 8, 16, torch.float32), causal=True)
    with pytest.raises(ValueError, match="4-D"):
        naive_attention(q[0], k[0], v[0])


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_triton_matches_sdpa_at_real_sizes_on_gpu(d, causal):
    q, k, v = (x.requires_grad_() for x in _qkv(4000, 4000, d, torch.bfloat16, b=2, h=8))
    out = flash_attention(q, k, v, causal)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert _max_error(out, want) < 2e-2
    got = torch.autograd.grad(out.float().sum(), (q, k, v))
    ref = torch.autograd.grad(want.float().sum(), (q, k, v))
    for g, w in zip(got, ref, strict=True):
        assert _max_error(g, w) < 5e-2 * w.float().abs().max().item() + 1e-2
