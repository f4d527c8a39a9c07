"""A run's data: read the source its config names and split it (class-disjoint, or the data's
own protocol with an optional validation part), the one place every reader of a run folder
(evaluation, the report, export, galleries) rebuilds the splits the run trained on."""

from __future__ import annotations

import dataclasses

import numpy as np

from siamese.data import (
    LabeledDataset,
    class_disjoint_split,
    load_source,
    protocol_split,
)
from siamese.data.augment import center_crop, rotated_classes
from siamese.errors import ConfigError, DataError
from siamese.training.config import RunConfig


def load_splits(cfg: RunConfig) -> tuple[LabeledDataset, dict[str, LabeledDataset], str]:
    """Read the data and split it; return (dataset, splits, a description of the split used).

    With ``data.rotated_classes``, each training class rotated by 90/180/270 degrees is added as
    a new class (validation and test classes are left as they are).
    """
    dataset, parts, how = _read_and_split(cfg)
    if cfg.data.rotated_classes:
        if dataset.kind != "image":
            raise ConfigError(f"data.rotated_classes: needs image data, got {dataset.kind!r} items")
        parts["train"] = rotated_classes(parts["train"])
        dataset = dataclasses.replace(dataset, class_names=parts["train"].class_names)
        how += "; training classes rotated by 90/180/270 degrees added as new classes"
    return dataset, parts, how


def _read_and_split(cfg: RunConfig) -> tuple[LabeledDataset, dict[str, LabeledDataset], str]:
    options = dict(cfg.data.options)
    size = options.pop("size", None) if cfg.data.crop else None  # resize after the crop
    dataset = load_source(cfg.data.source, **options)
    if cfg.data.crop:
        dataset = center_crop(dataset, cfg.data.crop, size)
    if len(dataset) == 0:
        raise DataError(f"data source {cfg.data.source!r} returned no items")
    if cfg.sampling.kind == "pair_list":
        return dataset, *pair_list_split(dataset, cfg.data.val_fraction, cfg.seed)
    if cfg.data.split == "protocol":
        parts = protocol_split(dataset)
        if "train" not in parts:
            raise ConfigError("data.split = 'protocol': the data's own split has no training part")
        if "val" not in parts and cfg.data.val_fraction > 0:
            train = parts["train"]
            shared = "test" in parts and np.intersect1d(train.labels, parts["test"].labels).size > 0
            # Items of the train classes (classification-style protocols such as UCR, where test
            # shares the classes) or whole classes (one-shot protocols) become the validation part.
            by_items = cfg.data.val_split == "items" or (cfg.data.val_split == "auto" and shared)
            if by_items:
                if cfg.data.val_fold >= 0:
                    folds = round(1 / cfg.data.val_fraction)
                    val_idx = stratified_fold(train.labels, folds, cfg.data.val_fold, cfg.seed)
                else:
                    val_idx = _stratified(train.labels, cfg.data.val_fraction, cfg.seed)
                keep = np.setdiff1d(np.arange(len(train)), val_idx)
                parts["val"], parts["train"] = train.subset(val_idx), train.subset(keep)
                how = "protocol (validation: items held out of train, stratified)"
            else:
                sub = class_disjoint_split(train, val_fraction=cfg.data.val_fraction, seed=cfg.seed)
                parts.update(sub)
                how = "protocol (validation: classes held out of train)"
        else:
            how = "protocol"
        return dataset, parts, f"{how}: {dataset.meta.get('protocol', 'the reader’s split')}"
    parts = class_disjoint_split(
        dataset,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        seed=cfg.seed,
    )
    ratio = f"val {cfg.data.val_fraction}, test {cfg.data.test_fraction}, seed {cfg.seed}"
    return dataset, parts, f"class-disjoint by ratio ({ratio})"


def pair_list_split(
    dataset: LabeledDataset, val_fraction: float, seed: int
) -> tuple[dict[str, LabeledDataset], str]:
    """``sampling.kind = "pair_list"``: the reader's training pairs, ``val_fraction`` of them
    (same and different pairs alike, drawn with the seed) held out for validation.

    The train and val parts hold the images of their pairs (an image in pairs of both is in
    both) with ``meta["pairs"]`` re-indexed to the part; the test part is the reader's.

    Raises:
        ConfigError: the reader lists no pairs, or no train/test split of its own.
    """
    pairs = dataset.meta.get("pairs")
    if pairs is None or dataset.split is None or not (dataset.split == "train").any():
        raise ConfigError(
            'sampling.kind = "pair_list": the data source lists no training pairs of its own; '
            'it needs a reader with pair files and a train/test split (source = "lfw" with '
            'pairs = "dev"), or another sampling.kind'
        )
    i, j, same = (np.asarray(pairs[k]) for k in ("i", "j", "same"))
    is_train = dataset.split == "train"
    listed = np.flatnonzero(is_train[i] & is_train[j])
    rng = np.random.default_rng([seed, 5])
    held = []
    for kind in (True, False):
        of_kind = listed[same[listed] == kind]
        held.append(
            rng.choice(of_kind, size=int(round(val_fraction * len(of_kind))), replace=False)
        )
    val_pairs = np.sort(np.concatenate(held)).astype(np.int64)
    train_pairs = np.setdiff1d(listed, val_pairs)
    parts = {"train": _pair_part(dataset, train_pairs)}
    if len(val_pairs):
        parts["val"] = _pair_part(dataset, val_pairs)
    if (dataset.split == "test").any():
        parts["test"] = dataset.subset(np.flatnonzero(dataset.split == "test"))
    how = (
        f"pair list: {len(train_pairs)} training pairs, {len(val_pairs)} held out for validation "
        f"(val_fraction {val_fraction}, seed {seed}) of the reader's {len(listed)} training pairs"
    )
    return parts, f"{how}: {dataset.meta.get('protocol', 'the reader’s split')}"


def _pair_part(dataset: LabeledDataset, chosen: np.ndarray) -> LabeledDataset:
    """The images of the pairs ``chosen`` with ``meta["pairs"]`` indexing them."""
    pairs = dataset.meta["pairs"]
    i, j = pairs["i"][chosen], pairs["j"][chosen]
    items = np.unique(np.concatenate([i, j]))
    part = dataset.subset(items)
    local = {
        "i": np.searchsorted(items, i),
        "j": np.searchsorted(items, j),
        "same": np.asarray(pairs["same"])[chosen],
        "fold": np.asarray(pairs["fold"])[chosen],
    }
    meta = {**part.meta, "pairs": local}
    if "item_fold" in meta:
        meta["item_fold"] = np.asarray(meta["item_fold"])[items]
    return dataclasses.replace(part, meta=meta)


def stratified_fold(labels: np.ndarray, folds: int, fold: int, seed: int) -> np.ndarray:
    """Positions of fold ``fold`` of ``folds``: each class's items, in a seeded order, dealt to
    the folds in turn (item ``j`` of a class to fold ``(j + offset) % folds``, the offset drawn
    per class so that small classes do not all fill fold 0), so every item is in exactly one fold
    and each fold holds about ``1 / folds`` of every class."""
    rng = np.random.default_rng([seed, 4])
    out = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        offset = int(rng.integers(folds))
        out.append(idx[(np.arange(len(idx)) + offset) % folds == fold])
    return np.sort(np.concatenate(out)).astype(np.int64)


def _stratified(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 3])
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = int(round(fraction * len(idx)))
        if 0 < n < len(idx):
            out.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(out)) if out else np.array([], dtype=np.int64)
