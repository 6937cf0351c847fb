"""course.nn norms, feed-forward, blocks and models against PyTorch's built-ins."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.nn.blocks import Block
from course.nn.feedforward import FeedForward
from course.nn.gpt import GPT, GPTConfig
from course.nn.norms import LayerNorm, RMSNorm, make_norm
from course.nn.seq2seq import Seq2Seq, Seq2SeqConfig

torch.manual_seed(0)


def test_layer_norm_matches_nn_layer_norm() -> None:
    ours, ref = LayerNorm(16), nn.LayerNorm(16)
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        ref.load_state_dict(ours.state_dict())
    x = 3 * torch.randn(4, 5, 16) + 2
    torch.testing.assert_close(ours(x), ref(x))
    no_bias = LayerNorm(16, bias=False)
    torch.testing.assert_close(no_bias(x), F.layer_norm(x, (16,), eps=1e-5))


def test_rms_norm_matches_nn_rms_norm() -> None:
    ours, ref = RMSNorm(16), nn.RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        ours.weight.normal_()
        ref.weight.copy_(ours.weight)
    x = 3 * torch.randn(4, 5, 16) + 2
    torch.testing.assert_close(ours(x), ref(x))


def test_norms_reject_wrong_width() -> None:
    for norm in (make_norm("layer", 8), make_norm("rms", 8)):
        with pytest.raises(ValueError, match="last size"):
            norm(torch.randn(2, 7))
    with pytest.raises(ValueError, match="norm must be"):
        make_norm("batch", 8)


@pytest.mark.parametrize(("activation", "f"), [("relu", F.relu), ("gelu", F.gelu)])
def test_feed_forward_is_linear_activation_linear(activation: str, f) -> None:
    ffn = FeedForward(8, 32, activation)
    x = torch.randn(3, 8)
    torch.testing.assert_close(ffn(x), ffn.down(f(ffn.up(x))))


def test_swiglu_gates_with_silu() -> None:
    ffn = FeedForward(8, 16, "swiglu")
    x = torch.randn(3, 8)
    assert ffn.gate is not None
    torch.testing.assert_close(ffn(x), ffn.down(F.silu(ffn.gate(x)) * ffn.up(x)))
    with pytest.raises(ValueError, match="activation"):
        FeedForward(8, activation="tanh")


def test_pre_ln_block_matches_nn_transformer_encoder_layer() -> None:
    block = Block(16, 4, activation="relu", d_hidden=32).eval()
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True)
    post = Block(16, 4, activation="relu", d_hidden=32, prenorm=False).eval()
    ref_post = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    for ours, theirs in ((block, ref), (post, ref_post)):
        a = ours.self_attn
        with torch.no_grad():
            theirs.self_attn.in_proj_weight.copy_(
                torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
            )
            theirs.self_attn.in_proj_bias.copy_(
                torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])
            )
            theirs.self_attn.out_proj.load_state_dict(a.out_proj.state_dict())
            theirs.linear1.load_state_dict(ours.ffn.up.state_dict())
            theirs.linear2.load_state_dict(ours.ffn.down.state_dict())
            theirs.norm1.load_state_dict(ours.norm1.state_dict())
            theirs.norm2.load_state_dict(ours.norm2.state_dict())
        theirs.eval()
        x = torch.randn(2, 6, 16)
        torch.testing.assert_close(ours(x), theirs(x))


def test_gpt_shapes_causality_and_errors() -> None:
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=4, n_kv_head=2, d_model=16)
    model = GPT(config).eval()
    idx = torch.randint(0, 11, (3, 8))
    logits = model(idx)
    assert logits.shape == (3, 8, 11)
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    torch.testing.assert_close(model(changed)[:, :5], logits[:, :5])
    assert model.head.weight is model.tok_emb.weight
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="positive"):
        GPTConfig(vocab_size=0)


def test_seq2seq_decoder_is_causal_and_reads_the_source() -> None:
    model = Seq2Seq(Seq2SeqConfig(vocab_size=7, block_size=6)).eval()
    src, tgt = torch.randint(0, 7, (2, 5)), torch.randint(0, 7, (2, 4))
    logits = model(src, tgt)
    assert logits.shape == (2, 4, 7)
    changed = tgt.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 7
    torch.testing.assert_close(model(src, changed)[:, :-1], logits[:, :-1])
    assert not torch.allclose(model((src + 1) % 7, tgt), logits)
    assert model.greedy(src, bos=0, length=5).shape == (2, 5)
