"""UCR/UEA time series in the sktime/aeon ``.ts`` text format.

A ``.ts`` file has ``#`` comments, ``@`` header lines (``@problemName``, ``@univariate``,
``@dimensions``, ``@equalLength``, ``@seriesLength``, ``@classLabel true <labels...>``), then after
``@data`` one series per line: the dimensions separated by ``:``, values by ``,``, the class label
last. Variable-length series are padded with zeros at the end to the longest one and their true
lengths kept in ``lengths`` (nothing is truncated). Missing (``?``), NaN or infinite values are an
error naming the file, line and dimension: fill them before training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import existing_file, read_text
from siamese.data._reader_utils import existing_path
from siamese.data._sources import register_source
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import DataError

_SUFFIX_SPLIT = {"_TRAIN": "train", "_TEST": "test"}
_COUNTS = ("dimensions", "serieslength")  # header values that must be positive integers
_FLAGS = ("univariate", "equallength", "timestamps", "missing")  # header values true/false


def parse_ts_file(path: Path) -> dict[str, Any]:
    """Parse one ``.ts`` file.

    Returns:
        ``{"series": list of (T_i, D) float32, "labels": list[str], "lines": list[int],
        "class_labels": declared labels in order, "header": dict of @ lines}``.

    Raises:
        DataError: a missing file or a folder, text that is not UTF-8 (line), a malformed
            ``@dimensions``/``@seriesLength`` (not a positive integer) or true/false flag, no
            ``@data`` section, unlabelled or timestamped data, a series whose
            dimensions or length disagree with the header, a non-numeric, missing, NaN or
            infinite value (file, line, dimension), or a label the header does not declare.
    """
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    lines: list[int] = []
    in_data = False
    for number, raw in enumerate(read_text(path, "UCR .ts file").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.startswith("@"):
                key, _, value = line[1:].partition(" ")
                header[key.lower()] = _header_value(path, number, key, value.strip())
                in_data = key.lower() == "data"
            continue
        x, label = _parse_series(path, number, line, header)
        series.append(x)
        labels.append(label)
        lines.append(number)
    if not in_data:
        raise DataError(f"{path}: no @data line; is this a .ts file (sktime/aeon format)?")
    declared = header.get("classlabel", "false").split()
    if not declared or declared[0].lower() != "true":
        raise DataError(
            f"{path}: @classLabel is not true; a labelled dataset is needed (regression "
            "problems with @targetLabel are not supported)"
        )
    class_labels = declared[1:] or sorted(set(labels))
    unknown = sorted(set(labels) - set(class_labels))
    if unknown:
        k = labels.index(unknown[0])
        raise DataError(
            f"{path}, line {lines[k]}: class label {unknown[0]!r} is not declared in "
            f"@classLabel ({' '.join(class_labels)})"
        )
    if not series:
        raise DataError(f"{path}: no series after @data")
    return {
        "series": series,
        "labels": labels,
        "lines": lines,
        "class_labels": class_labels,
        "header": header,
    }


def _header_value(path: Path, number: int, key: str, value: str) -> str:
    """A header line's value, checked where the reader depends on it (counts, flags)."""
    if key.lower() in _COUNTS and not (value.isdigit() and int(value) > 0):
        raise DataError(
            f"{path}, line {number}: @{key} {value!r}: expected a positive whole number"
        )
    if key.lower() in _FLAGS and value.lower() not in ("true", "false"):
        raise DataError(f"{path}, line {number}: @{key} {value!r}: expected true or false")
    return value


