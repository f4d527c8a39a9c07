"""UCR/UEA time series: does a Siamese embedding beat 1-NN DTW on the archive's TRAIN/TEST split?

For each problem in ``../shared/data/ucr``: train ``configs/ucr.toml`` (the same recipe that
``siamese train -c configs/ucr.toml`` runs; only ``data.path`` and ``name`` change) on TRAIN, then
on TEST:

* **1-NN in the embedding**: each TEST series labelled by its nearest TRAIN series (the gallery);
* **N-way 1-shot episodes** on TEST (N = the problem's classes, one support and one query per
  class), the same episodes for the embedding and for the raw series;
* **1-NN euclidean** on the raw series, z-normalised per series and dimension (the UCR habit;
  variable-length series zero-padded after normalising), computed in this run;
* **1-NN DTW** (full warping): the published figure from ``../shared/data/README.md`` where there is
  one; for the others (BasicMotions, JapaneseVowels) computed here with a small NumPy DTW
  (dependent multivariate DTW: squared euclidean cost over the dimensions at each step). It is also
  computed for every other problem small enough (a check on the implementation).

``--select`` never reads TEST: it trains on three quarters of TRAIN and reports 1-NN accuracy on
the held-out quarter (stratified), which is how the recipe was chosen.

    python benchmarks/ucr.py                    # all 7 problems (~10 min on 2 cores)
    python benchmarks/ucr.py --quick            # GunPoint + ItalyPowerDemand, a few steps
    python benchmarks/ucr.py --select           # recipe selection on TRAIN only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from siamese.evaluation.one_shot import n_way_k_shot_accuracy
from siamese.objectives.distances import get_distance
from siamese.training import load_config, train_from_config

ROOT = Path(__file__).resolve().parents[1]
DATASETS = (
    "GunPoint",
    "ArrowHead",
    "ItalyPowerDemand",
    "OSULeaf",
    "ACSF1",
    "BasicMotions",
    "JapaneseVowels",
)
QUICK_DATASETS = ("GunPoint", "ItalyPowerDemand")
PUBLISHED_DTW = {  # ../shared/data/README.md: 1-NN DTW, full warping
    "GunPoint": 0.907,
    "ArrowHead": 0.703,
    "ItalyPowerDemand": 0.950,
    "OSULeaf": 0.591,
    "ACSF1": 0.64,
}
DTW_BUDGET = 1e9  # compute DTW here when test x train x T x T cells stay below this
QUICK_SET = [
    "training.epochs=2",
    "training.steps_per_epoch=5",
    "evaluation.episodes=50",
    "evaluation.pairs=200",
]
EPISODES = 1000


def znorm(items: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Z-normalise every series per dimension over its valid steps; padding stays 0.

    Args:
        items: ``(N, T, F)`` series, zero-padded at the end.
        lengths: ``(N,)`` true lengths, or None when all are ``T`` long.

    Returns:
        ``(N, T, F)`` float64.
    """
    n, t, _ = items.shape
    lens = np.full(n, t) if lengths is None else lengths
    mask = (np.arange(t)[None, :] < lens[:, None])[..., None]  # (N, T, 1)
    x = items.astype(np.float64)
    mean = (x * mask).sum(1, keepdims=True) / lens[:, None, None]  # (N, 1, F)
    std = np.sqrt((((x - mean) * mask) ** 2).sum(1, keepdims=True) / lens[:, None, None])
    return np.where(mask, (x - mean) / np.where(std > 1e-8, std, 1.0), 0.0)


