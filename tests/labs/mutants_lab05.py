"""Planted bugs for lab 5: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

# A beam search with two marked places where the mutants below plant their bugs.
_BEAM_SEARCH = """
def beam_search(model, prompt, width, max_new_tokens, alpha=0.0, end_id=None):
    if width < 1:
        raise ValueError("width")
    live, finished = [([], 0.0)], []
    for step in range(max_new_tokens):
        live = LIVE_TO_EXPAND
        ids = torch.stack([torch.cat([prompt, prompt.new_tensor(t)]) for t, _ in live])
        log_probs = torch.log_softmax(model(ids)[:, -1].double(), dim=-1)
        totals = torch.tensor([lp for _, lp in live], dtype=torch.float64)[:, None] + ADDED
        best = totals.flatten().topk(min(width, totals.numel()))
        next_live = []
        for total, flat in zip(best.values.tolist(), best.indices.tolist()):
            parent, token = divmod(flat, log_probs.shape[-1])
            child = (live[parent][0] + [token], total)
            (finished if token == end_id else next_live).append(child)
        live = next_live
        if not live:
            break
    scored = [(t, lp / ((5 + len(t)) / 6) ** alpha) for t, lp in finished + live]
    return sorted(scored, key=lambda pair: pair[1], reverse=True)
"""


def _beam_search_with(live_to_expand: str = "live", added: str = "log_probs") -> str:
    return _BEAM_SEARCH.replace("LIVE_TO_EXPAND", live_to_expand).replace("ADDED", added)


MUTANTS = [
    Mutant(
        name="embedding one-hot shifted by one id",
        code="""
def embed(token_ids, table):
    V = table.shape[0]
    one_hot = torch.zeros(len(token_ids), V, dtype=table.dtype)
    one_hot[torch.arange(len(token_ids)), (token_ids + 1) % V] = 1
    return one_hot @ table
""",
        must_fail=["test_embed_equals_nn_embedding", "test_embed_rejects_ids_outside_the_table"],
    ),
    Mutant(
        name="sinusoidal with sin and cos swapped",
        code="""
_solution_sinusoidal = sinusoidal


def sinusoidal(n_positions, d_model):
    table = _solution_sinusoidal(n_positions, d_model)
    return torch.stack([table[:, 1::2], table[:, 0::2]], dim=-1).reshape(n_positions, d_model)
""",
        must_fail=["test_sinusoidal_matches_the_formula"],
    ),
    Mutant(
        name="sinusoidal frequencies use i instead of 2i",
        code="""
def sinusoidal(n_positions, d_model):
    if d_model % 2:
        raise ValueError("odd")
    w = 10000.0 ** (-torch.arange(d_model // 2, dtype=torch.float64) / d_model)
    angles = torch.arange(n_positions, dtype=torch.float64)[:, None] * w
    table = torch.zeros(n_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()
""",
        must_fail=["test_sinusoidal_matches_the_formula"],
    ),
    Mutant(
        name="rope that is not a rotation",
        code="""
def rope(x, positions):
    D = x.shape[-1]
    if D % 2:
        raise ValueError("odd")
    w = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    angles = positions.to(torch.float64)[:, None] * w
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    out = torch.empty_like(x)
    out[:, 0::2] = x[:, 0::2] * cos + x[:, 1::2] * sin
    out[:, 1::2] = x[:, 0::2] * sin + x[:, 1::2] * cos
    return out
""",
        must_fail=[
            "test_rope_scores_depend_only_on_the_offset",
            "test_rope_matches_the_reference_rotation",
        ],
    ),
    Mutant(
        name="rope counts positions from one",
        code="""
_solution_rope = rope


def rope(x, positions):
    return _solution_rope(x, positions + 1)
""",
        must_fail=["test_rope_matches_the_reference_rotation"],
    ),
    Mutant(
        name="temperature multiplies the logits",
        code="""
def sample_temperature(logits, temperature, generator=None):
    if temperature <= 0:
        raise ValueError("temperature")
    probs = torch.softmax(logits * temperature, dim=-1)
    rows = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(rows, 1, generator=generator).reshape(probs.shape[:-1])
""",
        must_fail=["test_temperature_sampling_follows_the_softmax"],
    ),
    Mutant(
        name="top-k keeps one token too many",
        code="""
_solution_top_k = top_k


def top_k(logits, k):
    return _solution_top_k(logits, k + 1)
""",
        must_fail=["test_top_k_keeps_the_k_largest"],
    ),
    Mutant(
        name="top-p drops the token that crosses p",
        code="""
def top_p(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    mass = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop = (mass > p).scatter(-1, order, mass > p)
    return logits.masked_fill(drop, float("-inf"))
""",
        must_fail=["test_top_p_keeps_the_nucleus"],
    ),
    Mutant(
        name="beam search without length normalisation",
        code="""
_solution_beam_search = beam_search


def beam_search(model, prompt, width, max_new_tokens, alpha=0.0, end_id=None):
    return _solution_beam_search(model, prompt, width, max_new_tokens, 0.0, end_id)
""",
        must_fail=["test_beam_search_end_token_and_length_penalty"],
    ),
    Mutant(
        name="beam search keeps only the best beam's children",
        code=_beam_search_with(live_to_expand="live[:1]"),
        must_fail=[
            "test_beam_search_matches_the_reference_beams",
            "test_beam_search_finds_a_likelier_sentence_than_greedy",
        ],
    ),
    Mutant(
        name="beam search leaves the first token's log-probability out of the sum",
        code=_beam_search_with(added="(log_probs if step > 0 else 0 * log_probs)"),
        must_fail=[
            "test_beam_search_matches_the_reference_beams",
            "test_beam_search_finds_a_likelier_sentence_than_greedy",
            "test_beam_search_end_token_and_length_penalty",
        ],
    ),
]
