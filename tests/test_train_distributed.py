"""The trainer's GPU and multi-process paths, checked on the CPU: DDP with gloo under
torchrun, gradient accumulation, the time-based schedule, precision choice, and one clear
error when torchrun starts more processes than there are GPUs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

import course.train as course_train
from course.nn.gpt import GPT, GPTConfig
from course.train import TrainConfig, autocast_dtype, train


def _torchrun(nproc: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
        str(nproc), "-m", "course.train", "--steps", "4", "--eval-every", "4",
        "--batch-size", "4", "--block-size", "32", "--grad-accum", "2", "--no-progress",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _checksums(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"rank (\d)/2 [^\n]*? parameter checksum (-?[0-9.e+-]+)", stdout))


def test_two_gloo_processes_hold_identical_parameters():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # CPU and gloo, even on a GPU machine
    done = _torchrun(2, env)
    assert done.returncode == 0, done.stderr[-2000:]
    checksums = _checksums(done.stdout)
    assert set(checksums) == {"0", "1"}, done.stdout
    assert checksums["0"] == checksums["1"]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs two GPUs")
def test_two_nccl_processes_hold_identical_parameters():
    done = _torchrun(2, dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    checksums = _checksums(done.stdout)
    assert set(checksums) == {"0", "1"} and checksums["0"] == checksums["1"], done.stdout


def test_more_processes_than_gpus_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(SystemExit, match=r"needs cuda:1, but this machine has 1 GPU"):
        course_train._device_for_this_process()


def test_gpus_without_bf16_train_in_fp16(monkeypatch):
    assert autocast_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert autocast_dtype(torch.device("cuda")) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert autocast_dtype(torch.device("cuda")) == torch.bfloat16


def _tiny() -> tuple[GPT, torch.Tensor]:
    torch.manual_seed(0)
    ids = torch.arange(3000) % 7  # a pattern a model can learn
    return GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, d_model=32)), ids


def test_accumulating_two_half_batches_lowers_the_loss():
    model, ids = _tiny()
    config = TrainConfig(steps=30, batch_size=4, grad_accum=2, warmup=3, eval_every=15)
    history = train(model, ids, ids, config, progress=False)
    assert len(history.train_loss) == 30 and history.eval_val[-1] < history.eval_val[0]
    assert history.tokens_per_s > 0 and 0 < history.train_seconds <= history.seconds


def test_a_time_budget_runs_the_schedule_on_the_clock(monkeypatch):
    """Each perf_counter call advances a fake clock by 1 s; the budget is 8 s of training,
    against 1000 scheduled steps: the schedule must be nearly at min_lr when the time runs out."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(course_train.time, "perf_counter", lambda: float(next(ticks)))
    model, ids = _tiny()
    config = TrainConfig(
        steps=1000, batch_size=2, warmup=1, max_lr=1e-2, min_lr=1e-3, eval_every=1000,
        eval_batches=1, time_budget_s=8.0,
    )  # fmt: skip
    history = train(model, ids, ids, config, progress=False)
    assert len(history.lr) < 20, "training should stop when the budget is spent"
    # a step-based schedule would still be near max_lr after ~10 of 1000 steps
    assert history.lr[-1] < 0.15 * config.max_lr, history.lr
    assert history.eval_step == [len(history.lr)], "one evaluation, at the stop"
