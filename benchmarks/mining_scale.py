"""How fast and how accurate is scheduled hardness sequencing at scale?

Prints two tables:

1. Scale, one row per size and schedule, each mined in its own process (so each peak is its own):

   * ``70k``: 70,000 triplets over 70,000 items of 35,000 classes, 2,048-d (sigmoid);
   * ``700k``: 700,000 triplets over the same items (issue 22's first target: <= 60 s, <= 3 GB),
     with the sigmoid and with the cyclic sigmoid at 70 cycles (the sequencing seed's own size:
     ``total_data_points = 700000``, 70 cycles);
   * ``1M``: 1,000,000 triplets over 1,000,000 items of 500,000 classes, 256-d (the second
     target: <= 120 s, <= 4 GB).

   Synthetic clustered features. Wall time, CPU time (all threads; a shared machine's load
   inflates the wall time), peak resident memory (``ru_maxrss`` of that process, the features
   included, read before the accuracy check), the hardness MAE the sequencer reports and the MAE
   re-measured against each anchor's exact range (an exhaustive scan for 1,000 sampled
   triplets), and the scan-all baseline extrapolated to that size from table 2 (O(T·N·D)).
2. Side by side, per dimension, on a size the scan-all method finishes (5,000 items at 2,048-d,
   20,000 items at 256-d; 2,000 triplets): our sequencer against the scan-all baseline — for
   every triplet, the distances from the anchor to all N items (a matrix-vector product,
   O(N·D) per triplet, O(T·N·D) in all), negatives restricted to other classes (the public
   code's wrong-list indexing fixed), and the negative whose hardness is closest to the target.
   Both get the same anchors, positives and targets; the ratio is measured in this run.

Usage: ``python benchmarks/mining_scale.py`` (all sizes, several minutes on 2 cores),
``--size 700k`` (one size; repeatable), ``--threads 2`` (BLAS and faiss threads), or ``--quick``
(a few seconds, smaller sizes, for the test suite).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from siamese.mining.hardness import hardness_of
from siamese.mining.schedules import create_schedule
from siamese.mining.sequencer import HardnessSequencer

# name: (items, classes, dim, triplets, schedules as name or name:cycles)
SIZES = {
    "70k": (70_000, 35_000, 2_048, 70_000, ("sigmoid",)),
    "700k": (70_000, 35_000, 2_048, 700_000, ("sigmoid", "cyclic_sigmoid:70")),
    "1M": (1_000_000, 500_000, 256, 1_000_000, ("sigmoid",)),
}
QUICK = {
    "70k": (4_000, 2_000, 128, 4_000, ("sigmoid",)),
    "700k": (4_000, 2_000, 128, 40_000, ("sigmoid", "cyclic_sigmoid:70")),
    "1M": (8_000, 4_000, 32, 8_000, ("sigmoid",)),
}
# dim: (items, triplets) of the side-by-side comparison with the scan-all baseline
COMPARE = {2_048: (5_000, 2_000), 256: (20_000, 2_000)}
QUICK_COMPARE = {128: (1_000, 300), 32: (1_000, 300)}


def clustered_features(
    n: int, classes: int, dim: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic features with the structure of CNN features: classes on a low-dimensional layout.

    Every class has ``n // classes`` or one more items. Class centres live in a 32-d latent
    space mapped linearly to ``dim`` dimensions with a
    decaying spectrum; items add isotropic noise. Returns float32 ``(n, dim)`` and labels.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes)  # n / classes items per class
    latent = 32
    centres = rng.standard_normal((classes, latent)).astype(np.float32)
    mix = rng.standard_normal((latent, dim)).astype(np.float32)
    mix *= (1.0 / np.sqrt(1.0 + np.arange(latent, dtype=np.float32)))[:, None] / np.sqrt(dim)
    x = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 8192):
        lab = labels[s : s + 8192]
        x[s : s + 8192] = centres[lab] @ mix
        x[s : s + 8192] += rng.standard_normal((len(lab), dim), dtype=np.float32) * (
            0.25 / np.sqrt(dim)
        )
    return x, labels


def scan_all(
    x: np.ndarray, labels: np.ndarray, anchor: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The public method, made correct: per triplet, distances to all N items, pick by hardness."""
    sq = np.einsum("nd,nd->n", x, x)
    neg = np.empty(len(anchor), dtype=np.int64)
    achieved = np.empty(len(anchor))
    for i, (a, h) in enumerate(zip(anchor, target, strict=True)):
        d = np.sqrt(np.maximum(sq + sq[a] - 2.0 * (x @ x[a]), 0.0))  # (N,): scan every item
        negatives = np.flatnonzero(labels != labels[a])  # the negatives' own list
        dn = d[negatives]
        hard = hardness_of(dn, dn.min(), dn.max())
        j = int(np.abs(hard - h).argmin())
        neg[i], achieved[i] = negatives[j], hard[j]
    return neg, achieved


