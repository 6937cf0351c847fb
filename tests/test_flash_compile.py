"""The Triton kernels compile ahead of time for sm_80 (A100) and sm_90 (H100), no GPU needed.

The interpreter that runs the other kernel tests accepts CPU tensors, any block shape and
dtype mixes the real compiler refuses, and knows nothing of shared memory or registers.
So this test compiles a representative handful of configurations of every kernel with
Triton's NVIDIA pipeline, in one subprocess with the interpreter off, and fails on a
compile error, on shared memory above the target's limit, or on spilled registers.
Triton caches what it compiled, so a second run is quick. The full sweep:
python -m benchmarks.flash_compile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: (kernel, dtype, head dim, causal, compute capability): each kernel meets every dtype,
#: both head dims, both masks and both targets at least once.
CONFIGURATIONS = [
    ("forward", "float16", 64, True, 80),
    ("forward", "bfloat16", 128, True, 90),
    ("forward", "float32", 128, False, 80),
    ("forward", "float32", 64, True, 90),
    ("forward", "bfloat16", 64, False, 80),
    ("forward", "float16", 128, False, 90),
    ("backward dK dV", "bfloat16", 128, True, 80),
    ("backward dK dV", "float16", 64, False, 90),
    ("backward dK dV", "float32", 64, True, 80),
    ("backward dQ", "float16", 64, True, 80),
    ("backward dQ", "float32", 128, False, 90),
    ("backward dQ", "bfloat16", 128, True, 90),
]

SCRIPT = """
import json, sys
import torch
from benchmarks.flash_compile import compile_kernel
for kernel, dtype, head_dim, causal, capability in json.loads(sys.argv[1]):
    try:
        report = compile_kernel(kernel, getattr(torch, dtype), head_dim, causal, capability)
    except Exception as error:  # reported per configuration by the test
        report = {"error": f"{type(error).__name__}: {error}"[-3000:]}
    print(json.dumps([[kernel, dtype, head_dim, causal, capability], report]), flush=True)
"""


@pytest.fixture(scope="module")
def reports() -> dict[tuple, dict]:
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(CONFIGURATIONS)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, f"the compile script failed:\n{done.stderr[-3000:]}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    return {tuple(configuration): report for configuration, report in lines}


def _id(c: tuple) -> str:
    return f"{c[0].replace(' ', '-')}-{c[1]}-D{c[2]}-{'causal' if c[3] else 'full'}-sm{c[4]}"


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=_id)
def test_kernel_compiles_within_shared_memory_without_spills(reports, configuration):
    report = reports[configuration]
    assert "error" not in report, f"compilation failed: {report['error']}"
    assert report["shared_bytes"] <= report["shared_limit"], report
    assert report["spill_store_bytes"] == 0, f"registers spill: {report}"
