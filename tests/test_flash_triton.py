"""The Triton FlashAttention kernel against naive attention, and the GPT running on it.

Without CUDA the kernel runs in Triton's CPU interpreter (TRITON_INTERPRET=1, set before
Triton is imported), so the shapes here are tiny; the CUDA tests at the end use real sizes.
Every tensor is made on DEVICE: the compiled kernel refuses CPU tensors.
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from course.nn.flash_triton import flash_attention, flash_backward, flash_forward, launch_config
from course.nn.gpt import GPT, GPTConfig
from course.nn.kv_cache import generate, generate_with_cache
from course.nn.tiled_attention import naive_attention, tiled_attention_backward

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
    want = naive_attention(q.float(), k.float(), v.float(), causal=causal)
    assert out.dtype == dtype and out.shape == q.shape
    assert _max_error(out, want) < TOLERANCE[dtype]
    scores = q.float() @ k.float().transpose(-2, -1) / d**0.5
    if causal:
        keep = torch.ones(t_q, t_k, dtype=torch.bool, device=DEVICE).tril(t_k - t_q)
        scores = scores.masked_fill(~keep, float("-inf"))
    assert _max_error(lse, torch.logsumexp(scores, dim=-1)) < 1e-4


def test_triton_forward_head_dim_128_with_tails():
    q, k, v = _qkv(17, 17, 128, torch.float32)
    out, _ = flash_forward(q, k, v, causal=True, block_m=16, block_n=16)
    assert _max_error(out, naive_attention(q, k, v, causal=True)) < 1e-5


@pytest.mark.parametrize("backward", ["triton", "pytorch"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("t", "d"), [(23, 16), (40, 32)])
def test_flash_attention_gradients_match_autograd(causal, t, d, backward):
    q, k, v = (x.requires_grad_() for x in _qkv(t, t, d, torch.float32, seed=1))
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(2)).to(DEVICE)
    out = flash_attention(q, k, v, causal, 16, backward=backward)
    got = torch.autograd.grad((out * grad).sum(), (q, k, v))
    want = torch.autograd.grad((naive_attention(q, k, v, causal=causal) * grad).sum(), (q, k, v))
    for name, g, w in zip("qkv", got, want, strict=True):
        assert _max_error(g, w) < 1e-4, f"d{name}"


#: Largest |error| of a gradient per input dtype against float32 autograd.
GRAD_TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 6e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("t_q", "t_k", "d"), [(21, 21, 64), (13, 37, 128), (40, 40, 64)])
def test_triton_backward_kernels_match_autograd_and_the_tiled_backward(dtype, causal, t_q, t_k, d):
    """FlashAttention-2's dK/dV and dQ kernels, with tails (block 16) and Tq < Tk."""
    q, k, v = _qkv(t_q, t_k, d, dtype, seed=6)
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(7)).to(DEVICE, dtype)
    out, lse = flash_forward(q, k, v, causal, block_m=16, block_n=16)
    got = flash_backward(q, k, v, out, lse, grad, causal, block_m=16, block_n=16)
    leaves = [x.float().requires_grad_() for x in (q, k, v)]
    want = torch.autograd.grad(
        (naive_attention(*leaves, causal=causal) * grad.float()).sum(), leaves
    )
    tiled = tiled_attention_backward(q, k, v, out, lse, grad, causal=causal)
    for name, g, w, t in zip("qkv", got, want, tiled, strict=True):
        assert g.dtype == dtype and g.shape == w.shape
        assert _max_error(g, w) < GRAD_TOLERANCE[dtype], f"d{name} against autograd"
        assert _max_error(g, t) < GRAD_TOLERANCE[dtype], f"d{name} against the tiled backward"


def test_triton_backward_in_bfloat16():
    q, k, v = (x.requires_grad_() for x in _qkv(20, 20, 16, torch.bfloat16, seed=3))
    got = torch.autograd.grad(flash_attention(q, k, v, True, 16).float().sum(), (q, k, v))
    ref = [x.detach().float().requires_grad_() for x in (q, k, v)]
    want = torch.autograd.grad(naive_attention(*ref, causal=True).sum(), ref)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == torch.bfloat16
        assert _max_error(g, w) < 0.1


