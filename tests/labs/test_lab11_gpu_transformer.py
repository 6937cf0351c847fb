"""Graded tests for lab 11, "FlashAttention and a KV cache" (30 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
values against PyTorch's own attention and autograd, shapes, dtypes, equality of cached
and uncached generation, and the errors raised on bad input. Without a GPU the Triton
kernel runs in Triton's CPU interpreter, so its shapes are tiny; with one, the kernel is
compiled, and every tensor it sees is made on DEVICE.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course.grading import probes, question
from course.grading.visible import GPT_MODULES
from course.nn.gpt import GPT, GPTConfig

#: The course modules the notebook may import while graded (the rest is hidden).
COURSE_MODULES = (*GPT_MODULES, "train.py", "data.py", "markov.py", "nn/sampling.py")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _qkv(t_q: int, t_k: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(s, generator=gen).to(DEVICE, dtype)
        for s in [(2, 2, t_q, d), (2, 2, t_k, d), (2, 2, t_k, d)]
    ]


def _reference(q, k, v, causal: bool) -> torch.Tensor:
    """PyTorch's attention in float32, causal bottom-right aligned."""
    q, k, v = q.float(), k.float(), v.float()
    mask = None
    if causal:
        t_q, t_k = q.shape[2], k.shape[2]
        mask = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril(t_k - t_q)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _lse(q, k, causal: bool) -> torch.Tensor:
    scores = q.float() @ k.float().transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        t_q, t_k = q.shape[2], k.shape[2]
        keep = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril(t_k - t_q)
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.logsumexp(scores, dim=-1)


def _error(got, want) -> float:
    return float((torch.as_tensor(got).float().cpu() - want.float().cpu()).abs().max())


def _model(seed: int = 0, block: int = 48) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=256, block_size=block, n_layer=2, n_head=2, d_model=32)).eval()


# --- Question 1: naive attention ------------------------------------------------------


@question("q1", points=2)
def test_naive_attention_matches_pytorch(nb):
    for causal in (False, True):
        q, k, v = _qkv(6, 6, 8)
        got = nb.naive_attention(q, k, v, causal=causal)
        assert tuple(got.shape) == (2, 2, 6, 8), (
            f"expected shape (2, 2, 6, 8), got {tuple(got.shape)}"
        )
        err = _error(got, _reference(q, k, v, causal))
        assert err < 1e-5, (
            f"naive_attention(causal={causal}) differs from PyTorch's attention by {err:.2e}. "
            "Hint: divide the scores by sqrt(D) and mask with -inf before the softmax."
        )


@question("q1", points=1, hidden=True)
def test_naive_causal_mask_is_bottom_right_aligned(nb):
    q, k, v = _qkv(3, 7, 4, seed=1)
    err = _error(nb.naive_attention(q, k, v, causal=True), _reference(q, k, v, True))
    assert err < 1e-5, (
        f"with 3 queries and 7 keys, query i should see keys 0 .. i + 4; off by {err:.2e}. "
        "Hint: the mask allows key j when j <= i + (Tk - Tq)."
    )


# --- Question 2: tiled attention with an online softmax -------------------------------


@question("q2", points=3)
def test_tiled_attention_matches_for_every_block_size(nb):
    q, k, v = _qkv(10, 13, 8, seed=2)
    for causal in (False, True):
        want = _reference(q, k, v, causal)
        for block in (1, 4, 5, 13, 32):
            out, lse = nb.tiled_attention(q, k, v, causal=causal, block=block)
            err = _error(out, want)
            assert err < 1e-5, (
                f"tiled_attention(causal={causal}, block={block}) is off by {err:.2e}. "
                "Hint: when the running maximum grows, rescale row_sum and acc by "
                "exp(old_max - new_max) before adding the block."
            )
            assert lse.shape == (2, 2, 10), (
                f"lse should be (B, H, Tq) = (2, 2, 10), got {tuple(lse.shape)}"
            )
            err = _error(lse, _lse(q, k, causal))
            assert err < 1e-4, f"lse is off by {err:.2e}: it should be row_max + log(row_sum)"


