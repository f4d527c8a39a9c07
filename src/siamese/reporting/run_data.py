"""What a report recomputes through the library: the data, the model and the test pairs.

The test pairs are drawn exactly as ``evaluate_model`` drew them (same fixed subset, same seed),
so the ROC curve and the distance histograms are the curves behind the numbers in
``evaluation.json``. When the data or the model cannot be loaded, the report says why instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import SiameseError
from siamese.evaluation.model_evaluation import can_pair, fixed_subset, pair_scores
from siamese.evaluation.retrieval import retrieval_metrics
from siamese.model import SiameseModel
from siamese.reporting.run_folder import RunFolder

EVAL_MAX_ITEMS = 5000  # evaluate_model's max_items: the same test subset as evaluation.json


@dataclass
class RunData:
    """The run's data and model, loaded again, and the test pairs scored by the model.

    Attributes:
        dataset: the whole dataset as the run read it.
        parts: its splits (``train``, ``val``, ``test``).
        model: the trained model from the run folder.
        eval_name: the split the pairs come from (``test``, or ``val`` without a test split).
        eval_items: that split's fixed subset the pairs index into.
        embeddings: ``(n, D)`` embeddings of ``eval_items``.
        pairs: ``pair_scores`` output (``left``, ``right``, ``scores``, ``distances``, ``same``),
            or ``None`` when no class has two items.
        retrieval: ``retrieval_metrics`` output, or ``None``.
    """

    dataset: LabeledDataset
    parts: dict[str, LabeledDataset]
    model: SiameseModel
    eval_name: str
    eval_items: LabeledDataset
    embeddings: np.ndarray
    pairs: dict[str, np.ndarray] | None
    retrieval: dict[str, Any] | None


def load_run_data(run: RunFolder, model: SiameseModel) -> tuple[RunData | None, str | None]:
    """Load the data of a run and score its evaluation pairs with ``model``.

    Returns:
        ``(RunData, None)``, or ``(None, note)`` saying why the data-dependent parts of the
        report are left out (data moved or unreadable).
    """
    from siamese.training.config import from_dict
    from siamese.training.splits import load_splits

    try:
        cfg = from_dict(run.config)
        dataset, parts, _ = load_splits(cfg)
    except (SiameseError, OSError) as exc:
        return None, f"the run's data could not be read again ({exc}); data-dependent parts skipped"
    name = "test" if len(parts.get("test") or []) else "val"
    split = parts.get(name)
    if split is None or len(split) == 0:
        return None, "the run has neither a test nor a validation split; nothing to evaluate on"
    idx = fixed_subset(len(split), EVAL_MAX_ITEMS, cfg.seed)
    items = split.subset(idx)
    emb = model.embed_dataset(items)  # (n, D)
    pairs = None
    retrieval = None
    if can_pair(items.labels):
        pairs = pair_scores(model, emb, items.labels, cfg.evaluation.pairs, cfg.seed)
        retrieval = retrieval_metrics(emb, items.labels, distance=model.distance)
    return RunData(dataset, parts, model, name, items, emb, pairs, retrieval), None


def example_pairs(
    pairs: dict[str, np.ndarray],
    threshold: float,
    per_kind: int = 4,
    labels: np.ndarray | None = None,
) -> dict[str, list[int]]:
    """Pick pair positions for the examples, by how the model scored them.

    Args:
        pairs: ``pair_scores`` output (``scores``: similarity, higher = more alike).
        threshold: scores at or above it are called "same".
        per_kind: pairs per kind.
        labels: the classes of the items the pairs index; given, each kind first takes one
            pair per class pair (variety), then fills up with the next most extreme.

    Returns:
        Positions into the pair arrays for ``correct_same`` (most confident correct same-class),
        ``correct_different``, ``false_reject`` (same-class pairs scored lowest, wrongly called
        different) and ``false_accept`` (different-class pairs scored highest, wrongly called same).
    """
    scores, same = pairs["scores"], pairs["same"]
    called_same = scores >= threshold
    order = np.argsort(-scores, kind="stable")  # most alike first

    key = np.minimum(pairs["left"], pairs["right"]) * (len(scores) + 1) + np.maximum(
        pairs["left"], pairs["right"]
    )  # one id per unordered item pair: pairs drawn twice are shown once

    if labels is not None:
        la, lb = labels[pairs["left"]], labels[pairs["right"]]
        n_cls = int(labels.max()) + 1
        class_pair = np.minimum(la, lb) * n_cls + np.maximum(la, lb)
    else:
        class_pair = np.zeros(len(scores), dtype=np.int64)

    def take(mask: np.ndarray, most_alike_first: bool) -> list[int]:
        picked: list[int] = []
        seen: set[int] = set()
        ranked = [int(i) for i in (order if most_alike_first else order[::-1]) if mask[i]]
        for distinct in (labels is not None, False):  # one per class pair first, then any
            classes: set[int] = set()
            for i in ranked:
                if len(picked) == per_kind:
                    return picked
                if int(key[i]) in seen or (distinct and int(class_pair[i]) in classes):
                    continue
                seen.add(int(key[i]))
                classes.add(int(class_pair[i]))
                picked.append(i)
        return picked

    return {
        "correct_same": take(same & called_same, True),
        "correct_different": take(~same & ~called_same, False),
        "false_reject": take(same & ~called_same, False),
        "false_accept": take(~same & called_same, True),
    }
