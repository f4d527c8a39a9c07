"""CSV catalog: image files listed in a CSV with their class, plus optional reference images.

The triplet-sequencing use case: product photos (``class,file`` rows) and, per class, one or more
reference (catalog) images that serve as anchors. File paths are resolved against the folder of the
CSV that names them. Reference items are part of the dataset and marked in
``meta["is_reference"]``; a file listed in both CSVs is one item, marked as a reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import existing_file
from siamese.data._reader_utils import (
    column_index,
    handle_missing,
    image_size,
    read_csv_lines,
)
from siamese.data._sources import register_source
from siamese.data.image_file_store import ImageFileStore
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import DataError

SPLITS = ("train", "val", "test")


def _read_catalog(
    path: Path,
    class_column: str | int,
    file_column: str | int,
    split_column: str | int | None,
    delimiter: str,
) -> list[tuple[str, Path, str | None, int]]:
    """``(class, resolved file, split or None, line)`` for every row of one CSV."""
    rows = read_csv_lines(path, delimiter=delimiter)
    if not rows:
        raise DataError(f"{path}: empty CSV; expected a header row naming the columns")
    header = rows[0][1]
    ci = column_index(class_column, header, path, "class_column")
    fi = column_index(file_column, header, path, "file_column")
    si = None if split_column is None else column_index(split_column, header, path, "split_column")
    out = []
    for line, fields in rows[1:]:
        split = None if si is None else fields[si].lower()
        if split is not None and split not in SPLITS:
            raise DataError(
                f"{path}, line {line}: split column value {fields[si]!r}; expected one of "
                f"{', '.join(SPLITS)}"
            )
        if not fields[ci] or not fields[fi]:
            raise DataError(f"{path}, line {line}: empty class or file field")
        file = Path(fields[fi]).expanduser()
        out.append((fields[ci], file if file.is_absolute() else path.parent / file, split, line))
    return out


@register_source("csv")
def read_csv_catalog(
    path: str,
    class_column: str | int = "class",
    file_column: str | int = "file",
    references: str | None = None,
    split_column: str | int | None = None,
    grayscale: bool | None = None,
    size: int | list[int] | None = None,
    skip_missing: bool = False,
    delimiter: str = ",",
) -> LabeledDataset:
    """Read images listed in a CSV with a header row (lazily: images decode when loaded).

    Args:
        path: the CSV file.
        class_column: the column holding the class (name, or 0-based index).
        file_column: the column holding the image path (relative paths: against the CSV's folder).
        references: an optional CSV of reference images per class, same columns; these items
            are marked in ``meta["is_reference"]``.
        split_column: an optional column with ``train``/``val``/``test`` per row (the protocol
            split); a reference image takes the split of its class's first catalog row.
        grayscale: one channel, RGB, or follow the first image (default).
        size: resize to ``size`` x ``size`` (or ``[height, width]``); needed when sizes differ.
        skip_missing: leave out rows whose file does not exist (recorded in ``meta["skipped"]``)
            instead of raising.
        delimiter: the CSV field separator.

    Returns:
        A ``LabeledDataset`` of kind ``"image"``, classes sorted by name; sources are
        ``csv:line``; ``meta["is_reference"]`` (bool per item), ``meta["files"]`` and
        ``meta["duplicate_rows"]`` (rows naming a file listed before: merged into one item).

    Raises:
        DataError: missing CSV or a folder, text that is not UTF-8 (line), missing column (lists
            the columns), ragged row, missing images or a folder named as an image.
    """
    csv_path = existing_file(path, "CSV catalog")
    rows = [
        (c, f, s, f"{csv_path}:{n}", False)
        for c, f, s, n in _read_catalog(
            csv_path, class_column, file_column, split_column, delimiter
        )
    ]
    listed_in, ref_path = str(csv_path), None
    if references is not None:
        ref_path = existing_file(references, "reference catalog")
        refs = _read_catalog(ref_path, class_column, file_column, None, delimiter)
        # A reference takes the split of its class's first catalog row (train if none).
        split_of = {}
        for c, _, s, _, _ in rows:
            split_of.setdefault(c, s)
        default = None if split_column is None else "train"
        rows += [(c, f, split_of.get(c, default), f"{ref_path}:{n}", True) for c, f, _, n in refs]
        listed_in += f" and {ref_path}"
    missing = [
        (str(f), f"{where}, a folder" if f.is_dir() else where)
        for _, f, _, where, _ in rows
        if not f.is_file()
    ]
    skipped = handle_missing(missing, listed_in, skip_missing)
    rows = [r for r in rows if r[1].is_file()]
    if not rows:
        raise DataError(f"{listed_in}: no rows with an existing image file")
    items: dict[Path, dict[str, Any]] = {}
    duplicates = []  # rows naming a file already listed: one item, recorded here
    for cls, file, split, where, ref in rows:
        key = file.resolve()
        if key not in items:
            items[key] = {"class": cls, "file": file, "split": split, "where": where, "ref": ref}
        elif items[key]["class"] != cls:
            raise DataError(
                f"{file} is listed with two classes, {items[key]['class']!r} "
                f"({items[key]['where']}) and {cls!r} ({where}); fix one of the rows"
            )
        else:
            items[key]["ref"] |= ref
            duplicates.append(where)
    records = list(items.values())
    classes = sorted({r["class"] for r in records})
    class_id = {c: k for k, c in enumerate(classes)}
    meta: dict[str, Any] = {
        "catalog": str(csv_path),
        "references": None if ref_path is None else str(ref_path),
        "is_reference": np.array([r["ref"] for r in records], dtype=bool),
        "files": [str(r["file"]) for r in records],
        "duplicate_rows": duplicates,
    }
    if skipped:
        meta["skipped"] = skipped
    return LabeledDataset(
        items=ImageFileStore(
            [r["file"] for r in records], grayscale=grayscale, size=image_size(size)
        ),
        labels=np.array([class_id[r["class"]] for r in records], dtype=np.int64),
        class_names=classes,
        sources=[r["where"] for r in records],
        kind="image",
        split=None
        if split_column is None
        else np.array([r["split"] for r in records], dtype=object),
        meta=meta,
    )