def _parse_series(
    path: Path, number: int, line: str, header: dict[str, str]
) -> tuple[np.ndarray, str]:
    """One data line -> ``(T, D)`` float32 and its label."""
    if header.get("timestamps", "false").lower() == "true" or line.startswith("("):
        raise DataError(f"{path}, line {number}: timestamped .ts series are not supported")
    *dims, label = line.split(":")
    expected = int(
        header.get("dimensions", 1 if header.get("univariate", "true").lower() == "true" else 0)
    )
    if not dims or (expected and len(dims) != expected):
        raise DataError(
            f"{path}, line {number}: expected {expected or 'at least 1'} dimension(s) then a "
            f"class label separated by ':', got {len(dims)} dimension(s)"
        )
    values = []
    for d, text in enumerate(dims):
        try:
            v = np.array(text.replace("?", "nan").split(","), dtype=np.float64)
        except ValueError as exc:
            raise DataError(
                f"{path}, line {number}, dimension {d + 1}: non-numeric value ({exc})"
            ) from exc
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            raise DataError(
                f"{path}, line {number}, dimension {d + 1}: {len(bad)} missing, NaN or infinite "
                f"value(s), first at position {bad[0] + 1} ({text.split(',')[bad[0]]!r}); fill "
                "or interpolate them before training"
            )
        values.append(v)
    length = len(values[0])
    if any(len(v) != length for v in values):
        raise DataError(
            f"{path}, line {number}: the dimensions have different lengths "
            f"({', '.join(str(len(v)) for v in values)}); expected one length per series"
        )
    equal = header.get("equallength", "").lower() == "true"
    if equal and "serieslength" in header and length != int(header["serieslength"]):
        raise DataError(
            f"{path}, line {number}: series of length {length}, but @seriesLength says "
            f"{header['serieslength']}"
        )
    return np.stack(values, axis=1).astype(np.float32), label.strip()  # (T, D)


@register_source("ucr")
def read_ucr(
    path: str, problem: str | None = None, parts: list[str] | None = None
) -> LabeledDataset:
    """Read a UCR/UEA problem: its ``<problem>_TRAIN.ts`` and ``<problem>_TEST.ts`` files.

    Args:
        path: a folder holding ``<problem>_TRAIN.ts``/``<problem>_TEST.ts``, or one ``.ts`` file.
        problem: the problem name in a folder (default: the folder's name, e.g. ``GunPoint``).
        parts: which files of a folder: ``["train"]``, ``["test"]`` or both (default).

    Returns:
        A ``LabeledDataset`` of kind ``"sequence"``: items ``(T_max, D)`` float32 (zero-padded
        at the end; ``lengths`` holds the true lengths when they vary), class names as declared
        in ``@classLabel``, ``split`` = train/test from the file suffix, sources ``file:line``.

    Raises:
        DataError: missing files, malformed lines, non-finite values, class lists that differ
            between the files.
    """
    root = existing_path(path, "UCR path")
    if root.is_file():
        stem = root.stem.upper()
        files = [(next((s for k, s in _SUFFIX_SPLIT.items() if stem.endswith(k)), None), root)]
    else:
        problem = problem or root.name
        wanted = parts or ["train", "test"]
        files = [
            (split, existing_file(root / f"{problem}_{split.upper()}.ts", f"UCR {split} file"))
            for split in wanted
        ]
    parsed = [(split, file, parse_ts_file(file)) for split, file in files]
    class_labels = list(parsed[0][2]["class_labels"])
    for _, _, p in parsed[1:]:
        class_labels += [c for c in p["class_labels"] if c not in class_labels]
    class_id = {c: k for k, c in enumerate(class_labels)}
    series = [x for _, _, p in parsed for x in p["series"]]
    lengths = np.array([len(x) for x in series], dtype=np.int64)
    dims = {x.shape[1] for x in series}
    if len(dims) > 1:
        raise DataError(
            f"{', '.join(str(f) for _, f, _ in parsed)}: files differ in dimensions {sorted(dims)}"
        )
    items = np.zeros((len(series), int(lengths.max()), dims.pop()), dtype=np.float32)  # (N, T, D)
    for k, x in enumerate(series):
        items[k, : len(x)] = x
    splits = [s for s, _, p in parsed for _ in p["series"]]
    return LabeledDataset(
        items=items,
        labels=np.array([class_id[c] for _, _, p in parsed for c in p["labels"]], dtype=np.int64),
        class_names=class_labels,
        sources=[f"{file}:{n}" for _, file, p in parsed for n in p["lines"]],
        kind="sequence",
        lengths=lengths if len(set(lengths.tolist())) > 1 else None,
        split=np.array(splits, dtype=object) if all(splits) else None,
        meta={
            "protocol": "ucr-train-test",
            "problem": parsed[0][2]["header"].get("problemname", root.stem),
            "files": [str(f) for _, f, _ in parsed],
        },
    )
