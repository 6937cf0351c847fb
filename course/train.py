"""Training a character-level GPT on the course corpus (chapters 9 and 11).

The pieces of a training loop, each small enough to test on its own:
:func:`get_batch` (random windows of text), :func:`learning_rate` (linear warm-up then
cosine decay), :func:`estimate_loss` (mean loss on fixed batches) and :func:`train`
(AdamW with gradient clipping, on CPU or GPU, one process or several, stopped and
resumed from a checkpoint at will: :func:`resume_training`).

One process:  python -m course.train --steps 200
In sessions:  python -m course.train --steps 2000 --until 500 --checkpoint run.pt, then
              python -m course.train --resume --checkpoint run.pt [--until 1000]
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
from functools import partial
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

    steps: int = 300  # the length of the schedule (a call may stop earlier: see train)
    batch_size: int = 32  # sequences per micro-batch, per process
    max_lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    eval_every: int | None = 50  # None: never estimate the loss
    eval_batches: int = 8
    seed: int = 0
    grad_accum: int = 1  # micro-batches per optimiser step
    compile: bool = False  # torch.compile the model (its first steps then compile)
    time_budget_s: float | None = None  # stop after this much training time; see train()


@dataclass
class History:
    """What happened during training: one entry per step, or per evaluation, from step 0
    (a resumed run continues the lists of its checkpoint)."""

    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # the batch loss of each step
    grad_norm: list[float] = field(default_factory=list)  # before clipping
    eval_step: list[int] = field(default_factory=list)
    eval_train: list[float] = field(default_factory=list)  # estimate_loss on training text
    eval_val: list[float] = field(default_factory=list)  # ... and on validation text
    seconds: float = 0.0  # wall time of the calls to train()
    train_seconds: float = 0.0  # optimiser steps after each call's first, no evaluations
    timed_steps: int = 0  # the steps train_seconds counts
    tokens_per_s: float = 0.0  # tokens of those steps (all processes) / train_seconds


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW that decays matrices (weights, embeddings) but not biases or norm gains.

    On a GPU it uses PyTorch's fused kernel: one launch updates every parameter; on the
    CPU the multi-tensor ("foreach") update, about a fifth faster than one parameter at
    a time (measured in benchmarks/trainer.py's nanoGPT-size model).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = all(p.is_cuda for p in params)
    return torch.optim.AdamW(
        groups, lr=config.max_lr, betas=(0.9, 0.95), fused=fused, foreach=not fused
    )


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on GPUs that have it (sm80+), fp16 on older ones (a T4), none on the CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    model: GPT,
    train_ids: Tensor,
    val_ids: Tensor,
    config: TrainConfig,
    progress: bool = True,
    *,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    until: int | None = None,
) -> History:
    """Train ``model`` in place, on the device its weights are on; return its history.

    Each step sets the scheduled learning rate, back-propagates the mean cross-entropy
    of ``grad_accum`` micro-batches of random windows, clips the gradient norm to
    ``config.grad_clip`` and updates the weights. Every ``eval_every`` steps, and when
    the call stops, it estimates the loss on training and validation text.

    Stopping and resuming: ``until`` stops after that many steps of the ``config.steps``
    schedule. With ``checkpoint`` (a path) the whole training state is written there
    when the call stops and every ``checkpoint_every`` steps; ``resume=True`` first
    reads it back (weights, AdamW's moments, the step, every random generator, the
    history) and carries on, so N steps, a stop and M more steps end with the weights
    of N + M steps in one go, bit for bit on the CPU. Model and train config must be
    those of the checkpoint: :func:`resume_training` reads them from it.

    On a GPU the forward pass runs under bf16 autocast (fp16 with a gradient scaler on
    GPUs without bf16) and AdamW is fused. With ``time_budget_s`` the schedule runs on
    the clock: it reaches ``min_lr`` when the budget or ``steps`` runs out, whichever
    comes first, and training stops there. Under ``torchrun`` (a process group is
    initialised) the model is wrapped in DistributedDataParallel: each process draws its
    own batches and the gradients are averaged, so every process keeps the same weights.
    Per step nothing is read back from the device (no ``.item()``): losses and gradient
    norms stay tensors until the call ends or a checkpoint is written.
    """
    if resume and checkpoint is None:
        raise ValueError("resume=True needs the checkpoint path to resume from")
    block_size = model.config.block_size
    device = next(model.parameters()).device
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    rank = dist.get_rank() if world > 1 else 0
    optimizer = make_optimizer(model, config)
    half = autocast_dtype(device)
    scaler = torch.amp.GradScaler("cuda", enabled=half == torch.float16)
    generator = torch.Generator().manual_seed(config.seed + rank)
    history = History()
    if resume:
        saved = _read_training_state(checkpoint, model, config, world)
        model.load_state_dict(_full_state_dict(model, saved["state_dict"]))
        optimizer.load_state_dict(saved["training"]["optimizer"])
        scaler.load_state_dict(saved["training"]["scaler"])
        _set_rng_state(saved["training"]["rng"][rank], generator, device)
        history = History(**saved["training"]["history"])
    first = len(history.lr)  # steps already taken
    stop_at = config.steps if until is None else until
    if not first <= stop_at <= config.steps:
        raise ValueError(f"until must lie in [{first}, {config.steps}], got {until}")
    ddp = DistributedDataParallel(model) if world > 1 else None
    runner: nn.Module = ddp if ddp is not None else model
    if config.compile:
        runner = torch.compile(runner)  # type: ignore[assignment]
    autocast = partial(torch.autocast, device.type, dtype=half) if half else contextlib.nullcontext
    losses, norms = [], []  # tensors on the device: read when the call stops, not every step
    tokens_per_step = config.batch_size * config.grad_accum * block_size * world
    start = time.perf_counter()
    clock, trained = start, history.train_seconds  # training time, after each call's first step

    def tick(step: int) -> None:
        """Count the time since ``clock`` as training, unless it was this call's first step."""
        nonlocal clock, trained
        _synchronize(device)
        now = time.perf_counter()
        if step > first:
            trained += now - clock
        clock = now

    timed_before, seconds_before = history.timed_steps, history.seconds

    def settle_history() -> None:
        """Bring the history up to date: this call's losses and norms (one read from the
        device), its time, and the tokens per second of the whole run."""
        if losses:
            history.train_loss += torch.stack(losses).view(-1, config.grad_accum).mean(1).tolist()
            history.grad_norm += torch.stack(norms).tolist()
            losses.clear()
            norms.clear()
        history.seconds = seconds_before + time.perf_counter() - start
        history.train_seconds = trained
        history.timed_steps = timed_before + max(0, len(history.lr) - first - 1)
        if trained > 0:
            history.tokens_per_s = tokens_per_step * history.timed_steps / trained

    model.train()
    bar = tqdm(
        range(first, stop_at), desc="training", initial=first, total=config.steps,
        disable=not progress or rank != 0,
    )  # fmt: skip
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
        for micro in range(config.grad_accum):
            x, y = get_batch(train_ids, block_size, config.batch_size, generator)  # (B, T)
            last = micro == config.grad_accum - 1
            sync = ddp.no_sync() if ddp is not None and not last else contextlib.nullcontext()
            with sync:  # DDP averages the gradients once, after the last micro-batch
                with autocast():
                    loss = sequence_loss(runner, x.to(device), y.to(device), config.label_smoothing)
                scaler.scale(loss / config.grad_accum).backward()
            losses.append(loss.detach())
        scaler.unscale_(optimizer)
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        history.lr.append(lr)
        done = step + 1
        out_of_time = False
        if step == first or config.time_budget_s is not None:
            tick(step)  # the clock is read only when something depends on it
            out_of_time = config.time_budget_s is not None and trained >= config.time_budget_s
        if world > 1 and config.time_budget_s is not None:  # every process stops together
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        stop = out_of_time or done == stop_at
        evaluate = config.eval_every is not None and (done % config.eval_every == 0 or stop)
        save = checkpoint is not None and (
            stop or (checkpoint_every is not None and done % checkpoint_every == 0)
        )
        if evaluate or save or stop:
            tick(step)
            if evaluate:
                history.eval_step.append(done)
                for ids, record in ((train_ids, history.eval_train), (val_ids, history.eval_val)):
                    with autocast():
                        record.append(
                            estimate_loss(
                                model, ids, block_size, config.batch_size, config.eval_batches
                            )
                        )
                bar.set_postfix(val=f"{history.eval_val[-1]:.3f}", refresh=False)
            if save:
                settle_history()
                _write_training_state(
                    checkpoint, model, optimizer, scaler, generator, config, history, rank, world
                )
            clock = time.perf_counter()  # evaluations and checkpoints are not training time
        if stop:
            break
    settle_history()
    return history


