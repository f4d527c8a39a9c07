"""The margin question: does the right triplet margin depend on the embedding's dimension?

The seed asked how to choose the margin of a contrastive loss for 1024-d RNN embeddings; the
answer it was given: it depends on the dimension for unnormalised euclidean distances, not for
cosine distances or L2-normalised embeddings. Here that is measured with the triplet loss on
real data, for margin x embedding dimension (16, 64, 256, 1024) x distance:

* ``euclidean``: unnormalised embeddings, euclidean distance;
* ``squared_euclidean``: unnormalised, squared euclidean;
* ``cosine``: unnormalised embeddings, cosine distance;
* ``l2_euclidean``: L2-normalised embeddings (``output_activation = "l2"``), euclidean.

Data: NSL-KDD (``../shared/data/nsl-kdd``), the tabular reader's preset (log-scaled heavy columns,
z-scores and one-hots fitted on the training file). An MLP trains on the 22 classes of
``KDDTrain+_20Percent``; accuracy is 8-way 1-shot on the test records of the 8 attack types that
appear only in ``KDDTest+`` (classes never seen in training). Chosen because it is the cheapest
real data here with held-out classes: a 1024-d MLP step on a 50-record batch takes milliseconds,
so the whole table runs in minutes on one thread.

For every (dimension, distance), the same untrained network (one seed) starts every margin:

* **active at init**: the fraction of all valid triplets of 8 fixed P x K training batches with a
  positive loss ``d(a,p) - d(a,n) + margin > 0``, on the untrained network;
* **active after**: the same fraction after ``--steps`` Adam steps with that margin (batch-all
  triplet loss over P x K batches: ``TripletLoss`` read from the batch's distance matrix);
* **accuracy**: 8-way 1-shot on the never-seen classes after training (and of the untrained
  network, for scale);
* ``margin = "auto"``: the library's choice (``siamese.training.margin.fit_margin``: 0.2 x the
  median distance of the untrained model on a sample of training items), trained like the others.

The "right" margins of a (dimension, distance) are those whose accuracy is within ``--tolerance``
of its best; ``auto`` lands where the table says when its own accuracy is within that tolerance.

    python benchmarks/margin_table.py            # the whole table (minutes, 1 thread)
    python benchmarks/margin_table.py --quick    # 2 dimensions, 3 margins, a few steps (seconds)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _recipe import save_record
from nsl_kdd import NOVEL  # the 8 attack types only in KDDTest+ (>= 100 records each)
from rich.console import Console

from siamese.data import load_source
from siamese.encoders import create_encoder
from siamese.evaluation.one_shot import n_way_k_shot_accuracy
from siamese.model import SiameseModel
from siamese.objectives import TripletLoss
from siamese.objectives._tuples import all_triplets
from siamese.training.margin import fit_margin, sample_distances

ROOT = Path(__file__).resolve().parents[1]
DIMS = (16, 64, 256, 1024)
DISTANCES = {  # name: (output_activation, distance)
    "euclidean": ("none", "euclidean"),
    "squared_euclidean": ("none", "squared_euclidean"),
    "cosine": ("none", "cosine"),
    "l2_euclidean": ("l2", "euclidean"),
}
MARGINS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
QUICK = {"dims": (16, 64), "margins": (0.1, 1.0, 10.0), "steps": 5, "episodes": 50}
P, K = 10, 5  # classes x records per batch: 9,000 triplets (batch-all), milliseconds at 1024-d
PROBE_BATCHES = 8  # fixed training batches on which the active fraction is measured
SEED_ANSWER = "yes for unnormalised euclidean distance; no for cosine or normalised embeddings"


def read_data(folder: Path) -> tuple[Any, Any]:
    """The training file's records and the never-seen classes' test records."""
    ds = load_source(
        "tabular",
        preset="nsl-kdd",
        path=str(folder / "KDDTrain+_20Percent.txt"),
        test_path=str(folder / "KDDTest+.txt"),
        log_columns="auto",
    )
    train = ds.subset(np.flatnonzero(ds.split == "train"))
    novel = [ds.class_names.index(n) for n in NOVEL]
    test = ds.subset(np.flatnonzero((ds.split == "test") & np.isin(ds.labels, novel)))
    return train, test


def pk_batches(labels: np.ndarray, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """``n`` batches of P classes x K items (with replacement inside a class smaller than K)."""
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    out = []
    for _ in range(n):
        classes = rng.choice(len(by_class), size=min(P, len(by_class)), replace=False)
        out.append(
            np.concatenate(
                [rng.choice(by_class[c], K, replace=len(by_class[c]) < K) for c in classes]
            )
        )
    return out


def triplet_gaps(
    model: SiameseModel, x: torch.Tensor, y: torch.Tensor, batches: list[np.ndarray]
) -> np.ndarray:
    """``d(a,n) - d(a,p)`` of every valid triplet of the probe batches (eval mode): a triplet is
    active for a margin ``m`` exactly when its gap is below ``m``."""
    model.eval()
    gaps = []
    with torch.no_grad():
        for b in batches:
            d = model.distance.matrix(*[model(x[b])] * 2)  # (B, B)
            a, p, n = all_triplets(y[b])
            gaps.append((d[a, n] - d[a, p]).numpy())
    return np.concatenate(gaps)


def accuracy(model: SiameseModel, test: Any, episodes: int, seed: int) -> float:
    """8-way 1-shot accuracy on the never-seen classes' test records."""
    emb = model.embed_dataset(test)
    return n_way_k_shot_accuracy(
        emb,
        test.labels,
        n_way=len(NOVEL),
        k_shot=1,
        episodes=episodes,
        queries_per_class=5,
        distance=model.distance,
        seed=seed,
    ).accuracy


