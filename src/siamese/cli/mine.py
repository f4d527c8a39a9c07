"""`siamese mine`: ordered train and test triplet lists with their hardness, for any framework.

Examples::

    siamese mine --source csv -o path=catalog.csv -o size=64 --strategy sigmoid --out-dir triplets
    siamese mine --source arrays -o path=items.npz --features feats.npy --strategy cyclic_sigmoid
    siamese mine --source traffic --model runs/traffic/model --strategy hardest --ids

The dataset is split by class (``--test-fraction``), or by the data's own protocol split when
it has one. Hardness is measured in ``--features`` (a ``.npy`` of shape ``(N, D)``, one row per
item in reading order), in a trained model's embeddings (``--model``), or else in the raw items
flattened. Each list is a CSV: ``step, anchor, positive, negative, target_hardness,
achieved_hardness``, with file paths (or item ids with ``--ids``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json
from siamese.cli.data import parse_options
from siamese.errors import ConfigError, DataError

if TYPE_CHECKING:  # the library (torch, pytorch-metric-learning) loads when a command runs
    from siamese.data import LabeledDataset
    from siamese.mining import MinedTriplets

# --strategy's help, written out so that `siamese --help` need not import the miners
# (tests/cli check it against siamese.mining.SEQUENCED_STRATEGIES)
STRATEGY_HELP = (
    "A hardness schedule (linear, sine, tanh, logarithmic, sigmoid, constant; or cyclic_ with "
    "one of the first five, e.g. cyclic_sigmoid) or an offline miner (random, easiest, hardest, "
    "semi_hard; semi_hard_offline is an alias of semi_hard)."
)


def _features(dataset: LabeledDataset, features: Path | None, model: Path | None) -> np.ndarray:
    """``(N, D)`` float32 features: from a ``.npy`` file, a model folder, or the raw items."""
    if features is not None and model is not None:
        raise ConfigError("mine: pass --features or --model, not both")
    if features is not None:
        if not features.is_file():
            raise DataError(f"{features}: features file not found; pass a .npy of shape (N, D)")
        try:
            x = np.load(features, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{features}: not a readable .npy array ({exc})") from None
        if x.ndim != 2 or len(x) != len(dataset):
            raise DataError(
                f"{features}: expected shape ({len(dataset)}, D), one row per item of the "
                f"dataset, got {x.shape}"
            )
        return np.asarray(x, dtype=np.float32)
    if model is not None:
        from siamese.model import SiameseModel

        return SiameseModel.load(model).embed_dataset(dataset)
    raw = dataset.load(np.arange(len(dataset)))
    return raw.reshape(len(dataset), -1).astype(np.float32)


def _parts(dataset: LabeledDataset, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Dataset positions of the train and test parts (protocol split when the data has one)."""
    from siamese.data import LabeledDataset, class_disjoint_split

    if dataset.split is not None:
        parts = {name: np.flatnonzero(dataset.split == name) for name in ("train", "test")}
        return {k: v for k, v in parts.items() if len(v)}
    tagged = LabeledDataset(
        items=np.arange(len(dataset))[:, None],
        labels=dataset.labels,
        class_names=dataset.class_names,
        sources=[str(i) for i in range(len(dataset))],
    )
    split = class_disjoint_split(tagged, val_fraction=0.0, test_fraction=test_fraction, seed=seed)
    return {name: part.items.load(np.arange(len(part)))[:, 0] for name, part in split.items()}


