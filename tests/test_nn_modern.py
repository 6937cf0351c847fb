"""The GPT's modern configuration: RoPE, RMSNorm, SwiGLU, GQA, no biases, untied head."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from course.nn.attention import MultiHeadAttention
from course.nn.gpt import GPT, GPTConfig
from course.nn.kv_cache import KVCache, generate, generate_with_cache
from course.nn.positions import apply_rope

MODERN = {
    "positions": "rope",
    "norm": "rms",
    "activation": "swiglu",
    "n_kv_head": 2,
    "bias": False,
    "tie_head": False,
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and on a busy machine they stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(seed: int = 0, **fields: object) -> GPT:
    torch.manual_seed(seed)
    sizes = {"vocab_size": 23, "block_size": 32, "n_layer": 2, "n_head": 4, "d_model": 32}
    return GPT(GPTConfig(**{**sizes, **fields})).eval()


def test_every_combination_trains_and_caches_like_a_full_pass() -> None:
    """Each mix of the new fields runs forward and backward, and the KV-cache path (RoPE
    at the cached positions) gives the logits of a full pass. The attention backend
    alternates so that every value of every field meets both backends."""
    choices = itertools.product(
        ("learned", "rope", "none"), ("layer", "rms"), ("gelu", "swiglu"),
        (True, False), (True, False), (None, 1),
    )  # fmt: skip
    idx = torch.randint(0, 23, (2, 9), generator=torch.Generator().manual_seed(1))
    for i, (positions, norm, activation, bias, tie_head, n_kv_head) in enumerate(choices):
        attention = ("sdpa", "naive")[(i + i // 2) % 2]
        fields = {"positions": positions, "norm": norm, "activation": activation}
        fields |= {"bias": bias, "tie_head": tie_head, "n_kv_head": n_kv_head}
        model = _model(n_layer=1, attention=attention, **fields).train()
        logits = model(idx)
        assert logits.shape == (2, 9, 23), fields
        F.cross_entropy(logits.flatten(0, 1), idx.flatten()).backward()
        assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
        model.eval()
        cache = KVCache.for_model(model, batch=2, max_len=9)
        with torch.no_grad():
            pieces = [model(part, cache=cache) for part in idx.split([4, 1, 4], dim=1)]
            full = model(idx)
        torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", ["sdpa", "naive"])
def test_cached_generation_of_the_modern_config_gives_the_same_tokens(attention: str) -> None:
    model = _model(0, attention=attention, **MODERN)
    prompt = torch.randint(0, 23, (3, 4), generator=torch.Generator().manual_seed(2))
    assert torch.equal(generate_with_cache(model, prompt, 25), generate(model, prompt, 25))


def test_rope_scores_depend_only_on_the_offset() -> None:
    """The same vector at every position: with RoPE the score of query m and key n is a
    function of m - n alone (a Toeplitz matrix); without it every score is equal."""
    mha = MultiHeadAttention(32, 4, 2, rope_base=10000.0).eval()
    x = torch.randn(1, 1, 32).expand(1, 12, 32)  # (B, T, C): one token, repeated
    q, k, _ = mha.project(x)
    q, k = mha.rotate(q, k)
    scores = q @ mha.repeat_kv(k).transpose(-2, -1)  # (B, H, T, T)
    torch.testing.assert_close(scores[..., 1:, 1:], scores[..., :-1, :-1], atol=1e-5, rtol=1e-5)
    assert (scores[..., 0, 0] - scores[..., 5, 0]).abs().min() > 1e-3  # the offset matters
    plain = MultiHeadAttention(32, 4, 2).eval()
    plain.load_state_dict(mha.state_dict())
    q, k, _ = plain.project(x)
    flat = q @ plain.repeat_kv(k).transpose(-2, -1)
    torch.testing.assert_close(flat, flat[..., :1, :1].expand_as(flat))


def test_rope_in_the_cache_path_rotates_at_the_cached_positions() -> None:
    model = _model(0, **MODERN)
    mha = model.blocks[0].self_attn
    cache = KVCache.for_model(model, batch=1, max_len=16)
    cache.advance(5)  # five positions already filled
    q, k = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8)
    got_q, got_k = mha.rotate(q, k, cache)
    positions = torch.arange(5, 8)
    torch.testing.assert_close(got_q, apply_rope(q, positions))
    torch.testing.assert_close(got_k, apply_rope(k, positions))
    with pytest.raises(ValueError, match="self-attention only"):
        mha(torch.randn(1, 3, 32), torch.randn(1, 4, 32))


def test_a_custom_attention_fn_gets_rotated_queries_and_keys() -> None:
    def kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    reference = _model(0, **MODERN)
    torch.manual_seed(0)
    custom = GPT(reference.config, attention_fn=kernel).eval()
    custom.load_state_dict(reference.state_dict())
    idx = torch.randint(0, 23, (2, 10), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(custom(idx), reference(idx), atol=1e-5, rtol=1e-5)


def test_parameter_counts() -> None:
    V, T, L, C, G, D = 23, 32, 2, 32, 2, 8
    gpt2 = _model(0)  # the default: learned positions, LayerNorm, GELU 4C, biases, tied
    attention = 4 * C * C + 4 * C
    ffn = 2 * 4 * C * C + 4 * C + C
    assert gpt2.num_params() == V * C + T * C + L * (attention + ffn + 2 * 2 * C) + 2 * C
    modern = _model(0, **MODERN)
    hidden = 88  # 8 * 32 / 3 = 85.3, rounded up to a multiple of 8
    assert modern.config.ffn_hidden == hidden
    assert modern.blocks[0].ffn.gate.weight.shape == (hidden, C)
    attention = 2 * C * C + 2 * C * G * D  # q, out; k, v for G heads of size D
    per_layer = attention + 3 * C * hidden + 2 * C  # two RMSNorm gains
    assert modern.num_params() == V * C + L * per_layer + C + V * C  # own head
    assert modern.head.weight is not modern.tok_emb.weight and modern.pos_emb is None
    assert _model(0, d_ff=50, activation="swiglu").config.ffn_hidden == 50


def test_defaults_keep_the_gpt2_layout() -> None:
    model = _model(0)
    assert model.head.weight is model.tok_emb.weight
    assert model.blocks[0].ffn.up.weight.shape == (4 * 32, 32)
    assert model.blocks[0].norm1.eps == 1e-5 and model.blocks[0].self_attn.q_proj.bias is not None
    assert _model(0, norm="rms").norm.eps == 1e-6
    assert _model(0, norm="rms", norm_eps=1e-5).blocks[1].norm2.eps == 1e-5
    assert _model(0, bias=False).norm.bias is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vocab_size", 0),
        ("n_layer", 1.5),
        ("d_model", 30),  # not divisible by n_head=4
        ("n_kv_head", 3),
        ("dropout", 1.0),
        ("activation", "tanh"),
        ("norm", "batch"),
        ("attention", "flash"),
        ("positions", "sinusoidal"),
        ("d_ff", 0),
        ("norm_eps", 0.0),
        ("rope_base", -1.0),
        ("bias", 1),
        ("tie_head", "yes"),
        ("prenorm", None),
    ],
)
def test_bad_fields_raise_one_clear_value_error(field: str, value: object) -> None:
    sizes = {"vocab_size": 23, "n_head": 4, "d_model": 32}
    with pytest.raises(ValueError, match=f"GPTConfig.{field}" if field != "d_model" else "d_model"):
        GPTConfig(**{**sizes, field: value})
    GPTConfig(**sizes)  # the same sizes are valid without the bad field


def test_rope_needs_an_even_head_size() -> None:
    with pytest.raises(ValueError, match="even"):
        GPTConfig(vocab_size=5, n_head=4, d_model=12, positions="rope")
    GPTConfig(vocab_size=5, n_head=4, d_model=12)  # odd heads are fine without RoPE