def build(dim: int, name: str, n_features: int, seed: int) -> SiameseModel:
    """The untrained MLP of one (dimension, distance): the same weights for every margin."""
    activation, distance = DISTANCES[name]
    torch.manual_seed(seed)
    args = {"hidden": [256], "embedding_dim": dim, "output_activation": activation}
    encoder = create_encoder("mlp", input_shape=(n_features,), **args)
    return SiameseModel(encoder, encoder_name="mlp", encoder_args=args, distance=distance)


def batch_all_loss(
    distance: Any, emb: torch.Tensor, labels: torch.Tensor, margin: float
) -> torch.Tensor:
    """``TripletLoss(margin, distance)`` over every valid triplet of the batch, read from the
    ``(B, B)`` distance matrix: the same value as the library's loss (a test checks it), without
    gathering a ``(T, D)`` row per triplet (9,000 x 1024 floats three times per step)."""
    d = distance.matrix(emb, emb)  # (B, B)
    a, p, n = all_triplets(labels)
    return torch.relu(d[a, p] - d[a, n] + margin).mean()


def train(
    model: SiameseModel,
    margin: float,
    x: torch.Tensor,
    y: torch.Tensor,
    labels: np.ndarray,
    steps: int,
    seed: int,
) -> float:
    """``steps`` Adam steps of batch-all triplet loss; returns the last step's loss."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    rng = np.random.default_rng([seed, 5])
    loss = torch.zeros(())
    for b in pk_batches(labels, rng, steps):
        loss = batch_all_loss(model.distance, model(x[b]), y[b], margin)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.detach())


def cell(dim: int, name: str, data: tuple[Any, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Every margin (and "auto") of one (dimension, distance)."""
    train_ds, test = data
    x = torch.as_tensor(train_ds.load(np.arange(len(train_ds))))  # (N, F)
    y = torch.as_tensor(train_ds.labels)
    labels = np.asarray(train_ds.labels)
    probe = pk_batches(labels, np.random.default_rng([args.seed, 3]), PROBE_BATCHES)
    start = build(dim, name, x.shape[1], args.seed)
    init_state = {k: v.clone() for k, v in start.state_dict().items()}
    gaps0 = triplet_gaps(start, x, y, probe)
    untrained_accuracy = accuracy(start, test, args.episodes, args.seed)
    dists = sample_distances(start, train_ds, start.distance, args.seed)
    auto = fit_margin("triplet", "auto", TripletLoss(distance=start.distance), dists)
    both = np.concatenate([dists["pos"], dists["neg"]])
    rows = []
    for m in [*args.margins, "auto"]:
        margin = float(auto["margin"]) if m == "auto" else float(m)
        model = build(dim, name, x.shape[1], args.seed)
        model.load_state_dict(init_state)
        last = train(model, margin, x, y, labels, args.steps, args.seed)
        gaps = triplet_gaps(model, x, y, probe)
        rows.append(
            {
                "margin": margin,
                "set_by": "auto" if m == "auto" else "grid",
                "active_init": float((gaps0 < margin).mean()),
                "active_after": float((gaps < margin).mean()),
                "last_loss": last,
                "accuracy": accuracy(model, test, args.episodes, args.seed),
            }
        )
    verdict = auto_verdict(rows, args.tolerance)
    return {
        "dim": dim,
        "distance": name,
        "untrained_distance": {
            "p5": float(np.quantile(both, 0.05)),
            "median": float(np.median(both)),
            "p95": float(np.quantile(both, 0.95)),
        },
        "untrained_accuracy": untrained_accuracy,
        "rows": rows,
        **verdict,
    }


