"""Omniglot: the ``.npz`` arrays, the ``<alphabet>/<character>/*.png`` layout, the official 20 runs.

Pixel convention: **ink is bright** (255) on a dark background (0). The original files store paper
as white (PNG) or ``True`` (``.npz``), so every reader here inverts by default (``invert = true``);
set ``invert = false`` to keep the files' polarity.

Protocol split: background characters are ``"train"``, evaluation characters ``"test"`` (30 vs 20
alphabets, so no alphabet is in both).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from siamese._read import decode_utf8, read_text
from siamese.data._reader_utils import existing_path, image_size, natural_key
from siamese.data._sources import check_files, register_source
from siamese.data.array_files import load_npz
from siamese.data.image_file_store import ImageFileStore
from siamese.data.image_prep import check_margin, crop_to_ink
from siamese.data.item_store import ArrayStore
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError, DataError

PARTS = {"background": "train", "evaluation": "test"}


@dataclass
class OneShotRun:
    """One N-way one-shot task: classify each query image as one of the support images.

    Attributes:
        name: the run's name, e.g. ``"run01"``.
        support: ``(N, C, H, W)`` uint8, one image per class ("training" images of the run).
        support_names: the ``N`` class names (the support files' names, e.g. ``"class08"``).
        query: ``(Q, C, H, W)`` uint8 ("test" images of the run).
        answers: ``(Q,)`` int64: the index into ``support`` of each query's correct class.
        sources: where each support image, then each query image, came from.
    """

    name: str
    support: np.ndarray
    support_names: list[str]
    query: np.ndarray
    answers: np.ndarray
    sources: list[str]


@register_source("omniglot")
def read_omniglot(
    path: str,
    parts: list[str] | None = None,
    size: int | list[int] | None = None,
    invert: bool = True,
    limit_classes: int | None = None,
    ink_crop: float | None = None,
) -> LabeledDataset:
    """Read Omniglot characters; each character (drawn by 20 people) is one class.

    Args:
        path: an ``images_*.npz`` file, an ``images_*.zip`` file or folder in the
            ``<alphabet>/<character>/*.png`` layout, or a folder holding ``images_background``
            and ``images_evaluation`` as ``.npz``, ``.zip`` or folders (``.npz`` preferred).
        parts: with a folder of parts, which to read: ``["background"]``, ``["evaluation"]`` or
            both (the default: every part present).
        size: resize to ``size`` x ``size`` (e.g. 28); default keeps 105x105.
        invert: make ink bright (255) on dark paper (0); see the module docstring.
        limit_classes: read only the first this many characters of each part (quick looks, tests).
        ink_crop: crop each drawing to the square around its ink, with this margin (e.g. 0.1),
            before resizing (``siamese.data.ink_crop``); default keeps the whole canvas.

    Returns:
        A ``LabeledDataset`` of kind ``"image"``, items ``(1, H, W)`` uint8, class names
        ``"<alphabet>/<character>"`` (layout) or ``"<part>/<number>"`` (``.npz``, which stores no
        names); ``split`` = train (background) / test (evaluation) when the part is known.

    Raises:
        DataError: missing path, a file of another layout, no images found.
        ConfigError: unknown part names, bad ``size`` or ``ink_crop``.
    """
    root = existing_path(path, "Omniglot path")
    prep = _Prep(image_size(size), invert, check_margin(ink_crop))
    unknown = sorted(set(parts or []) - set(PARTS))
    if unknown:
        raise ConfigError(f"parts: unknown {unknown}; valid parts: {', '.join(PARTS)}")
    found = _find_parts(root, parts)
    pieces = [_read_part(p, part, prep, limit_classes) for part, p in found]
    if len(pieces) == 1:
        return pieces[0]
    return _concat(pieces)


def _find_parts(root: Path, parts: list[str] | None) -> list[tuple[str | None, Path]]:
    """``(part name or None, file or folder)`` for each piece to read."""
    if root.is_file() or not parts and not any(root.glob("images_*")):
        return [(_part_of(root.name), root)]
    found = []
    for part in parts or list(PARTS):
        candidates = [
            root / f"images_{part}.npz",
            root / f"images_{part}.zip",
            root / f"images_{part}",
        ]
        hit = next((c for c in candidates if c.exists()), None)
        if hit is None and parts:
            raise DataError(
                f"{root}: no Omniglot {part} part found; expected one of "
                f"{', '.join(c.name for c in candidates)}"
            )
        if hit is not None:
            found.append((part, hit))
    if not found:
        raise DataError(
            f"{root}: no images_background/images_evaluation .npz, .zip or folder found"
        )
    return found


def _part_of(name: str) -> str | None:
    return next((p for p in PARTS if p in name.lower()), None)


class _Prep(NamedTuple):
    """How every image is prepared: resized to ``shape``, inverted, cropped to its ink."""

    shape: tuple[int, int] | None
    invert: bool
    ink_crop: float | None

    def meta(self) -> dict[str, Any]:
        """``meta["image"]``: what a saved model applies to the image files it reads."""
        return {"invert": self.invert, "ink_crop": self.ink_crop}


def _read_part(path: Path, part: str | None, prep: _Prep, limit: int | None) -> LabeledDataset:
    if path.suffix == ".npz":
        return _read_npz(path, part, prep, limit)
    files, archive = _layout_files(path)
    classes = sorted({_class_of(f) for f in files}, key=natural_key)[:limit]
    keep = set(classes)
    files = [f for f in files if _class_of(f) in keep]
    class_id = {c: k for k, c in enumerate(classes)}
    store = ImageFileStore(
        files,
        grayscale=True,
        size=prep.shape,
        invert=prep.invert,
        ink_crop=prep.ink_crop,
        archive=archive,
    )
    split = None if part is None else np.full(len(files), PARTS[part], dtype=object)
    return LabeledDataset(
        items=store,
        labels=np.array([class_id[_class_of(f)] for f in files], dtype=np.int64),
        class_names=classes,
        sources=[store.describe_file(i) for i in range(len(files))],
        kind="image",
        split=split,
        meta=_meta(part, prep),
    )


def _meta(part: str | None, prep: _Prep) -> dict[str, Any]:
    return {
        "protocol": "omniglot-background-evaluation",
        "parts": [part],
        "ink": _ink(prep.invert),
        "image": prep.meta(),
    }


def _layout_files(path: Path) -> tuple[list[str], Path | None]:
    """PNG files two levels below ``path`` (a zip or a folder), in natural order."""
    if path.is_dir():
        files = [str(p) for p in path.rglob("*.png")]
        archive = None
    else:
        try:
            with zipfile.ZipFile(path) as z:
                files = [m for m in z.namelist() if m.lower().endswith(".png")]
        except (OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: cannot open as a zip archive ({exc})") from exc
        archive = path
    files = [f for f in files if len(Path(f).parts) >= 3]
    if not files:
        raise DataError(
            f"{path}: no .png images in the <alphabet>/<character>/<image>.png layout found"
        )
    return sorted(files, key=natural_key), archive


def _class_of(file: str) -> str:
    parts = Path(file).parts
    return f"{parts[-3]}/{parts[-2]}"


def _read_npz(path: Path, part: str | None, prep: _Prep, limit: int | None) -> LabeledDataset:
    arrays = load_npz(path)
    if "images" not in arrays or "labels" not in arrays:
        raise DataError(
            f"{path}: expected arrays 'images' and 'labels' in the .npz, found "
            f"{', '.join(arrays) or 'none'}"
        )
    images, labels = arrays.pop("images"), arrays.pop("labels")
    if images.ndim != 4 or labels.shape != images.shape[:2]:
        raise DataError(
            f"{path}: expected images (classes, drawings, H, W) and labels (classes, drawings), "
            f"got {images.shape} and {labels.shape}"
        )
    images, labels = images[:limit], labels[:limit]
    n_cls, n_draw = labels.shape
    x = images.reshape(n_cls * n_draw, 1, *images.shape[2:]).astype(np.uint8)  # (N, 1, H, W)
    del images  # in place from here: Omniglot is 1,623 x 20 images of 105 x 105
    if prep.invert:
        np.subtract(1, x, out=x)
    np.multiply(x, 255, out=x)
    if prep.ink_crop is not None:
        x = np.stack([_crop(img[0], prep.ink_crop, prep.shape) for img in x])[:, None]
    elif prep.shape is not None and tuple(x.shape[2:]) != prep.shape:
        x = np.stack([_resize(img[0], prep.shape) for img in x])[:, None]
    ids, flat = np.unique(labels.reshape(-1), return_inverse=True)
    name = part or path.stem
    return LabeledDataset(
        items=ArrayStore(x),
        labels=flat,
        class_names=[f"{name}/{int(c):04d}" for c in ids],
        sources=[f"{path}:images[{c},{d}]" for c in range(n_cls) for d in range(n_draw)],
        kind="image",
        split=None if part is None else np.full(len(x), PARTS[part], dtype=object),
        meta=_meta(part, prep),
    )


def _crop(img: np.ndarray, margin: float, shape: tuple[int, int] | None) -> np.ndarray:
    return np.asarray(crop_to_ink(Image.fromarray(img), margin, shape), dtype=np.uint8)


def _resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    im = Image.fromarray(img).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def _ink(invert: bool) -> str:
    return "bright (255) on dark paper (0)" if invert else "dark (0) on white paper (255)"


def _concat(pieces: list[LabeledDataset]) -> LabeledDataset:
    """One dataset from several parts (labels offset so classes stay distinct)."""
    stores = [p.items for p in pieces]
    if all(isinstance(s, ImageFileStore) for s in stores):
        items: Any = ImageFileStore(
            [f for s in stores for f in s.files],
            grayscale=True,
            size=stores[0].size,
            invert=stores[0].invert,
            ink_crop=stores[0].ink_crop,
            archive=[a for s in stores for a in s.archives],
        )
    else:  # at least one .npz part: decode the others and keep one array
        arrays = [
            s.array if isinstance(s, ArrayStore) else s.load(np.arange(len(s))) for s in stores
        ]
        items = np.concatenate(arrays)
        del arrays
    offsets = np.cumsum([0] + [len(p.class_names) for p in pieces])
    return LabeledDataset(
        items=items,
        labels=np.concatenate([p.labels + o for p, o in zip(pieces, offsets[:-1], strict=True)]),
        class_names=[c for p in pieces for c in p.class_names],
        sources=[s for p in pieces for s in p.sources],
        kind="image",
        split=np.concatenate([p.split for p in pieces])
        if all(p.split is not None for p in pieces)
        else None,
        meta={**pieces[0].meta, "parts": [p.meta["parts"][0] for p in pieces]},
    )


def load_omniglot_runs(
    path: str | Path,
    size: int | list[int] | None = None,
    invert: bool = True,
    ink_crop: float | None = None,
) -> list[OneShotRun]:
    """Read the official 20-way one-shot benchmark (Lake et al. 2015) from ``all_runs.zip``.

    Each ``runNN/`` holds ``training/classNN.png`` (one image per class), ``test/itemNN.png`` and
    ``class_labels.txt`` with lines ``runNN/test/itemNN.png runNN/training/classMM.png``.

    Args:
        path: ``all_runs.zip`` or the folder it unpacks to.
        size: resize to ``size`` x ``size``; default keeps 105x105.
        invert: make ink bright, as ``read_omniglot`` does (use the same setting for both).
        ink_crop: crop to the ink, as ``read_omniglot`` does (use the same setting for both).

    Returns:
        The runs in order (20 for the official file), each a ``OneShotRun``.

    Raises:
        DataError: missing path, a run without ``class_labels.txt``, a malformed line, or a
            line naming a file that is not in the run.
    """
    root = existing_path(path, "Omniglot runs")
    archive = root if root.is_file() else None
    if archive is not None:
        try:
            with zipfile.ZipFile(root) as z:
                names = z.namelist()
                labels = {
                    n: decode_utf8(z.read(n), f"{root}/{n}")
                    for n in names
                    if n.endswith("class_labels.txt")
                }
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{root}: cannot open as a zip archive ({exc})") from None
    else:
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
        labels = {
            n: read_text(root / n, "Omniglot class_labels.txt")
            for n in names
            if n.endswith("class_labels.txt")
        }
    if not labels:
        raise DataError(f"{root}: no runNN/class_labels.txt found; is this all_runs.zip?")
    shape, present = image_size(size), set(names)
    runs = []
    for label_file in sorted(labels, key=natural_key):
        run_dir = label_file.rsplit("/", 1)[0] if "/" in label_file else ""
        support = sorted(
            (n for n in names if n.startswith(f"{run_dir}/training/") and n.endswith(".png")),
            key=natural_key,
        )
        queries, answers = [], []
        for k, line in enumerate(labels[label_file].splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[0] not in present or fields[1] not in support:
                raise DataError(
                    f"{root}/{label_file}, line {k}: expected '<test image> <training image>' naming "
                    f"two files of the run, got {line.strip()!r}"
                )
            queries.append(fields[0])
            answers.append(support.index(fields[1]))
        files = support + queries
        store = ImageFileStore(
            files if archive else [str(root / f) for f in files],
            grayscale=True,
            size=shape,
            invert=invert,
            ink_crop=check_margin(ink_crop),
            archive=archive,
        )
        check_files(store)
        x = store.load(np.arange(len(files)))  # (N + Q, 1, H, W)
        runs.append(
            OneShotRun(
                name=run_dir or root.name,
                support=x[: len(support)],
                support_names=[Path(f).stem for f in support],
                query=x[len(support) :],
                answers=np.array(answers, dtype=np.int64),
                sources=[store.describe_file(i) for i in range(len(files))],
            )
        )
    return runs
