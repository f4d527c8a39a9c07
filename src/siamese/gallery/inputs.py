"""Turn files and JSON payloads into items shaped as the model expects (shared by CLI and service).

What a model eats is read from its ``model.json``: ``info.kind`` (``image``/``sequence``/``vector``)
and ``info.item_shape`` (``(C, H, W)`` uint8 for images, ``(T, F)`` for sequences, ``(D,)`` for
vectors), falling back to the encoder's ``input_shape``. Accepted forms:

* image: an image file or its bytes (anything Pillow reads); converted to grayscale (``C == 1``) or
  RGB (``C == 3``) and resized to ``(W, H)``; or nested lists of shape ``item_shape``.
* sequence: ``.npy`` ``(T, F)`` (or ``(T,)`` when ``F == 1``), ``.csv`` (one row per time step,
  one column per feature, an optional header row) or nested lists. A shorter series is zero-padded
  with its true length passed on when the encoder takes lengths (LSTM), else it is an error.
* vector: ``.npy`` ``(D,)``, ``.csv`` (one row or one column of D numbers) or a list of D numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import decode_utf8, read_bytes
from siamese.data._sources import LISTED
from siamese.data.array_files import load_npy
from siamese.data.image_open import MAX_FILE_BYTES, MAX_PIXELS, open_image
from siamese.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ItemSpec:
    """What one item of a model looks like.

    Attributes:
        kind: ``"image"``, ``"sequence"`` or ``"vector"``.
        shape: the item shape the encoder takes.
        dtype: the item dtype (uint8 for images, float32 otherwise, unless ``info.dtype`` says).
        takes_lengths: the encoder accepts true lengths of padded sequences.
        image: how the model's training images were prepared from their files (``info.image``:
            ``invert``, ``ink_crop``, ``center_crop``); image files get the same.
    """

    kind: str
    shape: tuple[int, ...]
    dtype: str
    takes_lengths: bool = False
    image: dict[str, Any] | None = None

    @classmethod
    def of(cls, model: Any) -> ItemSpec:
        """The spec of a ``SiameseModel`` from its ``info`` (or its encoder's ``input_shape``).

        Raises:
            ConfigError: the model records neither ``info.item_shape`` nor an ``input_shape``.
        """
        info = getattr(model, "info", {}) or {}
        shape = info.get("item_shape") or getattr(model, "encoder_args", {}).get("input_shape")
        if not shape:
            raise ConfigError(
                "model.json: expected info.item_shape (or encoder.args.input_shape) to know what "
                "an item looks like; re-save the model with info={'kind': ..., 'item_shape': ...}"
            )
        shape = tuple(int(s) for s in shape)
        kind = info.get("kind") or _guess_kind(getattr(model, "encoder_name", None), shape)
        dtype = (
            info.get("item_dtype")
            or info.get("dtype")
            or ("uint8" if kind == "image" else "float32")
        )
        takes_lengths = bool(getattr(model, "accepts_lengths", False))
        return cls(kind, shape, str(dtype), takes_lengths, info.get("image"))

    def describe(self) -> str:
        """For error messages: ``an image item of shape (1, 105, 105)``."""
        article = "an" if self.kind == "image" else "a"
        return f"{article} {self.kind} item of shape {self.shape}"


def load_file(
    path: str | Path, spec: ItemSpec, *, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, int | None]:
    """Read one item from a file (``.npy``, ``.csv`` or an image).

    Returns:
        ``(item, length)``: the item in ``spec.shape`` and its true length (sequences) or None.

    Raises:
        DataError: missing file or a folder, a file over ``MAX_FILE_BYTES``, unreadable or
            corrupt contents, or contents that do not fit ``spec``.
        TooLargeError: an image over ``max_pixels`` or an array too large for memory.
    """
    if not Path(path).exists():
        raise DataError(f"{path}: no such file")
    data = read_bytes(path, "item file", max_bytes=MAX_FILE_BYTES)
    return from_bytes(data, Path(path).name, spec, where=str(path), max_pixels=max_pixels)


def from_bytes(
    data: bytes,
    filename: str,
    spec: ItemSpec,
    *,
    where: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[np.ndarray, int | None]:
    """One item from a file's bytes; the suffix of ``filename`` picks the format (as ``load_file``).

    Raises:
        DataError: unreadable contents (a ``.npy`` header claiming more data than there are,
            a ``.csv`` that is not UTF-8), or contents that do not fit ``spec``.
        TooLargeError: an image over ``max_pixels``.
    """
    where = where or filename
    suffix = Path(filename).suffix.lower()
    if suffix == ".npy":
        return from_values(load_npy(data, where), spec, where=where)
    if suffix == ".csv":
        return from_values(_read_csv(decode_utf8(data, where), where), spec, where=where)
    if spec.kind == "image":
        return from_image_bytes(data, spec, where=where, max_pixels=max_pixels), None
    raise DataError(f"{where}: expected a .npy or .csv file for {spec.describe()}")


def from_image_bytes(
    data: bytes, spec: ItemSpec, *, where: str = "image", max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Decode an encoded image (PNG, JPEG, ...) and fit it to ``spec`` (mode and size).

    The image is prepared as the model's training images were (``spec.image``: central crop,
    ink crop, inversion; ``siamese.data.image_prep``).

    Raises:
        DataError: the bytes are not an image (empty, truncated, corrupt), or the model does
            not take images.
        TooLargeError: the image declares more than ``max_pixels`` pixels (checked from its
            header, before decoding).
    """
    from siamese.data.image_prep import prepare_image

    if spec.kind != "image":
        raise DataError(f"{where}: got an image but the model takes {spec.describe()}")
    channels, height, width = _image_dims(spec.shape)
    with open_image(data, where, max_pixels=max_pixels) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        arr = np.asarray(prepare_image(img, spec.image, (height, width), where))  # (H, W[, 3])
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)
    arr = arr.reshape(spec.shape)
    if spec.dtype == "bool":
        return arr > 127
    return arr.astype(spec.dtype)