@question("q2", points=2, hidden=True)
def test_tiled_attention_keeps_dtype_and_survives_large_scores(nb):
    q, k, v = _qkv(9, 9, 8, seed=3)
    out, lse = nb.tiled_attention(q * 30, k * 30, v, causal=True, block=4)
    assert torch.isfinite(out).all(), "large scores gave inf or nan: subtract the running maximum"
    assert _error(out, _reference(q * 30, k * 30, v, True)) < 1e-4
    assert lse.dtype == torch.float32, f"lse should be float32, got {lse.dtype}"
    half, _ = nb.tiled_attention(*(x.half() for x in (q, k, v)), causal=False, block=4)
    assert half.dtype == torch.float16, (
        f"the output should keep q's dtype float16, got {half.dtype}"
    )


# --- Question 3: the Triton kernel ----------------------------------------------------


@question("q3", points=3)
def test_triton_kernel_matches_pytorch(nb):
    for causal in (False, True):
        q, k, v = _qkv(16, 16, 16, seed=4)
        out, lse = nb.flash_forward(q, k, v, causal=causal)
        err = _error(out, _reference(q, k, v, causal))
        assert err < 1e-4, (
            f"flash_forward(causal={causal}) on 16 positions differs by {err:.2e}. "
            "Hint: check the online-softmax update and that masked scores are -inf."
        )
        err = _error(lse, _lse(q, k, causal))
        assert err < 1e-4, f"the kernel's lse is off by {err:.2e}: store row_max + log(row_sum)"


@question("q3", points=2, hidden=True)
def test_triton_kernel_masks_tails_and_offsets(nb):
    for t_q, t_k, causal in ((21, 21, True), (13, 29, True), (19, 35, False)):
        q, k, v = _qkv(t_q, t_k, 16, seed=5)
        out, _ = nb.flash_forward(q, k, v, causal=causal)
        err = _error(out, _reference(q, k, v, causal))
        assert err < 1e-4, (
            f"with Tq={t_q}, Tk={t_k} (not multiples of the block), causal={causal}, the kernel "
            f"is off by {err:.2e}. Hint: mask loads past t_q and t_k, and score -inf past t_k."
        )


@question("q3", points=1, hidden=True)
def test_triton_kernel_in_half_precision_and_head_dim_64(nb):
    q, k, v = _qkv(17, 17, 64, seed=6, dtype=torch.float16)
    out, _ = nb.flash_forward(q, k, v, causal=True)
    assert out.dtype == torch.float16, f"the output should be float16 like q, got {out.dtype}"
    err = _error(out, _reference(q, k, v, True))
    assert err < 5e-3, f"float16, head dim 64: off by {err:.2e}; accumulate in float32"


# --- Question 4: backward -------------------------------------------------------------


def _grads(fn, q, k, v, grad):
    leaves = [x.detach().clone().requires_grad_() for x in (q, k, v)]
    return torch.autograd.grad((fn(*leaves) * grad).sum(), leaves)


@question("q4", points=3)
def test_backward_matches_autograd(nb):
    q, k, v = _qkv(11, 11, 8, seed=7)
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(8)).to(DEVICE)
    for causal in (False, True):
        want = _grads(lambda a, b, c, causal=causal: _reference(a, b, c, causal), q, k, v, grad)
        out = _reference(q, k, v, causal)
        got = nb.attention_backward(q, k, v, out, _lse(q, k, causal), grad, causal=causal, block=4)
        for name, g, w in zip("qkv", got, want, strict=True):
            err = _error(g, w)
            assert err < 1e-4, (
                f"d{name} (causal={causal}) differs from autograd by {err:.2e}. "
                "Hint: dS = P * (dO V^T - rowsum(dO * O)) * scale."
            )


@question("q4", points=2, hidden=True)
def test_flash_attention_trains_end_to_end(nb):
    q, k, v = _qkv(20, 20, 16, seed=9)
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(10)).to(DEVICE)
    # gradients are taken where the notebook's autograd graph lives: in its process
    got = nb.call(probes.input_gradients, nb.flash_attention, (q, k, v), grad, True)
    want = _grads(lambda a, b, c: _reference(a, b, c, True), q, k, v, grad)
    for name, g, w in zip("qkv", got, want, strict=True):
        err = _error(g, w)
        assert err < 1e-4, f"through flash_attention, d{name} is off by {err:.2e}"


# --- Question 5: the KV cache ---------------------------------------------------------


