"""Graded tests for lab 7, "The transformer block" (34 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
values against PyTorch's own layers given copied weights, shapes, causality, errors,
the accuracy of the trained encoder-decoder, and a Llama-style block (RoPE, grouped-query
attention, SwiGLU) against a reference written here from torch.nn.functional.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course.grading import assert_close, must_raise, question

TOL = {"rtol": 1e-5, "atol": 1e-5}  # what the questions promise: PyTorch's layers to 1e-5
CELL_SECONDS = 60  # the training cell takes about 6 s idle on one thread: 10x headroom


def _randomise(module: nn.Module, seed: int) -> None:
    """Give every parameter random values, so that ones and zeros hide no bug."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3 + (1.0 if p.dim() == 1 else 0.0))


def _causal(T: int) -> torch.Tensor:
    """PyTorch's convention for the layers' masks: True = blocked."""
    return torch.ones(T, T, dtype=torch.bool).triu(1)


# --- Question 1: LayerNorm -----------------------------------------------------------


@question("q1", points=2)
def test_layer_norm_matches_nn_layer_norm(nb):
    ours, ref = nb.LayerNorm(16), nn.LayerNorm(16)
    _randomise(ours, 1)
    ref.load_state_dict(ours.state_dict())
    x = 5 * torch.randn(4, 3, 16) + 2
    with torch.no_grad():
        got, expected = ours(x), ref(x)
    assert got.shape == x.shape, (
        f"LayerNorm keeps the shape {tuple(x.shape)}, got {tuple(got.shape)}"
    )
    assert_close(
        got,
        expected,
        what="LayerNorm(16) with random weight and bias, against nn.LayerNorm",
        hint="mean and the biased variance (unbiased=False) over the last dimension, "
        "eps inside the square root",
        **TOL,
    )


@question("q1", points=1, hidden=True)
def test_layer_norm_eps_and_width_check(nb):
    ours, ref = nb.LayerNorm(8, eps=0.5), nn.LayerNorm(8, eps=0.5)
    x = 0.3 * torch.randn(5, 8)
    with torch.no_grad():
        assert_close(
            ours(x),
            ref(x),
            what="LayerNorm(8, eps=0.5) against nn.LayerNorm(8, eps=0.5)",
            hint="use self.eps, the eps given to the constructor",
            **TOL,
        )
    must_raise(lambda: ours(torch.randn(2, 7)), "LayerNorm(8) on an input of width 7")


# --- Question 2: RMSNorm -------------------------------------------------------------


@question("q2", points=1)
def test_rms_norm_matches_nn_rms_norm(nb):
    ours, ref = nb.RMSNorm(16), nn.RMSNorm(16, eps=1e-6)
    _randomise(ours, 2)
    ref.load_state_dict(ours.state_dict())
    x = 5 * torch.randn(4, 3, 16) + 2
    with torch.no_grad():
        assert_close(
            ours(x),
            ref(x),
            what="RMSNorm(16) with a random weight, against nn.RMSNorm",
            hint="divide by sqrt(mean(x**2) + eps); do not subtract the mean",
            **TOL,
        )


@question("q2", points=1, hidden=True)
def test_rms_norm_eps_and_width_check(nb):
    ours, ref = nb.RMSNorm(8, eps=0.5), nn.RMSNorm(8, eps=0.5)
    x = 0.3 * torch.randn(5, 8)
    with torch.no_grad():
        assert_close(
            ours(x),
            ref(x),
            what="RMSNorm(8, eps=0.5) against nn.RMSNorm(8, eps=0.5)",
            hint="use self.eps, inside the square root",
            **TOL,
        )
    must_raise(lambda: ours(torch.randn(2, 7)), "RMSNorm(8) on an input of width 7")


# --- Question 3: the feed-forward network --------------------------------------------


