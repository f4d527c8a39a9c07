"""The tabular reader's ``log_columns``: signed log1p before z-scoring, fitted on training rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamese.data import load_source
from siamese.errors import ConfigError, DataError


def _write(tmp_path: Path) -> tuple[Path, Path]:
    """``bytes`` heavy-tailed (one huge value in 200 rows), ``flag`` binary, ``rate`` in [0, 1]."""
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    rows = [f"{10**6 if i == 0 else i},{int(i == 3)},{i / 200},k,{'ab'[i % 2]}" for i in range(200)]
    train.write_text("bytes,flag,rate,proto,label\n" + "\n".join(rows) + "\n")
    test.write_text("bytes,flag,rate,proto,label\n-5,0,0.5,k,a\n")
    return train, test


def test_named_columns_are_logged_before_zscoring(tmp_path: Path) -> None:
    train, test = _write(tmp_path)
    ds = load_source("tabular", path=str(train), test_path=str(test), log_columns=["bytes"])
    raw = np.array([10**6] + list(range(1, 200)), dtype=np.float64)
    logged = np.log1p(raw)
    expected = (logged - logged.mean()) / logged.std()
    x = ds.load(np.arange(201))  # (201, F): bytes, flag, rate, proto=k
    assert np.allclose(x[:200, 0], expected, atol=1e-5)
    # the test row uses the training statistics and the signed log of a negative value
    assert np.isclose(x[200, 0], (-np.log1p(5) - logged.mean()) / logged.std(), atol=1e-5)
    assert ds.meta["log_columns"] == ["bytes"] and ds.meta["statistics"]["log_columns"] == ["bytes"]
    plain = load_source("tabular", path=str(train), test_path=str(test))
    assert np.allclose(plain.load(np.arange(201))[:, 1:], x[:, 1:])  # other columns unchanged
    assert plain.meta["log_columns"] == [] and "log_columns" not in plain.meta["statistics"]


def test_auto_picks_heavy_tailed_columns_on_training_rows(tmp_path: Path) -> None:
    train, test = _write(tmp_path)
    ds = load_source("tabular", path=str(train), test_path=str(test), log_columns="auto")
    # bytes: max |z| 14.1 plain; flag (one 1 in 200 rows, |z| 14.1 too) is only rescaled by the log
    assert ds.meta["log_columns"] == ["bytes", "flag"]
    plain = load_source("tabular", path=str(train), test_path=str(test))
    x, x0 = ds.load(np.arange(200)), plain.load(np.arange(200))  # (200, F)
    assert np.abs(x0[:, 0]).max() > 14 and np.abs(x[:, 0]).max() < 9
    assert np.allclose(x[:, 1:], x0[:, 1:], atol=1e-5)  # binary flag: same z-scores


def test_auto_on_nsl_kdd_tames_byte_counts(shared_data: Path) -> None:
    path = shared_data / "nsl-kdd" / "KDDTrain+_20Percent.txt"
    plain = load_source("tabular", path=str(path), preset="nsl-kdd", limit=2000)
    ds = load_source("tabular", path=str(path), preset="nsl-kdd", limit=2000, log_columns="auto")
    assert {"src_bytes", "dst_bytes"} <= set(ds.meta["log_columns"])
    j = ds.meta["feature_names"].index("src_bytes")
    x, x0 = ds.load(np.arange(2000))[:, j], plain.load(np.arange(2000))[:, j]
    assert np.abs(x).max() < 10 < np.abs(x0).max()


def test_bad_log_columns(tmp_path: Path) -> None:
    train, _ = _write(tmp_path)
    with pytest.raises(ConfigError, match=r"log_columns: proto not numeric feature columns"):
        load_source("tabular", path=str(train), log_columns=["proto"])
    with pytest.raises(ConfigError, match=r'log_columns: expected "auto" or a list'):
        load_source("tabular", path=str(train), log_columns="all")
    with pytest.raises(DataError, match=r"log_columns 'size' does not exist"):
        load_source("tabular", path=str(train), log_columns=["size"])
