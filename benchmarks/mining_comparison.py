"""Which triplets train a better one-shot model in the low-shot regime?

Trains the same network (conv4 on Omniglot 28x28, triplet loss, cosine distance) with the same
budget and seed, changing only the mining strategy: easiest, hardest, semi-hard and batch-hard
(online, P x 2 batches), sigmoid and cyclic-sigmoid sequencing (offline, re-mined every epoch
in the model's own embeddings). Every background character keeps only 2 drawings (the
low-shot regime); the evaluation alphabets are held out. Prints one table: training triplet
accuracy (``d(a, p) < d(a, n)`` on 2,000 fixed random training triplets), top-1 and top-50
retrieval accuracy on the held-out characters (each image queries all the others), whether the
collapse detector fired, and the wall time.

Usage::

    python benchmarks/mining_comparison.py --data ../shared/data/omniglot            # full
    python benchmarks/mining_comparison.py --data ../shared/data/omniglot --quick    # minutes
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from siamese.data import LabeledDataset, load_source, register_source
from siamese.training.config import RunConfig, from_dict
from siamese.training.run import train_from_config

STRATEGIES = ("easiest", "hardest", "semi_hard", "batch_hard", "sigmoid", "cyclic_sigmoid")


@register_source("omniglot_low_shot")
def omniglot_low_shot(
    path: str, per_class: int = 2, size: int = 28, limit_classes: int | None = None
) -> LabeledDataset:
    """Omniglot with ``per_class`` drawings of each background character (all evaluation ones)."""
    ds = load_source(
        "omniglot",
        path=path,
        parts=["background", "evaluation"],
        size=size,
        limit_classes=limit_classes,
    )
    rng = np.random.default_rng(0)
    keep = []
    for c in np.unique(ds.labels):
        items = np.flatnonzero(ds.labels == c)
        train = ds.split[items[0]] == "train"
        keep.append(np.sort(rng.choice(items, size=per_class, replace=False)) if train else items)
    return ds.subset(np.sort(np.concatenate(keep)))


def config(
    strategy: str, data: str, out_dir: str, quick: bool, threshold: float = 0.5
) -> RunConfig:
    """The run config shared by every strategy; only ``[mining]`` and ``[sampling]`` differ."""
    online = strategy in ("semi_hard", "batch_hard")
    epochs, steps = (2, 20) if quick else (10, 100)
    raw: dict[str, Any] = {
        "name": strategy,
        "seed": 0,
        "out_dir": out_dir,
        "data": {
            "source": "omniglot_low_shot",
            "path": data,
            "size": 28,
            "split": "protocol",
            "val_fraction": 0.05,
            "normalise": "global",
            **({"limit_classes": 200} if quick else {}),
        },
        "model": {
            "encoder": "conv4",
            "channels": 32,
            "embedding_dim": 64,
            "output_activation": "l2",
        },
        "objective": {"name": "triplet", "margin": 0.2, "distance": "cosine"},
        "sampling": {"kind": "pk" if online else "triplets", "p": 32, "k": 2, "batch_size": 32},
        "mining": {
            "strategy": strategy,
            "threshold": threshold,
            "growth": 10.0,
            "cycles": 3,
            "refresh_every": steps,
        },
        "training": {
            "epochs": epochs,
            "steps_per_epoch": steps,
            "early_stopping": False,
            "restore_best": False,
            "snapshot_items": 0,
            "progress": False,
            "val_batches": 2,
            "on_collapse": "warn",
        },
        "evaluation": {"n_way": 5, "episodes": 50, "val_episodes": 20, "pairs": 200},
    }
    return from_dict(raw, RunConfig, "")


def retrieval_topk(emb: np.ndarray, labels: np.ndarray, ks: tuple[int, ...]) -> list[float]:
    """Share of queries with a same-class item among their k nearest others (faiss, exact)."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    index = faiss.IndexFlatL2(emb.shape[1])
    index.add(emb)
    kmax = min(max(ks) + 1, len(emb))
    _, nn = index.search(emb, kmax)  # (N, kmax), the query itself first
    hits = labels[nn[:, 1:]] == labels[:, None]
    return [float(hits[:, :k].any(axis=1).mean()) for k in ks]


def triplet_accuracy(emb: np.ndarray, labels: np.ndarray, n: int = 2000) -> float:
    """Share of random training triplets with the positive nearer than the negative."""
    rng = np.random.default_rng(0)
    a = rng.integers(len(labels), size=4 * n)
    p = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in a[: 4 * n]])
    ok = p != a
    a, p = a[ok][:n], p[ok][:n]
    neg = rng.integers(len(labels), size=len(a))
    keep = labels[neg] != labels[a]
    a, p, neg = a[keep], p[keep], neg[keep]
    d_ap = ((emb[a] - emb[p]) ** 2).sum(1)
    d_an = ((emb[a] - emb[neg]) ** 2).sum(1)
    return float((d_ap < d_an).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/omniglot", help="Omniglot folder")
    parser.add_argument("--quick", action="store_true", help="200 characters, 40 steps each")
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="hardness the sigmoid schedules rise to (their carrying capacity)",
    )
    args = parser.parse_args()
    console = Console()
    table = Table(title="Mining strategies, Omniglot background with 2 drawings per character")
    for col in ("strategy", "train triplet acc", "top-1", "top-50", "collapsed", "wall (s)"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    with tempfile.TemporaryDirectory() as out_dir:
        for strategy in args.strategies:
            cfg = config(strategy, str(Path(args.data)), out_dir, args.quick, args.threshold)
            t0 = time.perf_counter()
            result = train_from_config(cfg, report=False, progress_override=False)
            wall = time.perf_counter() - t0
            train, test = result.splits["train"], result.splits["test"]
            emb_train = result.model.embed_dataset(train)
            emb_test = result.model.embed_dataset(test)
            top1, top50 = retrieval_topk(emb_test, test.labels, (1, 50))
            collapsed = any(bool(r.get("collapse")) for r in result.history)
            table.add_row(
                strategy,
                f"{triplet_accuracy(emb_train, train.labels):.3f}",
                f"{top1:.3f}",
                f"{top50:.3f}",
                "yes" if collapsed else "no",
                f"{wall:.0f}",
            )
            console.print(f"{strategy}: done in {wall:.0f} s")
    console.print(table)


if __name__ == "__main__":
    main()