def test_bad_inputs_raise_one_clear_error():
    q, k, v = _qkv(8, 8, 16, torch.float32)
    with pytest.raises(ValueError, match="backward must be one of"):
        flash_attention(q, k, v, backward="cuda")
    with pytest.raises(ValueError, match="head dim"):
        flash_forward(*_qkv(8, 8, 24, torch.float32))
    with pytest.raises(TypeError, match="dtype"):
        flash_forward(q, k.half(), v)
    with pytest.raises(ValueError, match="Tq <= Tk"):
        flash_forward(*_qkv(9, 8, 16, torch.float32), causal=True)
    with pytest.raises(ValueError, match="4-D"):
        flash_forward(q[0], k[0], v[0])


def test_cpu_tensors_with_the_interpreter_off_get_one_clear_error(monkeypatch):
    """With CUDA present the interpreter is off: a CPU tensor must not reach Triton's
    launcher (whose message is "Pointer argument cannot be accessed from Triton")."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    q, k, v = (x.cpu() for x in _qkv(8, 8, 16, torch.float32))
    with pytest.raises(ValueError, match=r"interpreter is off.*move them to CUDA"):
        flash_forward(q, k, v)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("d", [64, 128])
def test_the_launch_configuration_depends_on_dtype_and_head_dim(dtype, d):
    config = launch_config(dtype, d)
    element = torch.finfo(dtype).bits // 8
    # query tile + stages of key and value tiles: what the kernel keeps in shared memory
    tiles = (config.block_m + 2 * config.num_stages * config.block_n) * d * element
    assert tiles <= 163 * 1024, f"{config} needs {tiles} bytes of tiles, over an A100's 163 KiB"
    if dtype == torch.float32 and d == 128:
        assert config.block_m * config.block_n < 64 * 64, "fp32 64x64 tiles at D=128 spill"


def test_gpt_with_the_triton_backend_trains_and_generates_like_sdpa():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=40, block_size=24, n_layer=1, n_head=2, d_model=32)
    sdpa = GPT(config).to(DEVICE).eval()
    triton_model = GPT(GPTConfig(**{**config.__dict__, "attention": "triton"})).to(DEVICE).eval()
    triton_model.load_state_dict(sdpa.state_dict())
    idx = torch.randint(0, 40, (2, 19), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    assert _max_error(triton_model(idx), sdpa(idx)) < 1e-4
    prompt = idx[:1, :4]
    cached = generate_with_cache(triton_model, prompt, 6)
    assert torch.equal(cached, generate(triton_model, prompt, 6))


def test_the_modern_gpt_on_the_triton_backend_matches_sdpa():
    """RoPE, RMSNorm, SwiGLU and GQA (2 key/value heads for 4 queries), no biases, an
    untied head: the kernel sees rotated queries and keys with the shared heads repeated."""
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=40, block_size=24, n_layer=1, n_head=4, n_kv_head=2, d_model=64,
        positions="rope", norm="rms", activation="swiglu", bias=False, tie_head=False,
    )  # fmt: skip
    sdpa = GPT(config).to(DEVICE)
    triton_model = GPT(GPTConfig(**{**config.__dict__, "attention": "triton"})).to(DEVICE)
    triton_model.load_state_dict(sdpa.state_dict())
    idx = torch.randint(0, 40, (2, 17), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    losses = [m(idx).logsumexp(-1).mean() for m in (triton_model, sdpa)]
    assert _max_error(*losses) < 1e-4
    for loss in losses:
        loss.backward()
    for (name, got), want in zip(triton_model.named_parameters(), sdpa.parameters(), strict=True):
        assert _max_error(got.grad, want.grad) < 1e-4, name
    prompt = idx[:1, :4]
    triton_model.eval()
    assert torch.equal(
        generate_with_cache(triton_model, prompt, 6), generate(triton_model, prompt, 6)
    )


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
