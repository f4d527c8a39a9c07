"""benchmarks/sequencing_seed.py and configs/sequencing_seed.toml: the config trains as shipped
(on a tiny catalog), and the script's --quick run writes a sound results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _limits import HANG_S
from PIL import Image

from siamese.training.config import load_config
from siamese.training.run import train_run

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "sequencing_seed.toml"
ROWS = ["easiest", "hardest", "sigmoid", "cyclic_sigmoid", "scheduled", "batch_hard"]


def _tiny_catalog(folder: Path, classes: int = 6) -> tuple[Path, Path]:
    """A catalog image and a photo per class (noisy copies of one random pattern), split
    train / test as benchmarks/sequencing_seed.py writes them."""
    rng = np.random.default_rng(0)
    photos, catalog = ["class,file,split"], ["class,file,split"]
    for c in range(classes):
        pattern = rng.integers(0, 256, size=(28, 28))
        split = "train" if c < classes - 2 else "test"
        for kind, lines in (("catalog", catalog), ("photo", photos)):
            img = np.clip(pattern + rng.normal(0, 20, size=(28, 28)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f"c{c}_{kind}.png")
            lines.append(f"c{c},c{c}_{kind}.png,{split}")
    (folder / "photos.csv").write_text("\n".join(photos) + "\n")
    (folder / "catalog.csv").write_text("\n".join(catalog) + "\n")
    return folder / "photos.csv", folder / "catalog.csv"


def test_config_trains_one_step_with_catalog_anchors(tmp_path: Path) -> None:
    photos, refs = _tiny_catalog(tmp_path)
    sets = [
        f"data.path='{photos}'",
        f"data.references='{refs}'",
        f"out_dir='{tmp_path / 'runs'}'",
        "training.epochs=1",
        "training.steps_per_epoch=1",
        "sampling.batch_size=4",
        "evaluation.n_way=2",  # the tiny catalog's 2 test classes
    ]
    cfg = load_config(CONFIG, sets)
    assert (cfg.mining.strategy, cfg.mining.threshold, cfg.mining.growth) == ("sigmoid", 0.75, 3)
    trained = train_run(cfg, progress_override=False)
    last = trained.history[-1]
    assert last["step"] == 1 and np.isfinite(last["train_loss"])
    assert 0.0 <= last["hardness_target"] <= 0.75  # the sigmoid schedule, capped at threshold
    gen_train = trained.splits["train"]
    # anchors are the catalog images: the train part's reference mask is its own (4 of 8)
    assert gen_train.meta["is_reference"].tolist().count(True) == 4 == len(gen_train) // 2


def test_export_refuses_a_folder_it_did_not_write(tmp_path, monkeypatch, capsys) -> None:
    """--export replaces an earlier export only: any other folder is refused, exit 2, kept."""
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["sequencing_seed.py", "--export", str(tmp_path), "--data", str(tmp_path / "none")]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import sequencing_seed

    with pytest.raises(SystemExit) as exc:
        sequencing_seed.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --export {tmp_path}: exists and is not a catalog this script")
    assert len(err.splitlines()) == 1 and (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_quick_run_writes_every_row(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "sequencing_seed.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "sequencing_seed.py"), "--quick"]
    cmd += ["--data", str(shared_data / "omniglot"), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_S, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    table_rows = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in table_rows] == ROWS
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["complete"] is True
    assert result["setup"]["train_classes"] == result["setup"]["val_classes"] == 30
    assert result["seed_table"]["sigmoid"] == {"train_accuracy": 0.90, "top50": 0.47}
    runs = {r["row"]: r for r in result["runs"]}
    assert list(runs) == ROWS
    for row, r in runs.items():
        assert r["steps"] == 6 and r["triplets"] == 6 * 64, row
        for key in ("train_served_triplet_accuracy", "train_random_triplet_accuracy"):
            assert 0.0 <= r[key] <= 1.0, (row, key)
        assert 0.0 <= r["val_top1"] <= r["val_top5"] <= r["val_top50"] <= 1.0, row
        assert r["train_random_triplets"] == 30 * 4 and isinstance(r["collapse_flagged"], bool)
        assert r["wall_seconds"] > 0 and r["cpu_seconds"] >= 0
    # offline rows follow their rule's hardness; easiest's negatives are the farthest
    assert runs["easiest"]["hardness_achieved_last_epoch"] < 0.05
    assert runs["hardest"]["hardness_achieved_last_epoch"] > 0.95
    assert 0.0 < runs["sigmoid"]["hardness_target_last_epoch"] <= 0.75
    assert runs["batch_hard"]["hardness_target_last_epoch"] is None
    summary = result["summary"]
    assert list(summary) == ROWS and summary["sigmoid"]["seed_top50"] == 0.47
    assert summary["scheduled"]["seed_top50"] is None and summary["hardest"]["seeds"] == [0]
