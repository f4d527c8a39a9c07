"""The CPU's physical floating-point peak, from its own facts (``/proc/cpuinfo``, ``lscpu``).

peak = cores x FMA units per core x lanes (FMA datapath width / 32 bits for float32) x 2 FLOP
per FMA x clock. The FMA units and the width of their datapath are not in ``/proc/cpuinfo``; they
come from ``FMA_TABLE``, keyed on vendor and family (and model where a family spans designs),
from the vendors' optimisation manuals. A CPU the table does not know gets the safe fallback: 2
FMA units as wide as the widest vector extension in its flags, an upper bound on every x86 core
shipped so far, so a share of it may be low but never above 100% for want of a table entry.

The clock is the higher of the one the system states (``lscpu``'s "CPU max MHz" where the kernel
knows it, the boost clock; else ``/proc/cpuinfo``'s "cpu MHz", in a virtual machine usually the
nominal clock) and the one measured by ``_cpu_clock.py`` (a chain of dependent adds): a KVM guest
stating 2,445 MHz measures about 3,150 MHz, the boost clock. Without a C compiler the stated
clock alone is used; a core boosting above it would make measured rates exceed the derived peak,
which ``throughput.py`` then reports instead of a share.

bfloat16: only where the CPU has bfloat16 units (``avx512_bf16``: a dot product of bf16 pairs per
float32 lane, 2x the float32 rate; ``amx_bf16``: Intel's tile unit, 1,024 FLOP per cycle per core).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

# (vendor, family, models or None for all): (FMA units per core, FMA datapath bits, design)
FMA_TABLE: list[tuple[str, int, range | None, int, int, str]] = [
    ("AuthenticAMD", 23, range(0x00, 0x30), 2, 128, "Zen / Zen+ (256-bit AVX split in two)"),
    ("AuthenticAMD", 23, range(0x30, 0x100), 2, 256, "Zen 2"),
    ("AuthenticAMD", 25, range(0x10, 0x20), 2, 256, "Zen 4 (AVX-512 on 256-bit units)"),
    ("AuthenticAMD", 25, range(0x60, 0x80), 2, 256, "Zen 4 (AVX-512 on 256-bit units)"),
    ("AuthenticAMD", 25, range(0xA0, 0xB0), 2, 256, "Zen 4c (AVX-512 on 256-bit units)"),
    ("AuthenticAMD", 25, None, 2, 256, "Zen 3"),
    ("AuthenticAMD", 26, None, 2, 512, "Zen 5"),
]
AMX_BF16_FLOP_PER_CYCLE = 1024  # per core: Intel's AMX-BF16 tile multiply


def cpu_facts(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """Vendor, family, model, name, flags, physical cores and clocks of this machine's CPU."""
    text = Path(cpuinfo).read_text() if Path(cpuinfo).is_file() else ""
    first: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor's block
        key, _, value = line.partition(":")
        first[key.strip()] = value.strip()
    lscpu = _lscpu()
    sockets = int(lscpu.get("Socket(s)", "1") or 1)
    per_socket = lscpu.get("Core(s) per socket")
    cores = sockets * int(per_socket) if per_socket else int(first.get("cpu cores", "1") or 1)
    max_mhz = lscpu.get("CPU max MHz")
    return {
        "vendor": first.get("vendor_id", lscpu.get("Vendor ID", "unknown")),
        "family": int(first.get("cpu family", "-1") or -1),
        "model": int(first.get("model", "-1") or -1),
        "name": first.get("model name", lscpu.get("Model name", "unknown")),
        "flags": first.get("flags", "").split(),
        "physical_cores": cores,
        "cpu_mhz": float(first["cpu MHz"]) if "cpu MHz" in first else None,
        "max_mhz": float(max_mhz) if max_mhz else None,
    }


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}


def fma_units(facts: dict[str, Any]) -> tuple[int, int, str]:
    """(FMA units per core, datapath bits, where that came from) for a CPU's facts."""
    for vendor, family, models, units, bits, design in FMA_TABLE:
        same = facts["vendor"] == vendor and facts["family"] == family
        if same and (models is None or facts["model"] in models):
            return (
                units,
                bits,
                f"table: {vendor} family {family} model {facts['model']} = {design}",
            )
    flags = set(facts["flags"])
    bits = 512 if "avx512f" in flags else 256 if {"avx", "avx2"} & flags else 128
    return (
        2,
        bits,
        (
            f"fallback (no table entry for {facts['vendor']} family {facts['family']}): "
            f"2 FMA units x {bits} bits, an upper bound"
        ),
    )


