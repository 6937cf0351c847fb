"""Train the lab's GPT on the Python standard library's source, on one device or many.

One process:  python -m course.gpu.train --steps 200
Several GPUs: torchrun --standalone --nproc_per_node 4 -m course.gpu.train --steps 200
On CPU, torchrun uses the gloo backend, so the same command tests DDP without a GPU.

On CUDA the loop runs under bf16 autocast with PyTorch's fused AdamW; everywhere it uses
warm-up then cosine learning rates, gradient accumulation, optional torch.compile,
checkpoints and a tqdm progress bar.
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
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from course import data
from course.gpu import tokenizer
from course.gpu.model import GPT, GPTConfig


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100
    batch_size: int = 8  # sequences per micro-batch per process
    grad_accum: int = 1  # micro-batches per optimiser step
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 10
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 50
    eval_batches: int = 4
    compile: bool = False
    checkpoint: str | None = None  # path written at every evaluation (rank 0 only)
    time_budget_s: float | None = None  # stop early, and evaluate, once this much time passed
    seed: int = 0
    progress: bool = True
    model: GPTConfig = field(default_factory=GPTConfig)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to `lr` over `warmup` steps, then cosine decay to `min_lr`."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (
        1 + math.cos(math.pi * min(1.0, progress))
    )


def corpus_splits(val_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """Byte tokens of the course corpus, split into training and validation parts."""
    tokens = tokenizer.encode(data.python_source())
    cut = int(len(tokens) * (1 - val_fraction))
    return tokens[:cut], tokens[cut:]


def get_batch(
    tokens: Tensor, block: int, batch: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """`batch` random windows of inputs (B, T) and their next tokens (B, T)."""
    starts = torch.randint(len(tokens) - block - 1, (batch,), generator=generator)
    x = torch.stack([tokens[s : s + block] for s in starts.tolist()])
    y = torch.stack([tokens[s + 1 : s + block + 1] for s in starts.tolist()])
    return x, y


def make_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only; the fused CUDA kernel on a GPU."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=device.type == "cuda")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, tokens: Tensor, config: TrainConfig, device: torch.device) -> float:
    """Mean loss over `eval_batches` fixed batches of `tokens`."""
    model.eval()
    generator = torch.Generator().manual_seed(1234)
    losses = []
    for _ in range(config.eval_batches):
        x, y = get_batch(tokens, config.model.block_size, config.batch_size, generator)
        with autocast(device):
            losses.append(model(x.to(device), y.to(device))[1].item())
    model.train()
    return sum(losses) / len(losses)


def train(
    config: TrainConfig,
    train_tokens: Tensor,
    val_tokens: Tensor,
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[GPT, dict[str, list[float]]]:
    """Train a fresh GPT; returns it and its history (losses, learning rates, tokens/s).

    With world_size > 1 the process group must exist; each rank draws its own batches
    and DDP averages the gradients, so every rank holds the same weights after each step.
    """
    torch.manual_seed(config.seed)  # same initial weights on every rank
    model = GPT(config.model).to(device)
    ddp = DistributedDataParallel(model) if world_size > 1 else None
    trained: nn.Module = ddp if ddp is not None else model
    runner = torch.compile(trained) if config.compile else trained
    optimizer = make_optimizer(model, config, device)
    generator = torch.Generator().manual_seed(config.seed + 1 + rank)
    history: dict[str, list[float]] = {
        "step": [],
        "loss": [],
        "lr": [],
        "eval_step": [],
        "val_loss": [],
    }
    tokens_per_step = config.batch_size * config.grad_accum * config.model.block_size * world_size
    started = time.perf_counter()
    bar = tqdm(range(config.steps), disable=not config.progress or rank != 0, desc="training")
    for step in bar:
        lr = learning_rate(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for micro in range(config.grad_accum):
            x, y = get_batch(train_tokens, config.model.block_size, config.batch_size, generator)
            last = micro == config.grad_accum - 1
            sync = ddp.no_sync() if ddp is not None and not last else contextlib.nullcontext()
            with sync:  # DDP averages gradients only on the last micro-batch
                with autocast(device):
                    loss = runner(x.to(device), y.to(device))[1] / config.grad_accum
                loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        history["step"].append(step)
        history["loss"].append(loss_sum)
        history["lr"].append(lr)
        bar.set_postfix(loss=f"{loss_sum:.3f}")
        out_of_time = (
            config.time_budget_s is not None
            and time.perf_counter() - started > config.time_budget_s
        )
        if world_size > 1 and config.time_budget_s is not None:  # every rank stops together
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps or out_of_time:
            history["eval_step"].append(step)
            history["val_loss"].append(evaluate(model, val_tokens, config, device))
            if config.checkpoint and rank == 0:
                save_checkpoint(Path(config.checkpoint), model, optimizer, config, step)
        if out_of_time:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    steps_done = len(history["step"])
    history["tokens_per_s"] = [tokens_per_step * steps_done / (time.perf_counter() - started)]
    return model, history


def save_checkpoint(
    path: Path, model: GPT, optimizer: torch.optim.Optimizer, config: TrainConfig, step: int
) -> None:
    """Weights, optimiser state, configs and step in one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "model_config": asdict(config.model),
        "step": step,
    }
    torch.save(state, path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> GPT:
    """A GPT rebuilt from a checkpoint written by `save_checkpoint`."""
    state = torch.load(path, map_location=device, weights_only=True)
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device)


def parameter_checksum(model: nn.Module) -> float:
    """Sum of all weights in float64: equal on every rank when DDP keeps them in step."""
    return sum(p.detach().double().sum().item() for p in model.parameters())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=2)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--attention", choices=["naive", "sdpa", "triton"], default="sdpa")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    model_config = GPTConfig(
        block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
        n_embd=args.n_embd, attention=args.attention,
    )  # fmt: skip
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        min_lr=args.lr / 10, warmup=max(1, args.steps // 10), compile=args.compile,
        checkpoint=args.checkpoint, eval_every=args.eval_every,
        progress=not args.no_progress, model=model_config,
    )  # fmt: skip
    train_tokens, val_tokens = corpus_splits()
    model, history = train(config, train_tokens, val_tokens, device, rank, world_size)
    line = (
        f"rank {rank}/{world_size} on {device}: final val loss {history['val_loss'][-1]:.4f}, "
        f"{history['tokens_per_s'][0]:.0f} tokens/s, "
        f"parameter checksum {parameter_checksum(model)!r}\n"
    )
    sys.stdout.write(line)  # one write per line: ranks share the terminal
    sys.stdout.flush()
    if world_size > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