@question("q3", points=2)
def test_feed_forward_variants(nb):
    x = torch.randn(2, 5, 8)
    for activation, f in (("relu", F.relu), ("gelu", F.gelu)):
        ffn = nb.FeedForward(8, 32, activation)
        assert ffn.up.weight.shape == (32, 8) and ffn.down.weight.shape == (8, 32), (
            "up maps d_model=8 to d_hidden=32 and down maps it back"
        )
        with torch.no_grad():
            assert_close(
                ffn(x),
                ffn.down(f(ffn.up(x))),
                what=f"FeedForward(8, 32, {activation!r})",
                hint=f"down({activation}(up(x))), PyTorch's exact GELU for 'gelu'",
                **TOL,
            )
    ffn = nb.FeedForward(8, 16, "swiglu")
    with torch.no_grad():
        expected = ffn.down(F.silu(ffn.gate(x)) * ffn.up(x))
        assert_close(
            ffn(x),
            expected,
            what="FeedForward(8, 16, 'swiglu')",
            hint="down(silu(gate(x)) * up(x)): the SiLU goes on the gate, not on up",
            **TOL,
        )


@question("q3", points=1)
def test_feed_forward_without_biases(nb):
    x = torch.randn(2, 5, 8)
    for activation in ("relu", "swiglu"):
        ffn = nb.FeedForward(8, 16, activation, bias=False)
        names = sorted(name for name, _ in ffn.named_parameters())
        expected = sorted(
            f"{layer}.weight" for layer in ("up", "down", "gate")[: 2 + (activation == "swiglu")]
        )
        assert names == expected, (
            f"FeedForward(8, 16, {activation!r}, bias=False) should have only {expected}, got "
            f"{names}. Hint: pass bias=bias to every nn.Linear"
        )
    with torch.no_grad():
        assert_close(
            ffn(x),
            ffn.down(F.silu(ffn.gate(x)) * ffn.up(x)),
            what="FeedForward(8, 16, 'swiglu', bias=False)",
            hint="down(silu(gate(x)) * up(x))",
            **TOL,
        )


@question("q3", points=1, hidden=True)
def test_feed_forward_rejects_unknown_activation(nb):
    nb.FeedForward(8, 32, "relu")  # a valid call returns first
    must_raise(lambda: nb.FeedForward(8, 32, "tanh"), "FeedForward(8, 32, 'tanh')")


# --- Question 4: a pre-LN block ------------------------------------------------------


