"""Training: the learning-rate schedule, checkpoints, and DDP on CPU (two processes, gloo)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import torch

from course.gpu.model import GPTConfig
from course.gpu.train import TrainConfig, learning_rate, load_checkpoint, train


def test_learning_rate_warms_up_then_decays_to_min():
    config = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr=0.1)
    rates = [learning_rate(step, config) for step in range(100)]
    assert rates[0] == 0.1 and rates[9] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))
    assert abs(learning_rate(100, config) - 0.1) < 1e-12


def test_short_training_lowers_the_loss_and_checkpoints(tmp_path):
    tokens = torch.randint(0, 8, (4000,), generator=torch.Generator().manual_seed(0))
    path = tmp_path / "model.pt"
    config = TrainConfig(
        steps=30, batch_size=4, grad_accum=2, eval_every=15, warmup=3, progress=False,
        checkpoint=str(path), model=GPTConfig(block_size=16, n_layer=1, n_embd=32),
    )  # fmt: skip
    model, history = train(config, tokens, tokens, torch.device("cpu"))
    assert history["val_loss"][-1] < history["val_loss"][0] < 6.0
    restored = load_checkpoint(path)
    for a, b in zip(model.state_dict().values(), restored.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_two_gloo_processes_hold_identical_parameters():
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "course.gpu.train", "--steps", "4", "--eval-every", "4", "--batch-size", "4",
        "--block-size", "32", "--grad-accum", "2", "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    checksums = dict(
        re.findall(r"rank (\d)/2 [^\n]*? parameter checksum (-?[0-9.e+-]+)", done.stdout)
    )
    assert set(checksums) == {"0", "1"}, done.stdout
    assert checksums["0"] == checksums["1"]
