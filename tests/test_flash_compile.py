"""The Triton kernels compile ahead of time for sm_80 (A100) and sm_90 (H100), no GPU needed.

The interpreter that runs the other kernel tests accepts CPU tensors, any block shape and
dtype mixes the real compiler refuses, and knows nothing of shared memory. So this test
compiles a representative handful of configurations with Triton's NVIDIA pipeline, in a
subprocess with the interpreter off, and fails on a compile error, on shared memory
above the target's limit, or on spilled registers. Triton caches what it compiled, so
a second run is quick. The full sweep: python -m benchmarks.flash_compile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: (dtype, head dim, causal, compute capability): every dtype, both head dims, both
#: masks and both targets appear at least once.
CONFIGURATIONS = [
    ("float16", 64, True, 80),
    ("bfloat16", 128, True, 90),
    ("float32", 128, False, 80),
    ("float32", 64, True, 90),
    ("bfloat16", 64, False, 80),
    ("float16", 128, False, 90),
]

SCRIPT = """
import json, sys
import torch
from benchmarks.flash_compile import compile_forward
dtype, head_dim, causal, capability = json.loads(sys.argv[1])
print(json.dumps(compile_forward(getattr(torch, dtype), head_dim, causal, capability)))
"""


@pytest.mark.parametrize(
    "configuration",
    CONFIGURATIONS,
    ids=lambda c: f"{c[0]}-D{c[1]}-{'causal' if c[2] else 'full'}-sm{c[3]}",
)
def test_forward_kernel_compiles_within_shared_memory(configuration):
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(configuration)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, f"compilation failed:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shared_bytes"] <= report["shared_limit"], report
    assert report["spill_store_bytes"] == 0, f"registers spill: {report}"
