"""The core's real clock, measured: a chain of dependent integer adds runs at one add per cycle.

A virtual machine often states only its nominal clock (``/proc/cpuinfo``'s "cpu MHz", no
"CPU max MHz", no cpufreq), while the core boosts above it; a peak derived from the stated clock
is then below what a matmul measures, so it is no ceiling. This module compiles a tiny C kernel
with the system's ``cc`` (into a temporary folder, loaded through ``ctypes``): ``.rept`` blocks of
``add %reg, %acc`` in inline ``asm volatile``, each add depending on the one before, so the
compiler cannot fold or drop them and the core cannot overlap them. An integer add has a latency
of one cycle on every x86-64 and AArch64 core, so adds per second = cycles per second. A chain
of dependent ``imul`` (3 cycles on x86-64, Intel and AMD alike) checks it: the two clocks must
agree. The calling thread is pinned to one CPU; each run lasts ``seconds`` of its CPU time; the
best of ``runs`` is kept.

The adds take a register operand, not an immediate: some renamers (Intel Golden Cove) execute
``add reg, imm`` chains at rename, faster than one per cycle.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

BLOCK = 200  # dependent operations per loop iteration (the loop's own work runs beside them)
IMUL_LATENCY = 3  # cycles of a 64-bit register imul on x86-64 (Intel since Core 2, AMD since Zen)

_ASM = {  # architecture: (add, imul or None), with %0 the accumulator and %1 the operand
    "x86_64": ("add %1, %0", "imul %1, %0"),
    "aarch64": ("add %0, %0, %1", None),
}
_KERNEL = """
#include <stdint.h>
uint64_t chain_{name}(uint64_t iters) {{
    uint64_t acc = 1, k = {operand};
    for (uint64_t i = 0; i < iters; i++) {{
        __asm__ volatile(".rept {block}\\n\\t{op}\\n\\t.endr" : "+r"(acc) : "r"(k));
    }}
    return acc;
}}
"""


def _compile(tmp: Path, arch: str) -> tuple[ctypes.CDLL | None, str]:
    """The kernels as a shared library, or None and why not."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler (cc, gcc or clang) on PATH"
    add, imul = _ASM[arch]
    src = _KERNEL.format(name="add", operand=1, block=BLOCK, op=add)
    if imul:
        src += _KERNEL.format(name="imul", operand=3, block=BLOCK, op=imul)
    (tmp / "chain.c").write_text(src)
    lib = tmp / "chain.so"
    cmd = [cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(tmp / "chain.c")]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{cc} failed to run: {exc}"
    if proc.returncode != 0:
        return None, f"{cc} could not compile the clock kernel: {proc.stderr.strip()[-300:]}"
    return ctypes.CDLL(str(lib)), cc


def _best_rate(fn: Any, seconds: float, runs: int) -> tuple[float, float]:
    """The best dependent operations per CPU second of ``fn`` over ``runs`` runs of about
    ``seconds`` each, and that run's thread CPU seconds per wall second.

    Per CPU second (the thread's own ``CLOCK_THREAD_CPUTIME_ID``), not per wall second: time
    the scheduler gave to other processes is not counted, so a busy machine does not lower the
    clock measured (a run it interrupted only takes longer).
    """
    fn.argtypes, fn.restype = [ctypes.c_uint64], ctypes.c_uint64
    iters = 1000
    while True:  # calibrate: iterations for about a tenth of the run
        c0 = time.thread_time()
        fn(iters)
        if time.thread_time() - c0 > seconds / 10:
            break
        iters *= 4
    iters = max(1, int(iters * seconds / max(time.thread_time() - c0, 1e-9)))
    best, best_cpu = 0.0, 0.0
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn(iters)
        cpu, wall = time.thread_time() - c0, time.perf_counter() - t0
        rate = iters * BLOCK / max(cpu, 1e-9)
        if rate > best:
            best, best_cpu = rate, cpu / wall
    return best, best_cpu


def measure_clock(seconds: float = 0.3, runs: int = 5, cpu: int | None = None) -> dict[str, Any]:
    """Measure this core's clock with dependent add chains (see the module's docstring).

    Args:
        seconds: length of one timed run.
        runs: timed runs; the fastest is kept.
        cpu: the CPU to pin the calling thread to while measuring (default: the first this
            process may use); the thread's affinity is restored afterwards.

    Returns:
        ``{"mhz", "imul_mhz", "cpu_per_wall", "cpu", "compiler", "why"}``: ``mhz`` None (and
        ``why`` saying why) where the kernel cannot run here (no C compiler, another
        architecture); ``imul_mhz`` the cross-check (None where there is none).
    """
    arch = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    out: dict[str, Any] = {"mhz": None, "imul_mhz": None, "cpu_per_wall": None, "cpu": cpu}
    if arch not in _ASM:
        return {**out, "compiler": None, "why": f"no clock kernel for the {arch} architecture"}
    pin = hasattr(os, "sched_setaffinity")
    before = os.sched_getaffinity(0) if pin else set()
    if pin:
        out["cpu"] = min(before) if cpu is None else cpu
    with tempfile.TemporaryDirectory(prefix="siamese-clock-") as tmp:
        lib, compiler = _compile(Path(tmp), arch)
        if lib is None:
            return {**out, "compiler": None, "why": compiler}
        try:
            if pin:
                os.sched_setaffinity(0, {out["cpu"]})
            adds, cpu_per_wall = _best_rate(lib.chain_add, seconds, runs)
            imul = _best_rate(lib.chain_imul, seconds, runs)[0] if _ASM[arch][1] else None
        finally:
            if pin:
                os.sched_setaffinity(0, before)
    return {
        **out,
        "mhz": adds / 1e6,
        "imul_mhz": None if imul is None else imul * IMUL_LATENCY / 1e6,
        "cpu_per_wall": cpu_per_wall,
        "compiler": compiler,
        "why": None,
    }


if __name__ == "__main__":
    print(measure_clock())
