"""Which triplets train a better one-shot model in the low-shot regime, and which collapse it?

Trains the same network (conv4 on Omniglot 28x28, triplet loss) with the same steps, batch and
seed, changing only the mining strategy. Every background character keeps only 2 drawings (the
low-shot regime); the evaluation alphabets are held out. Every strategy sees P x K = 32 x 2 = 64
items and 64 triplets per step (PLAID: 8 x 8):

* online, inside each P x K batch: ``scheduled`` (each anchor's negative at the hardness a
  sigmoid schedule gives for the step, rising to 1; ``scheduled_mid``: rising to 0.5 only, the
  middle of each anchor's range), ``batch_hard`` (its nearest negative) — one triplet per anchor — and ``semi_hard`` (every triplet of the semi-hard band; its
  count varies and is measured: the one online strategy whose count cannot be set);
* offline, 64 sequenced triplets per step (``sampling.batch_size`` = P x K), re-mined every
  epoch in the model's own embeddings: ``hardest`` and the ``sequencer`` (sigmoid to 1).

Three settings: ``omniglot`` (L2-normalised 64-d embedding, cosine distance, margin 0.2, Adam
1e-3, 10 x 100 steps), ``collapse`` (the same network without the normalisation, squared
euclidean distance, margin 1, Adam 3e-3) and ``plaid``: the UCR problem PLAID (11 classes) with
the time-series recipe that collapsed there under batch-hard (issue 16: conv1d, L2-normalised,
euclidean, margin 0.2, 8 x 8 batches, 20 x 20 steps), where the test classes are the training
ones, so 1-NN of TEST against the TRAIN gallery is reported too.

``select`` chooses the schedule without the evaluation alphabets: the Omniglot setting on the
background characters only, the last third of them (by index) held out as test; the
``scheduled_*`` candidates (midpoints 0.25 and 0.1, the cyclic sigmoid) are meant for it.

Per run: training triplet accuracy (``d(a, p) < d(a, n)`` on 2,000 fixed random training
triplets), top-1 / top-50 retrieval on the held-out characters (each image queries all others),
``collapsed`` and what it is measured from (below), the trainer's own collapse flag, the
measured triplets per training step, and the wall time. Results go to
``benchmarks/results/mining_comparison.json`` (runs merged in by setting, strategy and seed).

Collapsed, by a fixed criterion on the final model: the test embeddings' spread (mean
per-dimension standard deviation) below 0.05 x that of the same seeded untrained model, or the
mean ``d(a, n)`` over the 2,000 training triplets less than 1.1 x the mean ``d(a, p)``.

Usage::

    python benchmarks/mining_comparison.py --data ../shared/data/omniglot --seeds 0 1 2
    python benchmarks/mining_comparison.py --data ../shared/data/omniglot --quick   # minutes
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from siamese._io import atomic_write_json, atomic_write_text
from siamese.data import LabeledDataset, load_source, register_source
from siamese.objectives._base import Objective
from siamese.seed import seed_everything
from siamese.training.collapse import CollapseDetector
from siamese.training.config import RunConfig, from_dict
from siamese.training.run import build_model, train_run
from siamese.training.splits import load_splits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mining_comparison.json"
P, K = 32, 2
# strategy -> the [mining] table; online ones mine inside P x K batches
STRATEGIES: dict[str, dict[str, Any]] = {
    "scheduled": {"strategy": "scheduled", "schedule": "sigmoid", "threshold": 1.0},
    "scheduled_mid": {"strategy": "scheduled", "schedule": "sigmoid", "threshold": 0.5},
    # candidates of the selection screen (--settings select): an earlier rise to batch-hard, and
    # the cyclic curve; chosen on held-out BACKGROUND characters, never the evaluation alphabets
    "scheduled_m25": {
        "strategy": "scheduled",
        "schedule": "sigmoid",
        "threshold": 1.0,
        "midpoint": 0.25,
    },
    "scheduled_m10": {
        "strategy": "scheduled",
        "schedule": "sigmoid",
        "threshold": 1.0,
        "midpoint": 0.1,
    },
    "scheduled_cyclic": {
        "strategy": "scheduled",
        "schedule": "cyclic_sigmoid",
        "threshold": 1.0,
        "cycles": 3,
    },
    "batch_hard": {"strategy": "batch_hard"},
    "semi_hard": {"strategy": "semi_hard"},
    "hardest": {"strategy": "hardest"},
    "sequencer": {"strategy": "sigmoid", "threshold": 1.0},
}
ONLINE = tuple(
    k for k, v in STRATEGIES.items() if v["strategy"] in ("scheduled", "batch_hard", "semi_hard")
)
SETTINGS: dict[str, dict[str, Any]] = {
    "omniglot": {"activation": "l2", "distance": "cosine", "margin": 0.2, "lr": 1e-3},
    "collapse": {
        "activation": "none",
        "distance": "squared_euclidean",
        "margin": 1.0,
        "lr": 3e-3,
    },
}
# the selection screen: the omniglot setting on BACKGROUND characters only, the last third held out
SETTINGS["select"] = dict(SETTINGS["omniglot"])
SELECT_HELD_OUT = 1 / 3  # of the background characters, the last by index
SETTINGS["plaid"] = {"activation": "l2", "distance": "euclidean", "margin": 0.2, "lr": 1e-3}
PLAID_P, PLAID_K = 8, 8  # the recipe's batch (P is capped at PLAID's 11 classes)
COMMON_TRAINING: dict[str, Any] = {
    "early_stopping": False,
    "restore_best": False,
    "snapshot_items": 0,
    "progress": False,
    "val_batches": 2,
    "on_collapse": "warn",
    "threads": 1,
}
SPREAD_RATIO, SEPARATION = 0.05, 1.1  # the collapse criterion (module docstring)


@register_source("omniglot_low_shot")
def omniglot_low_shot(
    path: str,
    per_class: int = 2,
    size: int = 28,
    limit_classes: int | None = None,
    select: bool = False,
) -> LabeledDataset:
    """Omniglot with ``per_class`` drawings of each training character (all test ones).

    ``select``: the selection split: background characters only, the last third of them by
    index held out as "test" (new characters, as the evaluation alphabets are to training).
    """
    ds = load_source(
        "omniglot",
        path=path,
        parts=["background"] if select else ["background", "evaluation"],
        size=size,
        limit_classes=limit_classes,
    )
    if select:
        cut = int(round(ds.num_classes * (1 - SELECT_HELD_OUT)))
        ds.split = np.where(ds.labels < cut, "train", "test").astype(object)
    rng = np.random.default_rng(0)
    keep = []
    for c in np.unique(ds.labels):
        items = np.flatnonzero(ds.labels == c)
        train = ds.split[items[0]] == "train"
        keep.append(np.sort(rng.choice(items, size=per_class, replace=False)) if train else items)
    return ds.subset(np.sort(np.concatenate(keep)))


def config(
    strategy: str, setting: str, args: argparse.Namespace, out_dir: str, seed: int
) -> RunConfig:
    """The run config shared by every strategy; only ``[mining]`` and ``sampling.kind`` differ."""
    if setting == "plaid":
        return plaid_config(strategy, args, out_dir, seed)
    s = SETTINGS[setting]
    epochs, steps = (2, 20) if args.quick else (10, 100)
    raw: dict[str, Any] = {
        "name": f"{setting}-{strategy}-{seed}",
        "seed": seed,
        "out_dir": out_dir,
        "data": {
            "source": "omniglot_low_shot",
            "path": str(args.data),
            "size": 28,
            "split": "protocol",
            "val_fraction": 0.05,
            "normalise": "global",
            **({"limit_classes": 200} if args.quick else {}),
            **({"select": True} if setting == "select" else {}),
        },
        "model": {
            "encoder": "conv4",
            "channels": 32,
            "embedding_dim": 64,
            "output_activation": s["activation"],
        },
        "objective": {"name": "triplet", "margin": s["margin"], "distance": s["distance"]},
        "sampling": {
            "kind": "pk" if strategy in ONLINE else "triplets",
            "p": P,
            "k": K,
            "batch_size": P * K,  # offline: as many triplets per step as batch-hard's anchors
        },
        "mining": {"growth": 10.0, "refresh_every": steps, **STRATEGIES[strategy]},
        "training": {
            "epochs": epochs,
            "steps_per_epoch": steps,
            "learning_rate": s["lr"],
            **COMMON_TRAINING,
        },
        "evaluation": {"n_way": 5, "episodes": 50, "val_episodes": 20, "pairs": 200},
    }
    return from_dict(raw, RunConfig, "")


def plaid_config(strategy: str, args: argparse.Namespace, out_dir: str, seed: int) -> RunConfig:
    """PLAID with the time-series recipe that collapsed there (issue 16), mining changed only."""
    epochs, steps = (2, 20) if args.quick else (20, 20)
    raw: dict[str, Any] = {
        "name": f"plaid-{strategy}-{seed}",
        "seed": seed,
        "out_dir": out_dir,
        "data": {
            "source": "ucr",
            "path": str(Path(args.ucr) / "PLAID"),
            "split": "protocol",
            "val_fraction": 0.0,
            "normalise": "feature",
        },
        "model": {
            "encoder": "conv1d",
            "channels": [64, 128, 64],
            "kernels": [8, 5, 3],
            "pooling": "mean",
            "embedding_dim": 64,
            "output_activation": "l2",
            "max_length": 256,
        },
        "objective": {"name": "triplet", "margin": 0.2, "distance": "euclidean"},
        "sampling": {
            "kind": "pk" if strategy in ONLINE else "triplets",
            "p": PLAID_P,
            "k": PLAID_K,
            "batch_size": PLAID_P * PLAID_K,
        },
        "mining": {"growth": 10.0, "refresh_every": steps, **STRATEGIES[strategy]},
        "training": {
            "epochs": epochs,
            "steps_per_epoch": steps,
            "learning_rate": 1e-3,
            "lr_schedule": "cosine",
            **COMMON_TRAINING,
        },
        "evaluation": {"n_way": 5, "episodes": 50, "pairs": 200},
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


def nn1_train_gallery(
    emb_train: np.ndarray, y_train: np.ndarray, emb_test: np.ndarray, y_test: np.ndarray
) -> float | None:
    """1-NN accuracy of TEST against the TRAIN gallery (the UCR figure); None for new classes."""
    if not np.isin(y_test, y_train).all():
        return None
    index = faiss.IndexFlatL2(emb_train.shape[1])
    index.add(np.ascontiguousarray(emb_train, dtype=np.float32))
    _, nn = index.search(np.ascontiguousarray(emb_test, dtype=np.float32), 1)
    return float((y_train[nn[:, 0]] == y_test).mean())


def training_triplets(labels: np.ndarray, n: int = 2000) -> tuple[np.ndarray, ...]:
    """Fixed random training triplets ``(a, p, n)`` (seed 0)."""
    rng = np.random.default_rng(0)
    a = rng.integers(len(labels), size=4 * n)
    p = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in a])
    ok = p != a
    a, p = a[ok][:n], p[ok][:n]
    neg = rng.integers(len(labels), size=len(a))
    keep = labels[neg] != labels[a]
    return a[keep], p[keep], neg[keep]


def separation(emb: np.ndarray, labels: np.ndarray, distance: Any) -> tuple[float, float]:
    """Triplet accuracy and mean d(a, n) / mean d(a, p) on the fixed training triplets."""
    a, p, n = (torch.as_tensor(emb[i]) for i in training_triplets(labels))
    d_ap, d_an = distance.pairwise(a, p), distance.pairwise(a, n)
    return float((d_ap < d_an).float().mean()), float(d_an.mean() / d_ap.mean().clamp_min(1e-12))


class TripletCounter:
    """Counts the items embedded and triplets used in training steps (not validation)."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self.items: list[int] = []
        self._forward = Objective.forward

    def __enter__(self) -> TripletCounter:
        counter, forward = self, self._forward

        def counting(obj, embeddings, labels=None, tuples=None, head=None):
            if torch.is_grad_enabled() and tuples is not None:
                counter.counts.append(int(tuples[0].numel()))
                counter.items.append(int(embeddings.shape[0]))
            return forward(obj, embeddings, labels, tuples, head)

        Objective.forward = counting
        return self

    def __exit__(self, *exc: object) -> None:
        Objective.forward = self._forward


