"""The sliding-window reader on a recording written from the traffic simulator, and broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamese.data import CHANNELS, load_source, simulate_traffic
from siamese.data.csv_windows import window_label
from siamese.errors import ConfigError, DataError


def _recording(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Two devices, each a normal stretch then a blocked one, as one long CSV."""
    sim = simulate_traffic(n_per_pattern=2, patterns=["normal", "blocked"], length=32, seed=0)
    x = sim.load(np.arange(4))  # (4, 32, 5)
    lines = ["device,time," + ",".join(CHANNELS) + ",state"]
    for device, (a, b) in enumerate(((0, 2), (1, 3))):
        for t, (k, label) in enumerate([(a, "normal")] * 32 + [(b, "blocked")] * 32):
            row = x[k, t % 32]
            lines.append(f"d{device},{t}," + ",".join(f"{v:.6g}" for v in row) + f",{label}")
    path = tmp_path / "recording.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, x


def test_windows_within_groups(tmp_path: Path) -> None:
    path, x = _recording(tmp_path)
    ds = load_source(
        "csv_windows",
        path=str(path),
        window=16,
        stride=12,
        label_column="state",
        group_column="device",
        drop_columns=["time"],
    )
    # per device 64 rows: starts 0, 12, 24, 36, 48 -> 5 windows, rows 64..63 covered, none left
    assert len(ds) == 10 and ds.item_shape == (16, 5) and ds.meta["channels"] == list(CHANNELS)
    assert ds.meta["uncovered_rows"] == 0 and ds.meta["impure_windows"] == 2  # 24..39 per device
    assert np.allclose(ds.load(np.array([0]))[0], x[0, :16], rtol=1e-5)
    assert ds.sources[5] == f"{path}:66-81"  # device d1 starts on line 66
    assert [ds.class_names[c] for c in ds.labels[:5]] == [
        "normal",
        "normal",
        "blocked",
        "blocked",
        "blocked",
    ]
    last = load_source(
        "csv_windows",
        path=str(path),
        window=20,
        label_column="state",
        label_rule="last",
        group_column="device",
        drop_columns=["time"],
    )
    assert last.meta["uncovered_rows"] == 2 * 4  # 64 rows = 3 windows of 20 + 4 left, per device


def test_majority_ties_go_to_the_latest_label() -> None:
    assert window_label(["a", "b", "b", "a"], "majority") == "a"
    assert window_label(["a", "a", "b"], "majority") == "a"
    assert window_label(["a", "a", "b"], "last") == "b"


def test_bad_values_columns_and_options(tmp_path: Path) -> None:
    path, _ = _recording(tmp_path)
    lines = path.read_text().splitlines()
    device, time, _, rest = lines[9].split(",", 3)
    lines[9] = f"{device},{time},nan,{rest}"  # file line 10: throughput_in missing
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"broken.csv, line 10, column 'throughput_in': nan is not a finite number"
    ):
        load_source(
            "csv_windows", path=str(broken), window=8, label_column="state", group_column="device"
        )
    with pytest.raises(
        DataError, match=r"label_column 'label' does not exist; the columns are: device, time"
    ):
        load_source("csv_windows", path=str(path), window=8)
    with pytest.raises(DataError, match=r"line 2, column 'device': expected a number, got 'd0'"):
        load_source("csv_windows", path=str(path), window=8, label_column="state")
    with pytest.raises(ConfigError, match=r"label_rule: expected one of majority, last"):
        load_source(
            "csv_windows", path=str(path), window=8, label_column="state", label_rule="first"
        )
    with pytest.raises(DataError, match=r"no window of 100 rows fits"):
        load_source(
            "csv_windows", path=str(path), window=100, label_column="state", group_column="device"
        )
