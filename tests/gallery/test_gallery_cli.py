"""The enroll / identify / verify / export / serve commands end to end on a tiny saved model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamese.cli.app import main
from siamese.gallery import Gallery


@pytest.fixture
def class_folder(tmp_path, make_clusters):
    """data/<class>/<n>.npy: 6 classes x 3 vectors of 8 numbers (well separated)."""
    x, y = make_clusters(6, 3, 8, seed=11)
    for i, (v, name) in enumerate(zip(x, y, strict=True)):
        (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "data" / name / f"{i}.npy", v)
    return tmp_path / "data"


def run_json(capsys, argv):
    main([*argv, "--json"])
    return json.loads(capsys.readouterr().out)


def test_enroll_identify_verify_export(saved_model, class_folder, tmp_path, capsys):
    gal = tmp_path / "gallery"
    out = run_json(
        capsys,
        [
            "enroll",
            str(saved_model),
            "--folder",
            str(class_folder),
            "--out",
            str(gal),
            "--shots",
            "1",
            "--holdout-classes",
            "2",
            "--far",
            "0.25",
        ],
    )
    assert out["classes"] == 4 and out["examples"] == 4 and out["index"] == "exact"
    assert out["calibration"]["mode"] == "unenrolled-classes" and out["threshold"] is not None
    enrolled = sorted(p.name for p in class_folder.iterdir())
    files = sorted(class_folder.glob("*/*.npy"))
    res = run_json(capsys, ["identify", str(gal), *map(str, files[:3]), "-k", "2"])
    assert len(res) == 3 and all(len(r["matches"]) == 2 for r in res)
    assert {r["label"] for r in res} <= set(enrolled) | {"unknown"}
    v = run_json(capsys, ["verify", str(gal), str(files[0]), str(files[0])])
    assert v["same"] is True and v["threshold"] == out["threshold"]
    v = run_json(capsys, ["verify", str(saved_model), str(files[0]), str(files[5])])
    assert v["same"] is None and v["distance"] > 0
    e = run_json(
        capsys, ["export", str(saved_model), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]
    )
    assert e["max_abs_diff"] <= 1e-4 and (tmp_path / "m.onnx").is_file()
    main(["identify", str(gal), str(files[0])])  # the rich table
    assert "answer" in capsys.readouterr().out


def test_enroll_from_a_registered_source(tmp_path, make_mlp, capsys):
    np.savez(
        tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(12, 8)), y=np.arange(12) % 4
    )
    make_mlp().save(tmp_path / "run")
    out = run_json(
        capsys,
        [
            "enroll",
            str(tmp_path / "run"),
            "--source",
            "arrays",
            "--option",
            f"path={tmp_path / 'd.npz'}",
            "--out",
            str(tmp_path / "g"),
        ],
    )
    assert out["examples"] == 12 and out["classes"] == 4


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["enroll", "{run}", "--out", "{tmp}/g"], "exactly one of a data source"),
        (["enroll", "{run}", "--source", "nope", "--out", "{tmp}/g"], "unknown data source 'nope'"),
        (["enroll", "{run}", "--folder", "{tmp}/none", "--out", "{tmp}/g"], "no such folder"),
        (["enroll", "{tmp}", "--folder", "{tmp}", "--out", "{tmp}/g"], "no model.json"),
        (["identify", "{tmp}", "x.npy"], r"gallery\.json: missing"),
        (["verify", "{run}", "{tmp}/a.npy", "{tmp}/a.npy"], "no such file"),
        (["export", "{run}", "--format", "tflite"], "format: expected one of"),
        (
            ["enroll", "{run}", "--source", "traffic", "--option", "bad", "--out", "{tmp}/g"],
            "expected key=value",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(saved_model, tmp_path, capsys, argv, match):
    import re

    argv = [a.format(run=saved_model, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert re.search(match, err) and err.startswith("error:")


def test_serve_binds_loopback_by_default(saved_model, class_folder, tmp_path, monkeypatch, capsys):
    import uvicorn

    main(
        [
            "enroll",
            str(saved_model),
            "--folder",
            str(class_folder),
            "--out",
            str(tmp_path / "g"),
            "--json",
        ]
    )
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("SIAMESE_API_KEY", "k")
    main(["serve", str(tmp_path / "g"), "--port", "8123"])
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert "API key required" in capsys.readouterr().out


def test_enroll_with_crowding_uses_the_runs_training_data(tmp_path, make_mlp, capsys):
    import json

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 8)), y=np.arange(60) % 12)
    make_mlp().save(tmp_path / "run")
    argv = ["enroll", str(tmp_path / "run"), "--source", "arrays", "--option"]
    argv += [f"path={tmp_path / 'd.npz'}", "--crowding", "0.5", "--out", str(tmp_path / "g")]
    with pytest.raises(SystemExit) as exc:  # a bare model folder has no training data
        main(argv)
    assert exc.value.code == 2 and "config.json not found" in capsys.readouterr().err
    cfg = {"data": {"source": "arrays", "path": str(tmp_path / "d.npz")}}
    (tmp_path / "run" / "config.json").write_text(json.dumps(cfg))
    out = run_json(capsys, argv)
    assert out["crowding"] == 0.5 and out["examples"] == 60
    saved = Gallery.load(tmp_path / "g").crowding_
    assert saved.beta == 0.5 and 0 < len(saved.background) < 60  # the training split only
