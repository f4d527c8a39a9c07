"""Omniglot one-shot benchmark: train on images_background, test on the official 20 runs.

Trains the recipe of ``configs/omniglot.toml`` (or evaluates a finished run with ``--run-dir``),
then measures:

* the official 20-way 1-shot benchmark of Lake et al. (2015): 20 runs, 400 trials, from
  ``all_runs.zip`` (ties count as misses);
* random 20-way and 5-way 1-shot episodes over every character of ``images_evaluation``;
* verification on ``VERIFY_PAIRS`` balanced same/different pairs of ``images_evaluation``
  drawings: ROC AUC and TAR@FAR (true-accept rate at false-accept rates 0.1, 0.01, 0.001).

Prints one table and writes a JSON result file. ``--quick`` trains a tiny model on a few classes
for one short epoch (the test suite runs it so the script cannot rot).

Usage:
    python benchmarks/omniglot.py [--seed 0] [--quick] [--out benchmarks/results/omniglot.json]
"""

from __future__ import annotations

import argparse
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
    results_table,
    save_record,
    train_run,
)

from siamese.data import load_omniglot_runs, load_source  # noqa: E402
from siamese.evaluation import n_way_k_shot_accuracy, pair_scores  # noqa: E402
from siamese.evaluation.omniglot_runs import evaluate_omniglot_runs  # noqa: E402
from siamese.evaluation.verification import roc_auc, tar_at_far  # noqa: E402
from siamese.model import SiameseModel  # noqa: E402
from siamese.training.config import load_config  # noqa: E402
from siamese.training.splits import load_splits  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = {
    "Koch et al. 2015, Siamese CNN (comparable protocol)": 0.92,
    "people (Lake et al. 2015)": 0.955,
    "Bayesian Program Learning (Lake et al. 2015)": 0.967,
    "pytorch-metric-learning conv4 28x28 semi-hard, 5 min": 0.935,
}
VERIFY_PAIRS = 20_000  # 10,000 different-character pairs: TAR@FAR measurable down to 0.001
QUICK = [
    "data.limit_classes=24",
    "training.epochs=1",
    "training.steps_per_epoch=4",
    "training.val_batches=1",
    "sampling.p=8",
    "model.channels=8",
    "data.val_fraction=0.2",
    "evaluation.episodes=20",
    "evaluation.val_episodes=10",
    "evaluation.n_way=5",
    "evaluation.pairs=100",
    "evaluation.test_time_shift=1",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "omniglot.toml"), help="run config")
    p.add_argument("--seed", type=int, default=0, help="the run's one seed")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (well under a minute)")
    p.add_argument(
        "--out",
        default=None,
        help="JSON result file (default benchmarks/results/omniglot[_quick].json)",
    )
    p.add_argument("--run-dir", default=None, help="evaluate this finished run instead of training")
    p.add_argument("--data", default=None, help="Omniglot folder (default: the config's data.path)")
    p.add_argument("--episodes", type=int, default=1000, help="random episodes per N-way setting")
    p.add_argument(
        "--skip-official",
        action="store_true",
        help="leave out the official runs (use while choosing a recipe: never tune on them)",
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config override key=value"
    )
    p.add_argument(
        "--crowding",
        type=float,
        default=0.0,
        help="also score with the crowding correction of this beta against training images "
        "(0: off; 0.5 was chosen on held-out background characters)",
    )
    p.add_argument(
        "--test-time-shift",
        type=int,
        default=None,
        help="embed each image as the mean over shifts of up to this many pixels (default: the "
        "model's own setting, saved from the config's evaluation.test_time_shift)",
    )
    return p.parse_args(argv)


def background_embeddings(
    model: SiameseModel, cfg: Any, seed: int, train: Any = None, size: int = 12000
) -> Any:
    """Embeddings of (a seeded sample of ``size``) training images: the crowding background.

    ``train`` is the run's training split when it is at hand; otherwise it is read again.
    """
    if train is None:
        train = load_splits(cfg)[1]["train"]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(train), size=min(size, len(train)), replace=False))
    return model.embed_dataset(train.subset(idx))


def episode_figures(
    model: SiameseModel,
    test: Any,
    emb: np.ndarray,
    episodes: int,
    seed: int,
    background: Any = None,
    beta: float = 0.0,
) -> dict[str, Any]:
    """Random 20-way and 5-way 1-shot accuracy over the evaluation characters, embedded as ``emb`` (with
    ``background``: corrected for crowding with ``beta``)."""
    out = {}
    for n_way in (20, 5):
        n = min(n_way, len(np.unique(test.labels)))
        res = n_way_k_shot_accuracy(
            emb,
            test.labels,
            n_way=n,
            k_shot=1,
            episodes=episodes,
            distance=model.distance,
            seed=seed,
            background=background,
            crowding_beta=beta,
        )
        out[f"{n_way}_way"] = res.to_dict()
    return out


