"""NSL-KDD novel attacks: can an embedding trained on known traffic classes tell apart attack types
it has never seen, from one or five examples, and flag them as unknown?

Train ``configs/nsl_kdd.toml`` (the same recipe that ``siamese train -c configs/nsl_kdd.toml``
runs) on the 22 classes of ``KDDTrain+_20Percent``. The never-seen classes are the 8 attack types
that appear only in ``KDDTest+`` with at least 100 records (``NOVEL``). On ``KDDTest+`` records:

* **8-way 1-shot and 5-shot accuracy** over random episodes on the 8 novel classes (``--queries``
  queries per class per episode), nearest support class in the embedding; the **same episodes**
  (one seed, one sampler) scored by 1-NN on the z-scored raw features (the reader's plain features:
  numeric columns z-scored with training statistics, categorical ones one-hot; re-read without
  ``log_columns`` when the recipe's encoder gets log-scaled columns);
* **AUROC known vs never-seen**: every training record of the known classes is enrolled; a
  query's score is its distance to the nearest enrolled record (exact search, faiss); queries are
  the test records of the known classes (negatives) and of the 8 novel ones (positives).

    python benchmarks/nsl_kdd.py            # full recipe (seconds of training, 1000 episodes)
    python benchmarks/nsl_kdd.py --quick    # a few steps, 200 episodes (the test suite)
    python benchmarks/nsl_kdd.py --select   # choose a recipe: held-out training classes only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from siamese.data import load_source
from siamese.evaluation.one_shot import n_way_k_shot_accuracy
from siamese.evaluation.verification import roc_auc
from siamese.pipeline import train_from_config
from siamese.training.config import apply_overrides, from_dict, read_config_file

ROOT = Path(__file__).resolve().parents[1]
NOVEL = (
    "mscan",
    "apache2",
    "processtable",
    "snmpguess",
    "saint",
    "mailbomb",
    "snmpgetattack",
    "httptunnel",
)
QUICK_SET = [
    "training.epochs=1",
    "training.steps_per_epoch=20",
    "evaluation.episodes=50",
    "evaluation.pairs=200",
]


def nearest_distance(gallery: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Euclidean distance from each query ``(Q, D)`` to its nearest gallery row ``(N, D)``."""
    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(np.ascontiguousarray(gallery, dtype=np.float32))
    d2, _ = index.search(np.ascontiguousarray(queries, dtype=np.float32), 1)  # (Q, 1)
    return np.sqrt(np.maximum(d2[:, 0], 0.0))


def evaluate_space(
    name: str,
    train_x: np.ndarray,
    test_x: np.ndarray,
    train_y: np.ndarray,
    test_y: np.ndarray,
    novel_ids: np.ndarray,
    args: argparse.Namespace,
    crowding: float = 0.0,
) -> dict[str, Any]:
    """Episodes on the novel test records and known-vs-novel AUROC in one space (raw or learned).

    Args:
        name: the space's name in the results.
        train_x, test_x: ``(N, D)`` and ``(M, D)`` vectors (features or embeddings).
        train_y, test_y: their class ids.
        novel_ids: class ids of the never-seen classes.
        args: the command-line options (episodes, queries, seed, crowding k).
        crowding: when above 0, episode distances are corrected for crowding with this beta,
            against the training vectors (``siamese.evaluation.crowding``).

    Returns:
        ``{"space", "1shot", "1shot_ci95", "5shot", "5shot_ci95", "auroc", ...}``.
    """
    is_novel = np.isin(test_y, novel_ids)
    out: dict[str, Any] = {"space": name}
    for k in (1, 5):
        res = n_way_k_shot_accuracy(
            test_x[is_novel], test_y[is_novel], n_way=len(novel_ids), k_shot=k,
            episodes=args.episodes, queries_per_class=args.queries, distance="euclidean",
            seed=args.seed, background=train_x if crowding > 0 else None,
            crowding_beta=crowding, crowding_k=args.crowding_k,
        )  # fmt: skip
        out[f"{k}shot"], out[f"{k}shot_ci95"] = res.accuracy, res.ci95
    known_classes = np.setdiff1d(np.unique(train_y), novel_ids)
    known_query = np.isin(test_y, known_classes)
    if not known_query.any():  # --select: the held-out part has no records of known classes
        return out
    queries = is_novel | known_query
    score = nearest_distance(train_x[np.isin(train_y, known_classes)], test_x[queries])
    out["auroc"] = roc_auc(score, is_novel[queries])  # farther from every known record = novel
    out["auroc_queries_known"] = int(known_query.sum())
    out["auroc_queries_novel"] = int(is_novel.sum())
    return out