def dtw_distances(
    query: np.ndarray, q_len: int, gallery: np.ndarray, g_lens: np.ndarray
) -> np.ndarray:
    """Full-warping DTW between one series and each gallery series (anti-diagonal sweep).

    Args:
        query: ``(T, F)`` (padded), ``q_len`` its true length.
        gallery: ``(N, T2, F)`` padded series, ``g_lens`` ``(N,)`` their true lengths.

    Returns:
        ``(N,)`` accumulated squared-euclidean cost of the best warping path.
    """
    a = query[:q_len]  # (Ta, F)
    ta, tb = q_len, gallery.shape[1]
    cost = ((a[None, :, None, :] - gallery[:, None, :, :]) ** 2).sum(-1)  # (N, Ta, Tb)
    acc = np.full((len(gallery), ta + 1, tb + 1), np.inf)
    acc[:, 0, 0] = 0.0
    for k in range(2, ta + tb + 1):
        i = np.arange(max(1, k - tb), min(ta, k - 1) + 1)
        j = k - i
        best = np.minimum(np.minimum(acc[:, i - 1, j - 1], acc[:, i - 1, j]), acc[:, i, j - 1])
        acc[:, i, j] = cost[:, i - 1, j - 1] + best
    return acc[np.arange(len(gallery)), ta, g_lens]