def _reference_encoder_layer(block, d_model: int, n_head: int, d_hidden: int):
    ref = nn.TransformerEncoderLayer(
        d_model,
        n_head,
        d_hidden,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    ref.self_attn.load_state_dict(block.attn.state_dict())
    ref.norm1.load_state_dict(block.ln1.state_dict())
    ref.norm2.load_state_dict(block.ln2.state_dict())
    ref.linear1.load_state_dict(block.ffn.up.state_dict())
    ref.linear2.load_state_dict(block.ffn.down.state_dict())
    return ref.eval()


@question("q4", points=3)
def test_block_matches_pre_ln_encoder_layer(nb):
    torch.manual_seed(4)
    block = nb.Block(16, 4, 32)
    _randomise(block, 4)
    ref = _reference_encoder_layer(block, 16, 4, 32)
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        got = block(x, causal=False)
        assert_close(
            got,
            ref(x),
            what="Block(16, 4, 32) with causal=False, against PyTorch's pre-LN "
            "TransformerEncoderLayer",
            hint="x + attn(ln1(x)), then x + ffn(ln2(x))",
            **TOL,
        )
        got = block(x, causal=True)
        expected = ref(x, src_mask=_causal(6))
    assert_close(
        got,
        expected,
        what="Block(16, 4, 32) with causal=True",
        hint="pass attn_mask=blocked_future(T) (True above the diagonal) to the attention",
        **TOL,
    )


@question("q4", points=1, hidden=True)
def test_block_is_causal(nb):
    block = nb.Block(16, 2, 32)
    x = torch.randn(1, 7, 16)
    changed = x.clone()
    changed[:, 4:] += torch.randn(1, 3, 16)  # not a constant shift, which LayerNorm erases
    with torch.no_grad():
        a, b = block(x, causal=True), block(changed, causal=True)
    assert_close(
        a[:, :4],
        b[:, :4],
        what="a causal block's outputs at positions 0-3 when inputs 4-6 change",
        hint="they must not change: with causal=True mask the future (blocked_future(T))",
        **TOL,
    )


# --- Question 5: a decoder-only stack -------------------------------------------------


@question("q5", points=2)
def test_decoder_only_shapes_and_causality(nb):
    torch.manual_seed(5)
    model = nb.DecoderOnly(vocab_size=13, block_size=10, d_model=16, n_head=2, n_layer=3)
    assert len(model.blocks) == 3, f"n_layer=3 should give 3 blocks, got {len(model.blocks)}"
    idx = torch.randint(0, 13, (2, 10))
    with torch.no_grad():
        logits = model(idx)
        assert logits.shape == (2, 10, 13), (
            f"logits should be (2, 10, 13), got {tuple(logits.shape)}"
        )
        changed = idx.clone()
        changed[:, 6] = (changed[:, 6] + 1) % 13
        other = model(changed)
    assert_close(
        other[:, :6],
        logits[:, :6],
        what="DecoderOnly's logits at positions 0-5 after changing token 6",
        hint="they must not change: run every block with causal=True",
        **TOL,
    )
    assert not torch.allclose(other[:, 6:], logits[:, 6:]), "positions 6 onwards should see token 6"


@question("q5", points=1, hidden=True)
def test_decoder_only_rejects_long_inputs(nb):
    model = nb.DecoderOnly(vocab_size=5, block_size=4, d_model=8, n_head=2, n_layer=1)
    must_raise(lambda: model(torch.zeros(1, 5, dtype=torch.long)), "5 tokens into block_size 4")


# --- Question 6: a decoder block with cross-attention --------------------------------


@question("q6", points=2)
def test_decoder_block_matches_pre_ln_decoder_layer(nb):
    torch.manual_seed(6)
    block = nb.DecoderBlock(16, 4, 32)
    _randomise(block, 6)
    ref = nn.TransformerDecoderLayer(
        16, 4, 32, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    ref.self_attn.load_state_dict(block.self_attn.state_dict())
    ref.multihead_attn.load_state_dict(block.cross_attn.state_dict())
    for mine, theirs in (("ln1", "norm1"), ("ln2", "norm2"), ("ln3", "norm3")):
        getattr(ref, theirs).load_state_dict(getattr(block, mine).state_dict())
    ref.linear1.load_state_dict(block.ffn.up.state_dict())
    ref.linear2.load_state_dict(block.ffn.down.state_dict())
    ref.eval()
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    with torch.no_grad():
        got = block(x, memory)
        expected = ref(x, memory, tgt_mask=_causal(5))
    assert got.shape == (2, 5, 16), f"output should be (2, 5, 16), got {tuple(got.shape)}"
    assert_close(
        got,
        expected,
        what="DecoderBlock(16, 4, 32) against PyTorch's pre-LN TransformerDecoderLayer",
        hint="causal self-attention, then cross-attention with queries ln2(x) and keys/values "
        "from memory, then the feed-forward network, each added to x",
        **TOL,
    )


# --- Question 7: an encoder-decoder that reverses sequences --------------------------


@question("q7", points=2)
def test_trained_model_reverses_sequences(nb):
    nb.EncoderDecoder(vocab_size=11, block_size=9, d_model=16, n_head=2, n_layer=1)
    gen = torch.Generator().manual_seed(2024)
    src = torch.randint(0, nb.N_DIGITS, (500, nb.LENGTH), generator=gen)
    nb.model.eval()
    with torch.no_grad():
        out = nb.greedy_decode(nb.model, src)
    assert out.shape == src.shape, (
        f"greedy_decode should give {tuple(src.shape)}, got {tuple(out.shape)}"
    )
    accuracy = (out == src.flip(1)).all(dim=1).float().mean().item()
    assert accuracy >= 0.99, (
        f"exact-match accuracy on 500 fresh sequences is {accuracy:.1%}, needs 99%. Hint: check "
        "that the decoder reads the encoder's output and that greedy decoding feeds each "
        "prediction back in."
    )


@question("q7", points=2, hidden=True)
def test_encoder_decoder_reads_source_and_is_causal(nb):
    torch.manual_seed(7)
    model = nb.EncoderDecoder(vocab_size=11, block_size=9, d_model=16, n_head=2, n_layer=2).eval()
    src, tgt = torch.randint(0, 10, (3, 8)), torch.randint(0, 11, (3, 6))
    with torch.no_grad():
        logits = model(src, tgt)
        assert logits.shape == (3, 6, 11), f"logits should be (3, 6, 11), got {tuple(logits.shape)}"
        changed = tgt.clone()
        changed[:, 4] = (changed[:, 4] + 1) % 11
        assert_close(
            model(src, changed)[:, :4],
            logits[:, :4],
            what="EncoderDecoder's logits at positions 0-3 after changing target token 4",
            hint="they must not change: the decoder's self-attention is causal",
            **TOL,
        )
        other_src = src.clone()
        other_src[:, -1] = (other_src[:, -1] + 1) % 10
        assert not torch.allclose(model(other_src, tgt)[:, 0], logits[:, 0]), (
            "the first output should depend on the whole source, including its last token: "
            "the encoder must not be causal"
        )


# --- The Llama-style block (questions 8-12): references written from torch primitives --


def _reference_rope(x, positions, base=10000.0):
    """RoPE with the RoFormer pairs: x[2i] + j x[2i+1] times exp(j p w_i), in float64."""
    D = x.shape[-1]
    if D % 2:
        raise ValueError(f"RoPE needs an even width, got {D}")
    freqs = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)  # (D/2,)
    angles = positions.to(torch.float64)[:, None] * freqs  # (T, D/2)
    turns = torch.polar(torch.ones_like(angles), angles)  # (T, D/2) complex
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], D // 2, 2).contiguous())
    return torch.view_as_real(pairs * turns).flatten(-2).to(x.dtype)  # (..., T, D)


