"""benchmarks/gpu_check.sh without a GPU: the one-line refusal, and every step's dry run at a tiny
size on the CPU (the assertions that need CUDA run only where there is one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _dry(tmp_path, steps: str, *extra: str) -> dict:
    code = gpu_check.main(["--dry-run", "--out", str(tmp_path), "--only", steps, *extra])
    results = json.loads((tmp_path / "gpu_check_dry.json").read_text())
    assert code == 0, {k: v.get("error") for k, v in results["steps"].items()}
    assert results["failed"] == [] and results["mode"].startswith("dry run on the CPU")
    assert list(results["steps"]) == steps.split(",")
    return results["steps"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_refuses_without_a_gpu_in_one_line(tmp_path):
    done = subprocess.run(
        [str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("gpu_check: no CUDA device (torch ")
    assert "--dry-run" in done.stderr and not list(tmp_path.iterdir())


def test_refusal_and_bad_steps_in_process(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gpu_check: no CUDA device")
    assert gpu_check.main(["--dry-run", "--only", "gallery,gpu"]) == 2
    assert capsys.readouterr().err.startswith("--only: expected steps among omniglot, ")


def test_dry_run_gallery_and_training_share(tmp_path):
    steps = _dry(tmp_path, "training_share,gallery")
    share = steps["training_share"]
    assert share["encoder"] == "conv4" and set(share["matmul"]) == {"fp32", "tf32", "bf16"}
    enc = share["encoders"]["conv4"]
    expected = enc["train_tflops"] / share["matmul"]["bf16"]["tflops"]
    assert share["train_share_of_measured_bf16_matmul"] == pytest.approx(expected)
    assert expected > 0
    g = steps["gallery"]
    assert (g["n"], g["d"], g["queries"], g["k"]) == (20_000, 128, 200, 50)
    assert g["recall_vs_one_block"] == 1.0 and g["recall_faiss_cpu_vs_torch"] == 1.0
    assert g["search_s"] > 0 and "faiss-gpu absent" in g["engine"]


def test_exact_topk_blocks_agree_with_brute_force():
    rng = np.random.default_rng(0)
    base, queries = rng.normal(size=(997, 16)), rng.normal(size=(37, 16))
    dist, ids = gpu_check.exact_topk(
        torch.as_tensor(base), torch.as_tensor(queries), 5, {"queries": 8, "base": 100}
    )
    full = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)  # (Q, N)
    truth = np.argsort(full, axis=1)[:, :5]
    np.testing.assert_array_equal(ids.numpy(), truth)
    np.testing.assert_allclose(dist.numpy(), np.take_along_axis(full, truth, 1), atol=1e-9)


def test_gallery_too_big_is_refused_up_front(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "free_bytes", lambda device: (2**30, 2**30))
    sz = {**gpu_check.SIZES["dry"], "gallery": {**gpu_check.SIZES["dry"]["gallery"], "n": 10**7}}
    out = gpu_check.gallery_search(sz, "cpu", dry=True)
    assert out["refused"].startswith("gallery 10,000,000 x 128: needs about 5.5 GiB of host memory")
    assert "1.0 GiB free (limit 90%); pass a smaller --gallery-n" in out["refused"]
    assert "search_s" not in out and out["refused"] in capsys.readouterr().out


def test_dry_run_omniglot_recipe(tmp_path, shared_data):
    if not (shared_data / "omniglot" / "images_background.npz").is_file():
        pytest.skip("Omniglot not in the shared data")
    om = _dry(tmp_path, "omniglot", "--data", str(shared_data / "omniglot"))["omniglot"]
    assert om["config"] == "configs/omniglot.toml" and om["steps_per_epoch"] == 2
    for precision in ("bfloat16", "float32"):
        r = om[precision]
        assert r["steps_per_s"] > 0 and np.isfinite(r["train_loss"])
        assert r["model_device"] == "cpu" and r["images_per_step"] == 8 * 4
    assert om["bf16_over_fp32"] == pytest.approx(
        om["bfloat16"]["steps_per_s"] / om["float32"]["steps_per_s"]
    )


@pytest.mark.slow  # two fresh processes under torchrun
def test_dry_run_torchrun(tmp_path):
    run = _dry(tmp_path, "torchrun")["torchrun"]
    assert run["returncode"] == 0 and run["backend"] == "gloo"
    assert len(run["losses_one"]) == len(run["losses_two"]) == 3  # epoch 0 and 2 epochs
    assert run["max_rel_loss_diff"] < 1e-4  # the distributed test's tolerance


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_the_gpu(tmp_path):  # the CUDA-only assertions: the real thing, small
    code = gpu_check.main(["--out", str(tmp_path), "--only", "gallery", "--gallery-n", "100000"])
    g = json.loads((tmp_path / "gpu_check.json").read_text())["steps"]["gallery"]
    assert code == 0 and g["recall_vs_one_block"] == 1.0