def one_nn(dist: np.ndarray, gallery_labels: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of labelling each row by its nearest gallery column."""
    return float((gallery_labels[dist.argmin(1)] == labels).mean())


def raw_baselines(tr: Any, te: Any, seed: int, n_way: int, dtw: bool) -> dict[str, Any]:
    """1-NN euclidean, N-way 1-shot episodes and (if asked) 1-NN DTW on z-normalised raw series."""
    xtr = znorm(tr.load(np.arange(len(tr))), tr.lengths)  # (N, T, F)
    xte = znorm(te.load(np.arange(len(te))), te.lengths)
    flat_tr, flat_te = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    d = ((flat_te**2).sum(1)[:, None] + (flat_tr**2).sum(1)[None, :]) - 2 * flat_te @ flat_tr.T
    out: dict[str, Any] = {"raw_1nn_euclidean": one_nn(d, tr.labels, te.labels)}
    episodes = n_way_k_shot_accuracy(
        flat_te.astype(np.float32), te.labels, n_way=n_way, k_shot=1, episodes=EPISODES, seed=seed
    )
    out["raw_1shot"] = episodes.accuracy
    if dtw:
        t0 = time.perf_counter()
        lens_tr = tr.lengths if tr.lengths is not None else np.full(len(tr), xtr.shape[1])
        lens_te = te.lengths if te.lengths is not None else np.full(len(te), xte.shape[1])
        dd = np.stack(
            [dtw_distances(xte[q], int(lens_te[q]), xtr, lens_tr) for q in range(len(te))]
        )
        out["dtw_1nn_computed"] = one_nn(dd, tr.labels, te.labels)
        out["dtw_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def run_problem(
    name: str, args: argparse.Namespace, runs_dir: Path, console: Console
) -> dict[str, Any]:
    """Train the recipe on one problem and evaluate it (or, with --select, on held-out TRAIN)."""
    path = Path(args.data) / name
    overrides = [
        f'data.path="{path}"',
        f'name="ucr-{name}"',
        f'out_dir="{runs_dir}"',
        f"seed={args.seed}",
        "training.progress=false",
    ]
    if args.select:  # TEST is not even read: a stratified quarter of TRAIN is the gallery's test
        overrides += ['data.parts=["train"]', "data.val_fraction=0.25", 'data.val_split="items"']
    overrides += (QUICK_SET if args.quick else []) + list(args.set)
    cfg = load_config(args.config, overrides)
    t0 = time.perf_counter()
    result = train_from_config(cfg, overwrite=True, report=False, progress_override=False)
    train_s = time.perf_counter() - t0
    torch.set_num_threads(1)  # small matrices: one thread is faster (and far faster on a busy box)
    model = result.model
    tr = result.splits["train"]
    te = result.splits["val" if args.select else "test"]
    n_way = len(np.unique(te.labels))
    emb_tr = torch.as_tensor(model.embed_dataset(tr))
    emb_te = torch.as_tensor(model.embed_dataset(te))
    dist = get_distance(model.distance).matrix(emb_te, emb_tr).numpy()  # (Q, N)
    shot = n_way_k_shot_accuracy(
        emb_te.numpy(), te.labels, n_way=n_way, k_shot=1, episodes=EPISODES,
        distance=model.distance, seed=args.seed,
    )  # fmt: skip
    cells = len(te) * len(tr) * tr.item_shape[0] ** 2
    small = not args.quick and cells <= DTW_BUDGET
    dtw = not args.select and (name not in PUBLISHED_DTW or small)
    row = {
        "dataset": name,
        "train_items": len(tr),
        "test_items": len(te),
        "classes": n_way,
        "embedding_1nn": one_nn(dist, tr.labels, te.labels),
        "embedding_1shot": shot.accuracy,
        "dtw_1nn_published": None if args.select else PUBLISHED_DTW.get(name),
        **raw_baselines(tr, te, args.seed, n_way, dtw),
        "train_seconds": round(train_s, 1),
        "epochs_run": result.evaluation.get("training", {}).get("epochs_run"),
    }
    ref = (
        row["dtw_1nn_published"]
        if row["dtw_1nn_published"] is not None
        else row.get("dtw_1nn_computed")
    )
    row["dtw_1nn"] = ref
    row["beats_dtw"] = None if ref is None else bool(row["embedding_1nn"] > ref)
    console.print(f"{name}: 1-NN {row['embedding_1nn']:.3f} (DTW {ref}), {train_s:.0f} s")
    return row


def print_table(rows: list[dict[str, Any]], wall: float, console: Console, select: bool) -> None:
    """One table: every figure per problem, the DTW tally and the wall time."""
    title = "UCR " + ("recipe selection (held-out quarter of TRAIN)" if select else "TRAIN -> TEST")
    table = Table(title=title)
    cols = ("dataset", "embedding_1nn", "embedding_1shot", "raw_1nn_euclidean", "raw_1shot")
    cols += ("dtw_1nn_published", "dtw_1nn_computed", "beats_dtw", "train_seconds")
    for c in cols:
        table.add_column(c.replace("_", " "), justify="left" if c == "dataset" else "right")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    console.print(table)
    wins = sum(bool(r.get("beats_dtw")) for r in rows)
    console.print(f"beats 1-NN DTW on {wins} of {len(rows)}; wall time {wall:.0f} s")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v <= 1.0 else f"{v:.1f}"
    return str(v)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 problems, a few steps (under a minute)")
    p.add_argument("--select", action="store_true", help="evaluate on held-out TRAIN, not TEST")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets", default=None, help="comma-separated problem names")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ucr"))
    p.add_argument("--config", default=str(ROOT / "configs" / "ucr.toml"))
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument("--out", default=None, help="JSON result file (default: benchmarks/results/)")
    p.add_argument("--runs-dir", default=None, help="where run folders go (default: a temp dir)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=160)
    names = (
        args.datasets.split(",") if args.datasets else QUICK_DATASETS if args.quick else DATASETS
    )
    missing = [n for n in names if not (Path(args.data) / n).is_dir()]
    if missing:
        console.print(f"[red]UCR problems not found under {args.data}: {', '.join(missing)}[/]")
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(args.runs_dir or tmp)
        rows = [run_problem(n, args, runs_dir, console) for n in names]
    wall = time.perf_counter() - t0
    print_table(rows, wall, console, args.select)
    suffix = "_select" if args.select else "_quick" if args.quick else ""
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"ucr{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "ucr",
        "command": " ".join(
            ["python", "benchmarks/ucr.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "seed": args.seed,
        "config": str(args.config),
        "overrides": args.set,
        "mode": "select" if args.select else "quick" if args.quick else "full",
        "rows": rows,
        "beats_dtw": sum(bool(r.get("beats_dtw")) for r in rows),
        "wall_seconds": round(wall, 1),
    }
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
