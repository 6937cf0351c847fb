"""Planted bugs for lab 10: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="online softmax forgets to rescale the running sum",
        code="""
def online_softmax(x, block_size):
    m = torch.full(x.shape[:-1], float("-inf"))
    total = torch.zeros(x.shape[:-1])
    for block in x.split(block_size, dim=-1):
        m_new = torch.maximum(m, block.max(dim=-1).values)
        total = total + torch.exp(block - m_new[..., None]).sum(dim=-1)
        m = m_new
    return torch.exp(x - m[..., None]) / total[..., None]
""",
        must_fail=["test_online_softmax_rescales_when_the_maximum_grows"],
    ),
    Mutant(
        name="tiled attention that builds the full score matrix",
        code="""
def tiled_attention(q, k, v, block_size=32, causal=False):
    if block_size < 1:
        raise ValueError("block_size")
    T, S = q.shape[-2], k.shape[-2]
    mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T) if causal else None
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
""",
        must_fail=["test_tiled_attention_uses_less_peak_memory"],
    ),
    Mutant(
        name="tiled attention does not rescale the output accumulator",
        code="""
def tiled_attention(q, k, v, block_size=32, causal=False):
    T, S = q.shape[-2], k.shape[-2]
    out = torch.empty(*q.shape[:-1], v.shape[-1])
    for i in range(0, T, block_size):
        q_tile = q[..., i : i + block_size, :] / q.shape[-1] ** 0.5
        last_key = torch.arange(i, i + q_tile.shape[-2])[:, None] + (S - T)
        m = torch.full(q_tile.shape[:-1], float("-inf"))
        total = torch.zeros(q_tile.shape[:-1])
        acc = torch.zeros(*q_tile.shape[:-1], v.shape[-1])
        for j in range(0, S, block_size):
            scores = q_tile @ k[..., j : j + block_size, :].transpose(-2, -1)
            if causal:
                keys = torch.arange(j, j + scores.shape[-1])[None, :]
                scores = scores.masked_fill(keys > last_key, float("-inf"))
            m_new = torch.maximum(m, scores.max(dim=-1).values)
            safe = torch.where(torch.isinf(m_new), 0.0, m_new)
            p = torch.exp(scores - safe[..., None])
            total = total * torch.exp(m - safe) + p.sum(dim=-1)
            acc = acc + p @ v[..., j : j + block_size, :]
            m = m_new
        out[..., i : i + block_size, :] = acc / total[..., None]
    return out
""",
        must_fail=["test_tiled_attention_matches_the_reference"],
    ),
    Mutant(
        name="cached positions restart at 0 for every call",
        code="""
def forward_with_cache(model, idx, cache):
    T = idx.shape[1]
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(T))
    for layer, block in enumerate(model.blocks):
        q, k, v = block.self_attn.project(block.norm1(x))
        k, v = cache.update(layer, k, v)
        x = x + block.self_attn.attend(q, k, v, causal_mask(T, k.shape[2]))
        x = x + block.ffn(block.norm2(x))
    return model.head(model.norm(x))
""",
        must_fail=[
            "test_forward_with_cache_matches_a_full_forward",
            "test_cached_generation_gives_the_same_tokens",
        ],
    ),
    Mutant(
        name="the cache keeps only the newest keys and values",
        code="""
class KVCache:
    def __init__(self, n_layer):
        self.keys = [None] * n_layer
        self.values = [None] * n_layer
        self.seen = 0

    @property
    def length(self):
        return self.seen

    def update(self, layer, k, v):
        self.keys[layer], self.values[layer] = k, v
        if layer == 0:
            self.seen += k.shape[2]
        return k, v
""",
        must_fail=[
            "test_kv_cache_appends_along_positions",
            "test_forward_with_cache_matches_a_full_forward",
            "test_cached_generation_gives_the_same_tokens",
        ],
    ),
    Mutant(
        name="generation with a cache that re-reads the whole sequence every step",
        code="""
def generate_with_cache(model, idx, max_new_tokens):
    if idx.shape[1] + max_new_tokens > model.config.block_size:
        raise ValueError("too long")
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = forward_with_cache(model, idx, KVCache(model.config.n_layer))
            idx = torch.cat([idx, logits[:, -1].argmax(dim=-1)[:, None]], dim=1)
    return idx
""",
        must_fail=["test_cached_generation_reads_each_position_once"],
    ),
    Mutant(
        name="speculative decoding keeps every draft token unchecked",
        code="""
def speculative_generate(target, draft, idx, max_new_tokens, k=4):
    end = idx.shape[1] + max_new_tokens
    proposed = 0
    while idx.shape[1] < end:
        n = min(k, end - idx.shape[1] - 1)
        guesses = greedy_generate(draft, idx, n)[:, idx.shape[1] :]
        with torch.no_grad():
            last = target(torch.cat([idx, guesses], dim=1))[:, -1].argmax(dim=-1)
        proposed += n
        idx = torch.cat([idx, guesses, last[:, None]], dim=1)
    return idx, 1.0
""",
        must_fail=["test_speculative_output_equals_the_target_alone", "test_acceptance_rate"],
    ),
    Mutant(
        name="speculative decoding checks one guess per target pass",
        code="""
def speculative_generate(target, draft, idx, max_new_tokens, k=4):
    end = idx.shape[1] + max_new_tokens
    proposed = accepted = 0
    while idx.shape[1] < end:
        n = min(k, end - idx.shape[1] - 1)
        guesses = greedy_generate(draft, idx, n)[:, idx.shape[1] :]
        kept = 0
        with torch.no_grad():
            choice = target(idx)[:, -1].argmax(dim=-1)
            while kept < n and guesses[0, kept] == choice[0]:
                kept += 1
                choice = target(torch.cat([idx, guesses[:, :kept]], dim=1))[:, -1].argmax(-1)
        proposed, accepted = proposed + n, accepted + kept
        idx = torch.cat([idx, guesses[:, :kept], choice[:, None]], dim=1)
    return idx, accepted / proposed if proposed else 0.0
""",
        must_fail=["test_speculative_runs_the_target_once_per_round"],
    ),
    Mutant(
        name="acceptance rate counts the target's own token as accepted",
        code="""
_good_speculative_generate = speculative_generate


def speculative_generate(target, draft, idx, max_new_tokens, k=4):
    tokens, rate = _good_speculative_generate(target, draft, idx, max_new_tokens, k)
    proposed = 0
    remaining = max_new_tokens
    while remaining > 0:
        n = min(k, remaining - 1)
        proposed += n
        remaining -= n + 1
    return tokens, min(1.0, rate + 1.0 / max(proposed, 1))
""",
        must_fail=["test_acceptance_rate"],
    ),
    Mutant(
        name="tiled attention by the banned fused kernel",
        code="""
def tiled_attention(q, k, v, block_size=32, causal=False):
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    T, S = q.shape[-2], k.shape[-2]
    mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T) if causal else None
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
""",
        must_fail=["test_tiled_attention_matches_the_reference"],
    ),
]