def resume_training(
    path: str | Path,
    train_ids: Tensor,
    val_ids: Tensor,
    *,
    until: int | None = None,
    checkpoint_every: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[GPT, History]:
    """Rebuild the model and train config saved at ``path`` and continue its training.

    The checkpoint is updated in place; returns the model (in train mode, on ``device``)
    and the history of the whole run.
    """
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if "training" not in saved:
        raise ValueError(f"{path} holds weights only, no training state to resume")
    model = GPT(GPTConfig(**saved["config"])).to(device)
    config = TrainConfig(**saved["training"]["train_config"])
    history = train(
        model, train_ids, val_ids, config, progress, checkpoint=path,
        checkpoint_every=checkpoint_every, resume=True, until=until,
    )  # fmt: skip
    return model, history


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


def _weights(model: GPT) -> dict[str, Tensor]:
    """The model's state dict; a tied output layer is the embedding, saved once."""
    state = model.state_dict()
    if model.config.tie_head:
        del state["head.weight"]
    return state


def _full_state_dict(model: GPT, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` as saved by :func:`_weights`, with a tied output layer filled back in."""
    state = dict(state)
    if model.config.tie_head:
        state["head.weight"] = state["tok_emb.weight"]
    return state


def _save_atomically(payload: dict[str, object], path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_name(path.name + ".partial")
    torch.save(payload, partial_path)
    os.replace(partial_path, path)


def save_checkpoint(path: str | Path, model: GPT, **record: object) -> None:
    """Write the model's config and weights, plus any ``record`` (numbers, strings)."""
    payload = {"config": asdict(model.config), "state_dict": _weights(model), "record": record}
    _save_atomically(payload, Path(path))


def load_checkpoint(path: str | Path) -> tuple[GPT, dict[str, object]]:
    """The GPT saved at ``path`` (in eval mode, on the CPU) and its record.

    Reads checkpoints of :func:`save_checkpoint` and of :func:`train` alike, for any
    :class:`GPTConfig`: fields a checkpoint predates take their defaults.
    """
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = GPT(GPTConfig(**saved["config"]))
    model.load_state_dict(_full_state_dict(model, saved["state_dict"]))
    return model.eval(), saved["record"]


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Tensor | None]:
    """This process's random generators: PyTorch's CPU and CUDA ones, and the batches'."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"torch": torch.get_rng_state(), "cuda": cuda, "batches": generator.get_state()}


def _set_rng_state(
    state: dict[str, Tensor | None], generator: torch.Generator, device: torch.device
) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    generator.set_state(state["batches"])


def _write_training_state(
    path: str | Path,
    model: GPT,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    generator: torch.Generator,
    config: TrainConfig,
    history: History,
    rank: int,
    world: int,
) -> None:
    """Process 0 writes everything :func:`train` needs to continue, with every process's
    random generators (each draws its own batches)."""
    device = next(model.parameters()).device
    rng = [_rng_state(generator, device)]
    if world > 1:
        rng = [None] * world
        dist.all_gather_object(rng, _rng_state(generator, device))
    if rank != 0:
        return
    record: dict[str, object] = {"step": len(history.lr)}
    if history.eval_val:
        record["val_loss"] = history.eval_val[-1]
    training = {
        "train_config": asdict(config),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng,
        "history": asdict(history),
    }
    payload = {"config": asdict(model.config), "state_dict": _weights(model), "record": record}
    _save_atomically({**payload, "training": training}, Path(path))


def _read_training_state(
    path: str | Path, model: GPT, config: TrainConfig, world: int
) -> dict[str, object]:
    """The checkpoint at ``path``, checked against the run that wants to continue it."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if "training" not in saved:
        raise ValueError(f"{path} holds weights only, no training state to resume")
    if GPTConfig(**saved["config"]) != model.config:
        raise ValueError(f"{path} was trained with {saved['config']}, not {model.config}")
    if TrainConfig(**saved["training"]["train_config"]) != config:
        raise ValueError(f"{path} was trained with {saved['training']['train_config']}")
    if len(saved["training"]["rng"]) != world:
        raise ValueError(f"{path} was trained by {len(saved['training']['rng'])} processes")
    return saved


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
    parser.add_argument("--checkpoint", default=None, help="where process 0 saves the run")
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--resume", action="store_true", help="continue --checkpoint's run")
    parser.add_argument("--until", type=int, default=None, help="stop after this step")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = _device_for_this_process()
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    corpus = char_corpus()
    if args.resume:  # model and schedule come from the checkpoint
        model, history = resume_training(
            args.checkpoint, corpus.train, corpus.validation, until=args.until,
            checkpoint_every=args.checkpoint_every, device=device,
            progress=not args.no_progress,
        )  # fmt: skip
    else:
        torch.manual_seed(0)  # the same initial weights in every process
        model = GPT(
            GPTConfig(
                vocab_size=len(corpus.alphabet), block_size=args.block_size,
                n_layer=args.n_layer, n_head=args.n_head, d_model=args.d_model,
                attention=args.attention,
            )
        ).to(device)  # fmt: skip
        config = TrainConfig(
            steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
            max_lr=args.lr, min_lr=args.lr / 10, warmup=max(1, args.steps // 10),
            compile=args.compile, time_budget_s=args.time_budget, eval_every=args.eval_every,
        )  # fmt: skip
        history = train(
            model, corpus.train, corpus.validation, config, not args.no_progress,
            checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, until=args.until,
        )  # fmt: skip
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
