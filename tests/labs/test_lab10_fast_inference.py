"""Graded tests for lab 10, "Fast attention and fast inference" (28 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
values against PyTorch's softmax and attention, tokens against plain greedy decoding,
the peak memory of tiled attention, and how often a model is run.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from course.grading import assert_close, must_raise, probes, question
from course.grading.visible import GPT_MODULES
from course.nn.gpt import GPT, GPTConfig
from course.nn.kv_cache import generate
from course.nn.speculative import speculative_generate
from course.nn.tiled_attention import naive_attention, peak_memory

#: Question 2 builds attention from tiles: calling the fused kernel fails the test.
FUSED = "torch.nn.functional.scaled_dot_product_attention"

#: The course modules the notebook may import while graded (the rest is hidden).
COURSE_MODULES = (*GPT_MODULES, "memory.py")  # memory.py: the peak-memory probe


def _model(seed: int, n_layer: int = 2, n_kv_head: int | None = None) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=40, block_size=64, n_layer=n_layer, n_head=4, n_kv_head=n_kv_head, d_model=32
    )
    model = GPT(config).eval()
    with torch.no_grad():  # weights large enough that greedy decoding does not just repeat
        for weight in model.parameters():
            if weight.dim() >= 2:
                weight.normal_(0.0, 0.2)
    return model


def _draft_of(target: GPT) -> GPT:
    """The target's first block alone, sharing its embeddings and head."""
    draft = GPT(GPTConfig(**{**target.config.__dict__, "n_layer": 1})).eval()
    draft.load_state_dict(target.state_dict(), strict=False)
    return draft


def _prompt(seed: int, batch: int = 1, length: int = 4) -> torch.Tensor:
    return torch.randint(0, 40, (batch, length), generator=torch.Generator().manual_seed(seed))


def _close(got, expected, what: str, atol: float = 1e-5, hint: str = "") -> None:
    assert isinstance(got, torch.Tensor), f"{what} should return a torch.Tensor, got {type(got)}"
    assert_close(got, expected, what=f"{what}, against the reference", hint=hint, rtol=0, atol=atol)


NEAR_TIE = 1e-3  # logits this close may be ordered either way by correct, differently rounded code


def _same_greedy_tokens(model: GPT, got, expected: torch.Tensor, what: str, hint: str) -> None:
    """`got` equals the greedy tokens `expected`, up to near ties of the model's logits.

    A cache, tiles or another order of additions change the logits in their last digits;
    where the two best logits are within NEAR_TIE, either token is a correct greedy choice,
    and the rest of that row can no longer be compared.
    """
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape, (
        f"{what} should be a tensor of shape {tuple(expected.shape)}, got "
        f"{getattr(got, 'shape', type(got).__name__)}"
    )
    for row in range(expected.shape[0]):
        differ = (got[row] != expected[row]).nonzero()
        if len(differ) == 0:
            continue
        t = int(differ[0])
        with torch.no_grad():
            logits = model(expected[row : row + 1, :t])[0, -1] if t > 0 else None
        gap = float(logits[expected[row, t]] - logits[got[row, t]]) if logits is not None else 1
        assert gap <= NEAR_TIE, (
            f"{what}: row {row} first differs at position {t}: expected token "
            f"{int(expected[row, t])}, got {int(got[row, t])} (expected row "
            f"{expected[row].tolist()}, got {got[row].tolist()}). Hint: {hint}"
        )


# --- Question 1: online softmax ---------------------------------------------------


@question("q1", points=2)
def test_online_softmax_matches_softmax(nb):
    x = torch.randn(3, 10, generator=torch.Generator().manual_seed(0))
    for block in (1, 3, 4, 10):
        _close(
            nb.online_softmax(x, block),
            torch.softmax(x, dim=-1),
            f"online_softmax(x, {block})",
        )


@question("q1", points=1)
def test_online_softmax_rescales_when_the_maximum_grows(nb):
    x = torch.arange(12.0).reshape(1, 12) * 10  # every block holds a new, larger maximum
    _close(
        nb.online_softmax(x, 2),
        torch.softmax(x, dim=-1),
        "online_softmax on increasing scores (blocks of 2)",
    )
    hint = "Hint: when the running maximum grows from m to m', multiply the sum by exp(m - m')."
    assert torch.isfinite(nb.online_softmax(x * 100, 5)).all(), (
        f"online_softmax overflowed on scores up to 11000. {hint}"
    )


