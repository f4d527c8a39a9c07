"""`siamese train --source NAME -o ...` without a config: the shipped recipe for the data's kind;
`siamese train` with no arguments: a usage line and exit 2; `siamese evaluate` 1-NN vs TRAIN."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run_cli

from siamese.recipes import KINDS, recipe_config, recipe_text
from siamese.training.config import apply_overrides, from_dict, read_config_file

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "training.epochs=2",
    "training.steps_per_epoch=3",
    "model.channels=[8, 8, 8]",
    "model.embedding_dim=8",
    "evaluation.episodes=20",
    "evaluation.pairs=50",
    "training.progress=false",
]


_run = run_cli  # (exit code, stdout, stderr) of an in-process CLI call


def _ucr_problem(folder: Path) -> Path:
    """A tiny UCR problem: 3 classes (sine, square, ramp) at very different scales, 20 steps."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 20)
    shapes = {"sine": np.sin(t), "square": np.sign(np.sin(t)), "ramp": t / np.pi - 1}
    for part, n in (("TRAIN", 6), ("TEST", 4)):
        lines = ["@problemName Tiny", "@classLabel true sine square ramp", "@data"]
        for name, shape in shapes.items():
            for _ in range(n):
                scale = 10.0 ** rng.integers(-2, 3)  # 0.01 .. 100: per-series z-norm's case
                x = scale * (shape + 0.1 * rng.normal(size=t.size))
                lines.append(",".join(f"{v:.5f}" for v in x) + f":{name}")
        (folder / f"Tiny_{part}.ts").write_text("\n".join(lines) + "\n")
    return folder


def test_train_without_arguments_prints_usage_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "train")
    assert code == 2
    assert "usage: siamese train --config FILE" in err and "--source NAME" in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "runs").exists()


def test_source_without_config_trains_the_sequences_recipe_and_evaluate_gives_1nn(tmp_path, capsys):
    data = _ucr_problem(tmp_path / "Tiny")
    sets = [x for s in TINY + [f'out_dir="{tmp_path / "runs"}"'] for x in ("--set", s)]
    code, out, err = _run(capsys, "train", "--source", "ucr", "-o", f"path={data}", *sets)
    assert code == 0, err
    assert "recipe: sequences" in out and "'protocol'" in out
    run = tmp_path / "runs" / "ucr-Tiny"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["normalise"] == "series" and cfg["data"]["split"] == "protocol"
    assert cfg["model"]["encoder"] == "conv1d"

    code, out, err = _run(capsys, "evaluate", str(run), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["gallery_items"] == 18 and got["gallery_1nn_test_items"] == 12

    from siamese.data import load_source
    from siamese.model import SiameseModel

    model = SiameseModel.load(run)  # brute force: every TEST series' nearest TRAIN series
    tr = load_source("ucr", path=str(data), parts=["train"])
    te = load_source("ucr", path=str(data), parts=["test"])
    a, b = torch.as_tensor(model.embed_dataset(te)), torch.as_tensor(model.embed_dataset(tr))
    d = torch.cdist(a, b).numpy()  # the recipe's distance is euclidean
    want = float((tr.labels[d.argmin(1)] == te.labels).mean())
    assert got["gallery_1nn_accuracy"] == pytest.approx(want)

    code, out, _ = _run(capsys, "evaluate", str(run))
    assert "1-NN accuracy of TEST against the TRAIN gallery (18 items)" in out


def test_a_class_split_run_has_no_gallery_1nn(tmp_path):
    from siamese.pipeline import train_from_config
    from siamese.pipeline.evaluate_run import evaluate_run
    from tests.tiny_runs import tiny_config

    result = train_from_config(tiny_config(tmp_path, "cls"), report=False, progress_override=False)
    assert "gallery_1nn_accuracy" not in evaluate_run(result.run_dir)


@pytest.mark.parametrize(
    "source,items,recipe",
    [("arrays", (24, 12, 12), "images"), ("arrays", (24, 5), "vectors")],
)
def test_each_kind_gets_its_recipe(tmp_path, source, items, recipe):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=items).astype(np.uint8 if recipe == "images" else np.float32)
    np.savez(path, items=x, labels=np.arange(24) % 6)
    cfg, got = recipe_config(source, {"path": str(path)}, ["training.epochs=1"])
    assert got == recipe and cfg.name == "arrays-d" and cfg.data.split == "classes"
    assert cfg.training.epochs == 1 and cfg.data.options["path"] == str(path)


def test_every_recipe_is_a_valid_config_and_ucr_toml_is_the_sequences_recipe():
    for recipe in KINDS.values():
        from_dict(apply_overrides(tomllib.loads(recipe_text(recipe)), []))
    bench = read_config_file(ROOT / "configs" / "ucr.toml")
    shipped = tomllib.loads(recipe_text("sequences"))
    for key in ("name",):
        bench.pop(key)
    for key in ("source", "path", "split"):
        bench["data"].pop(key)
    assert bench == shipped  # the benchmark trains exactly what `--source ucr` ships