def auto_verdict(rows: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """Where the table puts the right margins of one cell and whether ``auto`` lands there.

    The good margins are the grid margins within ``tolerance`` of the best accuracy (not always
    one interval); ``auto`` lands right when its own accuracy is within ``tolerance`` of the
    best, and between good margins when the grid margins just below and just above it are good.
    """
    grid = [r for r in rows if r["set_by"] == "grid"]
    auto = next(r for r in rows if r["set_by"] == "auto")
    best = max(grid, key=lambda r: r["accuracy"])
    good = [r["margin"] for r in grid if r["accuracy"] >= best["accuracy"] - tolerance]
    below = [r["margin"] for r in grid if r["margin"] <= auto["margin"]]
    above = [r["margin"] for r in grid if r["margin"] >= auto["margin"]]
    neighbours = [max(below)] if below else []
    neighbours += [min(above)] if above else []
    return {
        "best_margin": best["margin"],
        "best_accuracy": best["accuracy"],
        "good_margins": good,
        "auto_margin": auto["margin"],
        "auto_accuracy": auto["accuracy"],
        "auto_lands_right": auto["accuracy"] >= best["accuracy"] - tolerance,
        "auto_between_good_margins": all(m in good for m in neighbours),
    }


def _fmt(m: float) -> str:
    return f"{m:.3g}"


def print_table(res: dict[str, Any]) -> None:
    for c in res["cells"]:
        u = c["untrained_distance"]
        print(
            f"\n{c['distance']}, {c['dim']}-d  (untrained distances: median {u['median']:.3g}, "
            f"5-95% {u['p5']:.3g} to {u['p95']:.3g}; untrained 8-way 1-shot "
            f"{c['untrained_accuracy']:.3f})"
        )
        print(f"{'margin':>10} {'active@init':>12} {'active after':>13} {'8-way 1-shot':>13}")
        for r in c["rows"]:
            tag = " auto" if r["set_by"] == "auto" else ""
            star = " *" if r["set_by"] == "grid" and r["margin"] in c["good_margins"] else ""
            print(
                f"{_fmt(r['margin']):>10} {r['active_init']:12.3f} {r['active_after']:13.3f} "
                f"{r['accuracy']:13.3f}{tag}{star}"
            )
    print(f"\n* within {res['tolerance']} of the best accuracy of that (distance, dimension)")
    print("\nsummary: best margin, auto margin (auto's accuracy vs best), the good margins")
    for c in res["cells"]:
        good = ",".join(_fmt(m) for m in c["good_margins"])
        print(
            f"{c['distance']:>18} {c['dim']:>5}-d: best {_fmt(c['best_margin']):>6}  auto "
            f"{_fmt(c['auto_margin']):>7} ({c['auto_accuracy']:.3f} vs {c['best_accuracy']:.3f}: "
            f"{'lands right' if c['auto_lands_right'] else 'misses'})  good {good}"
        )
    print(f"seed's answer: {SEED_ANSWER}")
    print(f"wall time {res['wall_seconds']:.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 dimensions, 3 margins, 5 steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="training steps per cell (default 150)")
    p.add_argument("--episodes", type=int, default=None, help="1-shot episodes (default 200)")
    p.add_argument("--tolerance", type=float, default=0.02, help="accuracy within the best")
    p.add_argument("--dims", type=int, nargs="+", default=None)
    p.add_argument("--distances", nargs="+", choices=list(DISTANCES), default=list(DISTANCES))
    p.add_argument("--margins", type=float, nargs="+", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nsl-kdd"))
    p.add_argument("--out", default=None, help="JSON result file (default: benchmarks/results/)")
    args = p.parse_args(argv)
    quick = QUICK if args.quick else {}
    args.dims = args.dims or list(quick.get("dims", DIMS))
    args.margins = args.margins or list(quick.get("margins", MARGINS))
    args.steps = args.steps or quick.get("steps", 150)
    args.episodes = args.episodes or quick.get("episodes", 200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (Path(args.data) / "KDDTest+.txt").is_file():
        print(f"NSL-KDD files not found under {args.data} (KDDTest+.txt); pass --data DIR")
        return 2
    torch.set_num_threads(args.threads)
    t0, load = time.perf_counter(), list(os.getloadavg())
    data = read_data(Path(args.data))
    cells = [cell(d, name, data, args) for name in args.distances for d in args.dims]
    mode = "quick" if args.quick else "full"
    res = {
        "benchmark": "margin_table",
        "command": " ".join(
            ["python", "benchmarks/margin_table.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "mode": mode,
        "quick": args.quick,
        "load_average": [load, list(os.getloadavg())],  # 1/5/15-min, at the start and the end
        "seed": args.seed,
        "data": "NSL-KDD: train KDDTrain+_20Percent (22 classes); accuracy on KDDTest+ records "
        "of 8 never-seen attack types",
        "model": f"mlp hidden [256] (batch norm), Adam 1e-3, {args.steps} steps of P x K = "
        f"{P} x {K} batch-all triplet loss",
        "steps": args.steps,
        "episodes": args.episodes,
        "tolerance": args.tolerance,
        "seed_answer": SEED_ANSWER,
        "cells": cells,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    print_table(res)
    save_record(res, args.out, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
