"""Peak memory of a call, on the CPU or a GPU (chapters 10 and 11, and the graders' probe)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate

import torch
from torch._C._profiler import _ExperimentalConfig
from torch.autograd import (
    ProfilerActivity,
    ProfilerConfig,
    ProfilerState,
    _disable_profiler,
    _enable_profiler,
    _prepare_profiler,
)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2, where the profiler's C++ side logs its start and stop."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Bytes that ``fn()`` holds at its peak beyond what existed before the call.

    On a GPU, the CUDA allocator's peak counter. On the CPU, PyTorch's profiler records
    every allocation and free with a time stamp; the peak is the largest running total.
    Tensors that ``fn`` returns count too. The profiler is driven through the autograd
    entry points that ``torch.profiler.profile`` wraps: the wrapper also imports
    ``torch._dynamo`` and sympy on first use, about 2 s that a grader would pay per run.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    config = ProfilerConfig(
        ProfilerState.KINETO,
        False,  # record_input_shapes
        True,  # profile_memory
        False,  # with_stack
        False,  # with_flops
        False,  # with_modules
        _ExperimentalConfig(),
    )
    activities = {ProfilerActivity.CPU}
    with _quiet_stderr():
        _prepare_profiler(config, activities)
        _enable_profiler(config, activities)
        try:
            fn()
        finally:
            result = _disable_profiler()
    events = sorted((e.start_ns(), e.nbytes()) for e in result.events() if e.name() == "[memory]")
    return max([0, *accumulate(nbytes for _, nbytes in events)])
