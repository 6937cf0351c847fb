"""Masked language modelling (course.mlm) and the encoder-only model (course.nn.encoder)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course import data, mlm
from course.nn.encoder import Encoder, EncoderConfig, MaskedLM, PooledClassifier
from course.train import TrainConfig

N_ORDINARY, MASK, CLS, PAD = 50, 50, 51, 52


def _corrupt(ids: torch.Tensor, seed: int = 0, **kw: float) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return mlm.mask_tokens(ids, n_ordinary=N_ORDINARY, mask_id=MASK, generator=generator, **kw)


def test_mask_tokens_proportions() -> None:
    ids = torch.randint(N_ORDINARY, (200_000,), generator=torch.Generator().manual_seed(1))
    inputs, targets = _corrupt(ids)
    chosen = targets != mlm.IGNORE
    # binomial standard errors are below 0.1 % (chosen) and 0.3 % (among chosen): 4 sigma
    assert abs(chosen.float().mean().item() - 0.15) < 0.004
    as_mask = (inputs[chosen] == MASK).float().mean().item()
    as_self = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(as_mask - 0.8) < 0.01
    assert abs(as_self - (0.1 + 0.1 / N_ORDINARY)) < 0.01
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    assert inputs.max() <= MASK and (inputs[inputs != MASK] < N_ORDINARY).all()


def test_mask_tokens_never_chooses_special_tokens() -> None:
    ids = torch.randint(N_ORDINARY, (64, 20), generator=torch.Generator().manual_seed(2))
    ids[:, 0], ids[:, 15:] = CLS, PAD
    inputs, targets = _corrupt(ids, select_prob=1.0)
    assert (targets[:, 0] == mlm.IGNORE).all() and (targets[:, 15:] == mlm.IGNORE).all()
    assert torch.equal(inputs[:, 0], ids[:, 0]) and torch.equal(inputs[:, 15:], ids[:, 15:])
    assert (targets[:, 1:15] != mlm.IGNORE).all()  # every ordinary one is chosen


def test_mask_tokens_is_seeded_and_checks_probabilities() -> None:
    ids = torch.randint(N_ORDINARY, (8, 16), generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(_corrupt(ids, 5), _corrupt(ids, 5), strict=True))
    inputs, targets = _corrupt(ids, select_prob=0.5, mask_prob=1.0, random_prob=0.0)
    assert torch.equal(inputs == MASK, targets != mlm.IGNORE)
    with pytest.raises(ValueError):
        _corrupt(ids, mask_prob=0.8, random_prob=0.3)


def test_mlm_loss_counts_chosen_positions_only() -> None:
    logits = torch.randn(2, 5, 7)
    targets = torch.full((2, 5), mlm.IGNORE)
    targets[0, 1], targets[1, 4] = 3, 6
    log_p = logits.log_softmax(-1)
    expected = -(log_p[0, 1, 3] + log_p[1, 4, 6]) / 2
    assert torch.isclose(mlm.mlm_loss(logits, targets), expected)


def test_masked_accuracy_and_baselines() -> None:
    targets = torch.tensor([[mlm.IGNORE, 2, mlm.IGNORE, 1]])
    assert mlm.masked_accuracy(torch.tensor([[0, 2, 0, 0]]), targets) == 0.5
    with pytest.raises(ValueError):
        mlm.masked_accuracy(torch.zeros(1, 4), torch.full((1, 4), mlm.IGNORE))
    counts = torch.tensor([3, 9, 1])
    assert (mlm.unigram_fill_in(torch.zeros(2, 3, dtype=torch.long), counts) == 1).all()
    # a bigram where 0 -> 1 -> 2 -> 0 is almost certain: the blank in 0 _ 2 is a 1
    transitions = np.full((3, 3), 0.05)
    transitions[[0, 1, 2], [1, 2, 0]] = 0.9
    inputs = torch.tensor([[0, 3, 2, 3, 3]])  # 3 is a special token, e.g. [MASK]
    guesses = mlm.bigram_fill_in(inputs, transitions)
    assert guesses[0, 1] == 1  # both neighbours agree
    assert guesses[0, 3] == 0  # left neighbour 2 only: after 2 comes 0
    assert guesses.shape == inputs.shape


def _encoder(block_size: int = 10) -> Encoder:
    torch.manual_seed(0)
    return Encoder(EncoderConfig(vocab_size=N_ORDINARY + 3, block_size=block_size,
                                 n_layer=2, n_head=2, d_model=16)).eval()  # fmt: skip


def test_encoder_is_bidirectional() -> None:
    encoder = _encoder()
    idx = torch.randint(N_ORDINARY, (2, 8))
    changed = idx.clone()
    changed[:, -1] = (changed[:, -1] + 1) % N_ORDINARY
    with torch.no_grad():
        a, b = encoder(idx), encoder(changed)
    assert a.shape == (2, 8, 16)
    assert ((a[:, :-1] - b[:, :-1]).abs().amax(dim=-1) > 1e-4).all()  # every position moved
    with pytest.raises(ValueError):
        encoder(torch.zeros(1, 11, dtype=torch.long))


def test_padding_is_invisible_to_real_positions() -> None:
    encoder = _encoder()
    classifier = PooledClassifier(encoder, n_classes=3).eval()
    short = torch.tensor([[CLS, 4, 7, 9]])
    padded = torch.tensor([[CLS, 4, 7, 9, PAD, PAD, PAD]])
    keep = padded != PAD
    with torch.no_grad():
        torch.testing.assert_close(encoder(padded, keep)[:, :4], encoder(short))
        scores = classifier(padded, keep)
        torch.testing.assert_close(scores, classifier(short))
    assert scores.shape == (1, 3)


def test_masked_lm_ties_its_output_layer_and_trains() -> None:
    torch.manual_seed(0)
    model = MaskedLM(EncoderConfig(vocab_size=8, block_size=12, n_layer=1, n_head=2, d_model=16))
    assert model.head.weight is model.encoder.tok_emb.weight
    assert model(torch.zeros(3, 12, dtype=torch.long)).shape == (3, 12, 8)
    ids = torch.arange(600) % 5  # 0 1 2 3 4 0 1 ...: every blank is given by its neighbours
    config = TrainConfig(steps=150, batch_size=16, max_lr=1e-2, min_lr=1e-3, warmup=5)
    losses = mlm.train_mlm(model, ids, config, n_ordinary=5, mask_id=5)
    assert len(losses) == 150 and not model.training
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    exam = torch.Generator().manual_seed(1)
    inputs, targets = mlm.mlm_batch(
        ids, 12, 64, n_ordinary=5, mask_id=5, mask_prob=1.0, random_prob=0.0, generator=exam
    )
    with torch.no_grad():
        accuracy = mlm.masked_accuracy(model(inputs).argmax(-1), targets)
    assert accuracy > 0.9


def test_code_and_comment_lines() -> None:
    text = 'x = compute(1)  # a trailing note\n"""A docstring line\nthat goes on."""\n'
    text += "# a whole comment line\nreturn value + 1\nif y:\n"
    assert data.code_and_comment_lines(text, min_length=6) == [
        ("a trailing note", True),
        ("a whole comment line", True),
        ("return value + 1", False),
    ]
