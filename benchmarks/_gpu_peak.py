"""A GPU's datasheet peak, found by ``torch.cuda.get_device_name``, and its measured matmul rate.

``DATASHEET`` holds NVIDIA's published peaks in TFLOP/s: float32 on the CUDA cores (no tensor
cores) and the tensor cores' dense TF32, bfloat16 and float16 rates (float32 accumulation). Where
a datasheet gives only the rate "with sparsity" (Hopper, Ada), the dense rate is half of it; the
``source`` says which document and whether it was halved. The peaks are at the boost clock, so
a measured rate at or under them is the normal case; one above them means a wrong entry, and the
share is then refused rather than printed above 100%.

The measured rate is a dense ``n x n`` matmul timed with CUDA events over about ``seconds``:
float32 with TF32 off (CUDA cores), float32 with TF32 on (tensor cores), and bfloat16.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GpuPeak:
    """One chip's datasheet peaks in TFLOP/s (None: the chip has no such unit)."""

    pattern: str  # a regular expression on the upper-cased device name
    chip: str
    fp32: float
    tf32: float | None
    bf16: float | None
    fp16: float | None
    source: str


_H = "dense = half the datasheet's with-sparsity figure"
DATASHEET: list[GpuPeak] = [  # the more specific patterns first
    GpuPeak(r"GH200", "GH200 (H100 SXM compute)", 67.0, 494.5, 989.5, 989.5,
            f"NVIDIA GH200 Grace Hopper Superchip datasheet; {_H}"),
    GpuPeak(r"H200.*NVL", "H200 NVL", 60.0, 417.5, 835.5, 835.5,
            f"NVIDIA H200 Tensor Core GPU datasheet (H200 NVL); {_H}"),
    GpuPeak(r"H200", "H200 SXM", 67.0, 494.5, 989.5, 989.5,
            f"NVIDIA H200 Tensor Core GPU datasheet (H200 SXM); {_H}"),
    GpuPeak(r"H100.*PCIE", "H100 PCIe", 51.0, 378.0, 756.5, 756.5,
            f"NVIDIA H100 Tensor Core GPU datasheet (H100 PCIe); {_H}"),
    GpuPeak(r"H100.*NVL", "H100 NVL", 60.0, 417.5, 835.5, 835.5,
            f"NVIDIA H100 Tensor Core GPU datasheet (H100 NVL); {_H}"),
    GpuPeak(r"H100", "H100 SXM", 67.0, 494.5, 989.5, 989.5,
            f"NVIDIA H100 Tensor Core GPU datasheet (H100 SXM); {_H}"),
    GpuPeak(r"A100", "A100 (SXM and PCIe)", 19.5, 156.0, 312.0, 312.0,
            "NVIDIA A100 Tensor Core GPU datasheet (dense figures as stated)"),
    GpuPeak(r"L40S", "L40S", 91.6, 183.0, 366.5, 366.5,
            f"NVIDIA L40S GPU datasheet; {_H}"),
    GpuPeak(r"\bL4\b", "L4", 30.3, 60.0, 121.0, 121.0,
            f"NVIDIA L4 Tensor Core GPU datasheet; {_H}"),
    GpuPeak(r"\bA10\b", "A10", 31.2, 62.5, 125.0, 125.0,
            "NVIDIA A10 Tensor Core GPU datasheet (dense figures as stated)"),
    GpuPeak(r"\bT4\b", "T4", 8.1, None, None, 65.0,
            "NVIDIA T4 Tensor Core GPU datasheet (Turing: no TF32, no bfloat16)"),
    GpuPeak(r"V100.*PCIE", "V100 PCIe", 14.0, None, None, 112.0,
            "NVIDIA V100 Tensor Core GPU datasheet (V100 PCIe; Volta: no TF32, no bfloat16)"),
    GpuPeak(r"V100", "V100 SXM2", 15.7, None, None, 125.0,
            "NVIDIA V100 Tensor Core GPU datasheet (V100 SXM2; Volta: no TF32, no bfloat16)"),
    GpuPeak(r"RTX 4090", "GeForce RTX 4090", 82.6, 82.6, 165.2, 165.2,
            "NVIDIA Ada GPU architecture whitepaper, appendix table (FP32 accumulate, dense)"),
    GpuPeak(r"RTX 3090", "GeForce RTX 3090", 35.6, 35.6, 71.0, 71.0,
            "NVIDIA Ampere GA102 GPU architecture whitepaper (FP32 accumulate, dense)"),
]  # fmt: skip
KINDS = ("fp32", "tf32", "bf16")