@question("q1", points=1, hidden=True)
def test_online_softmax_survives_a_first_block_of_minus_infinity(nb):
    x = torch.tensor([[float("-inf")] * 4 + [1.0, 2.0, 3.0]])
    got = nb.online_softmax(x, 2)
    assert torch.isfinite(got).all(), (
        f"masked scores (-inf) in the first blocks gave {got}. Hint: while the running "
        "maximum is still -inf, exp(-inf - (-inf)) is nan; treat such a maximum as 0."
    )
    _close(got, torch.softmax(x, dim=-1), "online_softmax with leading -inf scores")


# --- Question 2: tiled attention --------------------------------------------------


@question("q2", points=3)
def test_tiled_attention_matches_the_reference(nb):
    g = torch.Generator().manual_seed(1)
    for T, block in [(16, 4), (37, 8), (5, 32)]:
        q, k, v = (torch.randn(2, 3, T, 8, generator=g) for _ in range(3))
        for causal in (False, True):
            _close(
                nb.without(FUSED).tiled_attention(q, k, v, block_size=block, causal=causal),
                F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                f"tiled_attention(T={T}, block_size={block}, causal={causal})",
                hint="rescale both the running sum and the accumulator by exp(m - m_new)"
                + (", and mask keys s > t + S - T in every tile" if causal else ""),
            )


@question("q2", points=2)
def test_tiled_attention_uses_less_peak_memory(nb):
    q, k, v = (
        torch.randn(1, 1, 512, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)
    )
    naive = peak_memory(lambda: naive_attention(q, k, v))
    tiled = nb.call(probes.peak_memory, nb.tiled_attention, q, k, v, block_size=32)
    assert tiled < naive / 4, (
        f"for 512 positions the full score matrix costs {naive:,} bytes at the peak; "
        f"tiled_attention with block_size=32 peaked at {tiled:,}, expected under {naive // 4:,}. "
        "Hint: never build a (T, S) tensor; work on (block, block) tiles."
    )


@question("q2", points=1, hidden=True)
def test_tiled_attention_with_fewer_queries_than_keys(nb):
    g = torch.Generator().manual_seed(2)
    q = torch.randn(1, 2, 3, 4, generator=g)
    k, v = torch.randn(1, 2, 11, 4, generator=g), torch.randn(1, 2, 11, 6, generator=g)
    mask = torch.ones(3, 11, dtype=torch.bool).tril(diagonal=8)
    _close(
        nb.without(FUSED).tiled_attention(q, k, v, block_size=4, causal=True),
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        "causal tiled_attention with 3 queries (the last 3 of 11 positions)",
    )
    must_raise(
        lambda: nb.without(FUSED).tiled_attention(q, k, v, block_size=0),
        "tiled_attention(block_size=0)",
    )


# --- Question 3: greedy generation ------------------------------------------------


@question("q3", points=2)
def test_greedy_generate_picks_the_argmax(nb):
    model = _model(0)
    prompt = _prompt(0, batch=2)
    got = nb.greedy_generate(model, prompt, 10)
    expected = generate(model, prompt, 10)
    _same_greedy_tokens(
        model,
        got,
        expected,
        "greedy_generate(model, (2, 4) prompt, 10)",
        "each step appends the argmax of the logits at the last position",
    )


# --- Question 4: the KV cache -----------------------------------------------------


@question("q4", points=2)
def test_kv_cache_appends_along_positions(nb):
    cache = nb.KVCache(2)
    assert cache.length == 0, f"an empty cache should have length 0, got {cache.length}"
    k1, v1 = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    k2, v2 = torch.randn(1, 2, 1, 4), torch.randn(1, 2, 1, 4)
    cache.update(0, k1, v1)
    k, v = cache.update(0, k2, v2)
    assert torch.equal(k, torch.cat([k1, k2], dim=2)) and torch.equal(
        v, torch.cat([v1, v2], dim=2)
    ), (
        "after two updates of layer 0 the cache should return the keys and values of all "
        "4 positions in order, concatenated along dim 2 (positions)"
    )
    assert cache.length == 4, f"after 3 + 1 positions cache.length should be 4, got {cache.length}"


