"""`siamese mine` end to end on tiny datasets, its bad input, and the scale benchmark (quick)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
from _limits import HANG_S
from PIL import Image

from siamese.cli.app import main

ROOT = Path(__file__).resolve().parents[2]


def _main(capsys, monkeypatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    """The same entry point in this process (fast): exit code, stdout, stderr."""
    monkeypatch.chdir(cwd)
    code = 0
    try:
        main(["mine", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mine_arrays_with_features_file(tmp_path: Path, capsys, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(90) % 15
    np.savez(
        tmp_path / "d.npz", items=rng.standard_normal((90, 4)).astype(np.float32), labels=labels
    )
    np.save(tmp_path / "f.npy", rng.standard_normal((90, 3)).astype(np.float32))
    code, out, err = _main(
        capsys,
        monkeypatch,
        tmp_path,
        "--source",
        "arrays",
        "-o",
        "path=d.npz",
        "--features",
        "f.npy",
        "--ids",
        "--strategy",
        "cyclic_sigmoid",
        "--cycles",
        "2",
        "--triplets",
        "50",
    )
    assert code == 0, err
    assert "hardness MAE" in out
    train, test = (
        _rows(tmp_path / "triplets/train_triplets.csv"),
        _rows(tmp_path / "triplets/test_triplets.csv"),
    )
    assert len(train) == 50 and len(test) == 18  # test: one per test item by default
    assert list(train[0]) == [
        "step",
        "anchor",
        "positive",
        "negative",
        "target_hardness",
        "achieved_hardness",
    ]
    for rows in (train, test):
        a, p, n = (
            np.array([int(row[k]) for row in rows]) for k in ("anchor", "positive", "negative")
        )
        assert np.all(labels[a] == labels[p]) and not np.any(labels[a] == labels[n])
    assert not set(labels[[int(r["anchor"]) for r in train]]) & set(
        labels[[int(r["anchor"]) for r in test]]
    )


def test_mine_csv_catalog_writes_file_paths(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "img").mkdir()
    rows, refs = ["class,file"], ["class,file"]
    for c in range(6):
        for k in range(3):
            name = f"img/{c}_{k}.png"
            Image.new("L", (8, 8), 40 * c + 10 * k).save(tmp_path / name)
            (refs if k == 0 else rows).append(f"c{c},{name}")
    (tmp_path / "catalog.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "refs.csv").write_text("\n".join(refs) + "\n")
    code, out, err = _main(
        capsys,
        monkeypatch,
        tmp_path,
        "--source",
        "csv",
        "-o",
        "path=catalog.csv",
        "-o",
        "references=refs.csv",
        "--strategy",
        "hardest",
        "--test-fraction",
        "0.34",
        "--json",
    )
    assert code == 0, err
    train = _rows(tmp_path / "triplets/train_triplets.csv")
    assert all(row["anchor"].endswith("_0.png") for row in train)  # the reference is the anchor
    assert all(not row["positive"].endswith("_0.png") for row in train)  # a photo the positive
    assert all((tmp_path / row["negative"]).is_file() for row in train)
    assert all(
        row["anchor"].split("/")[-1][0] != row["negative"].split("/")[-1][0] for row in train
    )
    assert '"hardness_mae": 0.0' in out


def test_mine_bad_input_exits_2(tmp_path: Path, capsys, monkeypatch) -> None:
    np.savez(tmp_path / "d.npz", items=np.zeros((10, 2), np.float32), labels=np.arange(10) % 5)
    np.save(tmp_path / "bad.npy", np.zeros((3, 2), np.float32))
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    cases = [
        (["--features", "bad.npy"], r"expected shape (10, D)"),
        (["--features", "missing.npy"], "features file not found"),
        (["--features", "broken.npy"], "not a readable .npy"),
        (["--strategy", "exponential"], "--strategy 'exponential': expected one of"),
        (["--threshold", "3"], "--threshold 3.0: expected a finite number in [0, 1]"),
    ]
    if Path("/proc/meminfo").exists():  # the memory limit: refused before anything is mined
        cases.append(
            (["--triplets", "100000000000"], "mining 100,000,000,000 triplets over 8 items")
        )
    for extra, needle in cases:
        code, _, err = _main(
            capsys, monkeypatch, tmp_path, "--source", "arrays", "-o", "path=d.npz", *extra
        )
        assert code == 2, (extra, err)
        assert needle in " ".join(err.split())
    code, _, err = _main(capsys, monkeypatch, tmp_path, "--source", "arrays", "-o", "path=nope.npz")
    assert code == 2 and "nope.npz" in err
    assert not (tmp_path / "triplets").exists()  # nothing half-written


def test_scale_benchmark_quick_run() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mining_scale.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "speed ratio (baseline / ours)" in r.stdout and "wall (s)" in r.stdout
    for size in ("70k", "700k", "1M", "cyclic_sigmoid:70"):  # every size, both schedules
        assert size in r.stdout