def exact_mae(x: np.ndarray, labels: np.ndarray, result, sample: int, seed: int = 0) -> float:
    """MAE of target vs the chosen negatives' hardness in each anchor's exact range (sampled)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(result), size=min(sample, len(result)), replace=False)
    sq = np.einsum("nd,nd->n", x, x)
    errs = []
    step = max(1, min(256, 2**24 // len(x)))  # (step, N) blocks of at most 64 MB each
    for s in range(0, len(rows), step):
        r = rows[s : s + step]
        a = result.anchor[r]
        d = np.sqrt(np.maximum(sq[a][:, None] + sq[None, :] - 2.0 * (x[a] @ x.T), 0.0))  # (b, N)
        neg = labels[None, :] != labels[a][:, None]
        lo = np.where(neg, d, np.inf).min(1)
        hi = np.where(neg, d, -np.inf).max(1)
        h = hardness_of(d[np.arange(len(r)), result.negative[r]], lo, hi)
        errs.append(np.abs(h - result.target[r]))
    return float(np.concatenate(errs).mean())


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def sequencer(spec: str, seed: int) -> HardnessSequencer:
    """``sigmoid`` or ``cyclic_sigmoid:70`` (a cyclic schedule with its cycles)."""
    name, _, cycles = spec.partition(":")
    schedule = create_schedule(name, cycles=int(cycles)) if cycles else create_schedule(name)
    return HardnessSequencer(schedule, seed=seed)


def mine_one(size: tuple, spec: str, seed: int) -> dict:
    """One size and schedule, measured (run in a fresh process: its peak memory is its own)."""
    n, classes, dim, total, _ = size
    x, labels = clustered_features(n, classes, dim, seed)
    seq = sequencer(spec, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    result = seq.mine(labels, x, total)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_gb()
    summary = result.summary(labels)
    return {
        "schedule": spec,
        "wall": wall,
        "cpu": cpu,
        "peak_gb": peak,
        "load": os.getloadavg()[0],
        "classes_as_anchor": summary["classes_as_anchor"],
        "classes": summary["classes"],
        "wrong_class": summary["negatives_of_anchor_class"],
        "mae": summary["hardness_mae"],
        "mae_exact": exact_mae(x, labels, result, 1000, seed),
        "distinct_anchors": int(len(np.unique(result.anchor))),
    }


def compare(dim: int, n: int, total: int, seed: int) -> dict:
    """Ours against the scan-all baseline on ``n`` items, ``total`` triplets, ``dim``-d."""
    xs, ls = clustered_features(n, n // 2, dim, seed + 1)
    seq = HardnessSequencer("sigmoid", seed=seed)
    t0 = time.perf_counter()
    ours = seq.mine(ls, xs, total)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, base_achieved = scan_all(xs, ls, ours.anchor, ours.target)
    t_base = time.perf_counter() - t0
    return {
        "dim": dim,
        "n": n,
        "total": total,
        "t_base": t_base,
        "t_ours": t_ours,
        "base_mae": float(np.abs(base_achieved - ours.target).mean()),
        "mae": ours.mae(),
        "mae_exact": exact_mae(xs, ls, ours, total, seed),
    }


def child(args: argparse.Namespace) -> dict:
    """Run what ``--child`` names in this process and return its figures."""
    kind, *rest = args.child.split("/")
    if kind == "compare":
        dim, n, total = (int(v) for v in rest)
        return compare(dim, n, total, args.seed)
    name, spec = rest
    return mine_one((QUICK if args.quick else SIZES)[name], spec, args.seed)


def run_child(what: str, args: argparse.Namespace) -> dict:
    """``what`` in a fresh process of this script; its figures (one JSON line) come back.

    ``--quick`` runs it in this process instead (seconds matter more there than the peaks)."""
    if args.quick:
        return child(argparse.Namespace(**{**vars(args), "child": what}))
    cmd = [sys.executable, __file__, "--child", what, "--seed", str(args.seed)]
    cmd += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{what}: the measuring process failed:\n{r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--size", action="append", choices=list(SIZES), help="default: all")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and faiss threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    faiss.omp_set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(args)))
        return
    sizes = QUICK if args.quick else SIZES
    console = Console(width=200)  # the scale table is wide; logs keep it whole
    names = args.size or list(sizes)
    dims = {sizes[name][2] for name in names}
    cmps = {
        dim: run_child(f"compare/{dim}/{n}/{t}", args)
        for dim, (n, t) in (QUICK_COMPARE if args.quick else COMPARE).items()
        if dim in dims
    }
    table = Table(title=f"Sequencing at scale ({args.threads} threads)")
    for col in (
        "size",
        "items x dim",
        "classes",
        "triplets",
        "schedule",
        "load",
        "wall (s)",
        "CPU (s)",
        "peak RSS (GB)",
        "classes as anchor",
        "neg. of anchor class",
        "MAE reported / exact range (1,000 sampled)",
        "scan-all extrapolated (s)",
        "ratio",
    ):
        table.add_column(col, justify="right")
    for name in names:
        n, classes, dim, total, specs = sizes[name]
        c = cmps[dim]
        per_tnd = c["t_base"] / (c["total"] * c["n"] * dim)
        for spec in specs:
            r = run_child(f"size/{name}/{spec}", args)
            base = per_tnd * total * n * dim
            table.add_row(
                name,
                f"{n:,} x {dim}",
                f"{classes:,}",
                f"{total:,}",
                spec,
                f"{r['load']:.1f}",
                f"{r['wall']:.1f}",
                f"{r['cpu']:.1f}",
                f"{r['peak_gb']:.2f}",
                f"{r['classes_as_anchor']:,} / {r['classes']:,}",
                str(r["wrong_class"]),
                f"{r['mae']:.4f} / {r['mae_exact']:.4f}",
                f"{base:,.0f}",
                f"{base / r['wall']:,.0f}x",
            )
    console.print(table)
    cmp = Table(title="Side by side with the scan-all baseline O(T·N·D), measured in this run")
    for col in ("items x dim", "triplets", "method", "wall (s)", "MAE", "MAE (exact range)"):
        cmp.add_column(col, justify="right")
    for dim, c in cmps.items():
        size = f"{c['n']:,} x {dim}"
        base = f"{c['base_mae']:.4f}"
        cmp.add_row(size, f"{c['total']:,}", "scan-all baseline", f"{c['t_base']:.2f}", base, base)
        cmp.add_row(
            size,
            f"{c['total']:,}",
            "HardnessSequencer (faiss)",
            f"{c['t_ours']:.2f}",
            f"{c['mae']:.4f}",
            f"{c['mae_exact']:.4f}",
        )
    console.print(cmp)
    for dim, c in cmps.items():
        console.print(
            f"speed ratio (baseline / ours) at {c['n']:,} x {dim}: {c['t_base'] / c['t_ours']:.1f}x"
        )
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
