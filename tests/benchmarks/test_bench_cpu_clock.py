"""benchmarks/_cpu_clock.py: the core's clock measured by chains of dependent adds (and imuls),
and how benchmarks/_cpu_peak.py uses it: the higher of the measured and the stated clock."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _cpu_clock  # noqa: E402
from _cpu_peak import physical_peak  # noqa: E402

from tests.benchmarks.test_bench_throughput import _facts  # noqa: E402

X86 = _cpu_clock.platform.machine().lower() in ("x86_64", "amd64")


@pytest.mark.skipif(not (X86 and shutil.which("cc")), reason="needs x86-64 and a C compiler")
def test_measured_clock_is_a_real_clock_and_both_chains_agree():
    got = _cpu_clock.measure_clock(seconds=0.05, runs=3)
    assert got["why"] is None and got["compiler"]
    assert 500 < got["mhz"] < 7000  # some real core's clock, not a folded loop
    # one add per cycle and one imul per 3 cycles measure the same clock
    assert abs(got["imul_mhz"] / got["mhz"] - 1) < 0.15, got
    assert 0 < got["cpu_per_wall"] <= 1.05


def test_no_compiler_falls_back_to_the_stated_clock_and_says_so(monkeypatch):
    monkeypatch.setattr(_cpu_clock.shutil, "which", lambda name: None)
    got = _cpu_clock.measure_clock(seconds=0.01, runs=1)
    if not X86 and "architecture" in (got["why"] or ""):
        pytest.skip("no clock kernel for this architecture")
    assert got["mhz"] is None and got["why"] == "no C compiler (cc, gcc or clang) on PATH"
    p = physical_peak(_facts("AuthenticAMD", 25, 1, "fma avx2"), 1, got)
    assert abs(p["fp32"] - 78.24) < 0.01  # the stated 2,445 MHz
    assert "clock not measured (no C compiler" in p["clock_source"]
    assert "shares exceed 100%" in p["clock_source"]


def test_peak_takes_the_higher_of_measured_and_stated_clock():
    zen3 = _facts("AuthenticAMD", 25, 1, "fma avx avx2")  # states 2,445 MHz
    boost = physical_peak(zen3, 1, {"mhz": 3150.0, "cpu": 0})
    assert abs(boost["fp32"] - 100.8) < 0.01  # 2 FMA x 8 lanes x 2 x 3.15 GHz
    assert boost["measured_mhz"] == 3150.0 and boost["stated_mhz"] == 2445.0
    assert boost["clock_source"].startswith("max of 3150 MHz measured")
    slow = physical_peak(zen3, 1, {"mhz": 2000.0, "cpu": 0})  # a throttled measurement
    assert abs(slow["fp32"] - 78.24) < 0.01
    unstated = physical_peak(
        _facts("AuthenticAMD", 25, 1, "avx2", mhz=None), 1, {"mhz": 3000.0, "cpu": 1}
    )
    assert abs(unstated["fp32"] - 96.0) < 0.01 and "none stated" in unstated["clock_source"]
