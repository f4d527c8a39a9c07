"""Arrays: items and labels in ``.npy``/``.npz`` files (never unpickled: ``allow_pickle=False``).

Layouts read:

* ``.npz`` with an items array and a labels array (keys chosen by ``items_key``/``labels_key``,
  found among common names when not given), optionally a ``class_names`` array;
* ``.npy`` items with a separate ``.npy`` of labels (``labels`` option).

Labels may be integers or strings. Leading dimensions shared by items and labels are flattened
(Omniglot's ``images (classes, drawings, H, W)`` with ``labels (classes, drawings)`` works as is).
The kind is inferred unless given: ``uint8``/``bool`` arrays of 2-D items (``(N, H, W)``, or
``(N, C, H, W)``/``(N, H, W, C)`` with 1 or 3 channels) are images (bool -> 0/255; channels-last is
moved first), other 2-D items are sequences ``(T, F)`` and 1-D items vectors. Non-uint8 images
with values in [0, 1] are scaled by 255, in [0, 255] rounded. Sequences and vectors become float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from siamese._read import existing_file
from siamese.data._sources import register_source
from siamese.data.array_files import load_npy, load_npz
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError, DataError

ITEM_KEYS = ("items", "x", "X", "images", "data", "features")
LABEL_KEYS = ("labels", "y", "Y", "targets", "label")
KINDS = ("image", "sequence", "vector")


def _load(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` by name, or ``{"": array}`` for a ``.npy`` (headers checked)."""
    if path.suffix == ".npz":
        return load_npz(path)
    return {"": load_npy(path)}


def _pick(
    arrays: dict[str, np.ndarray],
    key: str | None,
    candidates: tuple[str, ...],
    what: str,
    path: Path,
) -> np.ndarray:
    if key is None:
        key = next((k for k in candidates if k in arrays), None)
        if key is None:
            raise DataError(
                f"{path}: no {what} array found among {', '.join(candidates)}; the file holds "
                f"{', '.join(arrays) or 'no arrays'}: set {what}_key"
            )
    if key not in arrays:
        raise DataError(
            f"{path}: {what}_key {key!r} does not exist; the file holds {', '.join(arrays)}"
        )
    return arrays[key]


@register_source("arrays")
def read_arrays(
    path: str,
    labels: str | None = None,
    items_key: str | None = None,
    labels_key: str | None = None,
    class_names_key: str | None = None,
    kind: str | None = None,
) -> LabeledDataset:
    """Read items and labels from ``.npy``/``.npz`` arrays.

    Args:
        path: an ``.npz`` file, or an ``.npy`` file of items.
        labels: for an ``.npy`` of items: the ``.npy`` of labels.
        items_key: the items array in an ``.npz`` (default: the first of ``ITEM_KEYS`` present).
        labels_key: the labels array (default: the first of ``LABEL_KEYS`` present).
        class_names_key: an array of class names indexed by the integer labels.
        kind: ``"image"``, ``"sequence"`` or ``"vector"`` (default: inferred, see above).

    Returns:
        A ``LabeledDataset`` held in memory (images stay uint8), sources ``file[index]``.

    Raises:
        DataError: missing, folder or unreadable file, a header claiming more data than the
            file holds, object (pickled) arrays, missing key (lists the keys there are), labels
            that do not match the items, NaN or infinite values.
        TooLargeError: arrays that would not fit in this machine's memory.
        ConfigError: unknown ``kind``.
    """
    file = existing_file(path, "array file")
    arrays = _load(file)
    if file.suffix == ".npz":
        x = _pick(arrays, items_key, ITEM_KEYS, "items", file)
        y = _pick(arrays, labels_key, LABEL_KEYS, "labels", file)
    else:
        if labels is None:
            raise DataError(
                f"{file}: an .npy file holds only items; set labels = <labels .npy file>"
            )
        x = arrays[""]
        y = _load(existing_file(labels, "labels file")).get("", np.empty(0))
    if y.ndim >= 1 and x.shape[: y.ndim] == y.shape and y.ndim > 1:
        x = x.reshape(-1, *x.shape[y.ndim :])
        y = y.reshape(-1)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"{file}: labels of shape {y.shape} do not match items of shape {x.shape}; expected "
            "one label per item"
        )
    names = None
    if y.dtype.kind in "iub":
        class_ids, y = np.unique(y, return_inverse=True)
        if class_names_key is not None:
            table = _pick(arrays, class_names_key, (), "class_names", file)
            if class_ids.max(initial=0) >= len(table) or class_ids.min(initial=0) < 0:
                raise DataError(f"{file}: labels range beyond the {len(table)} class names")
            names = [str(table[c]) for c in class_ids]
        else:
            names = [str(c) for c in class_ids]
    elif y.dtype.kind in "US":
        uniques, y = np.unique(y, return_inverse=True)
        names = [str(s) for s in uniques]
    else:
        raise DataError(f"{file}: labels must be integers or strings, got dtype {y.dtype}")
    x, kind = _as_kind(file, x, kind)
    return LabeledDataset(
        items=x,
        labels=y,
        class_names=names,
        sources=[f"{file}[{i}]" for i in range(len(x))],
        kind=kind,
        meta={"file": str(file)},
    )


def _as_kind(file: Path, x: np.ndarray, kind: str | None) -> tuple[np.ndarray, str]:
    """Items converted to the conventions of their kind."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if x.dtype == bool:
        x = x.astype(np.uint8) * 255
    if x.dtype.kind not in "uif":
        raise DataError(f"{file}: items must be numbers, got dtype {x.dtype}")
    if kind is None:
        looks_image = x.dtype == np.uint8 and x.ndim in (3, 4)
        kind = "image" if looks_image else {2: "vector", 3: "sequence"}.get(x.ndim, "")
        if not kind:
            raise DataError(
                f"{file}: cannot tell the kind of items of shape {x.shape[1:]}; set kind"
            )
    if kind == "image":
        if x.ndim == 3:
            x = x[:, None]  # (N, 1, H, W)
        elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DataError(
                f"{file}: image items must be (H, W) or (C, H, W) with C in 1, 3; got {x.shape[1:]}"
            )
        if x.dtype != np.uint8:
            lo, hi = float(x.min(initial=0)), float(x.max(initial=0))
            if lo < 0 or hi > 255 or not np.isfinite(x).all():
                raise DataError(
                    f"{file}: image values must be in [0, 1] or [0, 255], got [{lo}, {hi}]"
                )
            x = np.rint(x * (255.0 if hi <= 1.0 else 1.0)).astype(np.uint8)
        return np.ascontiguousarray(x), kind
    x = x.astype(np.float32)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        raise DataError(
            f"{file}: item {bad[0][0]} holds a NaN or infinite value at {tuple(bad[0][1:].tolist())} "
            f"({len(bad)} such values in all); fill them before training"
        )
    want = {"sequence": 3, "vector": 2}[kind]
    if x.ndim != want:
        raise DataError(
            f"{file}: {kind} items must have {want - 1} dimension(s), got shape {x.shape[1:]}"
        )
    return x, kind
