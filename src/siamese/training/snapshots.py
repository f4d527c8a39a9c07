"""Embedding snapshots: validation embeddings saved each epoch for the report's animation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def snapshot_positions(labels: np.ndarray, items: int, max_classes: int = 20) -> np.ndarray:
    """Positions of the items whose embeddings are saved (the same every epoch).

    At most ``max_classes`` classes spread evenly over the classes present, with an equal share of
    ``items`` each, so every frame shows several classes side by side.
    """
    classes = np.unique(labels)
    if len(classes) > max_classes:
        classes = classes[np.linspace(0, len(classes) - 1, max_classes).round().astype(int)]
    share = max(1, items // len(classes))
    pos = np.concatenate([np.flatnonzero(labels == c)[:share] for c in classes])
    return np.sort(pos)[:items]


def save_snapshot(
    folder: Path, epoch: int, embeddings: np.ndarray, labels: np.ndarray, items: np.ndarray
) -> None:
    """Write ``epoch_XXXX.npy``; ``labels.npy`` and ``items.json`` (split positions) once."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"epoch_{epoch:04d}.npy", embeddings.astype(np.float32))
    if not (folder / "labels.npy").exists():
        np.save(folder / "labels.npy", labels)
        (folder / "items.json").write_text(json.dumps([int(i) for i in items]))
