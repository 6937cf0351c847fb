"""Training a character-level GPT on the course corpus (chapters 9 and 11).

The pieces of a training loop, each small enough to test on its own:
:func:`get_batch` (random windows of text), :func:`learning_rate` (linear warm-up then
cosine decay), :func:`estimate_loss` (mean loss on fixed batches) and :func:`train`
(AdamW with gradient clipping, on CPU or GPU, one process or several).

One process:  python -m course.train --steps 200
Several GPUs: torchrun --standalone --nproc_per_node 4 -m course.train --steps 200
Without a GPU, torchrun's processes use the gloo backend: the same command tests DDP.

Tokens are characters, with the alphabet and the train/validation split of
:func:`course.markov.char_bigram_baseline`, so a model's loss is in nats per character,
the unit of the bigram baseline it must beat.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
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
    """How to train: optimiser, schedule, batches, how often to evaluate, and speed-ups."""

    steps: int = 300
    batch_size: int = 32  # sequences per micro-batch, per process
    max_lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    eval_every: int = 50
    eval_batches: int = 8
    seed: int = 0
    grad_accum: int = 1  # micro-batches per optimiser step
    compile: bool = False  # torch.compile the model (its first steps then compile)
    time_budget_s: float | None = None  # stop after this much training time; see train()


@dataclass
class History:
    """What happened during training: one entry per step, or per evaluation."""

    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # the batch loss of each step
    grad_norm: list[float] = field(default_factory=list)  # before clipping
    eval_step: list[int] = field(default_factory=list)
    eval_train: list[float] = field(default_factory=list)  # estimate_loss on training text
    eval_val: list[float] = field(default_factory=list)  # ... and on validation text
    seconds: float = 0.0  # wall time of the whole call
    train_seconds: float = 0.0  # optimiser steps after the first, without evaluations
    tokens_per_s: float = 0.0  # tokens of those steps (all processes) / train_seconds


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW that decays matrices (weights, embeddings) but not biases or norm gains.

    On a GPU it uses PyTorch's fused kernel: one launch updates every parameter.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = all(p.is_cuda for p in params)
    return torch.optim.AdamW(groups, lr=config.max_lr, betas=(0.9, 0.95), fused=fused)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on GPUs that have it (sm80+), fp16 on older ones (a T4), none on the CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    model: nn.Module,
    train_ids: Tensor,
    val_ids: Tensor,
    config: TrainConfig,
    progress: bool = True,
) -> History:
    """Train ``model`` in place, on the device its weights are on; return its history.

    Each step sets the scheduled learning rate, back-propagates the mean cross-entropy
    of ``grad_accum`` micro-batches of random windows, clips the gradient norm to
    ``config.grad_clip`` and updates the weights. Every ``eval_every`` steps, and after
    the last, it estimates the loss on training and validation text.

    On a GPU the forward pass runs under bf16 autocast (fp16 with a gradient scaler on
    GPUs without bf16) and AdamW is fused. With ``time_budget_s`` the schedule runs on
    the clock: it reaches ``min_lr`` when the budget or ``steps`` runs out, whichever
    comes first, and training stops there. Under ``torchrun`` (a process group is
    initialised) the model is wrapped in DistributedDataParallel: each process draws its
    own batches and the gradients are averaged, so every process keeps the same weights.
    """
    block_size = model.config.block_size
    device = next(model.parameters()).device
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    rank = dist.get_rank() if world > 1 else 0
    ddp = DistributedDataParallel(model) if world > 1 else None
    runner: nn.Module = ddp if ddp is not None else model
    if config.compile:
        runner = torch.compile(runner)  # type: ignore[assignment]
    optimizer = make_optimizer(model, config)
    half = autocast_dtype(device)
    scaler = torch.amp.GradScaler("cuda", enabled=half == torch.float16)
    generator = torch.Generator().manual_seed(config.seed + rank)
    history = History()
    losses, norms = [], []  # tensors on the device: read once at the end, not every step
    tokens_per_step = config.batch_size * config.grad_accum * block_size * world
    start = time.perf_counter()
    clock, trained, eval_seconds = start, 0.0, 0.0  # training time, after the first step
    model.train()
    bar = tqdm(range(config.steps), desc="training", disable=not progress or rank != 0)
    for step in bar:
        scheduled = step
        if config.time_budget_s is not None:  # the schedule follows the clock
            scheduled = max(step, round(config.steps * trained / config.time_budget_s))
        lr = learning_rate(
            min(scheduled, config.steps),
            max_lr=config.max_lr,
            min_lr=config.min_lr,
            warmup=config.warmup,
            total=config.steps,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(config.grad_accum):
            x, y = get_batch(train_ids, block_size, config.batch_size, generator)  # (B, T)
            last = micro == config.grad_accum - 1
            sync = ddp.no_sync() if ddp is not None and not last else contextlib.nullcontext()
            with sync:  # DDP averages the gradients once, after the last micro-batch
                with torch.autocast(device.type, dtype=half, enabled=half is not None):
                    loss = sequence_loss(runner, x.to(device), y.to(device), config.label_smoothing)
                scaler.scale(loss / config.grad_accum).backward()
            loss_sum += loss.detach() / config.grad_accum
        scaler.unscale_(optimizer)
        norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        history.lr.append(lr)
        losses.append(loss_sum)
        norms.append(norm)
        _synchronize(device)
        now = time.perf_counter()
        if step > 0:  # the first step carries compilation and warm-up
            trained += now - clock
        clock = now
        out_of_time = config.time_budget_s is not None and trained >= config.time_budget_s
        if world > 1 and config.time_budget_s is not None:  # every process stops together
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps or out_of_time:
            history.eval_step.append(step + 1)
            for ids, record in ((train_ids, history.eval_train), (val_ids, history.eval_val)):
                with torch.autocast(device.type, dtype=half, enabled=half is not None):
                    record.append(
                        estimate_loss(
                            model, ids, block_size, config.batch_size, config.eval_batches
                        )
                    )
            bar.set_postfix(val=f"{history.eval_val[-1]:.3f}", refresh=False)
            clock = time.perf_counter()  # evaluations are not training time
            eval_seconds += clock - now
        if out_of_time:
            break
    history.train_loss = torch.stack(losses).tolist()
    history.grad_norm = torch.stack(norms).tolist()
    history.seconds = time.perf_counter() - start
    history.train_seconds = trained
    timed_steps = len(losses) - 1
    if trained > 0:
        history.tokens_per_s = tokens_per_step * timed_steps / trained
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


def parameter_checksum(model: nn.Module) -> float:
    """Sum of all weights in float64: equal in every process when DDP keeps them in step."""
    return sum(p.detach().double().sum().item() for p in model.parameters())


def _device_for_this_process() -> torch.device:
    """cuda:LOCAL_RANK under torchrun with GPUs, the CPU without; one clear error if absent."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank >= torch.cuda.device_count():
        sys.exit(
            f"error: process {local_rank} needs cuda:{local_rank}, but this machine has "
            f"{torch.cuda.device_count()} GPU(s): use --nproc_per_node "
            f"{torch.cuda.device_count()}, or CUDA_VISIBLE_DEVICES= to train on the CPU"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--attention", choices=["naive", "sdpa", "triton"], default="sdpa")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds of training")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--checkpoint", default=None, help="where process 0 saves the model")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = _device_for_this_process()
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    corpus = char_corpus()
    torch.manual_seed(0)  # the same initial weights in every process
    model = GPT(
        GPTConfig(
            vocab_size=len(corpus.alphabet), block_size=args.block_size, n_layer=args.n_layer,
            n_head=args.n_head, d_model=args.d_model, attention=args.attention,
        )
    ).to(device)  # fmt: skip
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
        max_lr=args.lr, min_lr=args.lr / 10, warmup=max(1, args.steps // 10),
        compile=args.compile, time_budget_s=args.time_budget, eval_every=args.eval_every,
    )  # fmt: skip
    history = train(model, corpus.train, corpus.validation, config, not args.no_progress)
    if args.checkpoint and rank == 0:
        save_checkpoint(args.checkpoint, model, val_loss=history.eval_val[-1])
    line = (
        f"rank {rank}/{world} on {device}: final val loss {history.eval_val[-1]:.4f}, "
        f"{history.tokens_per_s:.0f} tokens/s, parameter checksum {parameter_checksum(model)!r}\n"
    )
    sys.stdout.write(line)  # one write per line: the processes share the terminal
    sys.stdout.flush()
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