def mine(
    source: str = typer.Option(..., "--source", "-s", help="Data source name (csv, arrays, ...)."),
    option: list[str] = typer.Option([], "--option", "-o", help="Reader option key=value."),
    strategy: str = typer.Option("sigmoid", help=STRATEGY_HELP),
    out_dir: Path = typer.Option(Path("triplets"), "--out-dir", help="Folder for the CSV lists."),
    features: Path = typer.Option(None, help="Features .npy (N, D), one row per item."),
    model: Path = typer.Option(None, help="Trained model folder: measure in its embeddings."),
    triplets: int = typer.Option(
        0, help="Train triplets (0: one per train item).", callback=in_range("--triplets", 0)
    ),
    test_triplets: int = typer.Option(
        0, help="Test triplets (0: one per test item).", callback=in_range("--test-triplets", 0)
    ),
    test_fraction: float = typer.Option(
        0.2,
        help="Class share for the test list (no protocol), in [0, 1).",
        callback=in_range("--test-fraction", 0, 1, hi_open=True),
    ),
    threshold: float = typer.Option(
        0.5,
        help="Hardness the schedule rises to, in [0, 1].",
        callback=in_range("--threshold", 0, 1),
    ),
    growth: float = typer.Option(
        10.0,
        help="Growth rate (sigmoid, tanh, logarithmic), > 0.",
        callback=in_range("--growth", 0, lo_open=True),
    ),
    midpoint: float = typer.Option(
        0.5, help="Sigmoid midpoint (progress in [0, 1]).", callback=in_range("--midpoint", 0, 1)
    ),
    cycles: int = typer.Option(
        1, help="Cycles of cyclic_* schedules, >= 1.", callback=in_range("--cycles", 1)
    ),
    margin: float = typer.Option(
        0.2, help="Semi-hard band width, > 0.", callback=in_range("--margin", 0, lo_open=True)
    ),
    distance: str = typer.Option("euclidean", help="euclidean or cosine."),
    allow_self_positive: bool = typer.Option(
        False, help="Single-item classes serve as anchor with themselves as positive."
    ),
    ids: bool = typer.Option(False, "--ids", help="Write item ids instead of file paths."),
    seed: int = typer.Option(
        0,
        help="Seed of the split, the anchor order and the candidates.",
        callback=in_range("--seed", 0),
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write ordered train and test triplet lists with target and achieved hardness."""
    from siamese.data import load_source
    from siamese.mining import SEQUENCED_STRATEGIES

    if strategy not in SEQUENCED_STRATEGIES:
        raise ConfigError(
            f"--strategy {strategy!r}: expected one of {', '.join(SEQUENCED_STRATEGIES)}"
        )
    dataset = load_source(source, **parse_options(option))
    x = _features(dataset, features, model)
    names = [str(i) for i in range(len(dataset))] if ids else dataset.meta.get("files")
    if names is None or len(names) != len(dataset):
        names = list(dataset.sources)
    ref = dataset.meta.get("is_reference")
    settings = {
        "seed": seed,
        "threshold": threshold,
        "growth": growth,
        "midpoint": midpoint,
        "cycles": cycles,
        "margin": margin,
        "distance": distance,
        "allow_self_positive": allow_self_positive,
    }
    rows: list[dict[str, Any]] = []
    for name, idx in _parts(dataset, test_fraction, seed).items():
        count = (triplets if name == "train" else test_triplets) or len(idx)
        mask = None if ref is None else np.asarray(ref, dtype=bool)[idx]
        try:
            result, summary = _mine_part(strategy, dataset.labels, x, idx, count, mask, settings)
        except DataError as exc:
            raise DataError(f"{name} part ({len(idx)} items): {exc}") from None
        path = result.write_csv(out_dir / f"{name}_triplets.csv", names)
        rows.append({"part": name, "file": str(path), **summary})
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"Mined triplets ({strategy})")
    for col in ("part", "triplets", "classes as anchor", "hardness MAE", "mean achieved", "file"):
        table.add_column(col, justify="left" if col in ("part", "file") else "right")
    for r in rows:
        table.add_row(
            r["part"],
            f"{r['triplets']:,}",
            f"{r['classes_as_anchor']:,} / {r['classes']:,}",
            f"{r['hardness_mae']:.4f}",
            f"{r['mean_achieved']:.3f}",
            r["file"],
        )
    console.print(table)


def _mine_part(
    strategy: str,
    labels: np.ndarray,
    x: np.ndarray,
    idx: np.ndarray,
    count: int,
    reference_mask: np.ndarray | None,
    settings: dict[str, Any],
) -> tuple[MinedTriplets, dict[str, Any]]:
    """Mine the items ``idx`` of the dataset: the triplets (positions in the whole dataset) and
    their summary."""
    from siamese.mining import create_miner

    miner = create_miner(strategy, reference_mask=reference_mask, **settings)
    result = miner.mine(labels[idx], x[idx], count)
    summary = result.summary(labels[idx])
    result.anchor, result.positive, result.negative = (
        idx[result.anchor],
        idx[result.positive],
        idx[result.negative],
    )
    return result, summary
