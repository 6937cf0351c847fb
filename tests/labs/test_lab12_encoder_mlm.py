"""Graded tests for lab 12, "Encoder-only models and masked language modelling" (14 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
the corruption's proportions over many tokens with fixed seeds, the loss against
F.cross_entropy, the encoder layer against PyTorch's TransformerEncoderLayer given
copied weights, the pooled head against its formula, and the trained encoder's
fill-in loss against a unigram baseline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course import data, markov
from course.grading import assert_close, must_raise, question

#: The course modules the notebook may import while graded (the rest is hidden): the
#: corpus and its split, nothing of course.mlm or course.nn.
COURSE_MODULES = ("data.py", "markov.py")
# The notebook's training cell (450 steps) was measured at 21 s beside other jobs on a
# 2-core machine: 200 s gives it about 10x.
CELL_SECONDS = 200

TOL = {"rtol": 1e-5, "atol": 1e-5}
IGNORE = -100
N_ORDINARY, SPECIALS = 30, (30, 31, 32)  # q1's test vocabulary: 30 ordinary ids, 3 special
MARGIN = 0.4  # nats per hidden character the trained encoder must gain over the unigram


def _ids(n: int, seed: int) -> torch.Tensor:
    """n ids: ordinary ones, with a special id at every tenth position."""
    ids = torch.randint(N_ORDINARY, (n,), generator=torch.Generator().manual_seed(seed))
    ids[::10] = torch.tensor(SPECIALS).repeat(n // 30 + 1)[: len(ids[::10])]
    return ids


def _corrupt(nb, ids: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = nb.mask_tokens(ids, N_ORDINARY, SPECIALS[0], generator)
    assert inputs.shape == ids.shape and targets.shape == ids.shape, (
        f"inputs and targets keep the shape {tuple(ids.shape)}, "
        f"got {tuple(inputs.shape)} and {tuple(targets.shape)}"
    )
    return inputs, targets


# --- Question 1: BERT's corruption ---------------------------------------------------


@question("q1", points=2)
def test_mask_tokens_proportions(nb):
    ids = _ids(300_000, 1)
    inputs, targets = _corrupt(nb, ids, 0)
    chosen = targets != IGNORE
    ordinary = ids < N_ORDINARY
    assert torch.equal(targets[chosen], ids[chosen]), "targets hold the original id where chosen"
    assert torch.equal(inputs[~chosen], ids[~chosen]), "positions not chosen stay unchanged"
    # Tolerances are more than 5 binomial standard errors: a correct answer passes
    # with any random draws, and a wrong proportion (0.2 instead of 0.15, say) fails.
    rate = chosen[ordinary].float().mean().item()
    assert abs(rate - 0.15) < 0.005, (
        f"{rate:.2%} of ordinary positions were chosen, expected 15 % (within 0.5 points)"
    )
    read = inputs[chosen]
    shares = {
        "[MASK]": ((read == SPECIALS[0]).float().mean().item(), 0.8),
        "unchanged": ((read == ids[chosen]).float().mean().item(), 0.1 + 0.1 / N_ORDINARY),
    }
    shares["random"] = (1 - shares["[MASK]"][0] - shares["unchanged"][0], 0.1 * 29 / 30)
    for name, (got, expected) in shares.items():
        assert abs(got - expected) < 0.015, (
            f"{got:.1%} of chosen positions became {name}, expected {expected:.1%} "
            "(within 1.5 points). Hint: one uniform draw per chosen position: below 0.8 "
            "[MASK], 0.8-0.9 a random ordinary token, above 0.9 unchanged"
        )
    replaced = read[(read != SPECIALS[0]) & (read != ids[chosen])]
    assert (replaced < N_ORDINARY).all(), "random replacements must be ordinary tokens"
    counts = torch.bincount(replaced, minlength=N_ORDINARY).float()
    assert counts.min() > 0.5 * counts.mean(), (
        "random replacements should be uniform over the ordinary tokens"
    )


@question("q1", points=1, hidden=True)
def test_mask_tokens_never_chooses_special_tokens_and_uses_the_generator(nb):
    ids = _ids(30_000, 2)
    inputs, targets = _corrupt(nb, ids, 3)
    special = ids >= N_ORDINARY
    assert (targets[special] == IGNORE).all(), "a special token must never be chosen"
    assert torch.equal(inputs[special], ids[special]), "special tokens stay as they are"
    again = _corrupt(nb, ids, 3)
    assert torch.equal(again[0], inputs) and torch.equal(again[1], targets), (
        "the same generator seed must give the same corruption: draw every random number "
        "from `generator`"
    )
    other = _corrupt(nb, ids, 4)
    assert not torch.equal(other[1], targets), "another seed should choose other positions"
    batch = ids[:600].view(20, 30)  # any shape works, here (B, T)
    inputs, targets = _corrupt(nb, batch, 5)
    assert (targets[batch >= N_ORDINARY] == IGNORE).all()


# --- Question 2: the loss over chosen positions ----------------------------------------


@question("q2", points=1)
def test_mlm_loss_matches_cross_entropy_over_chosen_positions(nb):
    gen = torch.Generator().manual_seed(6)
    logits = torch.randn(3, 7, 11, generator=gen)
    targets = torch.randint(11, (3, 7), generator=gen)
    targets[torch.rand(3, 7, generator=gen) > 0.3] = IGNORE
    targets[0, 0] = 4  # at least one chosen position
    got = nb.mlm_loss(logits, targets)
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    assert torch.as_tensor(got).dim() == 0, "mlm_loss returns a scalar tensor"
    assert_close(
        got,
        expected,
        what="mlm_loss on (3, 7, 11) logits with a third of the positions chosen",
        hint="the mean of -log softmax(logits)[target] over positions whose target is not "
        "-100, and over those only",
        **TOL,
    )


@question("q2", points=1, hidden=True)
def test_mlm_loss_without_chosen_positions_raises(nb):
    logits = torch.randn(2, 4, 5)
    targets = torch.full((2, 4), IGNORE)
    targets[1, 2] = 3
    assert_close(
        nb.mlm_loss(logits, targets),
        -logits[1, 2].log_softmax(-1)[3],
        what="mlm_loss with a single chosen position",
        hint="the loss of that one position",
        **TOL,
    )
    must_raise(
        lambda: nb.mlm_loss(logits, torch.full((2, 4), IGNORE)), "mlm_loss with nothing chosen"
    )


# --- Question 3: a bidirectional encoder layer --------------------------------------------


def _reference_layer(ours, d_model: int, n_head: int, d_hidden: int) -> nn.Module:
    ref = nn.TransformerEncoderLayer(
        d_model, n_head, d_hidden, dropout=0.0, activation="gelu", batch_first=True,
        norm_first=True,
    )  # fmt: skip
    state = ours.state_dict()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(state["in_proj.weight"])
        ref.self_attn.in_proj_bias.copy_(state["in_proj.bias"])
        ref.self_attn.out_proj.weight.copy_(state["out_proj.weight"])
        ref.self_attn.out_proj.bias.copy_(state["out_proj.bias"])
        for name in ("norm1", "norm2", "linear1", "linear2"):
            getattr(ref, name).weight.copy_(state[f"{name}.weight"])
            getattr(ref, name).bias.copy_(state[f"{name}.bias"])
    return ref.eval()


def _randomise(module, seed: int) -> None:
    """Random values in every parameter, so that ones and zeros hide no bug."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3 + (1.0 if p.dim() == 1 else 0.0))


