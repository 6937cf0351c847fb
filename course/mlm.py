"""Masked language modelling (chapter 12): BERT's corruption, its loss and its baseline.

Token ids ``0 .. n_ordinary - 1`` are ordinary tokens (characters of the corpus); ids
from ``n_ordinary`` on are special tokens ([MASK], [CLS], [PAD]). Special tokens are
never chosen for prediction and never drawn as random replacements.

Corruption follows Devlin et al. (2019): choose 15 % of the ordinary positions; of
those, replace 80 % by [MASK], 10 % by a random ordinary token, and keep 10 % as they
are. The model predicts the original token at every chosen position, and only there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course.train import TrainConfig, get_batch, learning_rate, make_optimizer

#: The target of a position that is not predicted (PyTorch's default ``ignore_index``).
IGNORE = -100


def mask_tokens(
    ids: Tensor,
    *,
    n_ordinary: int,
    mask_id: int,
    select_prob: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Corrupt ``ids`` (any shape, int64) for masked language modelling.

    Each ordinary position is chosen with probability ``select_prob``. A chosen position
    becomes ``mask_id`` with probability ``mask_prob``, a uniformly random ordinary token
    with probability ``random_prob``, and stays itself otherwise. Returns ``inputs`` (the
    corrupted ids) and ``targets`` (the original id where chosen, :data:`IGNORE`
    elsewhere), both shaped like ``ids``.
    """
    if not (0 <= select_prob <= 1 and mask_prob >= 0 and random_prob >= 0):
        raise ValueError("probabilities must lie in [0, 1]")
    if mask_prob + random_prob > 1:
        raise ValueError(f"mask_prob + random_prob must be <= 1, got {mask_prob + random_prob}")
    ordinary = ids < n_ordinary  # special tokens are never chosen
    draw = torch.rand(ids.shape, generator=generator)  # which positions are chosen
    chosen = ordinary & (draw < select_prob)
    how = torch.rand(ids.shape, generator=generator)  # what a chosen position becomes
    random_ids = torch.randint(n_ordinary, ids.shape, generator=generator)
    inputs = ids.clone()
    masked = chosen & (how < mask_prob)
    randomised = chosen & (how >= mask_prob) & (how < mask_prob + random_prob)
    inputs[masked] = mask_id
    inputs[randomised] = random_ids[randomised]
    targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs, targets


def mlm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over the chosen positions only.

    logits: (B, T, V), targets: (B, T) with :data:`IGNORE` where nothing is predicted.
    """
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


def masked_accuracy(predictions: Tensor, targets: Tensor) -> float:
    """Fraction of chosen positions (targets != IGNORE) whose prediction is the target."""
    chosen = targets != IGNORE
    if not chosen.any():
        raise ValueError("no position was chosen for prediction")
    return (predictions[chosen] == targets[chosen]).float().mean().item()


def unigram_fill_in(inputs: Tensor, counts: Tensor) -> Tensor:
    """Guess the most frequent ordinary token everywhere: (B, T) like ``inputs``."""
    return torch.full_like(inputs, int(counts.argmax()))


def bigram_fill_in(inputs: Tensor, transitions: np.ndarray) -> Tensor:
    """Fill each position from its two neighbours with a character bigram ``P[a, b]``.

    The guess at position t maximises log P[left, c] + log P[c, right] over ordinary
    tokens c; a neighbour that is missing (the window's edge) or special (another
    [MASK]) is left out of the sum. inputs: (B, T) -> guesses (B, T).
    """
    log_p = torch.from_numpy(np.log(transitions)).float()  # (V, V)
    n_ordinary = log_p.shape[0]
    B, T = inputs.shape
    scores = torch.zeros(B, T, n_ordinary)  # (B, T, V)
    left, right = inputs[:, :-1], inputs[:, 1:]  # (B, T - 1) each
    left_known = (left < n_ordinary)[..., None]
    right_known = (right < n_ordinary)[..., None]
    scores[:, 1:] += torch.where(left_known, log_p[left.clamp(max=n_ordinary - 1)], 0.0)
    from_c = log_p.T[right.clamp(max=n_ordinary - 1)]  # (B, T - 1, V): log P[c, right]
    scores[:, :-1] += torch.where(right_known, from_c, 0.0)
    return scores.argmax(dim=-1)


def mlm_batch(
    ids: Tensor,
    block_size: int,
    batch_size: int,
    *,
    n_ordinary: int,
    mask_id: int,
    generator: torch.Generator | None = None,
    **probabilities: float,
) -> tuple[Tensor, Tensor]:
    """Random windows (B, T) of ``ids``, corrupted by :func:`mask_tokens`."""
    windows, _ = get_batch(ids, block_size, batch_size, generator)  # (B, T)
    return mask_tokens(
        windows, n_ordinary=n_ordinary, mask_id=mask_id, generator=generator, **probabilities
    )


def train_mlm(
    model: nn.Module,
    ids: Tensor,
    config: TrainConfig,
    *,
    n_ordinary: int,
    mask_id: int,
) -> list[float]:
    """Train ``model`` (ids (B, T) -> logits (B, T, V)) by masked language modelling.

    AdamW, warm-up and cosine decay and gradient clipping as in :mod:`course.train`;
    each step corrupts a fresh batch of random windows. Returns the batch losses.
    """
    block_size = model.config.block_size
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    model.train()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(
                step, max_lr=config.max_lr, min_lr=config.min_lr, warmup=config.warmup,
                total=config.steps,
            )  # fmt: skip
        inputs, targets = mlm_batch(
            ids, block_size, config.batch_size, n_ordinary=n_ordinary, mask_id=mask_id,
            generator=generator,
        )  # fmt: skip
        loss = mlm_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses
