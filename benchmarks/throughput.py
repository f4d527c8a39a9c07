"""How close to the machine's limit does training run, and what does embedding reuse buy?

One run prints four measurements, each in its own subprocess pinned to ``--threads`` cores
(``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set, ``torch.set_num_threads`` before any work,
``taskset`` where available):

1. Embedding reuse (Omniglot 28x28, conv4, contrastive loss): P x K batches (8 x 4 = 32 images)
   with all 48 same-class pairs and 48 random different-class pairs of the batch. "reuse" embeds
   the 32 unique images once per step; "twin" embeds both sides of every pair (192 images), the
   two-tower way. Same initial weights, same pairs, same steps; items/s, pairs/s and the
   verification accuracy on pairs of held-out (evaluation-alphabet) characters.
2. Close to the hardware: the physical float32 peak of the pinned cores (cores x FMA units x
   vector lanes x 2 x clock, from the CPU's own facts: ``_cpu_peak.py`` prints how it was
   derived; bfloat16 where the CPU has bfloat16 units; the clock is the higher of the stated one
   and the one ``_cpu_clock.py`` measures with a chain of dependent adds, since a virtual machine
   may state its nominal clock while the core boosts above it), the best dense matmul rate
   measured (with its GFLOP per CPU-second: it must stay under the peak), the
   encoder's FLOPs per item (``torch.utils.flop_counter``), and the achieved inference and
   training GFLOP/s with their share of the peak for koch_cnn at 105x105 and conv4 at 28x28
   (plain vs channels_last memory layout; inference under ``torch.inference_mode``; training with
   fused Adam). A share is printed only when the measurement's CPU seconds per wall second agree
   with its thread count (within 15%) and stay under the peak; otherwise the row says why not.
3. Data loading (LFW, 105x105 grayscale): decode + resize + normalise + augment items/s beside the
   model's training items/s, and the share of a koch_cnn training loop spent waiting for data with
   the background ``Prefetcher`` (and without it).
4. Prediction latency (koch_cnn with Koch's pair head): verify one pair (two forward passes);
   identify one query against a 1,000-class gallery (one pass, exact search, head re-scoring);
   p50 and p99 in ms.

5. ``--device cuda`` (instead of 1-4): the GPU check. The chip's datasheet peaks (``_gpu_peak.py``:
   float32, TF32, bfloat16, float16; found by ``torch.cuda.get_device_name``), the measured
   matmul rate of each kind (CUDA events) and koch_cnn / conv4 inference and training under
   bfloat16 autocast, each a share of the datasheet peak with the measured bf16 matmul beside it.
   Without a GPU it says so in one line and exits with 2.

On a shared machine keep ``--threads 1`` (the default): with more OpenMP threads than free cores,
every small operation waits for a descheduled thread and the figures measure the neighbours.

    python benchmarks/throughput.py            # full sizes (a few minutes)
    python benchmarks/throughput.py --quick    # under a minute (run by the test suite)
    python benchmarks/throughput.py --threads 1 --json benchmarks/results/throughput.json
    python benchmarks/throughput.py --device cuda     # on a machine with an NVIDIA GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

# The library is imported inside each measurement, only what it needs: every measurement is a
# fresh process, and on a busy machine each unneeded import costs seconds of its start-up.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cpu_clock import measure_clock  # noqa: E402
from _cpu_peak import cpu_facts, describe, physical_peak  # noqa: E402
from _gpu_peak import (  # noqa: E402
    cuda_seconds,
    gpu_share,
    lookup,
    measured_matmul,
    no_gpu_reason,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FULL = {
    "reuse_steps": 150,
    "reuse_classes": None,
    "eval_classes": None,
    "reps": 3,
    "koch_batch": 32,
    "loader_items": 512,
    "loop_steps": 6,
    "latency_reps": 50,
    "gallery_real": True,
    "conv4_batch": 128,
    "matmul_sizes": (512, 1024, 2048),
    "matmul_seconds": 1.0,
    "gpu": {"sizes": (4096, 8192), "seconds": 0.5, "reps": 20, "koch_cnn": 256, "conv4": 2048},
}
QUICK = {
    "reuse_steps": 25,
    "reuse_classes": 120,
    "eval_classes": 80,
    "reps": 1,
    "koch_batch": 8,
    "loader_items": 96,
    "loop_steps": 2,
    "latency_reps": 8,
    "gallery_real": False,
    "conv4_batch": 128,
    "matmul_sizes": (512, 1024),
    "matmul_seconds": 0.3,
    "gpu": {"sizes": (2048, 4096), "seconds": 0.2, "reps": 5, "koch_cnn": 64, "conv4": 512},
}
LAYOUTS = ("contiguous", "channels_last")
CPU_TOLERANCE = 0.15  # CPU seconds per wall second may differ from the thread count by 15%


# ---------------------------------------------------------------------------- measuring
def matmul_gflops(
    n: int = 1024, seconds: float = 0.3, dtype: torch.dtype = torch.float32
) -> tuple[float, float]:
    """Dense ``n x n`` matmul rate of this process right now: (GFLOP/s, CPU-s per wall-s)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    reps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    wall = time.perf_counter() - t0
    return 2 * n**3 * reps / wall / 1e9, (time.process_time() - c0) / wall