@question("q4", points=3)
def test_forward_with_cache_matches_a_full_forward(nb):
    for n_kv_head in (4, 1):
        model = _model(1, n_kv_head=n_kv_head)
        idx = _prompt(1, batch=2, length=12)
        cache = nb.KVCache(model.config.n_layer)
        with torch.no_grad():
            pieces = [nb.forward_with_cache(model, part, cache) for part in idx.split([5, 1, 6], 1)]
            expected = model(idx)
        _close(
            torch.cat(pieces, dim=1),
            expected,
            f"logits of 5 + 1 + 6 positions fed through the cache (n_kv_head={n_kv_head})",
            atol=1e-4,
            hint="positions start at cache.length, and the mask is causal_mask(T, S) with S "
            "the cached plus new positions",
        )


# --- Question 5: generation with the cache ---------------------------------------


@question("q5", points=3)
def test_cached_generation_gives_the_same_tokens(nb):
    for seed in (0, 1):
        model = _model(seed, n_kv_head=2)
        prompt = _prompt(seed, batch=2, length=3)
        got = nb.generate_with_cache(model, prompt, 40)
        _same_greedy_tokens(
            model,
            got,
            generate(model, prompt, 40),
            f"generate_with_cache (seed {seed}) against plain greedy decoding",
            "positions continue from the cache's length, and the mask lets each new query "
            "see every cached key",
        )


@question("q5", points=2, hidden=True)
def test_cached_generation_reads_each_position_once(nb):
    model = nb.send(_model(2))  # counted where it runs: in the notebook's process
    counter = nb.call(probes.count_calls, model.tok_emb)
    nb.generate_with_cache(model, _prompt(2, length=6), 20)
    counter.remove()
    assert counter.positions <= 6 + 20, (
        f"generating 20 tokens after a 6-token prompt embedded {counter.positions} positions; "
        "with a cache each position goes through the model once (at most 26)."
    )
    must_raise(
        lambda: nb.generate_with_cache(model, _prompt(2, length=60), 10),
        "generate_with_cache past block_size (60 + 10 > 64)",
    )


# --- Question 6: speculative decoding ---------------------------------------------


@question("q6", points=3)
def test_speculative_output_equals_the_target_alone(nb):
    target = _model(3)
    for draft in (_draft_of(target), _model(4, n_layer=1)):
        prompt = _prompt(3)
        tokens, _ = nb.speculative_generate(target, draft, prompt, 30, k=4)
        _same_greedy_tokens(
            target,
            tokens,
            generate(target, prompt, 30),
            "speculative decoding against the target alone",
            "keep draft tokens only while they equal the target's argmax, then append the "
            "target's own token",
        )


@question("q6", points=2)
def test_acceptance_rate(nb):
    target = _model(5)
    for draft, k in [(_draft_of(target), 3), (_model(6, n_layer=1), 4), (target, 5)]:
        _, rate = nb.speculative_generate(target, draft, _prompt(5), 25, k=k)
        expected = speculative_generate(target, draft, _prompt(5), 25, k=k).acceptance_rate
        assert isinstance(rate, float) and math.isclose(rate, expected, abs_tol=1e-9), (
            f"expected an acceptance rate of {expected:.4f} (accepted / proposed draft "
            f"tokens, k={k}), got {rate!r}"
        )


@question("q6", points=1, hidden=True)
def test_speculative_runs_the_target_once_per_round(nb):
    target = _model(7)
    draft = nb.send(copy.deepcopy(target))  # a perfect draft, counted apart from the target
    target = nb.send(target)
    counter = nb.call(probes.count_calls, target)
    nb.speculative_generate(target, draft, _prompt(7), 20, k=4)
    counter.remove()
    assert counter.calls <= 4, (
        f"the target ran {counter.calls} times for 20 tokens with a perfect draft and k=4; "
        "each round should score all its guesses in one forward pass, so 4 rounds of "
        "4 accepted guesses + 1 target token need 4 passes."
    )