@question("q5", points=3)
def test_cached_forward_gives_the_uncached_logits(nb):
    model = _model()
    tokens = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(11))
    cache = nb.KVCache(2, 2, 2, 20, 16)
    assert tuple(cache.keys.shape) == (2, 2, 2, 20, 16), (
        f"keys should be (n_layer, batch, n_head, max_len, head_dim) = (2, 2, 2, 20, 16), "
        f"got {tuple(cache.keys.shape)}"
    )
    with torch.no_grad():
        full = model(tokens)
        first = model(tokens[:, :9], cache=cache)
        rest = [model(tokens[:, i : i + 1], cache=cache) for i in range(9, 12)]
    length = int(cache.length)
    assert length == 12, f"after 12 positions cache.length should be 12, got {length}"
    got = torch.cat([first, *rest], dim=1)
    err = _error(got, full)
    assert err < 1e-4, (
        f"logits with the cache differ from a full forward pass by {err:.2e}. Hint: write at "
        "positions length .. length + T - 1 and let query i see keys up to length + i."
    )


@question("q5", points=2, hidden=True)
def test_cache_keeps_static_shapes_and_refuses_overflow(nb):
    cache = nb.KVCache(1, 1, 2, 6, 4)
    k = torch.ones(1, 2, 4, 4)
    keys, _, visible = cache.write(0, k, 2 * k)
    assert tuple(keys.shape) == (1, 2, 6, 4), (
        f"write should return the whole buffer, got {tuple(keys.shape)}"
    )
    assert tuple(visible.shape) == (4, 6) and visible.dtype == torch.bool, (
        f"the mask should be bool (T, max_len) = (4, 6), got {visible.dtype} {tuple(visible.shape)}"
    )
    want = torch.ones(4, 6, dtype=torch.bool).tril()
    assert torch.equal(visible, want), f"new query i sees positions 0 .. i; got\n{visible}"
    cache.advance(4)
    try:
        cache.write(0, k, k)
    except ValueError:
        return
    raise AssertionError(
        "writing 4 more positions into a cache with 2 free should raise ValueError"
    )


# --- Question 6: generation -----------------------------------------------------------


@question("q6", points=2)
def test_greedy_generation_is_identical_with_and_without_cache(nb):
    model = _model(seed=1)
    prompt = torch.randint(0, 256, (2, 5), generator=torch.Generator().manual_seed(12))
    cached = nb.generate(model, prompt, 25, use_cache=True)
    uncached = nb.generate(model, prompt, 25, use_cache=False)
    assert tuple(cached.shape) == (2, 30), f"expected (2, 30), got {tuple(cached.shape)}"
    assert torch.equal(cached[:, :5], prompt), "the output should start with the prompt"
    assert torch.equal(cached, uncached), "greedy tokens differ with and without the cache"
    greedy = prompt
    with torch.no_grad():
        for _ in range(25):
            greedy = torch.cat([greedy, model(greedy)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(uncached, greedy), "greedy generation should pick the argmax each step"


@question("q6", points=2, hidden=True)
def test_sampling_and_length_check(nb):
    model = _model(seed=2)
    prompt = torch.zeros(3, 2, dtype=torch.long)

    def sample(use_cache: bool) -> torch.Tensor:
        gen = torch.Generator().manual_seed(13)
        return nb.generate(model, prompt, 15, use_cache=use_cache, temperature=1.0, generator=gen)

    a, b = sample(True), sample(False)
    assert torch.equal(a, b), "sampling with one generator seed should not depend on the cache"
    greedy = nb.generate(model, prompt, 15)
    assert not torch.equal(a, greedy), "temperature 1.0 should sample, not take the argmax"
    try:
        nb.generate(model, torch.zeros(1, 40, dtype=torch.long), 20)
    except ValueError:
        return
    raise AssertionError("60 positions with block_size 48 should raise ValueError")


# --- Question 7: learning rate --------------------------------------------------------


@question("q7", points=1)
def test_learning_rate_warms_up_linearly(nb):
    got = [nb.learning_rate(s, 4, 20, 1.0, 0.1) for s in range(4)]
    assert got == [0.25, 0.5, 0.75, 1.0], (
        f"warm-up over 4 steps should give [0.25, 0.5, 0.75, 1.0], got {got}"
    )


@question("q7", points=1, hidden=True)
def test_learning_rate_follows_the_cosine_to_min(nb):
    for step, want in ((4, 1.0), (12, 0.55), (20, 0.1), (50, 0.1)):
        got = nb.learning_rate(step, 4, 20, 1.0, 0.1)
        assert abs(got - want) < 1e-9, (
            f"learning_rate({step}, 4, 20, 1.0, 0.1) should be {want}, got {got}"
        )