def per_second(step: Callable[[], Any], items: int, reps: int) -> tuple[float, float]:
    """Items per second of ``step`` (one warm-up call, then ``reps`` timed calls), and the CPU
    seconds the process used per wall second meanwhile."""
    step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        step()
    wall = time.perf_counter() - t0
    return items * reps / wall, (time.process_time() - c0) / wall


def flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def best_matmul(cfg: dict[str, Any], bf16: bool) -> dict[str, Any]:
    """The best float32 (and bfloat16) matmul rate over a few sizes, with its CPU per wall."""
    out: dict[str, Any] = {}
    for name, dtype in [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if bf16 else []):
        rates = {n: matmul_gflops(n, cfg["matmul_seconds"], dtype) for n in cfg["matmul_sizes"]}
        n = max(rates, key=lambda k: rates[k][0])
        out[name] = {"gflops": rates[n][0], "cpu_per_wall": rates[n][1], "n": n}
    return out


# ---------------------------------------------------------------------------- 1. embedding reuse
def batch_pairs(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Every same-class pair of a P x K batch and as many random different-class pairs."""
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    neg = rng.choice(np.flatnonzero(~same), size=int(same.sum()), replace=False)
    return i[same], j[same], i[neg], j[neg]


def pair_accuracy(model: Any, data: Any, pairs: int, seed: int) -> dict[str, float]:
    """Verification on balanced pairs of held-out classes: threshold fitted on half, scored on half."""
    from siamese.evaluation.verification import VerificationEvaluator, roc_auc
    from siamese.sampling import PKGenerator

    rng = np.random.default_rng(seed)
    emb = torch.as_tensor(model.embed_dataset(data))
    gen = PKGenerator(data.labels, p=2, k=2, steps_per_epoch=1)
    a_pos = [gen._two_from(rng, int(c)) for c in rng.choice(gen.multi, size=pairs // 2)]
    a_neg = rng.integers(0, len(data), size=(pairs // 2, 2))
    a_neg = a_neg[data.labels[a_neg[:, 0]] != data.labels[a_neg[:, 1]]]
    ij = np.concatenate([np.array(a_pos), a_neg])
    same = data.labels[ij[:, 0]] == data.labels[ij[:, 1]]
    scores = (-model.distance.pairwise(emb[ij[:, 0]], emb[ij[:, 1]])).numpy()
    order = rng.permutation(len(ij))
    fit, test = order[: len(ij) // 2], order[len(ij) // 2 :]
    ev = VerificationEvaluator().fit(scores[fit], same[fit])
    return {"accuracy": ev.score(scores[test], same[test]), "auc": roc_auc(scores, same)}


def embedding_reuse(cfg: dict[str, Any], seed: int, warmup: int = 3) -> dict[str, Any]:
    """Train a reuse model and a twin-tower model in lockstep on the same batches and pairs.

    The two steps of each batch run one after the other, so a change in the machine's load hits
    both alike; the first ``warmup`` steps are trained but not timed.
    """
    from siamese.data.omniglot import read_omniglot
    from siamese.encoders import create_encoder
    from siamese.model import SiameseModel
    from siamese.objectives import create_objective
    from siamese.sampling import PKGenerator
    from siamese.seed import derived_rng

    root = cfg["data"] / "omniglot"
    train = read_omniglot(
        str(root / "images_background.npz"), size=28, limit_classes=cfg["reuse_classes"]
    )
    held = read_omniglot(
        str(root / "images_evaluation.npz"), size=28, limit_classes=cfg["eval_classes"]
    )
    items = torch.as_tensor(train.load(np.arange(len(train)))).float() / 255  # (N, 1, 28, 28)
    gen = PKGenerator(train.labels, p=8, k=4, steps_per_epoch=cfg["reuse_steps"])
    modes = ("reuse", "twin")
    models, opts = {}, {}
    for mode in modes:
        torch.manual_seed(seed)  # the same initial weights
        models[mode] = SiameseModel(create_encoder("conv4", input_shape=(1, 28, 28))).train()
        opts[mode] = torch.optim.Adam(models[mode].parameters(), lr=1e-3, fused=True)
    objective = create_objective("contrastive", embedding_dim=128, margin=None, distance=None)
    counts = {m: {"items": 0, "pairs": 0, "seconds": 0.0} for m in modes}
    rng = derived_rng(seed, 1)
    for step, batch in enumerate(gen.epoch(rng)):
        a1, p, a2, n = batch_pairs(batch.labels, rng)
        for mode in modes:
            t0 = time.perf_counter()
            if mode == "reuse":  # each unique image once; the pairs index into the batch
                x = items[batch.indices]  # (U, 1, 28, 28)
                tuples = tuple(torch.as_tensor(t) for t in (a1, p, a2, n))
            else:  # both sides of every pair through the encoder
                left = batch.indices[np.concatenate([a1, a2])]
                right = batch.indices[np.concatenate([p, n])]
                x = items[np.concatenate([left, right])]  # (2 * pairs, 1, 28, 28)
                m, q = len(left), len(a1)
                ar = torch.arange(m)
                tuples = (ar[:q], m + ar[:q], ar[q:], m + ar[q:])
            loss = objective(models[mode](x), torch.as_tensor(batch.labels), tuples)
            opts[mode].zero_grad(set_to_none=True)
            loss.backward()
            opts[mode].step()
            if step >= warmup:
                c = counts[mode]
                c["seconds"] += time.perf_counter() - t0
                c["items"] += len(x)
                c["pairs"] += len(a1) + len(a2)
    out: dict[str, Any] = {"steps": cfg["reuse_steps"], "batch": "8 classes x 4 images"}
    for mode in modes:
        c = counts[mode]
        out[mode] = {
            "items_per_s": c["items"] / c["seconds"],
            "pairs_per_s": c["pairs"] / c["seconds"],
            **pair_accuracy(models[mode].eval(), held, 2000, seed),
        }
    out["pairs_per_s_ratio"] = out["reuse"]["pairs_per_s"] / out["twin"]["pairs_per_s"]
    return out


# ---------------------------------------------------------------------------- 2. hardware
ENCODERS = {"koch_cnn": ((1, 105, 105), "koch_batch"), "conv4": ((1, 28, 28), "conv4_batch")}


def counted_encoder(
    name: str, batch: int, device: str = "cpu"
) -> tuple[Any, torch.Tensor, float, float]:
    """A seeded encoder, a random batch for it, and its forward and training FLOPs per item
    (counted on two items: they scale with the batch)."""
    from siamese.encoders import create_encoder

    shape = ENCODERS[name][0]
    torch.manual_seed(0)
    enc = create_encoder(name, input_shape=shape).to(device)
    x = torch.rand(batch, *shape, device=device)  # (B, C, H, W)
    enc.eval()
    fwd = flops(lambda: enc(x[:2])) / 2
    enc.train()
    train = flops(lambda: enc(x[:2]).pow(2).mean().backward()) / 2
    return enc, x, fwd, train


def hardware(cfg: dict[str, Any], name: str, layout: str) -> dict[str, Any]:
    """Inference and training GFLOP/s of one encoder in one memory layout (one subprocess)."""
    batch = cfg[ENCODERS[name][1]]
    enc, x, fwd, train = counted_encoder(name, batch)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-4, fused=True)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    enc.to(memory_format=fmt)
    xi = x.contiguous(memory_format=fmt)

    def infer() -> None:
        with torch.inference_mode():
            enc(xi)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        enc(xi).pow(2).mean().backward()
        opt.step()

    enc.eval()
    inf, inf_cpu = per_second(infer, batch, cfg["reps"])
    enc.train()
    trn, trn_cpu = per_second(step, batch, cfg["reps"])
    return {
        "batch": batch,
        "fwd_gflop_per_item": fwd / 1e9,
        "train_gflop_per_item": train / 1e9,
        "infer_items_per_s": inf,
        "infer_gflops": inf * fwd / 1e9,
        "infer_cpu_per_wall": inf_cpu,
        "train_items_per_s": trn,
        "train_gflops": trn * train / 1e9,
        "train_cpu_per_wall": trn_cpu,
    }


def judge(gflops: float, cpu_per_wall: float, threads: int, peak: float | None) -> dict[str, Any]:
    """The share of the physical peak, or why it is not printed.

    A share is printed only when the measurement used its threads and no more (CPU seconds per
    wall second within 15% of the thread count) and stays under the peak; otherwise the figure
    would measure the neighbours, or the peak would not be a ceiling.
    """
    if peak is None:
        return {"share": None, "why": "no physical peak (the CPU's clock is not stated)"}
    if abs(cpu_per_wall - threads) > CPU_TOLERANCE * threads:
        what = (
            "did not get its cores (machine busy)"
            if cpu_per_wall < threads
            else ("ran more threads than it was pinned to")
        )
        return {
            "share": None,
            "why": f"{cpu_per_wall:.2f} CPU-s per wall-s on {threads} thread(s): the process {what}",
        }
    share = gflops / peak
    if share > 1:
        return {
            "share": None,
            "why": f"{share:.0%} of the derived peak: the peak is not a ceiling here "
            "(a clock above the stated one, or a wrong FMA table entry)",
        }
    return {"share": share, "why": None}


# ---------------------------------------------------------------------------- 3. data loading
def data_loading(cfg: dict[str, Any], train_items_per_s: float, seed: int) -> dict[str, Any]:
    from siamese.data.lfw_pairs import read_lfw
    from siamese.encoders import create_encoder
    from siamese.sampling import PKGenerator
    from siamese.seed import derived_rng
    from siamese.training.prefetch import Prefetcher

    lfw = read_lfw(str(cfg["data"] / "lfw"), grayscale=True, size=105)
    store = getattr(lfw.items, "cache_bytes", None)
    if store is not None:
        lfw.items.cache_bytes = 0  # measure real decoding, not the cache
    try:
        from siamese.data.augment import ImageAugment

        augment: Any = ImageAugment(rotate=10, shift=0.05, scale=0.1, flip=True, padding="border")
    except ImportError:  # the augmentation module is optional here
        augment = None
    rng = np.random.default_rng(seed)

    def load(indices: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(lfw.load(indices)).float()  # (B, 1, 105, 105), decoded + resized
        x = (x - 127.5) / 64.0  # normalised
        return augment(x) if augment is not None else x

    idx = rng.permutation(len(lfw))[: cfg["loader_items"]]
    t0 = time.perf_counter()
    for start in range(0, len(idx), 32):
        load(idx[start : start + 32])
    loader_rate = len(idx) / (time.perf_counter() - t0)
    out: dict[str, Any] = {
        "loader_items_per_s": loader_rate,
        "augment": augment is not None,
        "model_train_items_per_s": train_items_per_s,
    }
    torch.manual_seed(seed)
    enc = create_encoder("koch_cnn", input_shape=(1, 105, 105)).to(
        memory_format=torch.channels_last
    )
    opt = torch.optim.Adam(enc.parameters(), lr=1e-4, fused=True)
    gen = PKGenerator(lfw.labels, p=cfg["koch_batch"] // 2, k=2, steps_per_epoch=cfg["loop_steps"])
    for depth in (2, 0):
        loader = Prefetcher(
            gen.epoch(derived_rng(seed, depth)), lambda b: load(b.indices), depth=depth
        )
        t0, n = time.perf_counter(), 0
        for _, x in loader:
            n += len(x)
            opt.zero_grad(set_to_none=True)
            enc(x.contiguous(memory_format=torch.channels_last)).pow(2).mean().backward()
            opt.step()
        total = time.perf_counter() - t0
        key = "prefetch" if depth else "no_prefetch"
        out[key] = {
            "wait_share": loader.wait_seconds / total,
            "seconds": total,
            "items_per_s": n / total,
        }
    return out


# ---------------------------------------------------------------------------- 4. latency
def latency(cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    from siamese.data.omniglot import read_omniglot
    from siamese.encoders import create_encoder
    from siamese.gallery import Gallery
    from siamese.model import SiameseModel
    from siamese.objectives import PairHead

    torch.manual_seed(seed)
    enc = create_encoder("koch_cnn", input_shape=(1, 105, 105)).to(
        memory_format=torch.channels_last
    )
    model = SiameseModel(enc, head=PairHead(4096)).eval()
    # both alphabet sets (964 + 659 characters), 520 of each: at least 1,000 classes
    omni = read_omniglot(str(cfg["data"] / "omniglot"), limit_classes=520)
    first = np.unique(omni.labels, return_index=True)[1][:1000]  # one image of 1,000 classes
    gallery = Gallery(model, index="exact", batch_size=64)
    names = [omni.class_names[c] for c in omni.labels[first]]
    if cfg["gallery_real"]:
        gallery.fit(omni.load(first), names)
    else:  # quick: the gallery's embeddings drawn at random in the sigmoid's range (no 1,000 passes)
        gallery.add_embeddings(
            np.random.default_rng(seed).random((len(first), 4096), np.float32), names
        )
    query = omni.load(np.array([first[0] + 1]))  # (1, 1, 105, 105)
    other = omni.load(np.array([first[1]]))
    out: dict[str, Any] = {
        "gallery_classes": gallery.num_classes,
        "real_gallery": cfg["gallery_real"],
    }
    for what, call in (
        ("verify", lambda: gallery.verify(query, other)),
        ("identify", lambda: gallery.identify(query, k=5)),
    ):
        call()
        times = []
        for _ in range(cfg["latency_reps"]):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        out[what] = percentiles(times)
    return out


# ---------------------------------------------------------------------------- 5. GPU
def gpu_encoder(
    name: str, batch: int, reps: int, device: str, timer: Callable[..., float]
) -> dict[str, Any]:
    """bfloat16-autocast inference and training TFLOP/s of one encoder (channels_last)."""
    enc, x, fwd, train = counted_encoder(name, batch, device)
    enc.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-4, fused=True)
    autocast = torch.autocast(device, dtype=torch.bfloat16)

    def infer() -> None:
        with torch.inference_mode(), autocast:
            enc(x)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = enc(x).float().pow(2).mean()
        loss.backward()
        opt.step()

    enc.eval()
    infer()  # warm-up (kernel selection)
    inf = batch * reps / timer(infer, reps)
    enc.train()
    step()
    trn = batch * reps / timer(step, reps)
    return {
        "batch": batch,
        "fwd_gflop_per_item": fwd / 1e9,
        "train_gflop_per_item": train / 1e9,
        "infer_items_per_s": inf,
        "infer_tflops": inf * fwd / 1e12,
        "train_items_per_s": trn,
        "train_tflops": trn * train / 1e12,
    }


def gpu_check(
    cfg: dict[str, Any],
    device: str = "cuda",
    device_name: str | None = None,
    timer: Callable[..., float] = cuda_seconds,
    encoders: tuple[str, ...] = tuple(ENCODERS),
) -> dict[str, Any]:
    """The GPU's datasheet peaks, its measured matmul rates and the encoders in bfloat16, each a
    share of the datasheet peak. ``device`` and ``timer`` let a test run it on the CPU."""
    g = cfg["gpu"]
    name = device_name or torch.cuda.get_device_name(device)
    peak = lookup(name)
    out: dict[str, Any] = {
        "device_name": name,
        "datasheet": None if peak is None else {**peak.__dict__},
        "matmul": measured_matmul(peak, g["sizes"], device, g["seconds"], timer),
        "encoders": {},
    }
    for enc in encoders:
        row = gpu_encoder(enc, g[enc], g["reps"], device, timer)
        for mode in ("infer", "train"):
            row[f"{mode}_verdict"] = gpu_share(row[f"{mode}_tflops"], peak, "bf16")
        out["encoders"][enc] = row
    return out


def gpu_share_text(tflops: float, verdict: dict[str, Any]) -> str:
    if verdict["share"] is None:
        return f"{tflops:.1f} TFLOP/s; share not printed: {verdict['why']}"
    return f"{tflops:.1f} TFLOP/s = {verdict['share']:.0%} of peak"


def gpu_table(r: dict[str, Any]) -> Table:
    t = Table(title="siamese throughput on the GPU")
    for col in ("measure", "value"):
        t.add_column(col)
    sheet = r["datasheet"]
    t.add_row("GPU", r["device_name"])
    if sheet is None:
        t.add_row("datasheet peak", f"no table entry for {r['device_name']!r} (_gpu_peak.py)")
    else:
        peaks = ", ".join(
            f"{k} {sheet[k]:g}" for k in ("fp32", "tf32", "bf16", "fp16") if sheet[k] is not None
        )
        t.add_row("datasheet peak", f"{sheet['chip']}: {peaks} TFLOP/s [{sheet['source']}]")
    for kind, m in r["matmul"].items():
        t.add_row(f"matmul {kind} (n={m['n']})", gpu_share_text(m["tflops"], m["verdict"]))
    bf16 = r["matmul"]["bf16"]["tflops"]
    for name, row in r["encoders"].items():
        for mode, what in (("infer", "inference"), ("train", "training")):
            t.add_row(
                f"{name} {what} (bf16, batch {row['batch']})",
                f"{gpu_share_text(row[f'{mode}_tflops'], row[f'{mode}_verdict'])} "
                f"(measured bf16 matmul {bf16:.1f} TFLOP/s); "
                f"{row[f'{mode}_items_per_s']:.0f} items/s",
            )
    return t


# ---------------------------------------------------------------------------- report
def share_text(gflops: float, verdict: dict[str, Any]) -> str:
    if verdict["share"] is None:
        return f"{gflops:.1f} GFLOP/s; share not printed: {verdict['why']}"
    return f"{gflops:.1f} GFLOP/s = {verdict['share']:.0%} of peak"


def clock_text(clock: dict[str, Any], peak: dict[str, Any]) -> str:
    """The clock used for the peak: measured and stated, with their sources."""
    stated = "none" if peak["stated_mhz"] is None else f"{peak['stated_mhz']:.0f} MHz"
    if clock["mhz"] is None:
        return f"stated {stated}; not measured: {clock['why']} (shares may exceed 100%)"
    check = "" if clock["imul_mhz"] is None else f", imul chain {clock['imul_mhz']:.0f} MHz"
    return (
        f"measured {clock['mhz']:.0f} MHz (dependent adds on CPU {clock['cpu']}{check}; "
        f"{clock['cpu_per_wall']:.2f} CPU-s per wall-s), stated {stated}: peak at "
        f"{peak['ghz'] * 1000:.0f} MHz"
    )


def table(results: dict[str, Any]) -> Table:
    t = Table(title="siamese throughput")
    for col in ("measure", "value", "target"):
        t.add_column(col)
    r = results["reuse"]
    for mode in ("reuse", "twin"):
        m = r[mode]
        t.add_row(
            f"{mode}: items/s, pairs/s", f"{m['items_per_s']:.0f}, {m['pairs_per_s']:.0f}", ""
        )
        t.add_row(f"{mode}: val accuracy (AUC)", f"{m['accuracy']:.3f} ({m['auc']:.3f})", "")
    t.add_row("reuse / twin pairs/s", f"{r['pairs_per_s_ratio']:.1f}x", ">= 2x")
    peak = results["peak"]
    t.add_row("CPU", results["machine"]["cpu"], "")
    t.add_row("clock", clock_text(results["clock"], peak), "")
    t.add_row("physical peak fp32", peak["derivation"], "")
    t.add_row("physical peak bf16", peak["bf16_derivation"] or "", "")
    for kind, m in results["matmul"].items():
        per_cpu = m["gflops"] / max(m["cpu_per_wall"], 1e-9)
        t.add_row(
            f"best matmul {kind} (n={m['n']})",
            f"{share_text(m['gflops'], m['verdict'])} ({per_cpu:.1f} GFLOP per CPU-s, "
            f"{m['cpu_per_wall']:.2f} CPU-s per wall-s)",
            "<= peak",
        )
    for name, row in results["hardware"].items():
        t.add_row(
            f"{name} GFLOP/item fwd, train",
            f"{row['fwd_gflop_per_item']:.3f}, {row['train_gflop_per_item']:.3f}",
            "",
        )
        for layout, v in row["variants"].items():
            t.add_row(
                f"{name} inference ({layout})",
                share_text(v["infer_gflops"], v["infer_verdict"]),
                "",
            )
            t.add_row(
                f"{name} training ({layout})",
                share_text(v["train_gflops"], v["train_verdict"]),
                "",
            )
    d = results["data"]
    t.add_row(
        "LFW loader items/s (vs koch train)",
        f"{d['loader_items_per_s']:.0f} (vs {d['model_train_items_per_s']:.1f})",
        "",
    )
    t.add_row(
        "waiting for data: prefetch / none",
        f"{d['prefetch']['wait_share']:.1%} / {d['no_prefetch']['wait_share']:.1%}",
        "< 10%",
    )
    lat = results["latency"]
    for what in ("verify", "identify"):
        t.add_row(
            f"{what} latency p50 / p99",
            f"{lat[what]['p50_ms']:.1f} / {lat[what]['p99_ms']:.1f} ms",
            "",
        )
    return t


# ---------------------------------------------------------------------------- processes
def child(task: str, cfg: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this (pinned) process: threads are set before any work."""
    torch.set_num_threads(args.threads)
    if task == "matmul":
        return best_matmul(cfg, physical_peak(cpu_facts(), args.threads)["bf16"] is not None)
    if task.startswith("hardware:"):
        _, name, layout = task.split(":")
        return hardware(cfg, name, layout)
    if task == "reuse":
        return embedding_reuse(cfg, args.seed)
    if task.startswith("data:"):
        return data_loading(cfg, float(task.split(":")[1]), args.seed)
    return latency(cfg, args.seed)


def run_pinned(task: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``task`` in a subprocess with OMP/MKL threads set and, where available, ``taskset``
    pinning it to ``args.threads`` of this process's CPUs."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task]
    cmd += ["--threads", str(args.threads), "--seed", str(args.seed), "--data", str(args.data)]
    cmd += ["--quick"] if args.quick else []
    cpus = (
        sorted(os.sched_getaffinity(0))[: args.threads] if hasattr(os, "sched_getaffinity") else []
    )
    pinned = bool(shutil.which("taskset")) and len(cpus) == args.threads
    if pinned:
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measurement {task!r} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["pinned_cpus"] = cpus if pinned else None
    out["process_wall_s"] = time.perf_counter() - t0  # with the process's start-up
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--threads", type=int, default=1, help="threads (and cores) per measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: the GPU check alone (datasheet peak, measured matmul, encoders in bf16)",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one measurement, as JSON
    args = ap.parse_args(argv)
    cfg = {**(QUICK if args.quick else FULL), "data": args.data}
    if args.device == "cuda":
        why = no_gpu_reason()
        if why:
            print(why, file=sys.stderr)
            raise SystemExit(2)
        results = {
            "gpu": gpu_check(cfg),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "quick": args.quick,
        }
        Console(width=160).print(gpu_table(results["gpu"]))
        if args.json:
            write_json(args.json, results)
        return results
    if args.child:
        print(json.dumps(child(args.child, cfg, args)))
        return {}
    from siamese.training.optim import cpu_bf16_units

    t0 = time.perf_counter()
    facts = cpu_facts()
    clock = measure_clock(
        cpu=min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    )
    peak = physical_peak(facts, args.threads, clock)
    threads = peak["cores_used"]
    results: dict[str, Any] = {
        "machine": {
            "cpu": describe(facts),
            "cpu_facts": {k: v for k, v in facts.items() if k != "flags"},
            "bf16_units": cpu_bf16_units(),
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
            "quick": args.quick,
        },
        "clock": clock,
        "peak": peak,
    }
    results["matmul"] = run_pinned("matmul", args)
    results["machine"]["pinned_cpus"] = results["matmul"].pop("pinned_cpus")
    results["machine"]["matmul_process_wall_s"] = results["matmul"].pop("process_wall_s")
    for kind, m in results["matmul"].items():
        m["verdict"] = judge(m["gflops"], m["cpu_per_wall"], threads, peak[kind])
    results["hardware"] = {}
    for name in ENCODERS:
        variants = {layout: run_pinned(f"hardware:{name}:{layout}", args) for layout in LAYOUTS}
        first = variants[LAYOUTS[0]]
        row = {k: first[k] for k in ("batch", "fwd_gflop_per_item", "train_gflop_per_item")}
        for v in variants.values():
            for mode in ("infer", "train"):
                v[f"{mode}_verdict"] = judge(
                    v[f"{mode}_gflops"], v[f"{mode}_cpu_per_wall"], threads, peak["fp32"]
                )
        results["hardware"][name] = {**row, "variants": variants}
    koch = results["hardware"]["koch_cnn"]["variants"]
    best_train = max(v["train_items_per_s"] for v in koch.values())
    results["reuse"] = run_pinned("reuse", args)
    results["data"] = run_pinned(f"data:{best_train}", args)
    results["latency"] = run_pinned("latency", args)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - t0
    Console(width=160).print(table(results))
    if args.json:
        write_json(args.json, results)
    return results


def write_json(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(path)


if __name__ == "__main__":
    main()
