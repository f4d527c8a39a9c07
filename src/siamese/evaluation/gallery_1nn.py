"""1-NN accuracy of test items against a gallery of the training items (the standard UCR figure)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import DataError
from siamese.evaluation.one_shot import classify_by_nearest


def gallery_1nn_accuracy(
    model: Any,
    gallery: list[LabeledDataset],
    test: LabeledDataset,
    *,
    seed: int = 0,
    chunk: int = 1024,
) -> dict[str, Any]:
    """Label every test item by its nearest gallery item in the model's embedding.

    A tie for the nearest class counts as a miss (as in the N-way episodes), so a collapsed model
    scores 0, not the share of the largest class.

    Args:
        model: a ``SiameseModel``.
        gallery: the parts whose items form the gallery (a protocol's train and validation parts).
        test: the test part; its classes must all occur in the gallery.
        seed: seeds the order in which tied classes are visited.
        chunk: test items compared with the whole gallery at a time.

    Returns:
        ``{"gallery_1nn_accuracy", "gallery_items", "gallery_1nn_test_items"}``.

    Raises:
        DataError: an empty gallery or test part, or a test class the gallery lacks.
    """
    parts = [g for g in gallery if len(g)]
    if not parts or not len(test):
        raise DataError("gallery 1-NN: needs a non-empty gallery (train) and test part")
    g_labels = np.concatenate([g.labels for g in parts])  # (N,)
    missing = np.setdiff1d(test.labels, g_labels)
    if missing.size:
        names = ", ".join(str(test.class_names[c]) for c in missing[:5])
        raise DataError(
            f"gallery 1-NN: test classes {names} have no gallery (train) item; 1-NN against the "
            "training items needs a split whose test classes occur in train (split = 'protocol')"
        )
    g_emb = torch.as_tensor(np.concatenate([model.embed_dataset(g) for g in parts]))  # (N, D)
    t_emb = torch.as_tensor(model.embed_dataset(test))  # (Q, D)
    rng = np.random.default_rng(seed)
    pred = np.concatenate(
        [
            classify_by_nearest(t_emb[i : i + chunk], g_emb, g_labels, model.distance, rng)
            for i in range(0, len(t_emb), chunk)
        ]
    )
    return {
        "gallery_1nn_accuracy": float((pred == test.labels).mean()),
        "gallery_items": int(len(g_labels)),
        "gallery_1nn_test_items": int(len(test)),
    }