def initial_spread(cfg: RunConfig) -> float:
    """Spread of the test embeddings of the untrained model, built as train_run does."""
    seed_everything(cfg.seed)
    _, parts, _ = load_splits(cfg)
    seed_everything(cfg.seed)
    model, _ = build_model(cfg, parts["train"], {})
    model.eval()
    return CollapseDetector.spread(model.embed_dataset(parts["test"]))


def run_one(strategy: str, setting: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = config(strategy, setting, args, out_dir, seed)
        spread0 = initial_spread(cfg)
        t0 = time.perf_counter()
        with TripletCounter() as counter:
            # train_run, not train_from_config: a run that ends collapsed is a figure here, not
            # an error (the CLI's path raises TrainingFailed after writing the run folder)
            result = train_run(cfg, progress_override=False)
        wall = time.perf_counter() - t0
    train, test = result.splits["train"], result.splits["test"]
    emb_train = result.model.embed_dataset(train)
    emb_test = result.model.embed_dataset(test)
    top1, top50 = retrieval_topk(emb_test, test.labels, (1, 50))
    acc, sep = separation(emb_train, train.labels, result.model.distance)
    ratio = CollapseDetector.spread(emb_test) / max(spread0, 1e-12)
    last = result.history[-1]
    return {
        "setting": setting,
        "strategy": strategy,
        "seed": seed,
        "steps": cfg.training.epochs * cfg.training.steps_per_epoch,
        "items_per_step": float(np.mean(counter.items)) if counter.items else 0.0,
        "triplets_per_step": float(np.mean(counter.counts)) if counter.counts else 0.0,
        "train_triplet_accuracy": acc,
        "top1": top1,
        "top50": top50,
        "nn1_train_gallery": nn1_train_gallery(emb_train, train.labels, emb_test, test.labels),
        "collapsed": bool(ratio < SPREAD_RATIO or sep < SEPARATION),
        "spread_ratio": ratio,
        "d_an_over_d_ap": sep,
        "detector_flagged": any(bool(r.get("collapse")) for r in result.history),
        # the trainer's verdict at the end ("collapsed": `siamese train` would exit 1)
        "trainer_final_state": result.model.info["training"]["collapse"]["state"],
        "final_train_loss": last.get("train_loss"),
        "hardness_target_last_epoch": last.get("hardness_target"),
        "hardness_achieved_last_epoch": last.get("hardness_achieved"),
        "wall_seconds": round(wall, 1),
    }


def merge(path: Path, runs: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    """Merge ``runs`` into the results file (by setting, strategy, seed), locked, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)  # runs in parallel take turns (a folder lock)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        old = json.loads(path.read_text()) if path.exists() else {}
        if old.get("quick", quick) != quick:
            raise SystemExit(
                f"error: {path} holds {'quick' if old['quick'] else 'full'} runs; quick and "
                "full runs never mix: pass --out with another file"
            )
        key = lambda r: (r["setting"], r["strategy"], r["seed"])  # noqa: E731
        merged = {key(r): r for r in old.get("runs", [])}
        merged.update({key(r): r for r in runs})
        out = {
            "benchmark": "benchmarks/mining_comparison.py",
            "quick": quick,
            "collapse_criterion": f"test spread < {SPREAD_RATIO} x untrained, or mean d(a,n) < "
            f"{SEPARATION} x mean d(a,p) on 2,000 training triplets",
            "settings": SETTINGS,
            "runs": sorted(merged.values(), key=lambda r: key(r)),
        }
        out["summary"] = summary(out["runs"])
        atomic_write_json(path, out)
        atomic_write_text(path.with_suffix(".md"), markdown(out["runs"]))
    finally:
        os.close(folder)  # releases the lock
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    """Every run as one row of a Markdown table (the file beside the JSON)."""
    head = (
        "| setting | strategy | seed | items / triplets per step | train triplet acc | top-1 "
        "| top-50 | 1-NN vs TRAIN | collapsed | spread ratio | d(a,n)/d(a,p) | final loss "
        "| trainer flag | wall (s) |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in runs:
        nn1 = r.get("nn1_train_gallery")
        lines.append(
            f"| {r['setting']} | {r['strategy']} | {r['seed']} | {r['items_per_step']:.0f} / "
            f"{r['triplets_per_step']:.0f} | {r['train_triplet_accuracy']:.3f} | {r['top1']:.3f} "
            f"| {r['top50']:.3f} | {'—' if nn1 is None else f'{nn1:.3f}'} "
            f"| {'**yes**' if r['collapsed'] else 'no'} | {r['spread_ratio']:.3g} "
            f"| {r['d_an_over_d_ap']:.3g} | {r['final_train_loss']:.4f} "
            f"| {'yes' if r['detector_flagged'] else 'no'} | {r['wall_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per setting and strategy: means over seeds, and how many seeds collapsed."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        out.setdefault(r["setting"], {}).setdefault(r["strategy"], []).append(r)
    for setting, by in out.items():
        for strategy, rs in by.items():
            mean = {
                k: round(float(np.mean([r[k] for r in rs])), 4)
                for k in ("train_triplet_accuracy", "top1", "top50", "triplets_per_step")
            }
            nn1 = [r["nn1_train_gallery"] for r in rs if r.get("nn1_train_gallery") is not None]
            if nn1:
                mean["nn1_train_gallery"] = round(float(np.mean(nn1)), 4)
            by[strategy] = {
                "seeds": [r["seed"] for r in rs],
                **mean,
                "top1_per_seed": [round(r["top1"], 4) for r in rs],
                "collapsed": sum(r["collapsed"] for r in rs),
                "wall_seconds": round(float(np.mean([r["wall_seconds"] for r in rs])), 1),
            }
        out[setting] = by
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/omniglot", help="Omniglot folder")
    parser.add_argument("--ucr", default="../shared/data/ucr", help="UCR folder (PLAID)")
    parser.add_argument("--quick", action="store_true", help="200 characters, 40 steps each")
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results JSON, merged into (default {RESULTS.relative_to(ROOT)}; --quick: "
        "mining_comparison_quick.json in the temporary folder)",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "mining_comparison_quick.json"
        args.out = args.out if args.quick else RESULTS
    torch.set_num_threads(1)
    console = Console(width=200)
    runs = []
    for setting in args.settings:
        for seed in args.seeds:
            for strategy in args.strategies:
                r = run_one(strategy, setting, args, seed)
                runs.append(r)
                merge(args.out, [r], args.quick)  # each run is kept as soon as it ends
                console.print(
                    f"{setting} seed {seed} {strategy}: top-1 {r['top1']:.3f}, "
                    f"collapsed {r['collapsed']}, {r['wall_seconds']:.0f} s"
                )
    table = Table(title="Mining strategies at equal steps, batch and triplets per step")
    cols = ("setting", "strategy", "seed", "triplets/step", "train triplet acc", "top-1")
    cols += ("top-50", "collapsed", "spread ratio", "d(a,n)/d(a,p)", "wall (s)")
    for col in cols:
        table.add_column(col, justify="left" if col in ("setting", "strategy") else "right")
    for r in runs:
        table.add_row(
            r["setting"],
            r["strategy"],
            str(r["seed"]),
            f"{r['triplets_per_step']:.0f}",
            f"{r['train_triplet_accuracy']:.3f}",
            f"{r['top1']:.3f}",
            f"{r['top50']:.3f}",
            "yes" if r["collapsed"] else "no",
            f"{r['spread_ratio']:.3g}",
            f"{r['d_an_over_d_ap']:.3g}",
            f"{r['wall_seconds']:.0f}",
        )
    console.print(table)
    console.print(f"results: {args.out}")


if __name__ == "__main__":
    main()