@question("q3", points=3)
def test_encoder_layer_matches_transformer_encoder_layer(nb):
    torch.manual_seed(7)
    ours = nb.EncoderLayer(16, 4, 32)
    _randomise(ours, 7)
    ref = _reference_layer(ours, 16, 4, 32)
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        got, expected = ours(x), ref(x)
    assert got.shape == x.shape, f"the layer keeps the shape (2, 6, 16), got {tuple(got.shape)}"
    assert_close(
        got,
        expected,
        what="EncoderLayer(16, 4, 32) against PyTorch's pre-LN TransformerEncoderLayer "
        "(gelu, batch_first, norm_first, dropout 0) with the same weights",
        hint="x + out_proj(attention(norm1(x))) with no causal mask and scores divided by "
        "sqrt(head size), then x + linear2(gelu(linear1(norm2(x))))",
        **TOL,
    )


@question("q3", points=1, hidden=True)
def test_encoder_layer_hides_padding(nb):
    torch.manual_seed(8)
    ours = nb.EncoderLayer(16, 2, 32)
    _randomise(ours, 8)
    ref = _reference_layer(ours, 16, 2, 32)
    x = torch.randn(3, 7, 16)
    keep = torch.ones(3, 7, dtype=torch.bool)
    keep[0, 5:], keep[2, 3:] = False, False
    with torch.no_grad():
        got = ours(x, keep)
        expected = ref(x, src_key_padding_mask=~keep)
    assert_close(
        got[keep],
        expected[keep],
        what="EncoderLayer(16, 2, 32)(x, keep) at the real positions, against "
        "TransformerEncoderLayer with src_key_padding_mask=~keep",
        hint="no query may attend to a key where keep is False: set those scores to -inf "
        "before the softmax (keep[:, None, None, :] broadcasts over heads and queries)",
        **TOL,
    )
    with torch.no_grad():
        torch.testing.assert_close(ours(x, torch.ones(3, 7, dtype=torch.bool)), ours(x))