def lookup(device_name: str) -> GpuPeak | None:
    """The datasheet entry for a ``torch.cuda.get_device_name`` string, or None."""
    name = re.sub(r"[-_]", " ", device_name.upper())
    return next((p for p in DATASHEET if re.search(p.pattern, name)), None)


def no_gpu_reason() -> str | None:
    """Why ``--device cuda`` cannot run here, or None when a CUDA GPU is visible."""
    if torch.cuda.is_available():
        return None
    build = (
        f"torch {torch.__version__} built without CUDA"
        if torch.version.cuda is None
        else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
    )
    return (
        f"--device cuda: no CUDA GPU is visible ({build}); run without --device on this "
        "machine, or on one with an NVIDIA GPU and a CUDA build of torch"
    )


def gpu_share(tflops: float, peak: GpuPeak | None, kind: str) -> dict[str, object]:
    """The share of the chip's datasheet ``kind`` peak (fp32, tf32, bf16, fp16), or why it is
    not printed: no entry for the chip, no such unit, or a rate above the datasheet."""
    if peak is None:
        return {"share": None, "why": "no datasheet entry for this chip"}
    ceiling = getattr(peak, kind)
    if ceiling is None:
        return {"share": None, "why": f"no datasheet {kind} peak for the {peak.chip}"}
    share = tflops / ceiling
    if share > 1:
        return {
            "share": None,
            "why": f"{share:.0%} of the datasheet {kind} peak: the table entry is wrong for this "
            "chip (it is no ceiling)",
        }
    return {"share": share, "why": None}


def cuda_seconds(fn: Callable[[], object], reps: int) -> float:
    """Seconds for ``reps`` calls of ``fn``, timed on the GPU with CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000


def wall_seconds(fn: Callable[[], object], reps: int) -> float:
    """Seconds for ``reps`` calls of ``fn`` by the wall clock (the CPU stand-in for tests)."""
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return time.perf_counter() - t0


def matmul_tflops(
    n: int,
    kind: str,
    device: str = "cuda",
    seconds: float = 0.5,
    timer: Callable[[Callable[[], object], int], float] = cuda_seconds,
) -> float:
    """Dense ``n x n`` matmul TFLOP/s of one kind (``fp32``: TF32 off; ``tf32``: float32
    inputs on the tensor cores; ``bf16``); the TF32 setting is restored afterwards."""
    dtype = torch.bfloat16 if kind == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = kind == "tf32"
    try:
        once = timer(lambda: a @ b, 3)  # warm-up, and the size of one timed batch
        reps = max(3, int(seconds / max(once / 3, 1e-6)))
        return 2 * n**3 * reps / timer(lambda: a @ b, reps) / 1e12
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def measured_matmul(
    peak: GpuPeak | None,
    sizes: tuple[int, ...] = (4096, 8192),
    device: str = "cuda",
    seconds: float = 0.5,
    timer: Callable[[Callable[[], object], int], float] = cuda_seconds,
) -> dict[str, dict[str, object]]:
    """The best matmul rate of each kind over ``sizes``, with its share of the datasheet."""
    out: dict[str, dict[str, object]] = {}
    for kind in KINDS:
        rates = {n: matmul_tflops(n, kind, device, seconds, timer) for n in sizes}
        n = max(rates, key=lambda k: rates[k])
        ceiling = None if peak is None else getattr(peak, kind)
        verdict = gpu_share(rates[n], peak, kind)
        out[kind] = {"tflops": rates[n], "n": n, "peak_tflops": ceiling, "verdict": verdict}
    return out
