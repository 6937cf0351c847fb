"""Compile the course's Triton kernels ahead of time for NVIDIA GPUs, with no GPU present.

Triton 3.9 lowers a kernel to PTX and a cubin with the ``ptxas`` in its wheel for any
``GPUTarget``, no driver needed. For each configuration this reports the shared memory
the compiled kernel asks for (against the target's limit per block) and, from ``ptxas
-v``, its registers and spilled bytes. tests/test_flash_compile.py checks a handful of
configurations; ``python -m benchmarks.flash_compile`` sweeps every dtype, head dim and
causal flag for sm_80 and sm_90 and records the report in
benchmarks/results/flash_compile.json. Triton caches compiled kernels (in
~/.triton/cache), so a second run takes seconds.

Run it in a process where Triton's interpreter is off (TRITON_INTERPRET=0 before
anything imports Triton): the interpreter's kernels cannot be compiled.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

#: Most shared memory one block may use (bytes): A100 (sm_80) and H100 (sm_90).
SHARED_LIMIT = {80: 166_912, 90: 232_448}
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "flash_compile.json"
TRITON_TYPE = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def _ptxas_report(ptx: str, capability: int) -> dict[str, int]:
    """Registers per thread and spilled bytes: the wheel's ptxas, run with Triton's flags."""
    from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "kernel.ptx"
        source.write_text(ptx)
        done = subprocess.run(
            [get_ptxas(capability).path, "-lineinfo", "-v", "--regAllocOptLevel=2",
             f"--gpu-name={sm_arch_from_capability(capability)}", str(source),
             "-o", str(Path(folder) / "kernel.cubin")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    log = done.stdout + done.stderr
    registers = re.search(r"Used (\d+) registers", log)
    spills = re.search(r"(\d+) bytes spill stores", log)
    return {
        "registers": int(registers.group(1)) if registers else -1,
        "spill_store_bytes": int(spills.group(1)) if spills else 0,
    }


#: kernel name -> (its function's name in course.nn.flash_triton, pointer arguments:
#: True for those in the input dtype, False for float32 ones, launch configuration).
KERNELS = {
    "forward": ("_flash_forward_kernel", {"Q": 1, "K": 1, "V": 1, "Out": 1, "LSE": 0}),
    "backward dK dV": (
        "_flash_backward_dkdv_kernel",
        {"Q": 1, "K": 1, "V": 1, "DO": 1, "LSE": 0, "DELTA": 0, "DK": 1, "DV": 1},
    ),
    "backward dQ": (
        "_flash_backward_dq_kernel",
        {"Q": 1, "K": 1, "V": 1, "DO": 1, "LSE": 0, "DELTA": 0, "DQ": 1},
    ),
}


def compile_kernel(
    kernel_name: str, dtype: torch.dtype, head_dim: int, causal: bool, capability: int
) -> dict[str, Any]:
    """Compile one kernel with its launch configuration for sm_<capability>; its report."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from course.nn import flash_triton

    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("Triton's interpreter is on: set TRITON_INTERPRET=0 to compile")
    function_name, pointers = KERNELS[kernel_name]
    if kernel_name == "forward":
        config = flash_triton.launch_config(dtype, head_dim)
    else:
        config = flash_triton.backward_launch_config(dtype, head_dim)
    element = TRITON_TYPE[dtype]
    signature = {name: f"*{element}" if same else "*fp32" for name, same in pointers.items()}
    signature |= {"t_q": "i32", "t_k": "i32", "scale": "fp32"}
    constants = {
        "CAUSAL": causal, "BLOCK_M": config.block_m, "BLOCK_N": config.block_n,
        "HEAD_DIM": head_dim, "PRECISION": "ieee" if dtype == torch.float32 else "tf32",
        "UPCAST": False,
    }  # fmt: skip
    signature |= dict.fromkeys(constants, "constexpr")
    source = ASTSource(getattr(flash_triton, function_name), signature, constants)
    options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
    kernel = triton.compile(source, target=GPUTarget("cuda", capability, 32), options=options)
    return {
        "kernel": kernel_name, "dtype": element, "head_dim": head_dim, "causal": causal,
        "target": f"sm_{capability}", **config._asdict(),
        "shared_bytes": kernel.metadata.shared, "shared_limit": SHARED_LIMIT[capability],
        **_ptxas_report(kernel.asm["ptx"], capability),
    }  # fmt: skip


def main() -> None:
    from benchmarks import record

    reports = [
        compile_kernel(kernel, dtype, head_dim, causal, capability)
        for kernel in KERNELS
        for capability in SHARED_LIMIT
        for dtype in TRITON_TYPE
        for head_dim in (64, 128)
        for causal in (False, True)
    ]
    for r in reports:
        print(
            f"{r['kernel']:15} {r['target']} {r['dtype']} D={r['head_dim']:3} "
            f"causal={r['causal']!s:5} "
            f"shared {r['shared_bytes']:6} / {r['shared_limit']}, {r['registers']} registers, "
            f"{r['spill_store_bytes']} bytes spilled"
        )
    over = [r for r in reports if r["shared_bytes"] > r["shared_limit"]]
    record(RESULTS, {"configurations": reports, "over_shared_limit": len(over)}, show=False)
    if over:
        raise SystemExit(f"{len(over)} configuration(s) exceed their target's shared memory")


if __name__ == "__main__":
    os.environ["TRITON_INTERPRET"] = "0"
    main()