def verification_figures(
    model: SiameseModel, test: Any, emb: np.ndarray, seed: int
) -> dict[str, Any]:
    """ROC AUC and TAR@FAR on ``VERIFY_PAIRS`` balanced pairs of the evaluation drawings."""
    ps = pair_scores(model, emb, test.labels, VERIFY_PAIRS, seed)
    return {
        "pairs": int(len(ps["same"])),
        "impostor_pairs": int((~ps["same"]).sum()),
        "auc": roc_auc(ps["scores"], ps["same"]),
        "tar_at_far": tar_at_far(ps["scores"], ps["same"]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    console = Console()
    overrides, tmp = bench_overrides(args, QUICK)
    cfg = load_config(args.config, overrides)
    data_path = Path(cfg.data.options["path"])
    cpu0, t0 = time.process_time(), time.perf_counter()
    train = None  # the training split, when this process trained (the crowding background)
    if args.run_dir:
        model = SiameseModel.load(args.run_dir)
        opts = cfg.data.options
        test = load_source("omniglot", **{**opts, "parts": ["evaluation"]})
        train_info = model.info.get("training", {})
    else:
        console.print(f"training {cfg.name} (seed {cfg.seed}) ...")
        result = train_run(cfg, overwrite=True, report=False)
        model, test, train = result.model, result.splits["test"], result.splits["train"]
        train_info = dict(model.info.get("training", {}))
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if args.test_time_shift is not None:
        model.test_time_shift = args.test_time_shift
    figures: dict[str, Any] = {"test_time_shift": model.test_time_shift}
    size = cfg.data.options.get("size")
    if not args.skip_official:
        runs = load_omniglot_runs(
            data_path / "all_runs.zip",
            size=size,
            invert=cfg.data.options.get("invert", True),
            ink_crop=cfg.data.options.get("ink_crop"),
        )
        figures["official_20_runs"] = evaluate_omniglot_runs(model, runs).to_dict()
    episodes = 50 if args.quick else args.episodes
    test_emb = model.embed_dataset(test)  # (N, D), embedded once for both scorings
    figures["evaluation_episodes"] = episode_figures(model, test, test_emb, episodes, args.seed)
    figures["verification"] = verification_figures(model, test, test_emb, args.seed)
    if args.crowding > 0:
        bg = background_embeddings(model, cfg, args.seed, train)
        figures["crowding"] = {"beta": args.crowding, "k": 10, "background": len(bg)}
        if not args.skip_official:
            figures["official_20_runs_crowding"] = evaluate_omniglot_runs(
                model, runs, background=bg, crowding_beta=args.crowding
            ).to_dict()
        figures["evaluation_episodes_crowding"] = episode_figures(
            model, test, test_emb, episodes, args.seed, bg, args.crowding
        )
    record = bench_record(
        "omniglot",
        args,
        argv,
        overrides,
        (t0, train_wall, train_cpu),
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
    """One table: our figures, the anchors and the time."""
    fig = record["figures"]
    table = results_table("Omniglot one-shot", record)
    for suffix, tag in (("", ""), ("_crowding", " + crowding")):
        if f"official_20_runs{suffix}" in fig:
            off = fig[f"official_20_runs{suffix}"]
            table.add_row(
                f"official 20 runs, 20-way 1-shot{tag}",
                f"{off['accuracy']:.4f}",
                f"{off['correct']}/{off['trials']} trials, {off['ties']} ties",
            )
        for key, ep in fig.get(f"evaluation_episodes{suffix}", {}).items():
            table.add_row(
                f"images_evaluation, {key.replace('_', '-')} 1-shot{tag}",
                f"{ep['accuracy']:.4f}",
                f"+/- {ep['ci95']:.4f} (95%), {ep['episodes']} episodes",
            )
    if "verification" in fig:
        ver = fig["verification"]
        tars = " / ".join("-" if v is None else f"{v:.3f}" for v in ver["tar_at_far"].values())
        table.add_row(
            "verification, TAR @ FAR 0.1 / 0.01 / 0.001",
            tars,
            f"{ver['pairs']} pairs of evaluation drawings, AUC {ver['auc']:.4f}",
        )
    shift = fig.get("test_time_shift", 0)
    table.add_row("test-time shift (pixels)", str(shift), f"{(2 * shift + 1) ** 2} views averaged")
    for name, acc in record["anchors"].items():
        table.add_row(f"[dim]anchor: {name}[/]", f"[dim]{acc:.3f}[/]", "[dim]official runs[/]")
    add_time_rows(table, record)
    console.print(table)


if __name__ == "__main__":
    main()