def raw_features(options: dict[str, Any], *parts: Any) -> list[np.ndarray]:
    """The baseline's features ``(N, F)`` of each part: the reader's plain z-scores and one-hots.

    When the recipe reads the data with ``log_columns`` (its encoder sees log-scaled columns), the
    files are read again without it, so the baseline stays 1-NN on plain z-scored features;
    records are matched by their ``file:line`` source.
    """
    if not options.get("log_columns"):
        return [part.load(np.arange(len(part))) for part in parts]
    plain = load_source("tabular", **{k: v for k, v in options.items() if k != "log_columns"})
    row = {src: i for i, src in enumerate(plain.sources)}
    everything = plain.load(np.arange(len(plain)))  # (N_all, F)
    return [everything[[row[src] for src in part.sources]] for part in parts]


def run(args: argparse.Namespace, runs_dir: Path, console: Console) -> dict[str, Any]:
    """Train the recipe, embed both files, evaluate the learned and the raw space."""
    data = Path(args.data)
    overrides = [
        f'data.path="{data / "KDDTrain+_20Percent.txt"}"',
        f'data.test_path="{data / "KDDTest+.txt"}"',
        f'out_dir="{runs_dir}"',
        f"seed={args.seed}",
        "training.progress=false",
    ]
    overrides += (QUICK_SET if args.quick else []) + list(args.set)
    raw_cfg = read_config_file(args.config)
    if args.select:  # KDDTest+ is not read: whole training classes are held out instead
        raw_cfg["data"].pop("test_path", None)
        overrides = [o for o in overrides if not o.startswith("data.test_path")]
        overrides += ['data.split="classes"', "data.test_fraction=0.35", "data.val_fraction=0.0"]
    cfg = from_dict(apply_overrides(raw_cfg, overrides))
    t0 = time.perf_counter()
    result = train_from_config(cfg, overwrite=True, report=False, progress_override=False)
    train_s = time.perf_counter() - t0
    torch.set_num_threads(1)
    t1 = time.perf_counter()
    tr, te = result.splits["train"], result.splits["test"]
    names = result.model.info["class_names"]
    if args.select:  # held-out training classes with enough records for 5-shot episodes
        held, counts = np.unique(te.labels, return_counts=True)
        novel_ids = held[counts >= 5 + args.queries]
    else:
        novel_ids = np.array([names.index(c) for c in NOVEL])
    if np.isin(tr.labels, novel_ids).any():
        raise SystemExit("a 'novel' class appears in the training file: wrong files?")
    raw_tr, raw_te = raw_features(cfg.data.options, tr, te)  # (N, F) plain z-scores
    emb_tr, emb_te = result.model.embed_dataset(tr), result.model.embed_dataset(te)  # (N, D)
    rows = [
        evaluate_space("embedding", emb_tr, emb_te, tr.labels, te.labels, novel_ids, args),
        evaluate_space("raw z-scored", raw_tr, raw_te, tr.labels, te.labels, novel_ids, args),
    ]
    extra: dict[str, Any] = {}
    if args.crowding > 0:
        tag = f" + crowding {args.crowding:g}"
        spaces = (("embedding", emb_tr, emb_te), ("raw z-scored", raw_tr, raw_te))
        rows += [
            evaluate_space(name + tag, x_tr, x_te, tr.labels, te.labels, novel_ids, args,
                           crowding=args.crowding)
            for name, x_tr, x_te in spaces
        ]  # fmt: skip
        extra = {
            "crowding": {"beta": args.crowding, "k": args.crowding_k},
            "gain_1shot_crowding": rows[2]["1shot"] - rows[1]["1shot"],
            "gain_5shot_crowding": rows[2]["5shot"] - rows[1]["5shot"],
            "gain_1shot_both_crowding": rows[2]["1shot"] - rows[3]["1shot"],
        }
    return {
        "rows": rows,
        "n_way": len(novel_ids),
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.perf_counter() - t1, 1),
        "train_records": len(tr),
        "train_classes": len(np.unique(tr.labels)),
        "novel_records": {names[c]: int((te.labels == c).sum()) for c in novel_ids},
        "gain_1shot": rows[0]["1shot"] - rows[1]["1shot"],
        "gain_5shot": rows[0]["5shot"] - rows[1]["5shot"],
        **extra,
    }


