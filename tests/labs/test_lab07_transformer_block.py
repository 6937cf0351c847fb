"""Graded tests for lab 7, "The transformer block" (21 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
values against PyTorch's own layers given copied weights, shapes, causality, errors,
and the accuracy of the trained encoder-decoder.
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