def from_values(
    values: Any, spec: ItemSpec, *, where: str = "values"
) -> tuple[np.ndarray, int | None]:
    """An item from numbers (a NumPy array or nested JSON lists).

    Returns:
        ``(item, length)`` as in ``load_file``.

    Raises:
        DataError: not numeric, or a shape that does not fit ``spec``.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: expected numbers for {spec.describe()}") from None
    if not np.isfinite(arr).all():
        raise DataError(f"{where}: expected finite numbers, got NaN or infinity")
    length = None
    if spec.kind == "sequence":
        arr, length = _fit_sequence(arr, spec, where)
    elif spec.kind == "vector" and arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)  # a one-row or one-column csv
    if arr.shape != spec.shape:
        raise DataError(f"{where}: expected {spec.describe()}, got shape {tuple(arr.shape)}")
    return arr.astype(spec.dtype), length


def stack(
    items: list[tuple[np.ndarray, int | None]], spec: ItemSpec
) -> tuple[np.ndarray, np.ndarray | None]:
    """Stack loaded items into a batch ``(N, *shape)`` and their lengths ``(N,)`` (or None)."""
    if not items:
        return np.zeros((0, *spec.shape), dtype=spec.dtype), None
    batch = np.stack([x for x, _ in items])
    if not spec.takes_lengths or all(n is None for _, n in items):
        return batch, None
    full = spec.shape[0]
    return batch, np.array([full if n is None else n for _, n in items], dtype=np.int64)


def check_batch(items: np.ndarray, spec: ItemSpec, what: str = "items") -> np.ndarray:
    """Check a batch ``(N, *shape)`` against ``spec``.

    Raises:
        DataError: wrong shape or not numeric.
    """
    arr = np.asarray(items)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if arr.shape[1:] != spec.shape:
        raise DataError(
            f"{what}: expected a batch of shape (N, {', '.join(map(str, spec.shape))}) "
            f"({spec.describe()}), got {tuple(arr.shape)}"
        )
    return arr


def load_folder(
    folder: str | Path, spec: ItemSpec
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a folder of class subfolders (``folder/<class name>/<file>``).

    Returns:
        ``(items, lengths, labels)``: the stacked batch, lengths or None, and one class name per item.

    Raises:
        DataError: the folder is missing, has no class subfolders, or holds unreadable files
            (all of them counted, the first ``LISTED`` named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "no such folder"
        raise DataError(f"{folder}: {what} (expected a folder with one subfolder per class)")
    loaded: list[tuple[np.ndarray, int | None]] = []
    labels: list[str] = []
    bad: list[str] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(p for p in sub.iterdir() if p.is_file() and not p.name.startswith(".")):
            try:
                loaded.append(load_file(f, spec))
            except DataError as exc:  # every bad file is listed at once
                bad.append(str(exc))
                continue
            labels.append(sub.name)
    if bad:
        shown = "; ".join(bad[:LISTED]) + (
            f"; and {len(bad) - LISTED} more" if len(bad) > LISTED else ""
        )
        raise DataError(
            f"{len(bad)} of {len(bad) + len(loaded)} file(s) in {folder} cannot be used: {shown}; "
            "replace or remove them"
        )
    if not loaded:
        raise DataError(f"{folder}: expected class subfolders holding item files, found none")
    items, lengths = stack(loaded, spec)
    return items, lengths, labels


def _fit_sequence(arr: np.ndarray, spec: ItemSpec, where: str) -> tuple[np.ndarray, int]:
    steps, feats = spec.shape
    if arr.ndim == 1 and feats == 1:
        arr = arr[:, None]  # (T,) -> (T, 1)
    if arr.ndim != 2 or arr.shape[1] != feats:
        raise DataError(
            f"{where}: expected a series of shape (T, {feats}) (one row per time step), "
            f"got {tuple(arr.shape)}"
        )
    n = arr.shape[0]
    if n > steps or n == 0:
        raise DataError(f"{where}: expected 1 to {steps} time steps, got {n}")
    if n < steps:
        if not spec.takes_lengths:
            raise DataError(
                f"{where}: expected exactly {steps} time steps (this encoder takes no lengths), got {n}"
            )
        arr = np.concatenate([arr, np.zeros((steps - n, feats))])  # zero-padded (T, F)
    return arr, n


def _read_csv(text: str, where: str) -> np.ndarray:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    rows: list[list[float]] = []
    for i, line in enumerate(lines, start=1):
        try:
            rows.append([float(v) for v in line.split(",")])
        except ValueError:
            if i == 1:
                continue  # a header row
            raise DataError(
                f"{where}:{i}: expected comma-separated numbers, got {line[:60]!r}"
            ) from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise DataError(f"{where}: expected rows of equal numbers of comma-separated values")
    return np.array(rows)


def _image_dims(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3 and shape[0] in (1, 3):
        return shape[0], shape[1], shape[2]
    raise DataError(f"model item_shape {shape}: expected (H, W) or (C, H, W) with C = 1 or 3")


def _guess_kind(encoder_name: str | None, shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "vector"
    if encoder_name == "lstm" or len(shape) == 2 and encoder_name not in ("koch_cnn", "conv4"):
        return "sequence"
    return "image"


def label_names(labels: Sequence[Any], class_names: Sequence[str] | None, n: int) -> list[str]:
    """Class names of ``n`` labels: names as they are, or integer indices into ``class_names``.

    Raises:
        DataError: a count other than ``n``, or an index outside ``class_names``.
    """
    labels = list(np.asarray(labels).tolist()) if not isinstance(labels, list) else labels
    if len(labels) != n:
        raise DataError(f"labels: expected {n} labels (one per item), got {len(labels)}")
    if class_names is None:
        return [str(v) for v in labels]
    out = []
    for v in labels:
        if not isinstance(v, (int, np.integer)) or not 0 <= int(v) < len(class_names):
            raise DataError(
                f"labels: with class_names, expected integers in [0, {len(class_names)}), got {v!r}"
            )
        out.append(str(class_names[int(v)]))
    return out
