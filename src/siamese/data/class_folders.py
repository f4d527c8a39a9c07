"""Class folders: ``<root>/<class>/<image>``, one folder per class, images in any common format.

Every file Pillow can open by its extension counts (JPEG, PNG, PGM/PPM, BMP, TIFF, WebP, GIF, ...),
also in sub-folders of a class folder. Other files in class folders (``Thumbs.db``, notes) are not
images: they are listed in ``meta["ignored_files"]`` rather than dropped silently. Files directly in
the root (a README) belong to no class and are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from siamese.data._reader_utils import existing_path, image_size, natural_key
from siamese.data._sources import register_source
from siamese.data.image_file_store import ImageFileStore
from siamese.data.image_prep import check_margin
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import DataError


def image_extensions() -> set[str]:
    """File extensions (lower case, with the dot) that Pillow can open."""
    return {ext.lower() for ext in Image.registered_extensions()}


@register_source("folders")
def read_class_folders(
    path: str,
    grayscale: bool | None = None,
    size: int | list[int] | None = None,
    min_per_class: int = 1,
    ink_crop: float | None = None,
) -> LabeledDataset:
    """Read images from one folder per class (lazily: images are decoded when loaded).

    Args:
        path: the root folder; each sub-folder is a class, named after the folder.
        grayscale: one channel (``true``), RGB (``false``), or follow the first image (default).
        size: resize to ``size`` x ``size`` (or ``[height, width]``); required when the images
            differ in size.
        min_per_class: a class folder with fewer images is an error (e.g. 2 when every class
            needs a positive pair).
        ink_crop: crop each image to the square around its drawing (or object on plain paper)
            with this margin, e.g. 0.1, before resizing (``siamese.data.image_prep``).

    Returns:
        A ``LabeledDataset`` of kind ``"image"``, classes in natural order (``s2`` before ``s10``).

    Raises:
        DataError: missing or non-folder path, no class folder with images, a class with fewer
            than ``min_per_class`` images.
        ConfigError: a bad ``ink_crop``.
    """
    margin = check_margin(ink_crop)
    root = existing_path(path, "image folder")
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder holding one sub-folder per class, got a file")
    extensions = image_extensions()
    files: list[Path] = []
    labels: list[int] = []
    classes: list[str] = []
    ignored: list[str] = []
    empty: list[str] = []
    try:
        folders = sorted(
            (d for d in root.iterdir() if d.is_dir()), key=lambda d: natural_key(d.name)
        )
    except OSError as exc:
        raise DataError(f"{root}: cannot list the folder ({exc.strerror or exc})") from None
    for folder in folders:
        found = sorted(
            (f for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".")),
            key=lambda f: natural_key(str(f.relative_to(folder))),
        )
        images = [f for f in found if f.suffix.lower() in extensions]
        ignored += [str(f) for f in found if f.suffix.lower() not in extensions]
        if not images:
            empty.append(folder.name)
            continue
        if len(images) < min_per_class:
            raise DataError(
                f"{folder}: class {folder.name!r} has {len(images)} image(s), fewer than "
                f"min_per_class = {min_per_class}; add images or remove the folder"
            )
        files += images
        labels += [len(classes)] * len(images)
        classes.append(folder.name)
    if not files:
        raise DataError(
            f"{root}: no images found in <class>/<image> sub-folders (extensions Pillow reads, "
            "e.g. .jpg .png .pgm)"
        )
    meta = {
        "root": str(root),
        "ignored_files": ignored,
        "empty_folders": empty,
        "image": {"invert": False, "ink_crop": margin},
    }
    return LabeledDataset(
        items=ImageFileStore(files, grayscale=grayscale, size=image_size(size), ink_crop=margin),
        labels=np.array(labels, dtype=np.int64),
        class_names=classes,
        sources=[str(f) for f in files],
        kind="image",
        meta=meta,
    )
