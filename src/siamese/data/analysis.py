"""The dataset analysis a report needs (``siamese data inspect`` prints it).

Built on ``LabeledDataset.describe()`` (counts, items per class, shapes, lengths) and adds what a
reader recorded: pair counts by kind and fold, the split sizes (the data's protocol split when it has
one, else the default class-disjoint split), and anything left out or unusual (skipped rows, ignored
files, uncovered rows, unseen categories), so nothing is dropped without the user seeing it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from siamese.data._reader_utils import FIRST_FEW
from siamese.data.labeled_dataset import LabeledDataset
from siamese.data.splits import class_disjoint_split
from siamese.errors import ConfigError, DataError


def analyse_dataset(
    dataset: LabeledDataset,
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    verify: bool = False,
) -> dict[str, Any]:
    """Describe a dataset for a report, as plain JSON-ready data.

    Args:
        dataset: what a reader returned.
        val_fraction: share of classes for validation in the class-disjoint split shown when the
            data has no protocol split.
        test_fraction: share of classes for test in that split.
        seed: the seed of that split.
        verify: decode every item once (lazy image stores) and list those that fail.

    Returns:
        ``describe()``'s keys plus ``protocol``, ``splits`` (``{"kind", "parts": {name: {"items",
        "classes"}}}`` or ``{"kind": "none", "error": ...}``), ``pairs`` (for pair files),
        ``notes`` (one line per thing left out or unusual) and ``verify`` when asked.
    """
    out = dataset.describe()
    out["protocol"] = dataset.meta.get("protocol")
    out["splits"] = _splits(dataset, val_fraction, test_fraction, seed)
    pairs = dataset.meta.get("pairs")
    if pairs is not None:
        out["pairs"] = _pairs(pairs)
    out["notes"] = _notes(dataset.meta)
    if verify:
        out["verify"] = _verify(dataset)
    return out


def _splits(ds: LabeledDataset, val: float, test: float, seed: int) -> dict[str, Any]:
    if ds.split is not None:
        parts = {
            name: {
                "items": int((ds.split == name).sum()),
                "classes": int(len(np.unique(ds.labels[ds.split == name]))),
            }
            for name in ("train", "val", "test")
            if (ds.split == name).any()
        }
        return {"kind": "protocol", "parts": parts}
    try:
        parts = class_disjoint_split(ds, val_fraction=val, test_fraction=test, seed=seed)
    except ConfigError as exc:
        return {"kind": "none", "error": str(exc)}
    return {
        "kind": f"classes (val {val}, test {test}, seed {seed})",
        "parts": {k: {"items": len(p), "classes": p.num_classes} for k, p in parts.items()},
    }


def _pairs(pairs: dict[str, np.ndarray]) -> dict[str, Any]:
    same = np.asarray(pairs["same"], dtype=bool)
    fold = np.asarray(pairs.get("fold", np.zeros(len(same), dtype=np.int64)))
    per_fold = {
        int(f): {"same": int(same[fold == f].sum()), "different": int((~same[fold == f]).sum())}
        for f in np.unique(fold)
    }
    return {
        "total": len(same),
        "same": int(same.sum()),
        "different": int((~same).sum()),
        "folds": per_fold,
    }


def _notes(meta: dict[str, Any]) -> list[str]:
    notes = []
    if meta.get("skipped"):
        notes.append(meta["skipped"]["message"])
    if meta.get("ignored_files"):
        files = meta["ignored_files"]
        notes.append(
            f"{len(files)} non-image file(s) in class folders ignored, e.g. {', '.join(files[:FIRST_FEW])}"
        )
    if meta.get("empty_folders"):
        notes.append(f"{len(meta['empty_folders'])} folder(s) without images: no class")
    if meta.get("duplicate_rows"):
        notes.append(f"{len(meta['duplicate_rows'])} row(s) name a file listed before (one item)")
    if "is_reference" in meta:
        notes.append(f"{int(np.sum(meta['is_reference']))} reference (anchor) item(s)")
    if meta.get("uncovered_rows"):
        notes.append(f"{meta['uncovered_rows']} row(s) after the last full window are in no window")
    if meta.get("impure_windows"):
        notes.append(f"{meta['impure_windows']} window(s) span more than one row label")
    for column, values in (meta.get("unseen_categories") or {}).items():
        count = sum(values.values())
        notes.append(
            f"column {column}: {count} test row(s) with categories unseen in training (all-zero)"
        )
    if meta.get("test_only_classes"):
        notes.append(f"{len(meta['test_only_classes'])} class(es) appear only in the test file")
    return notes


def _verify(ds: LabeledDataset) -> dict[str, Any]:
    """Decode every item of a lazy store once; in-memory arrays need no check."""
    check = getattr(ds.items, "verify", None)
    problems = check() if callable(check) else []
    return {"checked": len(ds), "problems": problems}


def verify_error(report: dict[str, Any]) -> DataError | None:
    """The one-line error for unreadable items found by ``verify``, or ``None`` when all decode."""
    problems = report.get("verify", {}).get("problems", [])
    if not problems:
        return None
    first = "; ".join(p["error"] for p in problems[:FIRST_FEW])
    more = f" (and {len(problems) - FIRST_FEW} more)" if len(problems) > FIRST_FEW else ""
    return DataError(f"{len(problems)} of {report['items']} item(s) cannot be read: {first}{more}")
