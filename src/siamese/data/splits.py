"""Class-disjoint splits: evaluation classes are never seen in training."""

from __future__ import annotations

import numpy as np

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError


def class_disjoint_split(
    dataset: LabeledDataset,
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> dict[str, LabeledDataset]:
    """Split a dataset into train/val/test by class, so no class appears in two parts.

    Args:
        dataset: the data to split.
        val_fraction: share of classes for validation (at least one class if > 0).
        test_fraction: share of classes for test (at least one class if > 0).
        seed: drives the shuffle of class ids.

    Returns:
        ``{"train": ..., "val": ..., "test": ...}``; a part with fraction 0 is left out. Labels
        keep the dataset's numbering, so class names stay valid in every part.

    Raises:
        ConfigError: fractions outside [0, 1) or leaving no class for training.
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ConfigError(f"{name}: expected a fraction in [0, 1), got {f}")
    classes = np.unique(dataset.labels)
    rng = np.random.default_rng(seed)
    classes = classes[rng.permutation(len(classes))]
    n_val = _count(val_fraction, len(classes))
    n_test = _count(test_fraction, len(classes))
    if n_val + n_test >= len(classes):
        raise ConfigError(
            f"split: val_fraction={val_fraction} and test_fraction={test_fraction} leave no class "
            f"for training out of {len(classes)}; lower them"
        )
    parts = {"val": classes[:n_val], "test": classes[n_val : n_val + n_test]}
    parts["train"] = classes[n_val + n_test :]
    out = {"train": dataset.with_classes(parts["train"])}
    for name in ("val", "test"):
        if len(parts[name]):
            out[name] = dataset.with_classes(parts[name])
    return out


def protocol_split(dataset: LabeledDataset) -> dict[str, LabeledDataset]:
    """Split by the ``split`` column a reader set from the data's own protocol."""
    if dataset.split is None:
        raise ConfigError("split: this dataset defines no protocol split; use split = 'classes'")
    return {
        name: dataset.subset(np.flatnonzero(dataset.split == name))
        for name in ("train", "val", "test")
        if (dataset.split == name).any()
    }


def _count(fraction: float, n: int) -> int:
    return 0 if fraction == 0 else max(1, int(round(fraction * n)))