def print_table(
    res: dict[str, Any], args: argparse.Namespace, wall: float, console: Console
) -> None:
    """One table: 1-shot, 5-shot (with 95% intervals) and AUROC per space, then the wall time."""
    n = res["n_way"]
    table = Table(
        title=f"NSL-KDD: {n} never-seen {'training classes' if args.select else 'attack types'}, "
        f"{args.episodes} episodes x {args.queries} queries/class (seed {args.seed})"
    )
    for c in ("space", f"{n}-way 1-shot", f"{n}-way 5-shot", "AUROC known vs novel"):
        table.add_column(c, justify="left" if c == "space" else "right")
    for r in res["rows"]:
        table.add_row(
            r["space"],
            f"{r['1shot']:.3f} ± {r['1shot_ci95']:.3f}",
            f"{r['5shot']:.3f} ± {r['5shot_ci95']:.3f}",
            "-" if "auroc" not in r else f"{r['auroc']:.3f}",
        )
    console.print(table)
    console.print(
        f"gain over raw features: 1-shot {100 * res['gain_1shot']:+.1f} points, 5-shot "
        f"{100 * res['gain_5shot']:+.1f} points; training {res['train_seconds']:.0f} s, "
        f"wall time {wall:.0f} s"
    )
    if "crowding" in res:
        console.print(
            f"with crowding correction (embedding) over plain raw 1-NN: 1-shot "
            f"{100 * res['gain_1shot_crowding']:+.1f} points, 5-shot "
            f"{100 * res['gain_5shot_crowding']:+.1f} points; over raw 1-NN with the same "
            f"correction: 1-shot {100 * res['gain_1shot_both_crowding']:+.1f} points"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few training steps (under a minute)")
    p.add_argument("--select", action="store_true", help="hold out training classes, not KDDTest+")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episodes", type=int, default=None, help="per setting (1000; --quick 200)")
    p.add_argument("--queries", type=int, default=5, help="queries per class per episode")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nsl-kdd"))
    p.add_argument("--config", default=str(ROOT / "configs" / "nsl_kdd.toml"))
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument(
        "--crowding",
        type=float,
        default=0.0,
        help="also score episodes with the crowding correction of this beta (0: off)",
    )
    p.add_argument("--crowding-k", type=int, default=10, help="neighbours for the crowding radius")
    p.add_argument("--out", default=None, help="JSON result file (default: benchmarks/results/)")
    p.add_argument("--runs-dir", default=None, help="where the run folder goes (default: temp)")
    args = p.parse_args(argv)
    if args.episodes is None:
        args.episodes = 200 if args.quick else 1000
    if args.episodes < 200:
        p.error("--episodes: the protocol asks for at least 200")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=140)
    if not (Path(args.data) / "KDDTest+.txt").is_file():
        console.print(f"[red]NSL-KDD files not found under {args.data}[/]")
        return 2
    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = run(args, Path(args.runs_dir or tmp), console)
    wall = time.perf_counter() - t0
    print_table(res, args, wall, console)
    mode = "select" if args.select else "quick" if args.quick else "full"
    suffix = "" if mode == "full" else f"_{mode}"
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"nsl_kdd{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["python", "benchmarks/nsl_kdd.py", *(argv if argv is not None else sys.argv[1:])]
    payload = {
        "benchmark": "nsl_kdd",
        "command": " ".join(cmd),
        "seed": args.seed,
        "config": str(args.config),
        "overrides": args.set,
        "mode": mode,
        "episodes": args.episodes,
        "queries_per_class": args.queries,
        "crowding_beta": args.crowding,
        **res,
        "wall_seconds": round(wall, 1),
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
