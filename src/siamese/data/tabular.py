"""Tabular records in a CSV (e.g. NSL-KDD network connections) as fixed-length feature vectors.

* Numeric columns are z-scored with the mean and standard deviation of the **training rows only**
  (the rows of ``path``; a constant column gets std 1, so it becomes 0).
* Categorical columns (any column with a non-numeric training value, or those named in
  ``categorical_columns``) are one-hot encoded over the categories seen in the training rows.
  A category seen only in the test file is encoded as **all zeros** for that column, and counted in
  ``meta["unseen_categories"]`` (column -> {value: rows}).
* The header row is detected (a column numeric below the first row but not in it) unless ``header``
  says otherwise; without a header the columns are named ``"0"``, ``"1"``, ...
* ``log_columns`` (optional) applies a signed ``log1p`` (``sign(x) * log(1 + |x|)``) to chosen
  numeric columns **before** z-scoring, for heavy-tailed columns (NSL-KDD's byte counts reach
  476 standard deviations). ``"auto"`` picks the numeric columns whose largest absolute z-score
  on the training rows exceeds ``LOG_AUTO_Z`` (a binary column is only shifted and rescaled by
  the log, so it keeps its z-scores); a list names the columns. The choice is made on the
  training rows only and recorded in ``meta["log_columns"]`` and ``meta["statistics"]``.
* ``preset = "nsl-kdd"`` names NSL-KDD's 43 columns, takes ``label`` as the label and drops the
  ``difficulty`` score.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import existing_file
from siamese.data._reader_utils import column_index, numeric_matrix, read_csv_lines
from siamese.data._sources import register_source
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError, DataError

NSL_KDD_COLUMNS = (
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
    "label",
    "difficulty",
)
LOG_AUTO_Z = 10.0  # log_columns = "auto": columns with a training |z-score| above this
PRESETS: dict[str, dict[str, Any]] = {
    "nsl-kdd": {"header": False, "column_names": NSL_KDD_COLUMNS, "drop_columns": ["difficulty"]},
}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def detect_header(rows: list[tuple[int, list[str]]]) -> bool:
    """True when some column is numeric in the rows after the first (up to 50) but not in the first."""
    if len(rows) < 2:
        return False
    below = rows[1:51]
    return any(
        not _is_number(cell) and all(_is_number(r[1][c]) for r in below)
        for c, cell in enumerate(rows[0][1])
    )


@register_source("tabular")
def read_tabular(
    path: str,
    label_column: str | int = "label",
    test_path: str | None = None,
    header: bool | None = None,
    column_names: list[str] | None = None,
    drop_columns: list[str | int] | None = None,
    categorical_columns: list[str | int] | None = None,
    preset: str | None = None,
    limit: int | None = None,
    delimiter: str = ",",
    log_columns: str | list[str | int] | None = None,
) -> LabeledDataset:
    """Read records from a CSV (and an optional test CSV) into z-scored, one-hot feature vectors.

    Args:
        path: the training CSV.
        label_column: the class column, by name or 0-based index (negative counts from the end).
        test_path: an optional test CSV with the same columns; its rows get split ``"test"`` and
            the training rows ``"train"``.
        header: whether the first row names the columns (default: detected).
        column_names: names for the columns of a file without a header.
        drop_columns: columns that are neither features nor label (NSL-KDD's difficulty).
        categorical_columns: columns to one-hot (default: those with a non-numeric value).
        preset: ``"nsl-kdd"`` fills ``header``, ``column_names`` and ``drop_columns``.
        limit: read only the first this many rows of each file (quick looks, tests).
        delimiter: the CSV field separator.
        log_columns: ``"auto"`` or numeric columns (names or indices) that get a signed
            ``log1p`` before z-scoring (default: none, plain z-scores).

    Returns:
        A ``LabeledDataset`` of kind ``"vector"``: items ``(F,)`` float32, class names sorted,
        sources ``file:line``; ``meta`` holds ``feature_names``, ``statistics`` (mean/std per
        numeric column), ``categories``, ``unseen_categories`` and ``test_only_classes``.

    Raises:
        ConfigError: unknown preset; ``log_columns`` neither ``"auto"`` nor a list of numeric
            columns.
        DataError: missing file or column (lists the columns), ragged row, a non-numeric,
            empty or non-finite value in a numeric column (file, line, column).
    """
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"preset: unknown {preset!r}; valid presets: {', '.join(PRESETS)}")
        p = PRESETS[preset]
        header = p["header"] if header is None else header
        column_names = column_names or list(p["column_names"])
        drop_columns = p["drop_columns"] if drop_columns is None else drop_columns
    train_file = existing_file(path, "tabular CSV")
    test_file = None if test_path is None else existing_file(test_path, "tabular test CSV")
    train_rows = read_csv_lines(
        train_file, delimiter=delimiter, limit=None if limit is None else limit + 1
    )
    if not train_rows:
        raise DataError(f"{train_file}: empty CSV")
    if header is None:
        header = column_names is None and detect_header(train_rows)
    width = len(train_rows[0][1])
    names = list(train_rows[0][1]) if header else list(column_names or map(str, range(width)))
    if len(names) != width:
        raise DataError(
            f"{train_file}: column_names has {len(names)} names, the file has {width} columns"
        )
    train_rows = train_rows[1:] if header else train_rows
    train_rows = train_rows[:limit] if limit is not None else train_rows
    test_rows: list[tuple[int, list[str]]] = []
    if test_file is not None:
        test_rows = read_csv_lines(test_file, delimiter=delimiter, expected_columns=width)
        test_rows = (test_rows[1:] if header else test_rows)[:limit]
    li = column_index(label_column, names, train_file, "label_column")
    skip = {li} | {column_index(c, names, train_file, "drop_columns") for c in drop_columns or []}
    features = [k for k in range(width) if k not in skip]
    if categorical_columns is None:
        categorical = [k for k in features if not all(_is_number(f[k]) for _, f in train_rows)]
    else:
        categorical = [
            column_index(c, names, train_file, "categorical_columns") for c in categorical_columns
        ]
    numeric = [k for k in features if k not in categorical]
    logged = _log_columns(log_columns, numeric, names, train_file)
    x_train, stats = _zscore(train_file, train_rows, numeric, names, None, logged)
    parts, unseen = [x_train], {}
    if test_rows:
        parts.append(_zscore(test_file, test_rows, numeric, names, stats)[0])  # type: ignore[arg-type]
    onehots, categories = [], {}
    for k in categorical:
        cats = sorted({f[k] for _, f in train_rows})
        categories[names[k]] = cats
        index = {c: j for j, c in enumerate(cats)}
        onehots.append(
            [_onehot([f[k] for _, f in rows], index) for rows in (train_rows, test_rows)]
        )
        missed = Counter(f[k] for _, f in test_rows if f[k] not in index)
        if missed:
            unseen[names[k]] = dict(missed)
    x = np.concatenate(
        [np.concatenate(parts)] + [np.concatenate(pair) for pair in onehots], axis=1
    ).astype(np.float32)  # (N, F)
    all_rows = [(train_file, r) for r in train_rows] + [(test_file, r) for r in test_rows]
    labels = [f[li] for _, (_, f) in all_rows]
    classes = sorted(set(labels))
    class_id = {c: k for k, c in enumerate(classes)}
    train_classes = {f[li] for _, f in train_rows}
    return LabeledDataset(
        items=x,
        labels=np.array([class_id[c] for c in labels], dtype=np.int64),
        class_names=classes,
        sources=[f"{file}:{line}" for file, (line, _) in all_rows],
        kind="vector",
        split=None
        if test_file is None
        else np.array(["train"] * len(train_rows) + ["test"] * len(test_rows), dtype=object),
        meta={
            "feature_names": [names[k] for k in numeric]
            + [f"{names[k]}={c}" for k in categorical for c in categories[names[k]]],
            "label_column": names[li],
            "dropped_columns": [names[k] for k in sorted(skip - {li})],
            "statistics": stats,
            "categories": categories,
            "unseen_categories": unseen,
            "test_only_classes": sorted(set(classes) - train_classes),
            "log_columns": stats.get("log_columns", []),
            "files": [str(f) for f in (train_file, test_file) if f is not None],
        },
    )


def _log_columns(
    spec: str | list[str | int] | None, numeric: list[int], names: list[str], file: Path
) -> str | list[int] | None:
    """``log_columns`` checked: ``None``, ``"auto"`` or positions of numeric columns."""
    if spec is None or spec == "auto":
        return spec
    if isinstance(spec, str) or not isinstance(spec, (list, tuple)):
        raise ConfigError(f'log_columns: expected "auto" or a list of column names, got {spec!r}')
    out = [column_index(c, names, file, "log_columns") for c in spec]
    bad = [names[k] for k in out if k not in numeric]
    if bad:
        raise ConfigError(
            f"log_columns: {', '.join(bad)} not numeric feature columns; numeric columns: "
            f"{', '.join(names[k] for k in numeric)}"
        )
    return out


def _signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``, elementwise."""
    return np.sign(x) * np.log1p(np.abs(x))


def _zscore(
    file: Path,
    rows: list[tuple[int, list[str]]],
    columns: list[int],
    names: list[str],
    stats: dict | None,
    log: str | list[int] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Numeric columns z-scored with ``stats`` (fitted on these rows when ``None``).

    ``log`` (fitting only): ``"auto"`` or the column positions that get a signed ``log1p`` first;
    the chosen names go to ``stats["log_columns"]`` and are reused for the test rows.
    """
    x = numeric_matrix(file, rows, columns, names)  # (R, F_num)
    if stats is None:
        if log == "auto" and len(x):
            std0 = x.std(axis=0)
            z = np.abs(x - x.mean(axis=0)) / np.where(std0 < 1e-12, 1.0, std0)  # (R, F_num)
            chosen = [
                names[c] for c, m in zip(columns, z.max(axis=0), strict=True) if m > LOG_AUTO_Z
            ]
        elif isinstance(log, list):
            chosen = [names[c] for c in log]
        else:  # no log columns, or "auto" without training rows
            chosen = []
        mask = np.isin([names[c] for c in columns], chosen)  # (F_num,)
        x[:, mask] = _signed_log(x[:, mask])
        std = x.std(axis=0) if len(x) else np.ones(len(columns))
        std[std < 1e-12] = 1.0
        mean = x.mean(axis=0) if len(x) else np.zeros(len(columns))
        stats = {"columns": [names[c] for c in columns], "mean": mean.tolist(), "std": std.tolist()}
        if log is not None:
            stats["log_columns"] = chosen
    else:
        mask = np.isin(stats["columns"], stats.get("log_columns", []))
        x[:, mask] = _signed_log(x[:, mask])
    return (x - np.asarray(stats["mean"])) / np.asarray(stats["std"]), stats


def _onehot(values: list[str], index: dict[str, int]) -> np.ndarray:
    """``(len(values), len(index))`` one-hot rows; a value not in ``index`` is all zeros."""
    out = np.zeros((len(values), len(index)), dtype=np.float32)
    for r, v in enumerate(values):
        j = index.get(v)
        if j is not None:
            out[r, j] = 1.0
    return out
