"""RunFolder: everything a report reads from a run folder, read and checked in one place."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siamese.errors import ConfigError

REQUIRED = ("config.json", "metrics.jsonl", "model.json")
OPTIONAL_JSON = ("dataset.json", "evaluation.json", "demo.json")
SNAPSHOT = re.compile(r"epoch_(\d+)\.npy$")


@dataclass
class RunFolder:
    """The files of one run folder (written by ``siamese train``), parsed.

    Attributes:
        path: the run folder.
        config: ``config.json`` (the resolved run config as plain data).
        metrics: ``metrics.jsonl``, one dict per epoch (epoch 0 = before training).
        model: ``model.json``.
        dataset: ``dataset.json`` (empty when absent).
        evaluation: ``evaluation.json`` (empty when absent).
        demo: ``demo.json``, the result of ``siamese demo`` (empty when absent).
        snapshots: ``{epoch: (n, D) embeddings}`` from ``snapshots/epoch_XXXX.npy``.
        snapshot_labels: ``(n,)`` labels of the snapshot items, or ``None``.
        snapshot_items: ``(n,)`` positions of those items in the validation split's fixed
            subset, or ``None``.
    """

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    model: dict[str, Any]
    dataset: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    demo: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    snapshot_labels: np.ndarray | None = None
    snapshot_items: np.ndarray | None = None

    @property
    def info(self) -> dict[str, Any]:
        """``model.json``'s ``info`` table (class names, split, objective, training times)."""
        return self.model.get("info", {}) or {}

    @property
    def class_names(self) -> list[str]:
        return list(self.info.get("class_names", []))

    @property
    def training(self) -> dict[str, Any]:
        """Training summary: epochs run, best epoch, stop reason, seconds."""
        return self.evaluation.get("training") or self.info.get("training") or {}

    @property
    def evaluated_epoch(self) -> int:
        """The epoch whose weights were saved and evaluated.

        The trainer restores the best weights only when early stopping ran, ``restore_best`` is
        on and the best epoch is a trained one (> 0): a best epoch of 0 (before training) keeps
        the last epoch's weights.
        """
        t = self.training
        last = int(t.get("epochs_run", self.metrics[-1]["epoch"]))
        tr = self.config.get("training", {})
        best = t.get("best_epoch")
        if tr.get("early_stopping") and tr.get("restore_best") and best is not None and best > 0:
            return int(best)
        return last

    def restore_statement(self) -> str:
        """What happened to the best weights, in words (for the setup table)."""
        tr = self.config.get("training", {})
        best = self.training.get("best_epoch")
        last = int(self.training.get("epochs_run", self.metrics[-1]["epoch"]))
        if not tr.get("restore_best"):
            return (
                f"restore best weights: no (the last epoch's weights, epoch {last}, are evaluated)"
            )
        if best is None:
            return "restore best weights: no (no validation split, so no best epoch)"
        if best == 0:
            return (
                "restore best weights: not done: the best epoch was 0 (before training) and the "
                f"trainer restores only trained epochs, so the last epoch's weights (epoch {last}) "
                "are evaluated"
            )
        return f"restore best weights: yes (epoch {best}'s weights are evaluated)"

    @classmethod
    def read(cls, path: str | Path) -> RunFolder:
        """Read a run folder.

        Raises:
            ConfigError: the folder or one of its required files is missing or not valid JSON.
        """
        path = Path(path)
        if not path.is_dir():
            raise ConfigError(
                f"run folder {path}: not found; pass a folder written by `siamese train` "
                "(<out_dir>/<name>)"
            )
        missing = [name for name in REQUIRED if not (path / name).is_file()]
        if missing:
            raise ConfigError(
                f"run folder {path}: missing {', '.join(missing)}; expected the files "
                f"{', '.join(REQUIRED)} written by `siamese train` (is the run finished?)"
            )
        config = _json(path / "config.json")
        model = _json(path / "model.json")
        metrics = _jsonl(path / "metrics.jsonl")
        extra = {n: _json(path / n) if (path / n).is_file() else {} for n in OPTIONAL_JSON}
        out = cls(
            path,
            config,
            metrics,
            model,
            extra["dataset.json"],
            extra["evaluation.json"],
            extra["demo.json"],
        )
        out._read_snapshots()
        return out

    def _read_snapshots(self) -> None:
        folder = self.path / "snapshots"
        if not folder.is_dir():
            return
        for f in sorted(folder.iterdir()):
            m = SNAPSHOT.search(f.name)
            if m:
                self.snapshots[int(m.group(1))] = np.load(f, allow_pickle=False)
        if (folder / "labels.npy").is_file():
            self.snapshot_labels = np.load(folder / "labels.npy", allow_pickle=False)
        if (folder / "items.json").is_file():
            self.snapshot_items = np.asarray(_json(folder / "items.json"), dtype=np.int64)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); re-run the training") from None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}, line {i}: not valid JSON ({exc.msg}); expected one JSON object per epoch"
            ) from None
        if not isinstance(row, dict) or "epoch" not in row:
            raise ConfigError(f"{path}, line {i}: expected an object with an 'epoch' key")
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: empty; the run recorded no epoch")
    return rows
