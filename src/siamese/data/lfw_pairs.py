"""LFW pair lists: the official View 2 ``pairs.txt`` and the dev-style ``train.txt``/``test.txt``.

Formats (fields separated by tabs or spaces, image numbers 1-based):

* View 2 ``pairs.txt``: first line ``folds<TAB>n``, then per fold ``n`` same-person lines
  ``name i j`` followed by ``n`` different-person lines ``name1 i name2 j``.
* Dev ``train.txt``/``test.txt`` (pairsDevTrain/pairsDevTest): first line ``n``, then ``n``
  same-person lines and ``n`` different-person lines.

Images live at ``<images>/<Name>/<Name>_NNNN.jpg``. The items of the dataset are the unique images
the pairs use (sorted by person, then number); labels are persons. The pairs are kept in
``meta["pairs"]`` as arrays of item indices with their fold, so the 10-fold protocol can use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import existing_file, read_text
from siamese.data._reader_utils import existing_path, handle_missing, image_size
from siamese.data._sources import register_source
from siamese.data.image_file_store import ImageFileStore
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError, DataError

#: ``pairs = "dev"`` reads both dev files; their pairs become the protocol's train and test split.
DEV_FILES = {"train": "train.txt", "test": "test.txt"}

_Pair = tuple[str, int, str, int, bool, int, int]  # name1, i, name2, j, same, fold, line


def parse_pairs_file(path: Path) -> tuple[list[_Pair], str]:
    """Parse a View 2 or dev-style LFW pairs file.

    Args:
        path: the pairs file.

    Returns:
        ``(pairs, protocol)``: each pair is ``(name1, i, name2, j, same, fold, line)`` with 1-based
        image numbers and 0-based folds (always 0 in a dev file); ``protocol`` is
        ``"lfw-view2-10fold"`` style (``lfw-view2-<k>fold``) or ``"lfw-dev"``.

    Raises:
        DataError: a missing file or a folder, text that is not UTF-8 (line), a malformed
            header, a line with the wrong number of fields, a non-integer image number, or
            fewer/more lines than the header announces.
    """
    lines = read_text(path, "LFW pairs file").splitlines()
    body = [(k + 1, line.split()) for k, line in enumerate(lines) if line.strip()]
    if not body:
        raise DataError(f"{path}: empty pairs file; expected a first line 'folds n' or 'n'")
    first_line, head = body[0]
    if not all(h.isdigit() for h in head) or len(head) not in (1, 2):
        raise DataError(
            f"{path}, line {first_line}: expected a header 'folds<TAB>n' (View 2 pairs.txt) or "
            f"'n' (dev train.txt/test.txt), got {' '.join(head)!r}"
        )
    folds, n = (1, int(head[0])) if len(head) == 1 else (int(head[0]), int(head[1]))
    protocol = "lfw-dev" if len(head) == 1 else f"lfw-view2-{folds}fold"
    expected = folds * 2 * n
    rows = body[1:]
    if len(rows) != expected:
        raise DataError(
            f"{path}: the header (line {first_line}) announces {folds} fold(s) of {n} same + {n} "
            f"different pairs = {expected} lines, but the file has {len(rows)} pair lines"
        )
    pairs: list[_Pair] = []
    for k, (line, fields) in enumerate(rows):
        fold, same = k // (2 * n), (k % (2 * n)) < n
        want = 3 if same else 4
        if len(fields) != want:
            kind = (
                "a same-person pair 'name i j'"
                if same
                else "a different-person pair 'name1 i name2 j'"
            )
            raise DataError(
                f"{path}, line {line}: expected {want} fields ({kind}, fold {fold + 1}), "
                f"got {len(fields)}: {' '.join(fields)!r}"
            )
        for pos in (1, 2) if same else (1, 3):
            if not fields[pos].isdigit() or int(fields[pos]) < 1:
                raise DataError(
                    f"{path}, line {line}: expected a positive image number in field {pos + 1}, "
                    f"got {fields[pos]!r}"
                )
        if same:
            fields = [fields[0], fields[1], fields[0], fields[2]]
        pairs.append((fields[0], int(fields[1]), fields[2], int(fields[3]), same, fold, line))
    return pairs, protocol


@register_source("lfw")
def read_lfw(
    path: str,
    pairs: str = "pairs.txt",
    images: str | None = None,
    grayscale: bool = False,
    size: int | list[int] | None = None,
    skip_missing: bool = False,
    first: int = 0,
) -> LabeledDataset:
    """Read LFW images through a pairs file (lazily: images are decoded when loaded).

    Args:
        path: the LFW folder (holding the pairs files and ``images/``) or a pairs file.
        pairs: which pairs file in ``path``: ``"pairs.txt"`` (View 2, 10 folds), ``"train.txt"``,
            ``"test.txt"``, or ``"dev"`` for both dev files (split column train/test).
        images: the image root holding ``<Name>/<Name>_NNNN.jpg`` (default: ``<folder>/images``
            if it exists, else the pairs file's folder).
        grayscale: one channel instead of RGB.
        size: resize to ``size`` x ``size`` (or ``[height, width]``), e.g. 105 for Koch's network.
        skip_missing: leave out pairs whose images are missing (recorded in ``meta["skipped"]``)
            instead of raising.
        first: keep only the first ``first`` same-person and the first ``first`` different-person
            pairs of each fold of each file (0: all), e.g. 1,100 for the 2,200 training pairs of
            LFW-a's pairsDevTrain.txt.

    Returns:
        A ``LabeledDataset`` of kind ``"image"``: one item per unique image used by the pairs,
        labels = persons. ``meta["pairs"]`` = ``{"i", "j", "same", "fold"}`` arrays (item indices,
        bool, 0-based fold; a dev file is one fold 0, ``"dev"`` puts test.txt in fold 1),
        ``meta["item_fold"]`` the fold of each item when folds are person-disjoint (else -1),
        ``meta["protocol"]`` and ``meta["pairs_files"]``.

    Raises:
        DataError: missing path or images, malformed pairs file.
        ConfigError: bad ``size`` or ``first``.
    """
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise ConfigError(
            f"lfw first: expected a whole number of pairs of each kind >= 0 (0: all), got {first!r}"
        )
    root = existing_path(path, "LFW path")
    files: dict[str, Path]
    if root.is_file():
        files = {"all": root}
        root = root.parent
    elif pairs == "dev":
        files = {
            split: existing_file(root / name, "LFW pairs file") for split, name in DEV_FILES.items()
        }
    else:
        files = {"all": existing_file(root / pairs, "LFW pairs file")}
    image_root = existing_path(images, "LFW image folder") if images else root / "images"
    if images and not image_root.is_dir():
        raise DataError(f"images: {image_root} is a file; expected the folder of <Name>/ folders")
    if not images and not image_root.is_dir():
        image_root = root
    rows: list[_Pair] = []
    split_of_fold: dict[int, str] = {}
    protocols = []
    for k, (split, file) in enumerate(files.items()):
        parsed, protocol = parse_pairs_file(file)
        if first:
            parsed = _first_of_each_kind(parsed, first)
        protocols.append(protocol)
        rows += [(a, i, b, j, s, fold + k, line) for a, i, b, j, s, fold, line in parsed]
        split_of_fold[k] = split
    return _build(rows, files, image_root, protocols, split_of_fold, grayscale, size, skip_missing)


def _first_of_each_kind(parsed: list[_Pair], first: int) -> list[_Pair]:
    """The first ``first`` same and ``first`` different pairs of each fold, in file order."""
    seen: dict[tuple[int, bool], int] = {}
    kept = []
    for row in parsed:
        key = (row[5], row[4])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= first:
            kept.append(row)
    return kept


def _image_path(root: Path, name: str, number: int) -> Path:
    return root / name / f"{name}_{number:04d}.jpg"


def _build(
    rows: list[_Pair],
    files: dict[str, Path],
    image_root: Path,
    protocols: list[str],
    split_of_fold: dict[int, str],
    grayscale: bool,
    size: Any,
    skip_missing: bool,
) -> LabeledDataset:
    shape = image_size(size)
    file_of_fold = {k: str(f) for k, f in enumerate(files.values())}
    exists: dict[tuple[str, int], bool] = {}
    missing: list[tuple[str, str]] = []
    kept: list[_Pair] = []
    for row in rows:
        absent = []
        for name, number in ((row[0], row[1]), (row[2], row[3])):
            key = (name, number)
            if key not in exists:
                exists[key] = _image_path(image_root, name, number).is_file()
            if not exists[key]:
                absent.append(str(_image_path(image_root, name, number)))
        fold_file = file_of_fold[min(row[5], len(file_of_fold) - 1)]
        missing += [(f, f"{Path(fold_file).name} line {row[6]}") for f in absent]
        if not absent:
            kept.append(row)
    listed_in = ", ".join(file_of_fold.values())
    skipped = handle_missing(missing, listed_in, skip_missing)
    if not kept:
        raise DataError(f"{listed_in}: no pair with both images present under {image_root}")
    keys = sorted({(r[0], r[1]) for r in kept} | {(r[2], r[3]) for r in kept})
    index = {key: k for k, key in enumerate(keys)}
    persons = sorted({name for name, _ in keys})
    person_id = {p: c for c, p in enumerate(persons)}
    pair_i = np.array([index[(r[0], r[1])] for r in kept], dtype=np.int64)
    pair_j = np.array([index[(r[2], r[3])] for r in kept], dtype=np.int64)
    fold = np.array([r[5] for r in kept], dtype=np.int64)
    item_fold = np.full(len(keys), -1, dtype=np.int64)
    conflict = False
    for ends in (pair_i, pair_j):
        for item, f in zip(ends.tolist(), fold.tolist(), strict=True):
            conflict |= item_fold[item] not in (-1, f)
            item_fold[item] = f
    labels = np.array([person_id[name] for name, _ in keys], dtype=np.int64)
    if not conflict:  # folds person-disjoint: every image of a person carries one fold
        per_person = {}
        for lab, f in zip(labels.tolist(), item_fold.tolist(), strict=True):
            conflict |= per_person.setdefault(lab, f) != f
    if conflict:
        item_fold[:] = -1
    split = None
    if len(split_of_fold) > 1:
        if conflict:
            raise DataError(
                f"{listed_in}: a person appears in both files, so they cannot serve as a "
                'person-disjoint train/test split; read them one at a time (pairs = "train.txt")'
            )
        split = np.array([split_of_fold[f] for f in item_fold.tolist()], dtype=object)
    paths = [_image_path(image_root, name, number) for name, number in keys]
    meta: dict[str, Any] = {
        "protocol": protocols[0] if len(protocols) == 1 else "lfw-dev-train-test",
        "pairs_files": list(file_of_fold.values()),
        "pairs": {"i": pair_i, "j": pair_j, "same": np.array([r[4] for r in kept]), "fold": fold},
        "item_fold": item_fold,
        "image_root": str(image_root),
    }
    if skipped:
        meta["skipped"] = skipped
    return LabeledDataset(
        items=ImageFileStore(paths, grayscale=grayscale, size=shape),
        labels=labels,
        class_names=persons,
        sources=[str(p) for p in paths],
        kind="image",
        split=split,
        meta=meta,
    )
