"""LFW face verification from scratch: the dev split (train.txt -> test.txt) and View 2 10-fold.

Trains the recipe of ``configs/lfw.toml`` on the people of ``train.txt`` (or evaluates a finished
run with ``--run-dir``), then measures:

(a) **dev split**: accuracy on the 1,200 ``test.txt`` pairs (people never seen in training) at a
    threshold chosen on training data: balanced pairs of the train.txt people held out of the
    weights (``data.val_fraction``). The threshold fitted on the ``train.txt`` pairs themselves
    (people the network was trained on) is reported too.
(b) **View 2, 10 folds** of ``pairs.txt``: by default with the ONE model trained on the train.txt
    people (= folds 1-8), so only the threshold is cross-validated and folds 1-8 contain trained-on
    people: a shortcut, labelled as such. ``--retrain-per-fold`` runs the correct protocol: for each
    fold, a new model trained on the other 9 folds' people (10 trainings).

Both report TAR@FAR (true-accept rate at false-accept rates 0.1, 0.01, 0.001; ``-``/null where
there are fewer than 1/FAR different-person pairs: test.txt has 600, View 2 pooled 3,000).
Pair scores are cosine similarities of flip-averaged embeddings. Prints one table and writes a
JSON result file; ``--quick`` trains a tiny model for a few steps.

Usage:
    python benchmarks/lfw.py [--seed 0] [--quick] [--retrain-per-fold] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _recipe import (  # noqa: E402
    add_time_rows,
    bench_overrides,
    bench_record,
    prepare_dataset,
    read_prepared,
    results_table,
    save_record,
    train_run,
)

from siamese.data import LabeledDataset  # noqa: E402
from siamese.evaluation.model_evaluation import pair_scores  # noqa: E402
from siamese.evaluation.pair_protocol import (  # noqa: E402
    embed_flip_averaged,
    k_fold_verification,
    pair_list_scores,
)
from siamese.evaluation.verification import (  # noqa: E402
    VerificationEvaluator,
    roc_auc,
    tar_at_far,
)
from siamese.model import SiameseModel  # noqa: E402
from siamese.training.config import RunConfig, load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = {"TensorFlow Koch re-implementation, LFW-a dev split (105x105 gray)": 0.732}
QUICK = [
    "training.epochs=1",
    "training.steps_per_epoch=3",
    "training.val_batches=1",
    "sampling.p=8",
    "model.channels=8",
    "data.size=24",
    "evaluation.episodes=20",
    "evaluation.val_episodes=10",
    "evaluation.pairs=200",
    "evaluation.n_way=3",  # the quick pair files' validation people have 4 classes of >= 2 photos
]


def quick_pair_files(source: Path, folder: Path, per_part: int = 30, per_fold: int = 5) -> None:
    """Write small copies of the pairs files into ``folder`` (the images stay where they are).

    ``train.txt``/``test.txt`` keep their first ``per_part`` same and different pairs, ``pairs.txt``
    its first ``per_fold`` of each kind per fold: a few hundred images to decode instead of 7,701.
    """
    for name in ("train.txt", "test.txt"):
        lines = (source / name).read_text().splitlines()
        n = int(lines[0])
        body = lines[1 : 1 + per_part] + lines[1 + n : 1 + n + per_part]
        (folder / name).write_text("\n".join([str(per_part), *body]) + "\n")
    lines = (source / "pairs.txt").read_text().splitlines()
    folds, n = (int(v) for v in lines[0].split())
    body = []
    for f in range(folds):
        start = 1 + f * 2 * n
        body += lines[start : start + per_fold] + lines[start + n : start + n + per_fold]
    (folder / "pairs.txt").write_text("\n".join([f"{folds}\t{per_fold}", *body]) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "lfw.toml"), help="run config")
    p.add_argument("--seed", type=int, default=0, help="the run's one seed")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (under a minute)")
    p.add_argument(
        "--out", default=None, help="JSON result file (default benchmarks/results/lfw[_quick].json)"
    )
    p.add_argument("--run-dir", default=None, help="evaluate this finished run instead of training")
    p.add_argument("--data", default=None, help="LFW folder (default: the config's data.path)")
    p.add_argument(
        "--retrain-per-fold",
        action="store_true",
        help="View 2 done properly: one training per fold on the other 9 folds' people",
    )
    p.add_argument(
        "--no-flip", action="store_true", help="score with plain (not flip-averaged) embeddings"
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config override key=value"
    )
    return p.parse_args(argv)


def _positions(sources: list[str], wanted: list[str]) -> np.ndarray:
    where = {s: k for k, s in enumerate(sources)}
    return np.array([where[s] for s in wanted], dtype=np.int64)


def dev_figures(
    model: SiameseModel,
    dev: LabeledDataset,
    val: LabeledDataset | None,
    emb: np.ndarray,
    seed: int,
    pairs: int,
) -> dict[str, Any]:
    """(a): test.txt accuracy at thresholds chosen on training data."""
    pr = dev.meta["pairs"]
    scores = pair_list_scores(model, emb, pr["i"], pr["j"])  # (6000,)
    same, is_test = pr["same"].astype(bool), pr["fold"] == 1
    out: dict[str, Any] = {
        "test_pairs": int(is_test.sum()),
        "train_pairs": int((~is_test).sum()),
        "test_auc": roc_auc(scores[is_test], same[is_test]),
        "test_tar_at_far": tar_at_far(scores[is_test], same[is_test]),
    }
    literal = VerificationEvaluator().fit(scores[~is_test], same[~is_test])
    out["accuracy_threshold_train_pairs"] = literal.score(scores[is_test], same[is_test])
    out["threshold_train_pairs"] = literal.threshold_
    if val is not None and len(val):
        v_emb = emb[_positions(dev.sources, val.sources)]
        vps = pair_scores(model, v_emb, val.labels, pairs, seed)
        held = VerificationEvaluator().fit(vps["scores"], vps["same"])
        out["accuracy"] = held.score(scores[is_test], same[is_test])
        out["threshold"] = held.threshold_
        out["threshold_from"] = (
            f"{len(vps['same'])} balanced pairs of {len(np.unique(val.labels))} held-out train.txt people"
        )
    else:
        out["accuracy"], out["threshold"] = (
            out["accuracy_threshold_train_pairs"],
            literal.threshold_,
        )
        out["threshold_from"] = "train.txt pairs"
    return out


def view2_figures(
    model: SiameseModel,
    view2: LabeledDataset,
    dev: LabeledDataset,
    emb: np.ndarray,
    cfg: RunConfig,
    flip: bool,
) -> dict[str, Any]:
    """(b) shortcut: the one model, 10-fold threshold cross-validation on pairs.txt."""
    pr = view2.meta["pairs"]
    known = set(dev.sources)
    if all(s in known for s in view2.sources):  # the same images: reuse their embeddings
        v_emb = emb[_positions(dev.sources, view2.sources)]
    else:
        v_emb = embed_flip_averaged(model, prepare_dataset(cfg, view2), flip=flip)
    scores = pair_list_scores(model, v_emb, pr["i"], pr["j"])
    res = k_fold_verification(scores, pr["same"], pr["fold"]).to_dict()
    res["tar_at_far"] = tar_at_far(scores, pr["same"])  # all 10 folds' pairs pooled
    res["protocol"] = (
        "one model trained on the train.txt people (= folds 1-8); 10-fold threshold "
        "cross-validation only (folds 1-8 hold trained-on people)"
    )
    return res


def retrain_per_fold(cfg: RunConfig, flip: bool, console: Console) -> dict[str, Any]:
    """(b) done properly: per fold, train on the other 9 folds' people, test on the fold."""
    base = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, options={**cfg.data.options, "pairs": "pairs.txt"})
    )
    per_fold, thresholds, seconds = [], [], []
    for k in range(10):
        captured: dict[str, LabeledDataset] = {}

        def assign(ds: LabeledDataset, k: int = k, store: dict = captured) -> LabeledDataset:
            split = np.where(ds.meta["item_fold"] == k, "test", "train").astype(object)
            store["ds"] = dataclasses.replace(ds, split=split)
            return store["ds"]

        fold_cfg = dataclasses.replace(base, name=f"{cfg.name}_fold{k + 1:02d}")
        t0 = time.perf_counter()
        result = train_run(fold_cfg, transform=assign, overwrite=True, report=False)
        seconds.append(time.perf_counter() - t0)
        ds = prepare_dataset(fold_cfg, captured["ds"])
        emb = embed_flip_averaged(result.model, ds, flip=flip)
        pr = ds.meta["pairs"]
        scores = pair_list_scores(result.model, emb, pr["i"], pr["j"])
        test = pr["fold"] == k
        ver = VerificationEvaluator().fit(scores[~test], pr["same"][~test])
        per_fold.append(ver.score(scores[test], pr["same"][test]))
        thresholds.append(ver.threshold_)
        console.print(f"fold {k + 1}: accuracy {per_fold[-1]:.4f} ({seconds[-1]:.0f} s)")
    return {
        "mean": float(np.mean(per_fold)),
        "std": float(np.std(per_fold)),
        "per_fold": per_fold,
        "thresholds": thresholds,
        "train_wall_seconds_per_fold": [round(s, 1) for s in seconds],
        "protocol": "retrained per fold on the other 9 folds' people; threshold on their pairs",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    console = Console()
    overrides, tmp = bench_overrides(args, QUICK)
    cfg = load_config(args.config, overrides)
    if tmp is not None:  # the same protocol on a few pairs of each file
        lfw = Path(cfg.data.options["path"])
        quick_pair_files(lfw, Path(tmp.name))
        images = str(cfg.data.options.get("images") or lfw / "images")
        cfg = load_config(
            args.config, [*overrides, f'data.path="{tmp.name}"', f'data.images="{images}"']
        )
    flip = not args.no_flip
    cpu0, t0 = time.process_time(), time.perf_counter()
    captured: dict[str, LabeledDataset] = {}
    if args.run_dir:
        model, val = SiameseModel.load(args.run_dir), None
        dev = read_prepared(cfg)
        train_info = model.info.get("training", {})
    else:
        console.print(f"training {cfg.name} (seed {cfg.seed}) ...")
        result = train_run(
            cfg, transform=lambda ds: captured.setdefault("ds", ds), overwrite=True, report=False
        )
        model, val = result.model, result.splits.get("val")
        dev = prepare_dataset(cfg, captured["ds"])
        train_info = dict(model.info.get("training", {}))
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    emb = embed_flip_averaged(model, dev, flip=flip)  # (N, D)
    figures: dict[str, Any] = {
        "dev": dev_figures(model, dev, val, emb, cfg.seed, cfg.evaluation.pairs)
    }
    view2 = read_prepared(cfg, crop=False, pairs="pairs.txt")
    figures["view2"] = view2_figures(model, view2, dev, emb, cfg, flip)
    if args.retrain_per_fold:
        figures["view2_retrained"] = retrain_per_fold(cfg, flip, console)
    record = bench_record(
        "lfw",
        args,
        argv,
        overrides,
        (t0, train_wall, train_cpu),
        flip_averaged=flip,
        figures=figures,
        anchors=ANCHORS,
        training=train_info,
    )
    print_table(console, record)
    save_record(record, args.out, console)
    if tmp is not None:
        tmp.cleanup()
    return record


def print_table(console: Console, record: dict[str, Any]) -> None:
    """One table: our figures, the anchor and the time."""
    fig = record["figures"]
    table = results_table("LFW verification from scratch", record)
    dev = fig["dev"]
    table.add_row(
        "(a) dev: test.txt, threshold on held-out train people",
        f"{dev['accuracy']:.4f}",
        f"{dev['test_pairs']} pairs, AUC {dev['test_auc']:.4f}",
    )
    table.add_row(
        "(a) dev: test.txt, threshold on train.txt pairs",
        f"{dev['accuracy_threshold_train_pairs']:.4f}",
        "people seen in training",
    )
    v2 = fig["view2"]
    table.add_row(
        "(b) View 2 10-fold, one model (threshold CV only)",
        f"{v2['mean']:.4f}",
        f"+/- {v2['std']:.4f} (std); folds 1-8 seen in training",
    )
    for name, tars in (
        ("(a) dev: test.txt", dev["test_tar_at_far"]),
        ("(b) View 2", v2["tar_at_far"]),
    ):
        table.add_row(f"{name}, TAR @ FAR 0.1 / 0.01 / 0.001", _tars(tars), "")
    if "view2_retrained" in fig:
        r = fig["view2_retrained"]
        table.add_row(
            "(b) View 2 10-fold, retrained per fold",
            f"{r['mean']:.4f}",
            f"+/- {r['std']:.4f} (std)",
        )
    for name, acc in record["anchors"].items():
        table.add_row(f"[dim]anchor: {name}[/]", f"[dim]{acc:.3f}[/]", "")
    add_time_rows(table, record)
    console.print(table)


def _tars(tars: dict[str, float | None]) -> str:
    """``0.912 / 0.640 / -``: TAR at each FAR, ``-`` where too few impostor pairs measure it."""
    return " / ".join("-" if v is None else f"{v:.3f}" for v in tars.values())


if __name__ == "__main__":
    main()
