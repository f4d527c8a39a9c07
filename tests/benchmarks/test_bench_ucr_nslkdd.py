"""The UCR and NSL-KDD benchmark scripts run end to end in quick mode (so they cannot rot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, data: Path, out: Path, *extra: str) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--data", str(data)]
    cmd += list(extra)
    cmd += ["--out", str(out), "--runs-dir", str(out.parent / "runs")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_S, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "wall time" in proc.stdout
    return json.loads(out.read_text())


def test_ucr_quick(shared_data, tmp_path):
    res = _run("ucr.py", shared_data / "ucr", tmp_path / "ucr.json")
    assert res["mode"] == "quick" and res["seed"] == 0
    assert [r["dataset"] for r in res["rows"]] == ["GunPoint", "ItalyPowerDemand"]
    for row in res["rows"]:
        for key in ("embedding_1nn", "embedding_1shot", "raw_1nn_euclidean", "raw_1shot"):
            assert 0.0 <= row[key] <= 1.0
        assert row["dtw_1nn"] == row["dtw_1nn_published"]  # quick mode computes no DTW
        assert row["dtw_cells"] > 0 and "dtw_1nn_computed" not in row
    assert res["rows"][0]["raw_1nn_euclidean"] == pytest.approx(0.913, abs=1e-3)  # UCR's figure


def test_ucr_select_folds_score_every_train_series_once(shared_data, tmp_path):
    out = tmp_path / "select.json"
    _run(
        "ucr.py", shared_data / "ucr", out, "--select", "--folds", "2", "--datasets", "GunPoint",
        "--candidate", "quick2",
    )  # fmt: skip
    cand = json.loads(out.read_text())["candidates"]["quick2"]
    assert cand["folds"] == 2 and len(cand["rows"]) == 1
    row = cand["rows"][0]
    assert row["folds"] == 2 and row["test_items"] == row["train_items"] == 50  # GunPoint TRAIN
    assert [f["fold"] for f in row["per_fold"]] == [0, 1]
    assert sum(f["test_items"] for f in row["per_fold"]) == 50
    pooled = sum(f["embedding_1nn"] * f["test_items"] for f in row["per_fold"]) / 50
    assert row["embedding_1nn"] == pytest.approx(pooled, abs=1e-4)


def test_nsl_kdd_quick(shared_data, tmp_path):
    res = _run("nsl_kdd.py", shared_data / "nsl-kdd", tmp_path / "nsl.json", "--crowding", "0.5")
    assert res["mode"] == "quick" and res["episodes"] >= 200 and res["n_way"] == 8
    assert set(res["novel_records"]) == {
        "mscan", "apache2", "processtable", "snmpguess", "saint", "mailbomb", "snmpgetattack",
        "httptunnel",
    }  # fmt: skip
    assert min(res["novel_records"].values()) >= 100
    spaces = {r["space"]: r for r in res["rows"]}
    tag = " + crowding 0.5"
    assert set(spaces) == {"embedding", "raw z-scored", "embedding" + tag, "raw z-scored" + tag}
    assert res["crowding"] == {"beta": 0.5, "k": 10}
    for r in spaces.values():
        assert 1 / 8 < r["1shot"] <= r["5shot"] + 0.05 and 0.5 < r["auroc"] <= 1.0


def test_nsl_kdd_raw_baseline_stays_plain_zscores(tmp_path):
    """With ``log_columns`` in the recipe, the baseline still gets the plain z-scored features."""
    np = pytest.importorskip("numpy")
    from siamese.data import load_source

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from nsl_kdd import raw_features
    finally:
        sys.path.pop(0)
    train = tmp_path / "train.csv"
    rows = [f"{10**6 if i == 0 else i},{i % 3},{'ab'[i % 2]}" for i in range(300)]
    train.write_text("bytes,n,label\n" + "\n".join(rows) + "\n")
    options = {"path": str(train), "log_columns": "auto"}
    logged, plain = load_source("tabular", **options), load_source("tabular", path=str(train))
    assert logged.meta["log_columns"] == ["bytes"]
    part = logged.subset(np.array([5, 0, 17]))
    (got,) = raw_features(options, part)
    assert np.allclose(got, plain.load(np.array([5, 0, 17])))
    assert not np.allclose(got, part.load(np.arange(3)))


@pytest.mark.parametrize("dims", [1, 2])
def test_dtw_matches_a_brute_force_recursion(dims):
    """dtaidistance's C DTW (full warping, unequal lengths, uni- and multivariate) against a loop."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("dtaidistance")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from ucr import dtw_matrix
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(0)
    queries = [rng.normal(size=(n, dims)) for n in (6, 4)]
    gallery = [rng.normal(size=(n, dims)) for n in (8, 5, 3)]

    def brute(x, y):
        acc = np.full((len(x) + 1, len(y) + 1), np.inf)
        acc[0, 0] = 0
        for i in range(1, len(x) + 1):
            for j in range(1, len(y) + 1):
                c = ((x[i - 1] - y[j - 1]) ** 2).sum()
                acc[i, j] = c + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
        return np.sqrt(acc[-1, -1])

    got = dtw_matrix(queries, gallery)
    want = [[brute(q, g) for g in gallery] for q in queries]
    assert got.shape == (2, 3) and np.allclose(got, want)


def test_dtaidistance_uses_its_c_library():
    dtw = pytest.importorskip("dtaidistance.dtw")
    assert dtw.try_import_c()
