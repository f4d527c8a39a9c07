"""How close to the machine's limit does training run, and what does embedding reuse buy?

One run prints four measurements (every rate measured in this process, the matmul rate interleaved
with the model measurements so that ratios stay meaningful on a busy machine):

1. Embedding reuse (Omniglot 28x28, conv4, contrastive loss): P x K batches (8 x 4 = 32 images)
   with all 48 same-class pairs and 48 random different-class pairs of the batch. "reuse" embeds
   the 32 unique images once per step; "twin" embeds both sides of every pair (192 images), the
   two-tower way. Same initial weights, same pairs, same steps; items/s, pairs/s and the
   verification accuracy on pairs of held-out (evaluation-alphabet) characters.
2. Close to the hardware: dense float32 matmul GFLOP/s, the encoder's FLOPs per item
   (``torch.utils.flop_counter``), achieved inference and training GFLOP/s and their fraction of
   the matmul rate for koch_cnn at 105x105 and conv4 at 28x28 (plain vs channels_last memory
   layout; inference under ``torch.inference_mode``; training with fused Adam, which matters:
   koch_cnn's 38M-parameter dense layer makes an unfused Adam step cost as much as a small batch).
3. Data loading (LFW, 105x105 grayscale): decode + resize + normalise + augment items/s beside the
   model's training items/s, and the share of a koch_cnn training loop spent waiting for data with
   the background ``Prefetcher`` (and without it).
4. Prediction latency (koch_cnn with Koch's pair head): verify one pair (two forward passes);
   identify one query against a 1,000-class gallery (one pass, exact search, head re-scoring);
   p50 and p99 in ms.

On a shared machine pass ``--threads 1``: with more OpenMP threads than free cores, every small
operation waits for a descheduled thread and the figures measure the neighbours, not the code.

    python benchmarks/throughput.py            # full sizes (a few minutes)
    python benchmarks/throughput.py --quick    # under a minute (run by the test suite)
    python benchmarks/throughput.py --threads 1 --json benchmarks/results/throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from siamese.data.lfw_pairs import read_lfw
from siamese.data.omniglot import read_omniglot
from siamese.encoders import create_encoder
from siamese.evaluation.verification import VerificationEvaluator, roc_auc
from siamese.gallery import Gallery
from siamese.model import SiameseModel
from siamese.objectives import PairHead, create_objective
from siamese.sampling import PKGenerator
from siamese.seed import derived_rng
from siamese.training.prefetch import Prefetcher

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
}
QUICK = {
    "reuse_steps": 25,
    "reuse_classes": 120,
    "eval_classes": 80,
    "reps": 2,
    "koch_batch": 8,
    "loader_items": 96,
    "loop_steps": 3,
    "latency_reps": 15,
    "gallery_real": False,
}


# ---------------------------------------------------------------------------- measuring
def matmul_gflops(n: int = 1024, seconds: float = 0.3) -> float:
    """Dense float32 ``n x n`` matmul rate of this process right now (GFLOP/s)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def rate_around(fn: Callable[[], float]) -> tuple[float, float]:
    """Run ``fn`` (returns items/s) between two matmul probes: (items/s, mean matmul GFLOP/s)."""
    before = matmul_gflops()
    value = fn()
    return value, (before + matmul_gflops()) / 2


def per_second(step: Callable[[], Any], items: int, reps: int) -> float:
    """Items per second of ``step`` (one warm-up call, then ``reps`` timed calls)."""
    step()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return items * reps / (time.perf_counter() - t0)


def flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


