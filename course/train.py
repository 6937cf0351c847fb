"""Training a character-level GPT on the course corpus (chapter 9).

The pieces of a training loop, each small enough to test on its own:
:func:`get_batch` (random windows of text), :func:`learning_rate` (linear warm-up then
cosine decay), :func:`estimate_loss` (mean loss on fixed batches) and :func:`train`
(AdamW with gradient clipping). Tokens are characters, with the alphabet and the
train/validation split of :func:`course.markov.char_bigram_baseline`, so a model's loss
is in nats per character, the unit of the bigram baseline it must beat.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from course import data, markov
from course.nn.gpt import GPT, GPTConfig
from course.nn.sampling import sample


@dataclass(frozen=True)
class CharCorpus:
    """The course corpus as character ids: ``alphabet[i]`` is the character of id ``i``."""

    alphabet: str
    train: Tensor  # (N_train,) int64
    validation: Tensor  # (N_val,) int64

    def encode(self, text: str) -> Tensor:
        """Character ids of ``text``: (len(text),) int64."""
        return torch.from_numpy(markov.char_ids(text, self.alphabet))

    def decode(self, ids: Tensor | list[int]) -> str:
        """The text of a 1-D sequence of ids."""
        return "".join(self.alphabet[i] for i in torch.as_tensor(ids).tolist())


def char_corpus() -> CharCorpus:
    """The Python-source corpus split exactly as the bigram baseline splits it."""
    baseline = markov.char_bigram_baseline()
    train, validation = markov.split_text(data.python_source())
    return CharCorpus(
        baseline.alphabet,
        torch.from_numpy(markov.char_ids(train, baseline.alphabet)),
        torch.from_numpy(markov.char_ids(validation, baseline.alphabet)),
    )


def get_batch(
    ids: Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``batch_size`` random windows of ``ids`` and the same windows shifted by one.

    Returns inputs ``x`` and targets ``y``, both (B, T) int64 with T = ``block_size``:
    ``y[b, t]`` is the token after ``x[b, t]`` in the text (teacher forcing: every
    position of every window is a training example).
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if block_size < 1 or batch_size < 1:
        raise ValueError(
            f"block_size and batch_size must be positive, got {block_size}, {batch_size}"
        )
    if len(ids) <= block_size:
        raise ValueError(f"need more than block_size={block_size} tokens, got {len(ids)}")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size)  # (T,)
    positions = starts[:, None] + offsets  # (B, T)
    return ids[positions], ids[positions + 1]


def learning_rate(step: int, *, max_lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up from ``max_lr / warmup`` to ``max_lr`` over steps ``0 .. warmup - 1``,
    then a half cosine from ``max_lr`` down to ``min_lr`` at step ``total``; ``min_lr`` after.
    """
    if not 0 <= warmup < total or min_lr > max_lr or min_lr < 0:
        raise ValueError(
            f"need 0 <= warmup < total and 0 <= min_lr <= max_lr, got warmup={warmup}, "
            f"total={total}, min_lr={min_lr}, max_lr={max_lr}"
        )
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


def sequence_loss(model: nn.Module, x: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy of the next-token predictions for inputs ``x`` (B, T), targets ``y``."""
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), label_smoothing=label_smoothing)


@torch.no_grad()
def estimate_loss(
    model: nn.Module, ids: Tensor, block_size: int, batch_size: int, n_batches: int, seed: int = 0
) -> float:
    """Mean loss in nats per token over ``n_batches`` random batches of ``ids``.

    The windows depend only on ``seed``, so successive calls during training measure
    the model on the same text. The model is put in eval mode and then restored.
    """
    if n_batches < 1:
        raise ValueError(f"n_batches must be positive, got {n_batches}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(n_batches):
        total += sequence_loss(model, *get_batch(ids, block_size, batch_size, generator)).item()
    model.train(was_training)
    return total / n_batches


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, batches and how often to evaluate."""

    steps: int = 300
    batch_size: int = 32
    max_lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    eval_every: int = 50
    eval_batches: int = 8
    seed: int = 0


@dataclass
class History:
    """What happened during training: one entry per step, or per evaluation."""

    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # the batch loss of each step
    grad_norm: list[float] = field(default_factory=list)  # before clipping
    eval_step: list[int] = field(default_factory=list)
    eval_train: list[float] = field(default_factory=list)  # estimate_loss on training text
    eval_val: list[float] = field(default_factory=list)  # ... and on validation text
    seconds: float = 0.0


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW that decays matrices (weights, embeddings) but not biases or norm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.max_lr, betas=(0.9, 0.95))


def train(
    model: nn.Module,
    train_ids: Tensor,
    val_ids: Tensor,
    config: TrainConfig,
    progress: bool = True,
) -> History:
    """Train ``model`` in place for ``config.steps`` AdamW steps; return its history.

    Each step draws a batch of random windows, sets the scheduled learning rate,
    back-propagates the mean cross-entropy, clips the gradient norm to
    ``config.grad_clip`` and updates the weights. Every ``eval_every`` steps, and after
    the last, it estimates the loss on training and validation text.
    """
    block_size = model.config.block_size
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    history = History()
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(config.steps), desc="training", disable=not progress, mininterval=5.0)
    for step in bar:
        lr = learning_rate(
            step,
            max_lr=config.max_lr,
            min_lr=config.min_lr,
            warmup=config.warmup,
            total=config.steps,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_ids, block_size, config.batch_size, generator)  # (B, T) each
        loss = sequence_loss(model, x, y, config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        history.lr.append(lr)
        history.train_loss.append(loss.item())
        history.grad_norm.append(norm.item())
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history.eval_step.append(step + 1)
            for ids, losses in ((train_ids, history.eval_train), (val_ids, history.eval_val)):
                losses.append(
                    estimate_loss(model, ids, block_size, config.batch_size, config.eval_batches)
                )
            bar.set_postfix(val=f"{history.eval_val[-1]:.3f}", refresh=False)
    history.seconds = time.perf_counter() - start
    return history


@torch.no_grad()
def generate(
    model: GPT,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend ``prompt`` (T0,) by ``max_new_tokens`` sampled tokens: (T0 + max_new_tokens,).

    The model sees at most its last ``block_size`` tokens.
    """
    if prompt.dim() != 1 or len(prompt) == 0:
        raise ValueError(f"prompt must be a non-empty 1-D tensor of ids, got {tuple(prompt.shape)}")
    was_training = model.training
    model.eval()
    ids = prompt.clone()
    for _ in range(max_new_tokens):
        context = ids[-model.config.block_size :][None]  # (1, T)
        logits = model(context)[0, -1]  # (V,)
        token = sample(logits, temperature=temperature, top_k=top_k, generator=generator)
        ids = torch.cat([ids, token[None]])
    model.train(was_training)
    return ids


def save_checkpoint(path: str | Path, model: GPT, **record: object) -> None:
    """Write the model's config and weights, plus any ``record`` (numbers, strings)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items() if k != "head.weight"}  # tied
    torch.save({"config": asdict(model.config), "state_dict": state, "record": record}, path)


def load_checkpoint(path: str | Path) -> tuple[GPT, dict[str, object]]:
    """The GPT saved at ``path`` (in eval mode) and its record."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = GPT(GPTConfig(**saved["config"]))
    state = dict(saved["state_dict"])
    state["head.weight"] = state["tok_emb.weight"]
    model.load_state_dict(state)
    return model.eval(), saved["record"]
