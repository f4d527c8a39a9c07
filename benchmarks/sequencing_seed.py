"""The "sigmoid triplet hardness sequencing" seed's own table, re-run on a catalog-style set.

The seed trains a triplet network on a jewellery catalog (1-2 images per class) with offline
mining, hardness threshold 0.7-0.8, growth 3, cycles = triplets / 1,000, and reports training
accuracy / top-50 validation accuracy after 10 epochs: easiest 0.45 / 0.11, hardest 0.61 / 0.17,
sigmoid 0.90 / 0.47, cyclic sigmoid 0.92 / 0.44.

Here the catalog is built from Omniglot (the jewellery catalog is private): each character gets
ONE drawing as its catalog image and ONE other drawing as its photo (drawn once with seed 0),
written as PNG files with two CSVs (``photos.csv``, ``catalog.csv``: the library's ``csv``
source with ``references``), so every run reads what ``siamese train --config
configs/sequencing_seed.toml`` reads. Background alphabets (964 characters) train; evaluation
alphabets (659 characters) are the validation classes.

Rows (all: conv4, 32 channels, 28x28, 64-d L2-normalised embedding, cosine triplet loss with
margin 0.2, Adam 1e-3, 10 epochs x ``--steps`` steps, 64 triplets per step; the config is the
base, only ``[mining]`` and ``[sampling]`` change):

* offline, sequenced (anchor = catalog image, positive = its photo; negatives re-mined every epoch
  in the model's own embeddings): ``easiest`` (hardness 0), ``hardest`` (hardness 1),
  ``sigmoid`` (threshold 0.75, growth 3), ``cyclic_sigmoid`` (the same curve replayed
  triplets / 1,000 times);
* online, inside P x K = 32 x 2 batches (one triplet per item): ``scheduled`` (each anchor's
  negative at the hardness the same sigmoid gives for the step) and ``batch_hard``.

Per run: training accuracy, two ways (the share of the last epoch's served triplets with
``d(a, p) < d(a, n)``, the figure a training log prints; and the same on fixed random training
triplets: every training catalog image, its photo, 4 random other-class items), validation
top-1 / top-5 / top-50 (each of the 659 validation photos queries the 659 validation catalog
images), the trainer's collapse flag, wall and CPU seconds. Results go to
``benchmarks/results/sequencing_seed.json`` (a ``--quick`` run: a temporary file).

Usage::

    python benchmarks/sequencing_seed.py --export runs/omniglot_catalog   # the catalog only
    nice -n 5 python benchmarks/sequencing_seed.py --seeds 0 1 2           # the table
    python benchmarks/sequencing_seed.py --quick                           # seconds
    python benchmarks/sequencing_seed.py --markdown                        # the doc's table
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import faiss
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from siamese._io import atomic_write_json
from siamese.data import load_source
from siamese.errors import ConfigError, SiameseError
from siamese.training.config import RunConfig, from_dict, read_config_file
from siamese.training.run import train_run

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "sequencing_seed.toml"
RESULTS = ROOT / "benchmarks" / "results" / "sequencing_seed.json"
PARTS = {"background": "train", "evaluation": "test"}
P, K = 32, 2  # online batches: 64 items, one triplet per item; offline: 64 triplets per step
# The seed's table: (training accuracy, top-50 validation accuracy) after 10 epochs.
SEED_TABLE: dict[str, tuple[float, float] | None] = {
    "easiest": (0.45, 0.11),
    "hardest": (0.61, 0.17),
    "sigmoid": (0.90, 0.47),
    "cyclic_sigmoid": (0.92, 0.44),
    "scheduled": None,
    "batch_hard": None,
}
ONLINE = ("scheduled", "batch_hard")
NEGATIVES_PER_ANCHOR = 4  # fixed random training triplets per catalog image


def rows(triplets: int) -> dict[str, dict[str, Any]]:
    """Each row's ``[mining]`` keys (threshold, growth and refresh come from the config)."""
    return {
        "easiest": {"strategy": "easiest"},
        "hardest": {"strategy": "hardest"},
        "sigmoid": {"strategy": "sigmoid"},
        "cyclic_sigmoid": {"strategy": "cyclic_sigmoid", "cycles": max(1, triplets // 1000)},
        "scheduled": {"strategy": "scheduled", "schedule": "sigmoid"},
        "batch_hard": {"strategy": "batch_hard"},
    }


def export_catalog(omniglot: Path, out: Path, *, limit_classes: int | None = None) -> Path:
    """Write the catalog-style set: per character one catalog image and one photo (PNG).

    ``out`` gets ``images/<part>/<class>/{catalog,photo}.png``, ``photos.csv`` and
    ``catalog.csv`` (columns class, file, split). The drawings are chosen with seed 0, so every
    export of the same Omniglot files is the same set. Written into a temporary folder beside
    ``out`` and renamed into place, so ``out`` is never half-written.

    Raises:
        ConfigError: ``out`` exists and is not an earlier export (it would be replaced).
        SiameseError: Omniglot cannot be read (the reader's one-line message).
    """
    exported = all((out / f).is_file() for f in ("photos.csv", "catalog.csv"))
    if out.exists() and not exported and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"--export {out}: exists and is not a catalog this script wrote (no photos.csv and "
            "catalog.csv); pass a new or empty folder"
        )
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        lines = {"photos.csv": [], "catalog.csv": []}
        for part, split in PARTS.items():
            ds = load_source(
                "omniglot", path=str(omniglot), parts=[part], limit_classes=limit_classes
            )
            for c in np.unique(ds.labels):
                pick = rng.choice(np.flatnonzero(ds.labels == c), size=2, replace=False)
                images = ds.load(pick)  # (2, 1, 105, 105) uint8, ink bright
                name = ds.class_names[c]
                folder = tmp / "images" / name
                folder.mkdir(parents=True, exist_ok=True)
                for kind, img in zip(("catalog", "photo"), images, strict=True):
                    Image.fromarray(img[0]).save(folder / f"{kind}.png")
                lines["catalog.csv"].append((name, f"images/{name}/catalog.png", split))
                lines["photos.csv"].append((name, f"images/{name}/photo.png", split))
        for file, table in lines.items():
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(["class", "file", "split"])
            writer.writerows(table)
            (tmp / file).write_text(buf.getvalue())
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def config(row: str, args: argparse.Namespace, catalog: Path, out_dir: str, seed: int) -> RunConfig:
    """``configs/sequencing_seed.toml`` with this row's ``[mining]`` and ``[sampling]``."""
    raw = read_config_file(CONFIG)
    epochs, steps = args.epochs, args.steps
    mining = {**raw["mining"], **rows(P * K * epochs * steps)[row]}
    if row != "cyclic_sigmoid":
        mining.pop("cycles", None)
    raw.update(name=f"{row}-{seed}", seed=seed, out_dir=out_dir)
    raw["data"].update(path=str(catalog / "photos.csv"), references=str(catalog / "catalog.csv"))
    raw["mining"] = mining
    raw["sampling"] = (
        {"kind": "pk", "p": P, "k": K}
        if row in ONLINE
        else {"kind": "triplets", "batch_size": P * K}
    )
    raw["training"].update(epochs=epochs, steps_per_epoch=steps)
    return from_dict(raw, RunConfig, "")


def retrieval(
    emb: np.ndarray, labels: np.ndarray, is_ref: np.ndarray, ks: tuple[int, ...]
) -> list[float]:
    """Photo queries against the catalog images: the share whose own class is in the top k."""
    gallery, queries = np.flatnonzero(is_ref), np.flatnonzero(~is_ref)
    index = faiss.IndexFlatL2(emb.shape[1])
    index.add(np.ascontiguousarray(emb[gallery], dtype=np.float32))
    kmax = min(max(ks), len(gallery))
    _, nn = index.search(np.ascontiguousarray(emb[queries], dtype=np.float32), kmax)
    hits = labels[gallery][nn] == labels[queries][:, None]  # (Q, kmax)
    return [float(hits[:, : min(k, kmax)].any(axis=1).mean()) for k in ks]


def fixed_triplets(labels: np.ndarray, is_ref: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every catalog image, its class's photo and ``NEGATIVES_PER_ANCHOR`` random other-class
    items (seed 0): the same triplets for every row and seed."""
    rng = np.random.default_rng(0)
    anchors = np.flatnonzero(is_ref)
    photo_of = {int(labels[i]): i for i in np.flatnonzero(~is_ref)}
    a = np.repeat(anchors, NEGATIVES_PER_ANCHOR)
    p = np.array([photo_of[int(labels[i])] for i in a])
    n = rng.integers(len(labels), size=len(a))
    while (bad := labels[n] == labels[a]).any():
        n[bad] = rng.integers(len(labels), size=int(bad.sum()))
    return a, p, n


def triplet_accuracy(emb: np.ndarray, triplets: tuple[np.ndarray, ...], distance: Any) -> float:
    """Share of triplets with ``d(a, p) < d(a, n)``."""
    a, p, n = (torch.as_tensor(emb[i]) for i in triplets)
    return float((distance.pairwise(a, p) < distance.pairwise(a, n)).float().mean())


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (its threads included) so far."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def run_one(row: str, args: argparse.Namespace, catalog: Path, seed: int) -> dict[str, Any]:
    """Train one row with one seed and measure it."""
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = config(row, args, catalog, out_dir, seed)
        t0, c0 = time.perf_counter(), cpu_seconds()
        trained = train_run(cfg, progress_override=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    model, history = trained.model, trained.history
    model.eval()
    out: dict[str, Any] = {"row": row, "seed": seed, "mining": dataclasses.asdict(cfg.mining)}
    for part, what in (("train", "train"), ("test", "val")):
        ds = trained.splits[part]
        is_ref = np.asarray(ds.meta["is_reference"], dtype=bool)
        emb = model.embed_dataset(ds)
        top1, top5, top50 = retrieval(emb, ds.labels, is_ref, (1, 5, 50))
        out[f"{what}_top1"], out[f"{what}_top5"], out[f"{what}_top50"] = top1, top5, top50
        out[f"{what}_classes"] = int(is_ref.sum())
        if part == "train":
            trip = fixed_triplets(ds.labels, is_ref)
            out["train_random_triplet_accuracy"] = triplet_accuracy(emb, trip, model.distance)
            out["train_random_triplets"] = len(trip[0])
    last = history[-1]
    out.update(
        steps=cfg.training.epochs * cfg.training.steps_per_epoch,
        triplets=cfg.training.epochs * cfg.training.steps_per_epoch * P * K,
        train_served_triplet_accuracy=last.get("train_triplet_accuracy"),
        final_train_loss=last.get("train_loss"),
        hardness_target_last_epoch=last.get("hardness_target"),
        hardness_achieved_last_epoch=last.get("hardness_achieved"),
        collapse_flagged=any(bool(r.get("collapse")) for r in history),
        wall_seconds=round(wall, 1),
        cpu_seconds=round(cpu, 1),
        load_average_1min=round(os.getloadavg()[0], 2),
    )
    return out


FIGURES = (
    "train_served_triplet_accuracy",
    "train_random_triplet_accuracy",
    "val_top1",
    "val_top5",
    "val_top50",
    "train_top1",
    "wall_seconds",
    "cpu_seconds",
)


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per row: the mean over seeds of every figure, the per-seed values, the seed's figures."""
    out: dict[str, dict[str, Any]] = {}
    for row in SEED_TABLE:
        rs = [r for r in runs if r["row"] == row]
        if not rs:
            continue
        seed = SEED_TABLE[row]
        out[row] = {
            "seeds": [r["seed"] for r in rs],
            **{k: round(float(np.mean([r[k] for r in rs])), 4) for k in FIGURES},
            **{f"{k}_per_seed": [round(r[k], 4) for r in rs] for k in FIGURES[:5]},
            "collapse_flagged": sum(r["collapse_flagged"] for r in rs),
            "seed_train_accuracy": None if seed is None else seed[0],
            "seed_top50": None if seed is None else seed[1],
        }
    return out


def table(result: dict[str, Any]) -> Table:
    """The seed's figures beside ours (means over seeds)."""
    t = Table(title="Sigmoid triplet hardness sequencing: the seed's table beside ours")
    cols = ("row", "seed: train acc", "ours: served / random", "seed: top-50", "ours: top-50")
    cols += ("ours: top-1", "per-seed top-50", "collapse", "wall s", "CPU s")
    for col in cols:
        t.add_column(col, justify="left" if col == "row" else "right")
    for row, s in result["summary"].items():
        seed_acc, seed_top = s["seed_train_accuracy"], s["seed_top50"]
        t.add_row(
            row,
            "—" if seed_acc is None else f"{seed_acc:.2f}",
            f"{s['train_served_triplet_accuracy']:.3f} / {s['train_random_triplet_accuracy']:.3f}",
            "—" if seed_top is None else f"{seed_top:.2f}",
            f"{s['val_top50']:.3f}",
            f"{s['val_top1']:.3f}",
            " ".join(f"{v:.3f}" for v in s["val_top50_per_seed"]),
            f"{s['collapse_flagged']}/{len(s['seeds'])}",
            f"{s['wall_seconds']:.0f}",
            f"{s['cpu_seconds']:.0f}",
        )
    return t


def markdown(result: dict[str, Any]) -> str:
    """The summary as the Markdown table of docs/benchmarks/sequencing_seed.md."""
    head = (
        "| row | seed: train acc / top-50 | ours: served / random triplet acc | ours: top-50 "
        "(per seed) | ours: top-1 (per seed) | top-5 | collapse flagged | wall s | CPU s |"
    )
    lines = [head, "|" + "---|" * 9]
    for row, s in result["summary"].items():
        seed = (
            "—"
            if s["seed_top50"] is None
            else f"{s['seed_train_accuracy']:.2f} / {s['seed_top50']:.2f}"
        )
        per = {
            k: ", ".join(f"{v:.3f}" for v in s[f"{k}_per_seed"]) for k in ("val_top50", "val_top1")
        }
        lines.append(
            f"| {row} | {seed} | {s['train_served_triplet_accuracy']:.3f} / "
            f"{s['train_random_triplet_accuracy']:.3f} | **{s['val_top50']:.3f}** "
            f"({per['val_top50']}) | {s['val_top1']:.3f} ({per['val_top1']}) | "
            f"{s['val_top5']:.3f} | {s['collapse_flagged']} of {len(s['seeds'])} | "
            f"{s['wall_seconds']:.0f} | {s['cpu_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/omniglot"))
    parser.add_argument(
        "--export",
        type=Path,
        default=None,
        help="write the catalog-style set to this folder and stop (for configs/sequencing_seed.toml)",
    )
    parser.add_argument("--rows", nargs="*", default=list(SEED_TABLE), choices=SEED_TABLE)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=60, help="steps per epoch")
    parser.add_argument(
        "--quick", action="store_true", help="30 characters per part, 2 epochs x 3 steps, seed 0"
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: see above)")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the results file's table as Markdown, run nothing",
    )
    args = parser.parse_args()
    console = Console(width=200)
    if args.markdown:
        path = args.out or RESULTS
        if not path.is_file():
            fail(f"{path}: no results file; run the benchmark first or pass --out")
        print(markdown(json.loads(path.read_text())), end="")
        return
    if args.quick:
        args.epochs, args.steps, args.seeds = 2, 3, args.seeds[:1]
    out = args.out or (
        Path(tempfile.gettempdir()) / "sequencing_seed_quick.json" if args.quick else RESULTS
    )
    torch.set_num_threads(1)
    try:
        if args.export is not None:
            args.export.parent.mkdir(parents=True, exist_ok=True)
            path = export_catalog(args.data, args.export)
            console.print(f"catalog-style set: {path / 'photos.csv'}, {path / 'catalog.csv'}")
            return
        load0 = os.getloadavg()
        runs: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory() as tmp:
            catalog = export_catalog(
                args.data, Path(tmp) / "catalog", limit_classes=30 if args.quick else None
            )
            total = len(args.seeds) * len(args.rows)
            for seed in args.seeds:
                for row in args.rows:
                    r = run_one(row, args, catalog, seed)
                    runs.append(r)
                    result = results(args, runs, load0, complete=len(runs) == total)
                    atomic_write_json(out, result)  # each run is kept as soon as it ends
                    console.print(
                        f"{row} seed {seed}: top-50 {r['val_top50']:.3f}, top-1 "
                        f"{r['val_top1']:.3f}, served acc {r['train_served_triplet_accuracy']:.3f}, "
                        f"{r['wall_seconds']:.0f} s wall, {r['cpu_seconds']:.0f} s CPU"
                    )
    except SiameseError as exc:
        fail(str(exc))
    console.print(table(result))
    console.print(f"results: {out}")


def results(
    args: argparse.Namespace, runs: list[dict[str, Any]], load0: tuple[float, ...], complete: bool
) -> dict[str, Any]:
    """The results file: setup, the seed's table, every run so far and the summary."""
    return {
        "benchmark": "benchmarks/sequencing_seed.py",
        "quick": bool(args.quick),
        "complete": complete,
        "config": str(CONFIG.relative_to(ROOT)),
        "setup": {
            "epochs": args.epochs,
            "steps_per_epoch": args.steps,
            "triplets_per_step": P * K,
            "online_batch": [P, K],
            "rows": rows(P * K * args.epochs * args.steps),
            "train_classes": runs[0]["train_classes"],
            "val_classes": runs[0]["val_classes"],
            "threads": torch.get_num_threads(),
            "load_average_start": [round(x, 2) for x in load0],
        },
        "seed_table": {
            k: None if v is None else {"train_accuracy": v[0], "top50": v[1]}
            for k, v in SEED_TABLE.items()
        },
        "runs": runs,
        "summary": summary(runs),
    }


if __name__ == "__main__":
    main()