# --- Question 4: the pooled classifier head --------------------------------------------


@question("q4", points=2)
def test_pooled_classifier_reads_the_first_position(nb):
    torch.manual_seed(9)
    head = nb.PooledClassifier(16, 3)
    hidden = torch.randn(4, 5, 16)
    with torch.no_grad():
        got = head(hidden)
        state = head.state_dict()
        pooled = torch.tanh(hidden[:, 0] @ state["pool.weight"].T + state["pool.bias"])
        expected = pooled @ state["out.weight"].T + state["out.bias"]
    assert got.shape == (4, 3), f"scores should be (4, 3), got {tuple(got.shape)}"
    assert_close(
        got,
        expected,
        what="PooledClassifier(16, 3) on hidden states (4, 5, 16)",
        hint="out(tanh(pool(hidden[:, 0]))): the [CLS] vector at position 0 only",
        **TOL,
    )
    changed = hidden.clone()
    changed[:, 1:] = torch.randn(4, 4, 16)
    with torch.no_grad():
        assert_close(
            head(changed),
            got,
            what="PooledClassifier's scores after changing positions 1-4",
            hint="only position 0 is read",
            **TOL,
        )


# --- Question 5: a trained encoder beats the unigram ----------------------------------


@question("q5", points=3)
def test_trained_encoder_beats_the_unigram_at_filling_in(nb):
    nb.mask_tokens(torch.arange(8), 8, 8)  # the pieces the training cell uses must run
    nb.mlm_loss(torch.zeros(1, 2, 3), torch.tensor([[0, IGNORE]]))
    nb.EncoderLayer(8, 2, 16)(torch.randn(1, 3, 8))
    text = data.python_source()
    train, validation = markov.split_text(text)
    alphabet = "".join(sorted(set(text)))
    train_ids = torch.from_numpy(markov.char_ids(train, alphabet))
    val_ids = torch.from_numpy(markov.char_ids(validation, alphabet))
    V, block = len(alphabet), nb.BLOCK
    gen = torch.Generator().manual_seed(99)
    starts = torch.randint(len(val_ids) - block, (512,), generator=gen)
    windows = val_ids[starts[:, None] + torch.arange(block)]  # (512, T)
    hidden = torch.rand(windows.shape, generator=gen) < 0.15
    inputs = torch.where(hidden, torch.full_like(windows, V), windows)  # [MASK] = V
    nb.model.eval()
    with torch.no_grad():
        logits = nb.model(inputs)  # (512, T, V + 3)
    nll = F.cross_entropy(logits[hidden], windows[hidden]).item()
    counts = torch.bincount(train_ids, minlength=V).double() + 1
    unigram = -(counts / counts.sum()).log()[windows[hidden]].mean().item()
    assert math.isfinite(nll) and nll <= unigram - MARGIN, (
        f"fill-in loss {nll:.3f} nats per hidden character; the unigram gets {unigram:.3f}, "
        f"so the target is {unigram - MARGIN:.3f} or lower. Hint: check that the training "
        "loss goes down, and questions 1-3"
    )