def _reference_repeat_kv(x, n_rep):
    return x.repeat_interleave(n_rep, dim=1)  # (B, G * n_rep, T, D): head h reads h // n_rep


def _reference_rms_norm(d_model, eps=1e-6):
    return nn.RMSNorm(d_model, eps=eps)


def _reference_feed_forward(d_model, d_hidden, activation="gelu", bias=True):
    """A module with question 3's layout (up, gate for "swiglu", down) and formulas."""
    act = {"relu": F.relu, "gelu": F.gelu, "swiglu": F.silu}[activation]

    class ReferenceFeedForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.Linear(d_model, d_hidden, bias=bias)
            if activation == "swiglu":
                self.gate = nn.Linear(d_model, d_hidden, bias=bias)
            self.down = nn.Linear(d_hidden, d_model, bias=bias)

        def forward(self, x):
            if activation == "swiglu":
                return self.down(act(self.gate(x)) * self.up(x))
            return self.down(act(self.up(x)))

    return ReferenceFeedForward()


def _reference_attention_module(d_model, n_head, n_kv_head):
    """A module with question 10's layout; its RoPE is written with stacked pairs."""
    head_dim = d_model // n_head
    sdpa = F.scaled_dot_product_attention  # F and torch named out here travel
    freqs = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)

    def turn(x, positions):  # the pairs (2i, 2i + 1), as _reference_rope
        angles = positions.to(torch.float64)[:, None] * freqs  # (T, D/2)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)

    class ReferenceAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(d_model, n_head * head_dim, bias=False)
            self.k_proj = nn.Linear(d_model, n_kv_head * head_dim, bias=False)
            self.v_proj = nn.Linear(d_model, n_kv_head * head_dim, bias=False)
            self.o_proj = nn.Linear(n_head * head_dim, d_model, bias=False)

        def forward(self, x, positions=None):
            B, T, _ = x.shape
            positions = torch.arange(T) if positions is None else positions
            q = self.q_proj(x).view(B, T, n_head, head_dim).transpose(1, 2)
            k = self.k_proj(x).view(B, T, n_kv_head, head_dim).transpose(1, 2)
            v = self.v_proj(x).view(B, T, n_kv_head, head_dim).transpose(1, 2)
            k = turn(k, positions).repeat_interleave(n_head // n_kv_head, dim=1)
            v = v.repeat_interleave(n_head // n_kv_head, dim=1)
            out = sdpa(turn(q, positions), k, v, is_causal=True)  # (B, H, T, D)
            return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))

    return ReferenceAttention()


