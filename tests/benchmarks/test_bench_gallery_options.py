"""gallery_scale.py --size (issue 22): the index options against exact search, in quick mode;
sizes that cannot fit and bad option specs are refused up front (exit 2, one line)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _index_options  # noqa: E402
import gallery_scale  # noqa: E402


def test_options_quick_measure_every_search_setting(capsys):
    argv = ["--size", "1M", "--quick", "--json", "--threads", "1"]
    argv += ["--option", "ivfpq:nprobe=4/16,rf=2", "--option", "hnsw_sq:ef=64"]
    assert gallery_scale.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == {"vectors": 6000, "classes": 3000, "queries": 300, "k": 50, "dim": 128}
    assert [r["option"] for r in out["options"]] == [
        "ivfpq:nlist=0,pq=32,nprobe=4,rf=2",
        "ivfpq:nlist=0,pq=32,nprobe=16,rf=2",
        "hnsw_sq:m=32,efc=80,ef=64",
    ]
    for row in out["options"]:
        assert row["recall@50"] >= 0.95 and row["index_bytes"] > 0 and row["search_s"] > 0
    # more lists searched: at least the recall of fewer
    assert out["options"][1]["recall@50"] >= out["options"][0]["recall@50"]
    assert out["exact"]["cached"] is False and out["exact"]["wall_s"] > 0


def test_usearch_absent_is_skipped_with_a_line(capsys, monkeypatch):
    monkeypatch.setattr(_index_options, "usearch_available", lambda: False)
    argv = ["--size", "100k", "--quick", "--json", "--threads", "1", "--option", "usearch"]
    assert gallery_scale.main(argv) == 0
    captured = capsys.readouterr()
    assert "usearch: skipped, usearch is not installed (pip install usearch)" in captured.err
    assert json.loads(captured.out)["options"] == []


def test_a_size_that_cannot_fit_is_refused_before_anything_runs(capsys, monkeypatch):
    monkeypatch.setattr(gallery_scale, "available_bytes", lambda: 2 * 2**30)
    monkeypatch.setattr(gallery_scale, "make_data", pytest.fail)  # nothing may be allocated
    assert gallery_scale.main(["--size", "1M"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: --size 1M: 1,000,000 x 128-d needs about ")
    assert "but only 2.0 GiB of memory is available" in err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lsh", "expected one of hnsw, hnsw_sq, ivfpq, usearch, got 'lsh'"),
        ("ivfpq:probes=3", "key 'probes': expected key=value with key one of nlist, pq"),
        ("hnsw:ef=many", "key 'ef': expected int"),
    ],
)
def test_bad_option_specs_are_one_line(capsys, spec, message):
    assert gallery_scale.main(["--size", "1M", "--option", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