# ---------------------------------------------------------------------------- 1. embedding reuse
def batch_pairs(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Every same-class pair of a P x K batch and as many random different-class pairs."""
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    neg = rng.choice(np.flatnonzero(~same), size=int(same.sum()), replace=False)
    return i[same], j[same], i[neg], j[neg]


def pair_accuracy(model: SiameseModel, data: Any, pairs: int, seed: int) -> dict[str, float]:
    """Verification on balanced pairs of held-out classes: threshold fitted on half, scored on half."""
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
def hardware(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, shape, batch in (
        ("koch_cnn", (1, 105, 105), cfg["koch_batch"]),
        ("conv4", (1, 28, 28), 128),
    ):
        torch.manual_seed(0)
        enc = create_encoder(name, input_shape=shape)
        x = torch.rand(batch, *shape)
        enc.eval()
        fwd = flops(lambda: enc(x)) / batch  # noqa: B023
        enc.train()
        train = flops(lambda: enc(x).pow(2).mean().backward()) / batch  # noqa: B023
        row: dict[str, Any] = {
            "batch": batch,
            "fwd_gflop_per_item": fwd / 1e9,
            "train_gflop_per_item": train / 1e9,
            "variants": {},
        }
        opt = torch.optim.Adam(enc.parameters(), lr=1e-4, fused=True)
        for layout in ("contiguous", "channels_last"):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            enc.to(memory_format=fmt)
            xi = x.contiguous(memory_format=fmt)

            def infer(e=enc, xi=xi) -> None:
                with torch.inference_mode():
                    e(xi)

            def step(e=enc, xi=xi, opt=opt) -> None:
                opt.zero_grad(set_to_none=True)
                e(xi).pow(2).mean().backward()
                opt.step()

            enc.eval()
            inf, mm_i = rate_around(lambda: per_second(infer, batch, cfg["reps"]))  # noqa: B023
            enc.train()
            trn, mm_t = rate_around(lambda: per_second(step, batch, cfg["reps"]))  # noqa: B023
            row["variants"][layout] = {
                "infer_items_per_s": inf,
                "infer_gflops": inf * fwd / 1e9,
                "infer_matmul_gflops": mm_i,
                "infer_fraction": inf * fwd / 1e9 / mm_i,
                "train_items_per_s": trn,
                "train_gflops": trn * train / 1e9,
                "train_matmul_gflops": mm_t,
                "train_fraction": trn * train / 1e9 / mm_t,
            }
        v = row["variants"]
        row["best_infer"] = max(v, key=lambda k: v[k]["infer_fraction"])
        row["best_train"] = max(v, key=lambda k: v[k]["train_fraction"])
        out[name] = row
    return out


# ---------------------------------------------------------------------------- 3. data loading
def data_loading(cfg: dict[str, Any], train_items_per_s: float, seed: int) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------- report
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
    for name, row in results["hardware"].items():
        bi, bt = row["variants"][row["best_infer"]], row["variants"][row["best_train"]]
        t.add_row(
            f"{name} GFLOP/item fwd, train",
            f"{row['fwd_gflop_per_item']:.3f}, {row['train_gflop_per_item']:.3f}",
            "",
        )
        t.add_row(
            f"{name} inference ({row['best_infer']})",
            f"{bi['infer_gflops']:.1f} GFLOP/s = {bi['infer_fraction']:.0%} of {bi['infer_matmul_gflops']:.1f}",
            ">= 70%" if name == "koch_cnn" else "",
        )
        t.add_row(
            f"{name} training ({row['best_train']})",
            f"{bt['train_gflops']:.1f} GFLOP/s = {bt['train_fraction']:.0%} of {bt['train_matmul_gflops']:.1f}",
            ">= 45%" if name == "koch_cnn" else "",
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = {**(QUICK if args.quick else FULL), "data": args.data}
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
            "quick": args.quick,
        },
        "matmul_gflops_start": matmul_gflops(seconds=1.0 if not args.quick else 0.3),
    }
    results["hardware"] = hardware(cfg)
    koch = results["hardware"]["koch_cnn"]
    results["reuse"] = embedding_reuse(cfg, args.seed)
    results["data"] = data_loading(
        cfg, koch["variants"][koch["best_train"]]["train_items_per_s"], args.seed
    )
    results["latency"] = latency(cfg, args.seed)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - t0
    Console().print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
