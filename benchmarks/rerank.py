"""Re-ranking the top-k with a pair scorer: does it change top-1 on the Omniglot official runs?

Trains the recipe of ``configs/omniglot.toml`` (``--quick``: the tiny setting of
``benchmarks/omniglot.py --quick``), then for each of the 20 official runs enrolls the 20 support
drawings in a ``Gallery`` (one per class) and identifies the 20 queries: top-1 accuracy by the
index alone, and after re-ranking its top ``--k`` classes with Koch's L1 + sigmoid pair head
(``siamese.gallery.rerank``). A one-shot gallery has no same-class pair to train a head on, so the
head is trained on the frozen embeddings of (up to 12,000) training drawings of the run.

    python benchmarks/rerank.py --quick [--k 5] [--out FILE]
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
from _recipe import bench_overrides, bench_record, save_record, train_run  # noqa: E402
from omniglot import QUICK  # noqa: E402

from siamese.data import load_omniglot_runs  # noqa: E402
from siamese.gallery import Gallery  # noqa: E402
from siamese.gallery.rerank import rerank, train_pair_head  # noqa: E402
from siamese.training.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "omniglot.toml"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--k", type=int, default=5, help="classes re-ranked per query")
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args(argv)
    console = Console()
    overrides, tmp = bench_overrides(args, QUICK)
    cfg = load_config(args.config, overrides)
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = train_run(cfg, overwrite=True, report=False)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    model, train = result.model, result.splits["train"]
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(train), size=min(12_000, len(train)), replace=False))
    head = train_pair_head(
        model.embed_dataset(train.subset(idx)), train.labels[idx], seed=args.seed
    )
    opts = cfg.data.options
    runs = load_omniglot_runs(
        Path(opts["path"]) / "all_runs.zip",
        size=opts.get("size"),
        invert=opts.get("invert", True),
        ink_crop=opts.get("ink_crop"),
    )
    plain = reranked = trials = 0
    changed = 0
    for run in runs:
        g = Gallery(model, index="exact").fit(run.support, list(run.support_names))
        q = g.embed(run.query)
        base = g.identify_embeddings(q, k=args.k)
        new = rerank(g, q, base, head)
        truth = [run.support_names[a] for a in run.answers]
        plain += sum(r.label == t for r, t in zip(base, truth, strict=True))
        reranked += sum(r.label == t for r, t in zip(new, truth, strict=True))
        changed += sum(a.label != b.label for a, b in zip(base, new, strict=True))
        trials += len(truth)
    figures = {
        "official_20_runs_top1": plain / trials,
        "official_20_runs_top1_reranked": reranked / trials,
        "top1_change": (reranked - plain) / trials,
        "answers_changed": changed,
        "trials": trials,
        "k": args.k,
        "head_trained_on": f"{len(idx)} training drawings (frozen embeddings)",
    }
    record = bench_record(
        "rerank", args, argv, overrides, (t0, train_wall, train_cpu), figures=figures
    )
    console.print(
        f"Omniglot official runs, top-1: index {figures['official_20_runs_top1']:.4f}, re-ranked "
        f"top-{args.k} by the pair head {figures['official_20_runs_top1_reranked']:.4f} "
        f"({100 * figures['top1_change']:+.2f} points, {changed} of {trials} answers changed); "
        f"wall time {record['total_wall_seconds']:.0f} s"
    )
    save_record(record, args.out, console)
    if tmp is not None:
        tmp.cleanup()
    return record


if __name__ == "__main__":
    main()
