"""course.nn.kv_cache, tiled_attention and speculative: fast paths equal the slow ones."""

from __future__ import annotations

import pytest
import torch

from course.nn.gpt import GPT, GPTConfig
from course.nn.kv_cache import KVCache, generate, generate_with_cache, kv_cache_bytes
from course.nn.speculative import speculative_generate
from course.nn.tiled_attention import (
    naive_attention,
    online_softmax,
    peak_memory,
    tiled_attention,
    tiled_attention_backward,
)


def _model(seed: int, **sizes: int | bool) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=50, block_size=48, n_layer=2, n_head=4, d_model=32)
    return GPT(GPTConfig(**{**config.__dict__, **sizes})).eval()


@pytest.mark.parametrize("attention", ["sdpa", "naive"])
@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
def test_cached_generation_gives_the_same_tokens(n_kv_head: int, attention: str) -> None:
    model = _model(0, n_kv_head=n_kv_head, attention=attention)
    prompt = torch.randint(0, 50, (3, 5), generator=torch.Generator().manual_seed(1))
    assert torch.equal(generate_with_cache(model, prompt, 30), generate(model, prompt, 30))


@pytest.mark.parametrize("prenorm", [True, False])
def test_cached_logits_match_a_full_forward_pass(prenorm: bool) -> None:
    model = _model(0, prenorm=prenorm)
    idx = torch.randint(0, 50, (2, 20), generator=torch.Generator().manual_seed(2))
    cache = KVCache.for_model(model, batch=2, max_len=24)
    shape = cache.keys.shape
    pieces = [model(part, cache=cache) for part in idx.split([7, 1, 12], dim=1)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), model(idx), atol=1e-5, rtol=1e-5)
    assert int(cache.length) == 20 and cache.keys.shape == shape == (2, 2, 4, 24, 8)
    assert cache.keys[:, :, :, 20:].abs().sum() == 0 < cache.keys[:, :, :, :20].abs().sum()
    with pytest.raises(ValueError, match="cache full"):
        model(idx[:, :5], cache=cache)


def test_the_cache_position_lives_on_the_device_so_a_compiled_step_compiles_once() -> None:
    """A Python-int position would be a guard: one recompilation per generated token."""
    from torch._dynamo.testing import CompileCounter

    model = _model(0)
    cache = KVCache.for_model(model, batch=1, max_len=16)
    model(torch.tensor([[1, 2, 3]]), cache=cache)  # the prompt, eagerly
    assert isinstance(cache.length, torch.Tensor) and cache.length.device == cache.keys.device
    counter = CompileCounter()
    torch._dynamo.reset()
    step = torch.compile(model, backend=counter, fullgraph=True)
    eager = []
    with torch.no_grad():
        for token in (4, 5, 6, 7):
            eager.append(step(torch.tensor([[token]]), cache=cache))
    assert counter.frame_count == 1, f"the decode step compiled {counter.frame_count} times"
    assert int(cache.length) == 7
    reference = model(torch.tensor([[1, 2, 3, 4, 5, 6, 7]]))[:, 3:]
    torch.testing.assert_close(torch.cat(eager, dim=1), reference, atol=1e-5, rtol=1e-5)


def test_generation_refuses_to_run_past_the_block_size() -> None:
    model = _model(0)
    with pytest.raises(ValueError, match="block_size"):
        generate_with_cache(model, torch.zeros(1, 40, dtype=torch.long), 9)


def test_kv_cache_bytes_counts_keys_and_values() -> None:
    config = GPTConfig(vocab_size=10, n_layer=3, n_head=8, n_kv_head=2, d_model=64)
    assert kv_cache_bytes(config, 100, batch=2, bytes_per_value=4) == 2 * 3 * 2 * 8 * 100 * 2 * 4


@pytest.mark.parametrize("block", [1, 3, 7, 64])
def test_online_softmax_matches_softmax(block: int) -> None:
    x = torch.randn(4, 21, generator=torch.Generator().manual_seed(0)) * 30
    x[1, :10] = float("-inf")
    torch.testing.assert_close(online_softmax(x, block), torch.softmax(x, dim=-1))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("T", "S"), [(37, 37), (5, 37), (64, 64)])
def test_tiled_attention_matches_the_reference(causal: bool, T: int, S: int) -> None:
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, T, 8, generator=g), torch.randn(2, 3, S, 8, generator=g)
    v = torch.randn(2, 3, S, 5, generator=g)
    got = tiled_attention(q, k, v, causal=causal, block_q=16, block_k=8)
    torch.testing.assert_close(got, naive_attention(q, k, v, causal=causal), atol=1e-5, rtol=1e-5)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    if T == S:
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_tiled_backward_matches_autograd_of_naive_attention(causal: bool) -> None:
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(2, 2, n, 8, generator=g) for n in (30, 45, 45))
    grad = torch.randn(q.shape, generator=g)
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    out = naive_attention(*leaves, causal=causal)
    want = torch.autograd.grad((out * grad).sum(), leaves)
    scores = q @ k.transpose(-2, -1) / 8**0.5
    if causal:
        scores = scores.masked_fill(~torch.ones(30, 45, dtype=torch.bool).tril(15), float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    got = tiled_attention_backward(q, k, v, out.detach(), lse, grad, causal=causal, block=7)
    for g_, w in zip(got, want, strict=True):
        torch.testing.assert_close(g_, w, atol=1e-4, rtol=1e-4)


def test_tiled_attention_uses_less_memory() -> None:
    q = k = v = torch.randn(1, 1, 512, 16)
    naive = peak_memory(lambda: naive_attention(q, k, v))
    tiled = peak_memory(lambda: tiled_attention(q, k, v, block_q=64, block_k=64))
    assert naive >= 512 * 512 * 4 and tiled < naive / 4


def test_speculative_decoding_equals_the_target_alone() -> None:
    target, draft = _model(0), _model(1, n_layer=1)
    prompt = torch.tensor([[3, 1, 4, 1, 5]])
    result = speculative_generate(target, draft, prompt, 25, k=3)
    assert torch.equal(result.tokens, generate(target, prompt, 25))
    assert 0 <= result.accepted <= result.proposed


def test_a_perfect_draft_is_always_accepted() -> None:
    target = _model(0)
    result = speculative_generate(target, target, torch.tensor([[7]]), 20, k=4)
    assert result.acceptance_rate == 1.0 and result.target_calls == 4
