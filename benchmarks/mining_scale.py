"""How fast and how accurate is scheduled hardness sequencing at scale?

Prints two tables:

1. Scale: ``T`` triplets sequenced over ``N`` items of ``C`` classes with ``D``-dimensional
   synthetic clustered features (default: 70,000 triplets, 70,000 items, 35,000 classes,
   2,048-d): wall time, peak resident memory (``ru_maxrss`` of this process, everything
   included), the hardness MAE the sequencer reports and the MAE re-measured against each anchor's
   exact range (an exhaustive scan for a sample of anchors). CPU time is printed beside wall
   time because a shared machine's load inflates the wall time.
2. Side by side on a size the scan-all method finishes (5,000 items, 2,000 triplets): our
   sequencer against the scan-all baseline — for every triplet, the distances from the anchor
   to all N items (a matrix-vector product, O(N·D) per triplet, O(T·N·D) in all), negatives
   restricted to other classes (the public code's wrong-list indexing fixed), and the negative
   whose hardness is closest to the target. Both get the same anchors, positives and targets.

Usage: ``python benchmarks/mining_scale.py`` (about a minute on 2 cores) or ``--quick``
(a few seconds, smaller sizes, for the test suite).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from siamese.mining.hardness import hardness_of
from siamese.mining.sequencer import HardnessSequencer


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
    for s in range(0, len(rows), 256):
        r = rows[s : s + 256]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        n, classes, dim, total, cmp_n, cmp_t = 4_000, 2_000, 128, 4_000, 1_000, 300
    else:
        n, classes, dim, total, cmp_n, cmp_t = 70_000, 35_000, 2_048, 70_000, 5_000, 2_000
    console = Console()

    x, labels = clustered_features(n, classes, dim, args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    result = HardnessSequencer("sigmoid", seed=args.seed).mine(labels, x, total)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    summary = result.summary(labels)
    table = Table(
        title=f"Sequencing {total:,} triplets over {n:,} items, {classes:,} classes, {dim}-d"
    )
    for col in (
        "wall time (s)",
        "CPU time (s)",
        "peak RSS (GB)",
        "classes as anchor",
        "negatives of anchor class",
        "MAE (reported)",
        "MAE (exact range, 1,000 sampled)",
    ):
        table.add_column(col, justify="right")
    table.add_row(
        f"{wall:.1f}",
        f"{cpu:.1f}",
        f"{peak_rss_gb():.2f}",
        f"{summary['classes_as_anchor']:,} / {summary['classes']:,}",
        str(summary["negatives_of_anchor_class"]),
        f"{summary['hardness_mae']:.4f}",
        f"{exact_mae(x, labels, result, 1000, args.seed):.4f}",
    )
    console.print(table)
    del x

    xs, ls = clustered_features(cmp_n, cmp_n // 2, dim, args.seed + 1)
    seq = HardnessSequencer("sigmoid", seed=args.seed)
    t0 = time.perf_counter()
    ours = seq.mine(ls, xs, cmp_t)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, base_achieved = scan_all(xs, ls, ours.anchor, ours.target)
    t_base = time.perf_counter() - t0
    base_mae = float(np.abs(base_achieved - ours.target).mean())
    cmp = Table(title=f"Side by side: {cmp_n:,} items, {cmp_t:,} triplets, {dim}-d")
    for col in ("method", "wall time (s)", "hardness MAE", "MAE (exact range)"):
        cmp.add_column(col, justify="right")
    base = f"{base_mae:.4f}"
    cmp.add_row("scan-all baseline O(T·N·D)", f"{t_base:.2f}", base, base)
    cmp.add_row(
        "HardnessSequencer (faiss)",
        f"{t_ours:.2f}",
        f"{ours.mae():.4f}",
        f"{exact_mae(xs, ls, ours, cmp_t, args.seed):.4f}",
    )
    console.print(cmp)
    console.print(f"speed ratio (baseline / ours): {t_base / t_ours:.1f}x")
    console.print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
