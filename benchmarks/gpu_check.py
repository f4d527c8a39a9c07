"""The GPU check (issue 22): four figures from one CUDA GPU in at most 5 minutes.

1. The Omniglot recipe's training steps per second (``configs/omniglot.toml`` as shipped, capped
   at a few epochs of ``--steps`` steps; the last epoch is timed, the first holds the warm-up),
   in bfloat16 (the recipe's precision) and float32: the measured case for or against bfloat16 as
   the GPU default.
2. koch_cnn training throughput as a share of the chip's measured bfloat16 matmul rate (and of
   its datasheet peak): ``throughput.gpu_check`` (``_gpu_peak.py``), reused as it is.
3. A 10M x 128 synthetic gallery, 10,000 top-50 queries: faiss-gpu (``VectorIndex.gpu = "on"``)
   when faiss sees a GPU, else an exact search in torch on the GPU (and it says so); the ids are
   checked against a one-block exact search of the first queries. Refused up front, with the
   estimate and the limit, when it cannot fit in the GPU's or the host's free memory.
4. A 2-process ``torchrun`` training job on the GPU (the distributed test's tiny config), beside
   one process with the same global batch: wall seconds, the backend, and the largest relative
   difference of their per-epoch losses.

Every figure is printed and written to ``gpu_check.json`` under ``--out`` (default ``$OUT``,
else ``benchmarks/results``). Without a CUDA device it refuses in one line (exit 2).
``--dry-run`` runs every step at a tiny size on the CPU (``tests/benchmarks/test_gpu_check.py``);
its figures measure nothing but that the steps run.

    benchmarks/gpu_check.sh [--out DIR]          # on a machine with an NVIDIA GPU
    benchmarks/gpu_check.sh --dry-run --out DIR  # on a CPU, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data" / "omniglot"

SIZES: dict[str, dict[str, Any]] = {
    "gpu": {
        "omniglot_steps": 100,
        "omniglot_epochs": 2,
        "omniglot_extra": [],
        "encoder": "koch_cnn",
        "throughput": {"sizes": (4096, 8192), "seconds": 0.5, "reps": 20, "koch_cnn": 256},
        "gallery": {"n": 10_000_000, "d": 128, "queries": 10_000, "k": 50, "check": 20},
        "gallery_blocks": {"queries": 1_000, "base": 1_000_000},
        "torchrun_epochs": 2,
        "torchrun_timeout": 150,
    },
    "dry": {
        "omniglot_steps": 2,
        "omniglot_epochs": 2,
        "omniglot_extra": [
            "data.limit_classes=24",
            "evaluation.n_way=5",
            "data.val_fraction=0.2",
            "sampling.p=8",
            "model.channels=8",
        ],
        "encoder": "conv4",  # koch_cnn at 105x105 in bfloat16 takes ~40 s of a CPU without bf16
        "throughput": {"sizes": (64, 96), "seconds": 0.01, "reps": 1, "conv4": 4},
        "gallery": {"n": 20_000, "d": 128, "queries": 200, "k": 50, "check": 20},
        "gallery_blocks": {"queries": 64, "base": 3_000},
        "torchrun_epochs": 2,
        "torchrun_timeout": 150,
    },
}
STEPS = ("omniglot", "training_share", "gallery", "torchrun")
TINY_RUN = [  # tests/training/test_distributed.py's settings: the traffic simulator, an LSTM
    "data.n_per_pattern=12",
    "data.length=24",
    "model.hidden_size=8",
    "model.num_layers=1",
    "model.embedding_dim=4",
    "model.dense=[8]",
    "training.steps_per_epoch=3",
    "training.progress=false",
    "training.val_batches=2",
    "training.patience=10",
    "training.snapshot_items=0",
    "evaluation.episodes=20",
    "evaluation.val_episodes=10",
    "evaluation.pairs=50",
    "sampling.kind=pk",
    "sampling.p=5",
    "sampling.k=3",
    "objective.name=triplet",
    "training.optimizer=sgd",
    "training.learning_rate=0.05",
]


def say(text: str) -> None:
    print(text, flush=True)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------- 1. Omniglot
@contextmanager
def read_once() -> Iterator[None]:
    """Within the block, runs that read the same source with the same options share one read."""
    import siamese.training.splits as splits

    original, seen = splits.load_source, {}

    def load(name: str, **options: Any) -> Any:
        key = (name, json.dumps(options, sort_keys=True, default=str))
        if key not in seen:
            seen[key] = original(name, **options)
        return seen[key]

    splits.load_source = load
    try:
        yield
    finally:
        splits.load_source = original


def omniglot_steps(sz: dict[str, Any], device: str, data: Path, tmp: Path) -> dict[str, Any]:
    """Steps per second of the shipped Omniglot recipe, capped, in bfloat16 and float32."""
    from siamese.training.config import load_config
    from siamese.training.run import train_run

    if not (data / "images_background.npz").is_file():
        return {"skipped": f"no Omniglot at {data} (images_background.npz); pass --data"}
    steps, epochs = sz["omniglot_steps"], sz["omniglot_epochs"]
    out: dict[str, Any] = {"config": "configs/omniglot.toml", "steps_per_epoch": steps}
    with read_once():
        for precision in ("bfloat16", "float32"):
            cfg = load_config(
                ROOT / "configs" / "omniglot.toml",
                [
                    f'name="omniglot_{precision}"',
                    f'out_dir="{tmp}"',
                    f'data.path="{data}"',
                    f"training.epochs={epochs}",
                    f"training.steps_per_epoch={steps}",
                    f'training.device="{device}"',
                    f'training.precision="{precision}"',
                    "training.val_batches=1",
                    "evaluation.val_episodes=10",
                    *sz["omniglot_extra"],
                ],
            )
            t0 = time.perf_counter()
            trained = train_run(cfg, progress_override=False)
            records = [r for r in trained.history if r["epoch"] > 0]
            out[precision] = {
                "steps_per_s": steps / records[-1]["train_seconds"],
                "first_epoch_steps_per_s": steps / records[0]["train_seconds"],
                "images_per_step": cfg.sampling.p * cfg.sampling.k,
                "train_loss": records[-1]["train_loss"],
                "model_device": str(next(trained.model.parameters()).device),
                "wall_s": time.perf_counter() - t0,
            }
            r = out[precision]
            say(
                f"omniglot recipe {precision}: {r['steps_per_s']:.1f} steps/s "
                f"({r['steps_per_s'] * r['images_per_step']:.0f} images/s; first epoch "
                f"{r['first_epoch_steps_per_s']:.1f} steps/s) on {r['model_device']}"
            )
    out["bf16_over_fp32"] = out["bfloat16"]["steps_per_s"] / out["float32"]["steps_per_s"]
    say(f"omniglot recipe bfloat16 / float32 steps/s: {out['bf16_over_fp32']:.2f}x")
    return out


# ---------------------------------------------------------------------------- 2. koch_cnn
def koch_share(sz: dict[str, Any], device: str, dry: bool) -> dict[str, Any]:
    """koch_cnn training TFLOP/s under bfloat16, a share of the measured bf16 matmul rate (the
    dry run measures conv4 instead: the same code, a CPU-sized encoder)."""
    import throughput
    from _gpu_peak import cuda_seconds, wall_seconds

    name = sz["encoder"]
    r = throughput.gpu_check(
        {"gpu": sz["throughput"]},
        device,
        device_name="cpu (dry run)" if dry else None,
        timer=wall_seconds if dry else cuda_seconds,
        encoders=(name,),
    )
    enc, bf16 = r["encoders"][name], r["matmul"]["bf16"]["tflops"]
    r["encoder"] = name
    r["train_share_of_measured_bf16_matmul"] = enc["train_tflops"] / bf16
    for kind, m in r["matmul"].items():
        say(f"matmul {kind} (n={m['n']}): {m['tflops']:.3g} TFLOP/s")
    sheet = enc["train_verdict"]
    datasheet = (
        f"{sheet['share']:.1%} of the datasheet bf16 peak"
        if sheet["share"] is not None
        else f"datasheet share not printed: {sheet['why']}"
    )
    say(
        f"{name} training (bf16, batch {enc['batch']}): {enc['train_tflops']:.3g} TFLOP/s, "
        f"{enc['train_items_per_s']:.3g} items/s = "
        f"{r['train_share_of_measured_bf16_matmul']:.1%} of the measured bf16 matmul "
        f"({bf16:.3g} TFLOP/s); {datasheet}"
    )
    return r


# ---------------------------------------------------------------------------- 3. gallery
def free_bytes(device: str) -> tuple[int, int]:
    """(free device memory, available host memory) in bytes (the CPU: both are the host's)."""
    host = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                host = int(line.split()[1]) * 1024
    return (int(torch.cuda.mem_get_info()[0]) if device == "cuda" else host), host


def gallery_refusal(
    n: int, d: int, queries: int, blocks: dict[str, int], faiss_gpu: bool, device: str
) -> str | None:
    """Why the gallery cannot fit (the estimate and the limit), or None when it does."""
    vectors = n * d * 4
    check = 20 * n * 4  # the one-block exact search of the first queries
    block = max(blocks["queries"] * blocks["base"] * 4, check) + queries * d * 4
    need_device = vectors + block if not faiss_gpu else 2 * vectors + block  # faiss: + its copy
    need_host = 2 * vectors if faiss_gpu else queries * d * 4  # numpy + faiss's CPU index
    if device == "cpu":
        need_device, need_host = need_device + need_host, 0
    dev_free, host_free = free_bytes(device)
    places = (
        ("GPU" if device == "cuda" else "host", need_device, dev_free),
        ("host", need_host, host_free),
    )
    for what, need, free in places:
        if need > 0.9 * free:
            return (
                f"gallery {n:,} x {d}: needs about {need / 2**30:.1f} GiB of {what} memory, "
                f"{free / 2**30:.1f} GiB free (limit 90%); pass a smaller --gallery-n"
            )
    return None


def exact_topk(
    base: torch.Tensor, queries: torch.Tensor, k: int, blocks: dict[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact squared-L2 top-``k`` of each query, block by block: ``(Q, k)`` distances and ids."""
    norms = base.pow(2).sum(1)  # (N,)
    out_d, out_i = [], []
    for q0 in range(0, len(queries), blocks["queries"]):
        q = queries[q0 : q0 + blocks["queries"]]  # (q, D)
        best_d = torch.full((len(q), 0), float("inf"), device=base.device)
        best_i = torch.zeros((len(q), 0), dtype=torch.long, device=base.device)
        for b0 in range(0, len(base), blocks["base"]):
            b = base[b0 : b0 + blocks["base"]]  # (b, D)
            dist = norms[b0 : b0 + len(b)][None, :] - 2 * q @ b.T  # (q, b), + |q|^2 later
            top_d, top_i = dist.topk(min(k, len(b)), dim=1, largest=False)
            best_d = torch.cat([best_d, top_d], 1)
            best_i = torch.cat([best_i, top_i + b0], 1)
            keep = best_d.topk(min(k, best_d.shape[1]), dim=1, largest=False)
            best_d, best_i = keep.values, best_i.gather(1, keep.indices)
        out_d.append(best_d + q.pow(2).sum(1, keepdim=True))
        out_i.append(best_i)
    return torch.cat(out_d), torch.cat(out_i)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true top-k ids found, over all queries."""
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def gallery_search(sz: dict[str, Any], device: str, dry: bool) -> dict[str, Any]:
    """A synthetic N x D gallery searched with Q top-k queries on the device."""
    import faiss

    from siamese.gallery._gpu_index import gpu_count
    from siamese.gallery.vector_index import VectorIndex

    g, blocks = sz["gallery"], sz["gallery_blocks"]
    n, d, nq, k = g["n"], g["d"], g["queries"], g["k"]
    faiss_gpu = gpu_count() > 0 and not dry
    engine = (
        "faiss-gpu exact (VectorIndex gpu='on')"
        if faiss_gpu
        else f"torch exact on {device} (faiss {faiss.__version__} sees no GPU: faiss-gpu absent)"
    )
    out: dict[str, Any] = {"n": n, "d": d, "queries": nq, "k": k, "engine": engine}
    why = gallery_refusal(n, d, nq, blocks, faiss_gpu, device)
    if why:
        say(why)
        return {**out, "refused": why}
    gen = torch.Generator(device=device).manual_seed(0)
    t0 = time.perf_counter()
    base = torch.randn(n, d, generator=gen, device=device)  # (N, D)
    rows = torch.randint(0, n, (nq,), generator=gen, device=device)
    queries = base[rows] + 0.3 * torch.randn(nq, d, generator=gen, device=device)  # (Q, D)
    sync(device)
    out["generate_s"] = time.perf_counter() - t0
    if faiss_gpu:
        t0 = time.perf_counter()
        index = VectorIndex(d, "l2", "exact")
        index.gpu = "on"
        index.add(base.cpu().numpy())
        index.search(queries[:8].cpu().numpy(), k)  # the GPU copy is made here (build)
        out["build_s"] = time.perf_counter() - t0
        q = queries.cpu().numpy()
        t0 = time.perf_counter()
        _, ids = index.search(q, k)
        out["search_s"] = time.perf_counter() - t0
    else:
        exact_topk(base, queries[:8], k, blocks)  # warm-up (kernels, allocator)
        sync(device)
        out["build_s"] = 0.0  # the vectors are searched where they were made
        t0 = time.perf_counter()
        _, found = exact_topk(base, queries, k, blocks)
        sync(device)
        out["search_s"] = time.perf_counter() - t0
        ids = found.cpu().numpy()
    c = g["check"]  # the first queries in one block: the block merge cannot hide an error
    _, truth = exact_topk(base, queries[:c], k, {"queries": c, "base": n})
    out["recall_vs_one_block"] = recall(ids[:c], truth.cpu().numpy())
    if dry:  # the CPU index of the library too: it must agree with the torch search
        index = VectorIndex(d, "l2", "exact")
        index.gpu = "auto"
        index.add(base.numpy())
        out["recall_faiss_cpu_vs_torch"] = recall(index.search(queries.numpy(), k)[1], ids)
    out["queries_per_s"] = nq / out["search_s"]
    say(
        f"gallery {n:,} x {d}, {nq:,} top-{k} queries: {out['search_s']:.3f} s search "
        f"({out['queries_per_s']:,.0f} queries/s), build {out['build_s']:.1f} s, generate "
        f"{out['generate_s']:.1f} s; recall vs exact in one block {out['recall_vs_one_block']:.4f}; "
        f"{engine}"
    )
    return out


# ---------------------------------------------------------------------------- 4. torchrun
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x).get("train_loss") or 0.0 for x in lines]


def torchrun_job(sz: dict[str, Any], device: str, tmp: Path) -> dict[str, Any]:
    """2 processes (torchrun) against 1 with the same global batch, on ``device``."""
    from siamese.training.config import load_config
    from siamese.training.distributed import rank_placement
    from siamese.training.run import train_run

    epochs = sz["torchrun_epochs"]
    sets = [f'out_dir="{tmp}"', f"training.epochs={epochs}", *TINY_RUN]
    sets.append(f'training.device="{device}"')
    t0 = time.perf_counter()
    train_run(load_config(None, ['name="one"', *sets]), progress_override=False)
    one_s = time.perf_counter() - t0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2"]
    cmd += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "siamese", "train"]
    for item in ['name="two"', *sets]:
        cmd += ["--set", item]
    src = str(ROOT / "src")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TMPDIR": str(tmp),  # torchrun's own log folder
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=sz["torchrun_timeout"]
        )
    except subprocess.TimeoutExpired:
        return {"error": f"torchrun did not finish in {sz['torchrun_timeout']} s"}
    two_s = time.perf_counter() - t0
    env2 = {"LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "0"}
    saved = {k: os.environ.get(k) for k in env2}
    os.environ.update(env2)
    try:
        backend, _ = rank_placement(torch.device(device))
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    out: dict[str, Any] = {
        "returncode": done.returncode,
        "backend": backend,
        "gpus": torch.cuda.device_count() if device == "cuda" else 0,
        "one_process_s": one_s,
        "two_processes_s": two_s,
    }
    if done.returncode != 0:
        out["error"] = (done.stderr or done.stdout)[-1500:]
        say(f"torchrun 2 processes on {device}: FAILED (exit {done.returncode})")
        return out
    one, two = _losses(tmp / "one"), _losses(tmp / "two")
    out["losses_one"], out["losses_two"] = one, two
    out["max_rel_loss_diff"] = max(
        abs(a - b) / max(abs(a), 1e-12) for a, b in zip(one, two, strict=True) if a
    )
    say(
        f"torchrun 2 processes on {device} ({backend}): {two_s:.1f} s wall with start-up "
        f"(1 process in-process: {one_s:.1f} s); losses agree within "
        f"{out['max_rel_loss_diff']:.1e} relative"
    )
    return out


# ---------------------------------------------------------------------------- main
def no_device_line() -> str | None:
    from siamese.training.device import no_cuda_reason

    why = no_cuda_reason()
    if why is None:
        return None
    return (
        f"gpu_check: no CUDA device ({why}); run it on a machine with an NVIDIA GPU and a CUDA "
        "build of torch, or pass --dry-run for the tiny CPU run"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="every step at a tiny size on the CPU")
    ap.add_argument("--out", type=Path, default=None, help="folder for gpu_check.json")
    ap.add_argument("--data", type=Path, default=DATA, help="the Omniglot folder")
    ap.add_argument("--omniglot-steps", type=int, default=None, help="Omniglot steps per epoch")
    ap.add_argument(
        "--only",
        default=",".join(STEPS),
        help=f"comma-separated steps to run (default all: {', '.join(STEPS)})",
    )
    ap.add_argument("--gallery-n", type=int, default=None, help="gallery vectors")
    args = ap.parse_args(argv)
    if not args.dry_run:
        line = no_device_line()
        if line:
            print(line, file=sys.stderr)
            return 2
    mode = "dry" if args.dry_run else "gpu"
    sz = {**SIZES[mode], "gallery": dict(SIZES[mode]["gallery"])}
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in only if x not in STEPS]
    if unknown or not only:
        print(
            f"--only: expected steps among {', '.join(STEPS)}, got {args.only!r}", file=sys.stderr
        )
        return 2
    if args.omniglot_steps:
        sz["omniglot_steps"] = args.omniglot_steps
    if args.gallery_n:
        sz["gallery"]["n"] = args.gallery_n
    device = "cpu" if args.dry_run else "cuda"
    out_dir = args.out or Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results")
    name = "gpu_check_dry.json" if args.dry_run else "gpu_check.json"
    results: dict[str, Any] = {
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "mode": "dry run on the CPU (tiny sizes: no figure means anything)"
        if args.dry_run
        else "GPU",
        "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "load_average": list(os.getloadavg()),
        "steps": {},
    }
    load = ", ".join(f"{x:.2f}" for x in results["load_average"])
    say(
        f"gpu_check ({results['mode']}) on {results['device_name']}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}; load average {load}"
    )
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "omniglot": lambda: omniglot_steps(sz, device, args.data, Path(tmp)),
            "training_share": lambda: koch_share(sz, device, args.dry_run),
            "gallery": lambda: gallery_search(sz, device, args.dry_run),
            "torchrun": lambda: torchrun_job(sz, device, Path(tmp)),
        }
        for key in only:
            step = steps[key]
            t0 = time.perf_counter()
            try:
                result = step()
            except Exception as exc:  # noqa: BLE001 - recorded, and the other steps still run
                first = (str(exc).strip().splitlines() or [""])[0]
                result = {"error": f"{type(exc).__name__}: {first}"}
                result["traceback"] = traceback.format_exc()[-4000:]
                say(f"{key}: FAILED ({result['error']})")
            result["step_s"] = time.perf_counter() - t0
            results["steps"][key] = result
    results["total_s"] = time.perf_counter() - t_all
    failed = [k for k, r in results["steps"].items() if "error" in r]
    results["failed"] = failed
    from siamese._io import atomic_write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / name, results)
    say(
        f"total {results['total_s']:.0f} s; failed: {', '.join(failed) or 'none'}; {out_dir / name}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
