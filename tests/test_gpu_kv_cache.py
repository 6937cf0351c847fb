"""Generation with the preallocated KV cache gives exactly the tokens of generation without it."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from course.gpu.kv_cache import KVCache, generate
from course.gpu.model import GPT, GPTConfig
from course.gpu.tokenizer import decode, encode


def _model(attention: str, n_layer: int = 2) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=48, n_layer=n_layer, attention=attention)).eval()


@pytest.mark.parametrize("attention", ["naive", "sdpa"])
def test_cached_greedy_tokens_equal_uncached(attention):
    model = _model(attention)
    prompt = torch.randint(0, 256, (3, 7), generator=torch.Generator().manual_seed(1))
    uncached = generate(model, prompt, 30, use_cache=False)
    cached = generate(model, prompt, 30, use_cache=True)
    assert uncached.shape == (3, 37)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, :7], prompt)


def test_cached_greedy_with_the_triton_model():
    model = _model("triton", n_layer=1)
    prompt = encode("def f(x):").unsqueeze(0)
    assert torch.equal(
        generate(model, prompt, 6, use_cache=True), generate(model, prompt, 6, use_cache=False)
    )


def test_sampling_is_the_same_with_and_without_cache_for_one_seed():
    model = _model("sdpa")
    prompt = torch.randint(0, 256, (2, 4), generator=torch.Generator().manual_seed(2))

    def sample(use_cache: bool) -> torch.Tensor:
        gen = torch.Generator().manual_seed(7)
        return generate(
            model, prompt, 20, use_cache=use_cache, temperature=0.8, top_k=10, generator=gen
        )

    assert torch.equal(sample(True), sample(False))


def test_cache_has_static_shapes_and_fills_in_order():
    model = _model("sdpa")
    cache = KVCache.for_model(model, batch=2, max_len=10)
    shape = cache.keys.shape
    assert shape == (2, 2, 2, 10, 32)
    model(torch.zeros(2, 4, dtype=torch.long), cache=cache)
    model(torch.zeros(2, 1, dtype=torch.long), cache=cache)
    assert cache.length == 5 and cache.keys.shape == shape
    assert cache.keys[:, :, :, 5:].abs().sum() == 0 and cache.keys[:, :, :, :5].abs().sum() > 0
    with pytest.raises(ValueError, match="cache full"):
        model(torch.zeros(2, 6, dtype=torch.long), cache=cache)


def test_bad_requests_raise_value_errors():
    model = _model("sdpa")
    with pytest.raises(ValueError, match="block_size"):
        generate(model, torch.zeros(1, 40, dtype=torch.long), 20)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, torch.zeros(5, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="attention"):
        GPTConfig(attention="fast")


def test_byte_tokenizer_round_trips():
    text = "print('héllo')\n"
    assert decode(encode(text)) == text
    with pytest.raises(ValueError, match="token ids"):
        decode([300])