def physical_peak(
    facts: dict[str, Any], threads: int, measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """float32 (and bfloat16) peak GFLOP/s of ``threads`` cores, and how it was derived.

    Args:
        facts: ``cpu_facts()``.
        threads: the cores used (capped at the physical cores).
        measured: ``_cpu_clock.measure_clock()``, the core's clock measured by a chain of
            dependent adds; the peak takes the higher of it and the stated clock. None or
            without ``mhz`` (no C compiler): the stated clock alone, and the clock source says
            that a core boosting above it would make shares exceed 100%.

    Returns:
        ``{"fp32_per_core", "fp32", "bf16_per_core", "bf16", "cores_used", "ghz",
        "stated_mhz", "measured_mhz", "clock_source", "fma_source", "derivation",
        "bf16_derivation"}`` (bf16 None without bfloat16 units; everything None when no clock
        is known).
    """
    units, bits, source = fma_units(facts)
    stated, clock = facts["max_mhz"], "lscpu CPU max MHz"
    if stated is None:
        stated, clock = facts["cpu_mhz"], "/proc/cpuinfo cpu MHz (no max MHz stated)"
    if stated is None:
        clock = "no clock stated"
    got = (measured or {}).get("mhz")
    if got is None:
        why = (measured or {}).get("why") or "no measurement given"
        clock += (
            f"; clock not measured ({why}): a core boosting above the stated clock would "
            "make shares exceed 100%"
        )
        mhz = stated
    else:
        said = "none stated" if stated is None else f"{stated:.0f} MHz stated ({clock})"
        clock = (
            f"max of {got:.0f} MHz measured (a chain of dependent adds, 1 per cycle, "
            f"on CPU {measured['cpu']}) and {said}"
        )
        mhz = max(got, stated or 0.0)
    cores = max(1, min(threads, facts["physical_cores"]))
    out: dict[str, Any] = {
        "cores_used": cores,
        "fma_source": source,
        "clock_source": clock,
        "stated_mhz": stated,
        "measured_mhz": got,
    }
    if not mhz:
        return {**out, "fp32": None, "bf16": None, "derivation": "clock unknown: no peak"}
    ghz = mhz / 1000
    lanes = bits // 32
    per_core = units * lanes * 2 * ghz
    out.update(ghz=ghz, fp32_per_core=per_core, fp32=per_core * cores)
    out["derivation"] = (
        f"{cores} core(s) x {units} FMA units x {lanes} fp32 lanes ({bits}-bit) x 2 FLOP x "
        f"{ghz:.3f} GHz = {per_core * cores:.1f} GFLOP/s [{facts['name']}; {source}; {clock}]"
    )
    flags = set(facts["flags"])
    if "amx_bf16" in flags:
        bf = AMX_BF16_FLOP_PER_CYCLE * ghz
        how = f"{cores} core(s) x {AMX_BF16_FLOP_PER_CYCLE} FLOP/cycle (AMX-BF16) x {ghz:.3f} GHz"
    elif "avx512_bf16" in flags:
        bf = 2 * per_core
        how = f"2 x fp32 (avx512_bf16: a bf16 pair per fp32 lane) = {2 * per_core * cores:.1f}"
    else:
        bf, how = None, "no bfloat16 units (no amx_bf16 or avx512_bf16 in /proc/cpuinfo)"
    out.update(bf16_per_core=bf, bf16=None if bf is None else bf * cores, bf16_derivation=how)
    return out


def describe(facts: dict[str, Any]) -> str:
    """``AMD EPYC (AuthenticAMD family 25 model 1), 2 cores, avx2 fma``."""
    vec = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "avx2", "fma") if f in facts["flags"]]
    return (
        f"{facts['name']} ({facts['vendor']} family {facts['family']} model {facts['model']}), "
        f"{facts['physical_cores']} cores, {' '.join(vec) or 'no AVX'}"
    )
