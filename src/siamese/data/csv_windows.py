"""A long multivariate recording in a CSV, cut into labelled sliding windows.

The CSV has a header row, one row per time step, numeric feature columns and a label column. Windows
of ``window`` rows start every ``stride`` rows; with a ``group_column`` (e.g. a recording or device
id) windows never cross from one group into the next.

Window label: ``"majority"`` (default) takes the most frequent row label in the window, ties going to
the label that appears latest in the window; ``"last"`` takes the label of the window's last row
(what a live detector would report at that moment). Rows after the last full window of a group are
not in any window: their number is recorded in ``meta["uncovered_rows"]`` (never silently).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from siamese._read import existing_file
from siamese.data._reader_utils import column_index, numeric_matrix, read_csv_lines
from siamese.data._sources import register_source
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError, DataError

WINDOW_LABELS = ("majority", "last")


def window_label(labels: list[str], rule: str) -> str:
    """The label of one window's rows under ``rule`` (see the module docstring)."""
    if rule == "last":
        return labels[-1]
    counts = Counter(labels)
    best = max(counts.values())
    return next(lab for lab in reversed(labels) if counts[lab] == best)


@register_source("csv_windows")
def read_csv_windows(
    path: str,
    window: int,
    stride: int | None = None,
    label_column: str | int = "label",
    feature_columns: list[str | int] | None = None,
    drop_columns: list[str | int] | None = None,
    group_column: str | int | None = None,
    label_rule: str = "majority",
    delimiter: str = ",",
) -> LabeledDataset:
    """Cut a CSV recording into windows ``(window, F)`` labelled by ``label_rule``.

    Args:
        path: the CSV file (header row first).
        window: rows per window.
        stride: rows between window starts (default: ``window``, no overlap).
        label_column: the label column (name or 0-based index).
        feature_columns: the feature columns (default: every column except the label, group and
            dropped ones).
        drop_columns: columns to leave out of the features (e.g. a timestamp).
        group_column: windows do not cross a change of this column's value.
        label_rule: ``"majority"`` or ``"last"`` (see the module docstring).
        delimiter: the CSV field separator.

    Returns:
        A ``LabeledDataset`` of kind ``"sequence"``, items ``(window, F)`` float32, sources
        ``file:first_line-last_line``; ``meta["channels"]``, ``meta["uncovered_rows"]``,
        ``meta["impure_windows"]`` (windows whose rows carry more than one label).

    Raises:
        ConfigError: bad ``window``, ``stride`` or ``label_rule``.
        DataError: missing file or column, ragged row, non-numeric or non-finite value (file,
            line, column), a recording shorter than one window.
    """
    stride = window if stride is None else stride
    if window < 1 or stride < 1:
        raise ConfigError(
            f"window and stride: expected positive integers, got {window} and {stride}"
        )
    if label_rule not in WINDOW_LABELS:
        raise ConfigError(
            f"label_rule: expected one of {', '.join(WINDOW_LABELS)}, got {label_rule!r}"
        )
    file = existing_file(path, "recording CSV")
    rows = read_csv_lines(file, delimiter=delimiter)
    if len(rows) < 2:
        raise DataError(f"{file}: expected a header row and data rows, got {len(rows)} row(s)")
    header = rows[0][1]
    li = column_index(label_column, header, file, "label_column")
    gi = None if group_column is None else column_index(group_column, header, file, "group_column")
    dropped = {column_index(c, header, file, "drop_columns") for c in drop_columns or []}
    if feature_columns is None:
        fi = [k for k in range(len(header)) if k not in {li, gi, *dropped}]
    else:
        fi = [column_index(c, header, file, "feature_columns") for c in feature_columns]
    if not fi:
        raise DataError(f"{file}: no feature column left besides the label/group/dropped columns")
    data = rows[1:]
    values = numeric_matrix(file, data, fi, header).astype(np.float32)  # (R, F)
    labels = [fields[li] for _, fields in data]
    groups = [fields[gi] if gi is not None else "" for _, fields in data]
    starts, uncovered, k = [], 0, 0
    while k < len(data):  # one group (a run of equal group values) at a time
        end = k
        while end < len(data) and groups[end] == groups[k]:
            end += 1
        group_starts = list(range(k, end - window + 1, stride))
        covered = group_starts[-1] + window if group_starts else k
        uncovered += end - covered
        starts += group_starts
        k = end
    if not starts:
        raise DataError(
            f"{file}: no window of {window} rows fits (the longest run has fewer rows); lower window"
        )
    items = np.stack([values[s : s + window] for s in starts])  # (N, window, F)
    window_labels = [window_label(labels[s : s + window], label_rule) for s in starts]
    classes = sorted(set(window_labels))
    class_id = {c: k for k, c in enumerate(classes)}
    return LabeledDataset(
        items=items,
        labels=np.array([class_id[lab] for lab in window_labels], dtype=np.int64),
        class_names=classes,
        sources=[f"{file}:{data[s][0]}-{data[s + window - 1][0]}" for s in starts],
        kind="sequence",
        meta={
            "channels": [header[k] for k in fi],
            "window": window,
            "stride": stride,
            "label_rule": label_rule,
            "uncovered_rows": uncovered,
            "impure_windows": sum(len(set(labels[s : s + window])) > 1 for s in starts),
        },
    )