def _attention_weights(d_model, n_head, n_kv_head, seed):
    """Random weights of question 10's layer, by parameter name."""
    gen = torch.Generator().manual_seed(seed)
    width, kv_width = d_model, (d_model // n_head) * n_kv_head
    shapes = {
        "q_proj.weight": (width, d_model),
        "k_proj.weight": (kv_width, d_model),
        "v_proj.weight": (kv_width, d_model),
        "o_proj.weight": (d_model, width),
    }
    return {name: torch.randn(shape, generator=gen) * 0.3 for name, shape in shapes.items()}


def _block_weights(d_model, n_head, n_kv_head, d_hidden, seed):
    """Random weights of question 11's block, by parameter name."""
    gen = torch.Generator().manual_seed(seed + 1000)
    weights = {
        f"attn.{name}": w
        for name, w in _attention_weights(d_model, n_head, n_kv_head, seed).items()
    }
    for norm in ("attn_norm", "ffn_norm"):
        weights[f"{norm}.weight"] = 1.0 + 0.3 * torch.randn(d_model, generator=gen)
    for name, shape in (
        ("up", (d_hidden, d_model)),
        ("gate", (d_hidden, d_model)),
        ("down", (d_model, d_hidden)),
    ):
        weights[f"ffn.{name}.weight"] = torch.randn(shape, generator=gen) * 0.3
    return weights


def _attention(w, x, positions, n_head, n_kv_head):
    """Causal grouped-query attention with RoPE, from torch.nn.functional: (B, T, C)."""
    B, T, C = x.shape

    def heads(name, n):  # (B, n, T, head_dim)
        return F.linear(x, w[name]).view(B, T, n, C // n_head).transpose(1, 2)

    n_rep = n_head // n_kv_head
    q = _reference_rope(heads("q_proj.weight", n_head), positions)
    k = _reference_repeat_kv(_reference_rope(heads("k_proj.weight", n_kv_head), positions), n_rep)
    v = _reference_repeat_kv(heads("v_proj.weight", n_kv_head), n_rep)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
    return F.linear(out.transpose(1, 2).reshape(B, T, C), w["o_proj.weight"])


def _llama_block(w, x, positions, n_head, n_kv_head, eps=1e-6):
    """x + attention(rms_norm(x)), then + swiglu(rms_norm(x)): (B, T, C)."""
    C = x.shape[-1]
    attn = {name[len("attn.") :]: t for name, t in w.items() if name.startswith("attn.")}
    x = x + _attention(
        attn, F.rms_norm(x, (C,), w["attn_norm.weight"], eps), positions, n_head, n_kv_head
    )
    h = F.rms_norm(x, (C,), w["ffn_norm.weight"], eps)
    gated = F.silu(F.linear(h, w["ffn.gate.weight"])) * F.linear(h, w["ffn.up.weight"])
    return x + F.linear(gated, w["ffn.down.weight"])


def _load(module, weights, what):
    """Load `weights` into the notebook's module; a wrong layout fails with its names."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        raise AssertionError(
            f"{what} does not have the parameters the question lists ({error}). Hint: use "
            "exactly the names and shapes of the question, and bias=False everywhere"
        ) from None


#: The course's answers to questions 2, 3, 8 and 9, put in place of the student's.
EARLIER = {
    "rope": _reference_rope,
    "repeat_kv": _reference_repeat_kv,
    "RMSNorm": _reference_rms_norm,
    "FeedForward": _reference_feed_forward,
}
#: Shapes (d_model, n_head, n_kv_head, T): plain multi-head, grouped, multi-query, 6 heads.
SHAPES = ((16, 4, 4, 5), (16, 4, 2, 7), (16, 4, 1, 6), (24, 6, 3, 4))


# --- Question 8: RoPE ----------------------------------------------------------------


@question("q8", points=2)
def test_rope_matches_the_rotation_formula(nb):
    gen = torch.Generator().manual_seed(8)
    cases = [
        (torch.randn(2, 3, 5, 8, generator=gen), torch.arange(5), {}),
        (torch.randn(1, 6, 16, generator=gen), torch.tensor([0, 1, 2, 7, 30, 100]), {}),
        (torch.randn(4, 6, generator=gen), torch.tensor([3, 0, 9, 1]), {"base": 500.0}),
        (torch.randn(3, 4, generator=gen, dtype=torch.float64), torch.arange(3) * 10, {}),
    ]
    for x, positions, options in cases:
        got = nb.rope(x, positions, **options)
        assert got.shape == x.shape and got.dtype == x.dtype, (
            f"rope should keep the shape {tuple(x.shape)} and dtype {x.dtype}, got "
            f"{tuple(got.shape)} {got.dtype}"
        )
        assert_close(
            got,
            _reference_rope(x, positions, **options),
            what=f"rope of x {tuple(x.shape)} at positions {positions.tolist()} {options}",
            hint="pair features (2i, 2i + 1), side by side, and turn pair i by "
            "p * base ** (-2i / D); position 0 leaves a vector as it is",
            **TOL,
        )


@question("q8", points=1, hidden=True)
def test_rope_rejects_odd_width(nb):
    nb.rope(torch.zeros(2, 3, 4), torch.arange(3))  # a valid call returns first
    must_raise(lambda: nb.rope(torch.zeros(2, 3, 5), torch.arange(3)), "rope of width 5")


# --- Question 9: repeat_kv -----------------------------------------------------------


@question("q9", points=1)
def test_repeat_kv_repeats_each_head_in_a_row(nb):
    gen = torch.Generator().manual_seed(9)
    for shape, n_rep in (((2, 2, 3, 4), 3), ((1, 1, 5, 2), 4), ((2, 3, 2, 2), 1)):
        x = torch.randn(shape, generator=gen)
        assert_close(
            nb.repeat_kv(x, n_rep),
            _reference_repeat_kv(x, n_rep),
            what=f"repeat_kv of {shape} with n_rep={n_rep}",
            hint="head h of the output is x[:, h // n_rep] (like repeat_interleave on dim 1), "
            "not x[:, h % n_kv_head]",
            **TOL,
        )


# --- Question 10: grouped-query attention --------------------------------------------


@question("q10", points=2)
def test_grouped_query_attention_matches_the_reference(nb):
    gen = torch.Generator().manual_seed(10)
    for seed, (d_model, n_head, n_kv_head, T) in enumerate(SHAPES):
        weights = _attention_weights(d_model, n_head, n_kv_head, seed)
        x = torch.randn(2, T, d_model, generator=gen)
        with nb.replacing(rope=_reference_rope, repeat_kv=_reference_repeat_kv):
            attn = nb.GroupedQueryAttention(d_model, n_head, n_kv_head)
            _load(attn, weights, f"GroupedQueryAttention({d_model}, {n_head}, {n_kv_head})")
            got = attn(x)
        assert_close(
            got,
            _attention(weights, x, torch.arange(T), n_head, n_kv_head),
            what=f"GroupedQueryAttention({d_model}, {n_head}, {n_kv_head}) on (2, {T}, {d_model})",
            hint="rope on q and k (not v), repeat_kv on k and v, causal attention scaled by "
            "1/sqrt(head_dim), heads side by side, o_proj (this test ran your layer on the "
            "course's rope and repeat_kv)",
            **TOL,
        )


@question("q10", points=1, hidden=True)
def test_grouped_query_attention_positions_and_errors(nb):
    weights = _attention_weights(16, 4, 2, 7)
    x = torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(11))
    positions = torch.tensor([0, 1, 2, 10, 11, 40])
    with nb.replacing(rope=_reference_rope, repeat_kv=_reference_repeat_kv):
        attn = nb.GroupedQueryAttention(16, 4, 2)
        _load(attn, weights, "GroupedQueryAttention(16, 4, 2)")
        got = attn(x, positions)
    assert_close(
        got,
        _attention(weights, x, positions, 4, 2),
        what="GroupedQueryAttention(16, 4, 2) at positions [0, 1, 2, 10, 11, 40]",
        hint="pass the positions given to forward on to rope",
        **TOL,
    )
    must_raise(lambda: nb.GroupedQueryAttention(16, 4, 3), "GroupedQueryAttention(16, 4, 3)")
    must_raise(lambda: nb.GroupedQueryAttention(18, 4, 2), "GroupedQueryAttention(18, 4, 2)")


# --- Question 11: the Llama-style block ----------------------------------------------

#: Question 10's layer, the course's, for the block questions.
WITH_ATTENTION = {**EARLIER, "GroupedQueryAttention": _reference_attention_module}


@question("q11", points=2)
def test_llama_block_matches_the_reference(nb):
    gen = torch.Generator().manual_seed(12)
    for seed, (d_model, n_head, n_kv_head, T) in enumerate(SHAPES):
        d_hidden = 2 * d_model + 3
        weights = _block_weights(d_model, n_head, n_kv_head, d_hidden, seed)
        x = torch.randn(2, T, d_model, generator=gen)
        what = f"LlamaBlock({d_model}, {n_head}, {n_kv_head}, {d_hidden})"
        with nb.replacing(**WITH_ATTENTION):
            block = nb.LlamaBlock(d_model, n_head, n_kv_head, d_hidden)
            _load(block, weights, what)
            got = block(x)
        assert_close(
            got,
            _llama_block(weights, x, torch.arange(T), n_head, n_kv_head),
            what=f"{what} on (2, {T}, {d_model})",
            hint="x + attn(attn_norm(x)), then x + ffn(ffn_norm(x)) (this test ran your block "
            "on the course's RMSNorm, FeedForward and GroupedQueryAttention)",
            **TOL,
        )


@question("q11", points=1, hidden=True)
def test_llama_block_passes_eps_to_its_norms(nb):
    weights = _block_weights(16, 4, 2, 24, 5)
    x = 0.3 * torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(13))
    with nb.replacing(**WITH_ATTENTION):
        block = nb.LlamaBlock(16, 4, 2, 24, eps=0.5)
        _load(block, weights, "LlamaBlock(16, 4, 2, 24, eps=0.5)")
        got = block(x)
    assert_close(
        got,
        _llama_block(weights, x, torch.arange(5), 4, 2, eps=0.5),
        what="LlamaBlock(16, 4, 2, 24, eps=0.5)",
        hint="give eps to both RMSNorms",
        **TOL,
    )


# --- Question 12: only relative positions --------------------------------------------


@question("q12", points=2)
def test_llama_block_sees_only_relative_positions(nb):
    weights = _block_weights(16, 4, 2, 24, 3)
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(14))
    steps, gapped = torch.arange(6), torch.tensor([0, 1, 2, 10, 11, 12])
    with nb.replacing(**EARLIER):  # your attention and block, the course's other pieces
        block = nb.LlamaBlock(16, 4, 2, 24)
        _load(block, weights, "LlamaBlock(16, 4, 2, 24)")
        plain = block(x, steps)
        default = block(x)
        shifted = {shift: block(x, steps + shift) for shift in (1, 7, 1000)}
        gap, gap_shifted = block(x, gapped), block(x, gapped + 500)
    hint = (
        "rotate only q and k, by rope with the positions forward was given, and add no "
        "position anywhere else"
    )
    assert_close(
        default, plain, what="block(x) against block(x, torch.arange(6))", hint=hint, **TOL
    )
    for shift, out in shifted.items():
        assert_close(
            out,
            plain,
            what=f"block(x, arange(6) + {shift}) against block(x, arange(6))",
            hint=hint,
            rtol=1e-4,
            atol=1e-4,
        )
    assert not torch.allclose(gap[:, 3:], plain[:, 3:], atol=1e-3), (
        "positions 0, 1, 2, 10, 11, 12 gave the same output as 0-5: does the block pass "
        "`positions` on to its attention, and the attention to rope?"
    )
    assert_close(
        gap_shifted,
        gap,
        what="positions [0, 1, 2, 10, 11, 12] shifted by 500",
        hint=hint,
        rtol=1e-4,
        atol=1e-4,
    )
