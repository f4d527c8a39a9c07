"""`siamese discover` end to end: tabular records (file and line), series and images; enrolling a
cluster by name; every bad input one line with exit code 2."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from cli_run import run_cli
from PIL import Image

from siamese.encoders import create_encoder
from siamese.gallery import Gallery
from siamese.model import SiameseModel

_run = run_cli  # (exit code, stdout, stderr) of an in-process CLI call


@pytest.fixture
def tabular(tmp_path, make_mlp):
    """A calibrated gallery of 3 classes of 8-number records and a CSV of queries: a header,
    4 records of a known class, then 5 + 4 records of two new classes (lines 2-14)."""
    rng = np.random.default_rng(5)
    centres = 4.0 * rng.normal(size=(6, 8))

    def draw(c, n):
        return (centres[c] + 0.05 * rng.normal(size=(n, 8))).astype(np.float32)

    g = Gallery(make_mlp()).fit(np.concatenate([draw(c, 3) for c in range(3)]), list("aaabbbccc"))
    calib = np.concatenate([draw(c, 4) for c in range(4)])  # class 3 is not enrolled
    g.calibrate(calib, list("aaaabbbbccccdddd"), far=0.0)
    g.save(tmp_path / "g")
    rows = np.concatenate([draw(0, 4), draw(4, 5), draw(5, 4)])
    csv = tmp_path / "queries.csv"
    csv.write_text(
        "f1,f2,f3,f4,f5,f6,f7,f8\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows)
    )
    return tmp_path / "g", csv


def test_tabular_records_clustered_with_file_and_line(tabular, capsys, monkeypatch):
    gal, csv = tabular
    code, out, err = _run(capsys, "discover", str(gal), str(csv), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["queries"] == 13 and res["known"] == 4
    assert [c["size"] for c in res["clusters"]] == [5, 4]
    lines = [[m["line"] for m in c["members"]] for c in res["clusters"]]
    assert lines == [[6, 7, 8, 9, 10], [11, 12, 13, 14]]  # the CSV's own line numbers
    assert all(m["file"] == str(csv) for c in res["clusters"] for m in c["members"])
    assert res["clusters"][0]["medoid"]["line"] in lines[0]
    assert res["clusters"][0]["distance"] > res["settings"]["threshold"]
    monkeypatch.chdir(csv.parent)  # short paths: the table does not wrap them
    code, out, _ = _run(capsys, "discover", "g", "queries.csv")
    assert code == 0 and "2 cluster(s)" in out and "queries.csv:6" in out and "--enroll" in out


def test_enroll_a_cluster_by_name(tabular, capsys):
    gal, csv = tabular
    code, out, err = _run(capsys, "discover", str(gal), str(csv), "--enroll", "1=new_fault")
    assert code == 0, err
    assert "enrolled cluster 1 (4 examples) as 'new_fault'" in out
    g = Gallery.load(gal)
    assert g.num_classes == 4 and g.class_names_[-1] == "new_fault"
    res = json.loads(_run(capsys, "discover", str(gal), str(csv), "--json")[1])
    assert [c["size"] for c in res["clusters"]] == [5]  # the enrolled one is known now


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--enroll", "0=a"], "class 'a' is already enrolled; choose a new name"),
        (["--enroll", "0=unknown"], "'unknown' is reserved"),
        (["--enroll", "5=x"], "enroll cluster 5: no such cluster"),
        (["--enroll", "x=1"], "--enroll: expected CLUSTER=NAME with a cluster number"),
        (
            ["--method", "kmeans"],
            "discover method: unknown 'kmeans'; valid: agglomerative, hdbscan",
        ),
        (["--min-cluster-size", "1"], "--min-cluster-size 1: expected"),
        (["--link-scale", "0"], "--link-scale 0.0: expected"),
    ],
)
def test_bad_options_are_one_line(tabular, capsys, args, needle):
    gal, csv = tabular
    code, out, err = _run(capsys, "discover", str(gal), str(csv), *args)
    assert code == 2 and needle in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    assert Gallery.load(gal).num_classes == 3  # nothing enrolled


def test_bad_inputs_are_one_line(tabular, tmp_path, capsys, make_mlp):
    gal, csv = tabular
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7,x\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    short = tmp_path / "short.csv"
    short.write_text("1,2,3,4,5,6,7,8\n1,2,3\n")
    Gallery(make_mlp()).fit(np.eye(8, dtype=np.float32)[:4], list("abcd")).save(tmp_path / "raw")
    cases = [
        ([str(gal), str(bad)], f"{bad}:2: expected 8 comma-separated numbers, got"),
        (
            [str(gal), str(short)],
            f"{short}:2: expected a vector item of shape (8,), got shape (3,)",
        ),
        ([str(gal), str(empty)], "expected rows of equal numbers"),
        ([str(gal), str(tmp_path / "nope.csv")], "nope.csv: no such file"),
        ([str(tmp_path / "raw"), str(csv)], "no calibrated 'unknown' threshold"),
    ]
    for args, needle in cases:
        code, out, err = _run(capsys, "discover", *args)
        assert code == 2 and needle in err, (args, err)
        assert "Traceback" not in err + out and len(err.strip().splitlines()) == 1


def test_all_known_is_a_clear_answer(tabular, tmp_path, capsys):
    gal, csv = tabular
    known = tmp_path / "known.csv"
    known.write_text("\n".join(csv.read_text().splitlines()[:5]))  # header + the 4 known records
    code, out, _ = _run(capsys, "discover", str(gal), str(known))
    assert (
        code == 0 and "all 4 queries are of known classes" in out and "nothing to discover" in out
    )


def _saved(tmp_path, name, encoder, args, info):
    torch.manual_seed(0)
    return SiameseModel(
        create_encoder(encoder, **args), encoder_name=encoder, encoder_args=args, info=info
    )


def test_series_and_images(tmp_path, capsys):
    """Untrained encoders: exact copies of a file embed identically, so with a tiny threshold the
    copies of each never-enrolled file are one cluster, and a copy of an enrolled item is known."""
    rng = np.random.default_rng(0)
    lstm = _saved(tmp_path, "lstm", "lstm", {"input_shape": [12, 3], "hidden_size": 8,
                  "embedding_dim": 4}, {"kind": "sequence", "item_shape": [12, 3]})  # fmt: skip
    conv = _saved(tmp_path, "conv", "conv4", {"input_shape": [1, 16, 16], "channels": 4,
                  "embedding_dim": 8}, {"kind": "image", "item_shape": [1, 16, 16],
                  "item_dtype": "uint8"})  # fmt: skip
    for model, kind in ((lstm, "series"), (conv, "images")):
        folder = tmp_path / kind
        folder.mkdir()
        if kind == "series":
            base = rng.normal(size=(4, 12, 3)).astype(np.float32)
            for i, b in enumerate(base):
                np.save(folder / f"s{i}.npy", b)
            enrolled = base[:2]
            suffix = ".npy"
        else:
            base = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
            for i, b in enumerate(base):
                Image.fromarray(b).save(folder / f"s{i}.png")
            enrolled = base[:2, None]
            suffix = ".png"
        Gallery(model, threshold=1e-4).fit(enrolled, ["a", "b"]).save(tmp_path / f"g_{kind}")
        files = [folder / f"s0{suffix}"]  # a copy of enrolled "a": known
        for i in (2, 3):  # 3 copies of each of two files never enrolled
            for r in range(3):
                files.append(folder / f"copy{i}_{r}{suffix}")
                shutil.copy(folder / f"s{i}{suffix}", files[-1])
        code, out, err = _run(
            capsys, "discover", str(tmp_path / f"g_{kind}"), *map(str, files), "--json"
        )
        assert code == 0, err
        res = json.loads(out)
        assert res["known"] == 1 and len(res["clusters"]) == 2, res
        for c, i in zip(res["clusters"], (2, 3), strict=True):
            assert [m["file"] for m in c["members"]] == [
                str(folder / f"copy{i}_{r}{suffix}") for r in range(3)
            ]
            assert all(m["line"] is None for m in c["members"])
