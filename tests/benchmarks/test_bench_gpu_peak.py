"""benchmarks/_gpu_peak.py and ``throughput.py --device cuda`` without a GPU: the datasheet
lookup by device name, the share rule, the no-GPU message, and the whole GPU check run on the CPU
with the wall clock standing in for CUDA events."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _gpu_peak  # noqa: E402
import throughput  # noqa: E402
from _gpu_peak import gpu_share, lookup, wall_seconds  # noqa: E402

NAMES = {  # torch.cuda.get_device_name strings as the drivers print them
    "NVIDIA H100 80GB HBM3": "H100 SXM",
    "NVIDIA H100 PCIe": "H100 PCIe",
    "NVIDIA H100 NVL": "H100 NVL",
    "NVIDIA H200": "H200 SXM",
    "NVIDIA H200 NVL": "H200 NVL",
    "NVIDIA GH200 480GB": "GH200 (H100 SXM compute)",
    "NVIDIA A100-SXM4-80GB": "A100 (SXM and PCIe)",
    "NVIDIA A100-PCIE-40GB": "A100 (SXM and PCIe)",
    "NVIDIA A10": "A10",
    "NVIDIA L4": "L4",
    "NVIDIA L40S": "L40S",
    "Tesla T4": "T4",
    "Tesla V100-SXM2-16GB": "V100 SXM2",
    "Tesla V100-PCIE-32GB": "V100 PCIe",
    "NVIDIA GeForce RTX 4090": "GeForce RTX 4090",
    "NVIDIA GeForce RTX 3090": "GeForce RTX 3090",
}
TINY = {
    "gpu": {"sizes": (64, 96), "seconds": 0.01, "reps": 1, "koch_cnn": 2, "conv4": 4},
}


def test_lookup_by_device_name():
    for name, chip in NAMES.items():
        peak = lookup(name)
        assert peak is not None and peak.chip == chip, name
        assert peak.source.startswith("NVIDIA")
    for unknown in ("NVIDIA A10G", "NVIDIA A40", "AMD Instinct MI300X", ""):
        assert lookup(unknown) is None, unknown  # A10 must not match A10G or A100's prefix
    h200 = lookup("NVIDIA H200")
    assert (h200.fp32, h200.tf32, h200.bf16) == (67.0, 494.5, 989.5)  # dense: half of 1,979
    assert "half the datasheet's with-sparsity" in h200.source
    t4 = lookup("Tesla T4")
    assert t4.bf16 is None and t4.tf32 is None and t4.fp16 == 65.0
    for p in _gpu_peak.DATASHEET:  # tensor cores are never slower than the CUDA cores
        assert all(v is None or v >= p.fp32 for v in (p.tf32, p.bf16, p.fp16)), p.chip


def test_share_of_the_datasheet_peak():
    h200, t4 = lookup("NVIDIA H200"), lookup("Tesla T4")
    assert gpu_share(494.75, h200, "bf16") == {"share": 0.5, "why": None}
    assert gpu_share(33.5, h200, "fp32") == {"share": 0.5, "why": None}
    over = gpu_share(1200.0, h200, "bf16")
    assert over["share"] is None
    assert over["why"].startswith("121% of the datasheet bf16 peak: the table entry is wrong")
    assert gpu_share(10.0, t4, "bf16") == {
        "share": None,
        "why": "no datasheet bf16 peak for the T4",
    }
    assert gpu_share(1.0, None, "fp32") == {
        "share": None,
        "why": "no datasheet entry for this chip",
    }


def test_no_gpu_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        throughput.main(["--device", "cuda"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("--device cuda: no CUDA GPU is visible (torch ")
    assert "run without --device" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_no_gpu_from_the_command_line():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no CUDA GPU is visible" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_gpu_check_flow_on_the_cpu():
    """The GPU check run on the CPU (wall clock for CUDA events), as if on an H200: every rate
    is a tiny share of the datasheet, and the table prints each share beside the matmul rate."""
    r = throughput.gpu_check(
        TINY, "cpu", device_name="NVIDIA H200", timer=wall_seconds, encoders=("conv4",)
    )
    assert r["datasheet"]["chip"] == "H200 SXM"
    assert set(r["matmul"]) == {"fp32", "tf32", "bf16"}
    for kind, m in r["matmul"].items():
        assert m["n"] in (64, 96) and m["peak_tflops"] == getattr(lookup("NVIDIA H200"), kind)
        assert 0 < m["verdict"]["share"] < 0.01 and m["tflops"] > 0
    conv4 = r["encoders"]["conv4"]
    assert conv4["batch"] == 4 and conv4["train_gflop_per_item"] > 2 * conv4["fwd_gflop_per_item"]
    for mode in ("infer", "train"):
        assert 0 < conv4[f"{mode}_verdict"]["share"] < 0.01 and conv4[f"{mode}_items_per_s"] > 0
    text = " ".join(_render(throughput.gpu_table(r)).split())
    assert "H200 SXM: fp32 67, tf32 494.5, bf16 989.5, fp16 989.5 TFLOP/s" in text
    assert text.count("% of peak") == 3 + 2 and text.count("(measured bf16 matmul") == 2


def test_gpu_check_refuses_shares_it_cannot_stand_behind():
    unknown = throughput.gpu_check(TINY, "cpu", "NVIDIA A10G", wall_seconds, encoders=())
    assert unknown["datasheet"] is None
    text = " ".join(_render(throughput.gpu_table(unknown)).split())
    assert "no table entry for 'NVIDIA A10G'" in text and "% of peak" not in text
    assert text.count("share not printed: no datasheet entry for this chip") == 3

    def too_fast(fn, reps):  # a timer that reads far too little time: rates above the datasheet
        fn()
        return 1e-12

    fast = throughput.gpu_check(TINY, "cpu", "NVIDIA L4", too_fast, encoders=())
    for m in fast["matmul"].values():
        assert m["verdict"]["share"] is None and "the table entry is wrong" in m["verdict"]["why"]
    t4 = throughput.gpu_check(TINY, "cpu", "Tesla T4", wall_seconds, encoders=())["matmul"]
    assert t4["bf16"]["verdict"]["why"] == "no datasheet bf16 peak for the T4"
    assert t4["fp32"]["verdict"]["share"] is not None


def _render(table) -> str:
    from rich.console import Console

    console = Console(width=400, record=True)
    console.print(table)
    return console.export_text()
