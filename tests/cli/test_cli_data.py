"""`siamese data inspect` / `siamese data sources` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from siamese.cli.app import main
from siamese.cli.data import parse_options


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_lfw_json(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    code, out, _ = _run(
        capsys, "data", "inspect", "-s", "lfw", "-o", f"path={shared_data / 'lfw'}", "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["items"] == 7701 and report["classes"] == 4281
    assert report["pairs"]["same"] == 3000 and len(report["pairs"]["folds"]) == 10
    assert report["splits"]["kind"].startswith("classes")
    parts = report["splits"]["parts"]
    assert sum(p["items"] for p in parts.values()) == 7701


def test_inspect_ucr_table(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    code, out, _ = _run(
        capsys,
        "data",
        "inspect",
        "--source",
        "ucr",
        "--option",
        f"path={shared_data / 'ucr' / 'JapaneseVowels'}",
    )
    assert code == 0
    assert "sequence lengths" in out and "min 7, median 15, max 29" in out and "protocol" in out


def test_inspect_from_config_with_verify(
    capsys: pytest.CaptureFixture[str], shared_data: Path, tmp_path: Path
) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        f'[data]\nsource = "folders"\npath = "{shared_data / "att_faces"}"\nval_fraction = 0.25\n'
    )
    code, out, _ = _run(capsys, "data", "inspect", "--config", str(config), "--verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["verify"] == {"checked": 400, "problems": []}
    assert report["splits"]["parts"]["val"] == {"items": 100, "classes": 10}


def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "data", "inspect", "-s", "lfw", "-o", f"path={tmp_path / 'nope'}")
    assert code == 2 and "LFW path" in err and "does not exist" in err and "Traceback" not in err
    code, _, err = _run(
        capsys, "data", "inspect", "-s", "folders", "-o", "path=x", "-o", "colour=1"
    )
    assert code == 2 and "unknown option(s) colour" in err
    code, _, err = _run(capsys, "data", "inspect", "-o", "path=x")
    assert code == 2 and "no source given" in err


def test_verify_fails_on_a_corrupt_image(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("L", (8, 8), 30 * i).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "b" / "1.png").write_bytes(b"not a png")
    code, out, err = _run(
        capsys, "data", "inspect", "-s", "folders", "-o", f"path={tmp_path}", "--verify"
    )
    assert code == 2 and "1 of 4 item(s) cannot be read" in err and "b/1.png" in err
    assert "verified 4 item(s): 1 unreadable" in out


def test_sources_and_option_parsing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "sources", "--json")
    sources = json.loads(out)
    assert code == 0 and {
        "lfw",
        "omniglot",
        "folders",
        "csv",
        "ucr",
        "csv_windows",
        "tabular",
        "arrays",
    } <= set(sources)
    assert sources["lfw"]["path"] == "required"
    assert parse_options(["size=105", "parts=['background']", "path=/a/b c", "grayscale=true"]) == {
        "size": 105,
        "parts": ["background"],
        "path": "/a/b c",
        "grayscale": True,
    }
