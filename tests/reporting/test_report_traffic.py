"""build_report on a tiny real run: sections, decodable images, numbers, size, offline, degrading."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from siamese.errors import ConfigError
from siamese.reporting import RunFolder, build_report
from siamese.reporting.html import fmt
from siamese.reporting.sections_embedding import embedding_section
from siamese.reporting.sections_results import curves_section

SECTIONS = ("dataset", "setup", "curves", "embedding", "results", "examples")
IMG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def page(traffic_report):
    return traffic_report, traffic_report.read_text(encoding="utf-8")


def test_sections_images_and_size(page, traffic_run):
    path, text = page
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in text
    images = IMG.findall(text)
    assert len(images) >= 10
    for b64 in images:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
            im.load()
            assert im.size[0] > 10 and im.size[1] > 10
    assert path.stat().st_size < 15e6
    # Offline: nothing fetched from elsewhere (no external scripts, styles, fonts or images).
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "@import" not in text
    assert "could not" not in text  # data and model were loaded: no degraded notes


def test_numbers_match_run_files(page, traffic_run):
    _, text = page
    metrics = [
        json.loads(line) for line in (traffic_run / "metrics.jsonl").read_text().splitlines()
    ]
    for m in metrics:
        for key in ("train_loss", "val_loss", "val_accuracy", "val_auc"):
            if m.get(key) is not None:
                assert f">{fmt(m[key])}<" in text, (m["epoch"], key)
    ev = json.loads((traffic_run / "evaluation.json").read_text())
    for key in ("accuracy", "auc", "eer", "cohens_d"):
        assert f">{fmt(ev[key])}<" in text, key
    # The curves are recomputed from the same pairs as evaluation.json: the legend agrees.
    assert "the data or the library changed" not in text
    assert f"{ev['n_way']}-way {ev['k_shot']}-shot accuracy" in text


def test_setup_layers_and_embedding_frames(page, traffic_run):
    _, text = page
    for needle in (
        "LSTM",
        "Linear",
        "trainable",
        "squared_euclidean",
        "adam",
        "torch",
        "numpy",
        "python",
        "prediction per pair",
        "prediction per query",
        "top-1 accuracy",
        "MAP@R",
        "Most confident correct: same class",
        "Worst mistakes",
    ):
        assert needle in text, needle
    frames = re.findall(r'data-group="emb"', text)
    assert len(frames) == len(RunFolder.read(traffic_run).snapshots) == 3  # epochs 0, 1, 2
    assert 'type="range"' in text


def test_degrades_without_data_or_model(traffic_run, tmp_path):
    broken = tmp_path / "no_data"
    shutil.copytree(traffic_run, broken)
    cfg = json.loads((broken / "config.json").read_text())
    cfg["data"] = {"source": "folders", "path": str(tmp_path / "moved_away")}
    (broken / "config.json").write_text(json.dumps(cfg))
    text = build_report(broken).read_text()
    assert "could not be read again" in text and 'id="curves"' in text
    assert "LSTM" in text  # the model still loads: the layer table stays

    (broken / "model.safetensors").unlink()
    text = build_report(broken).read_text()
    assert "Layer table left out" in text and "model could not be loaded" in text
    assert 'data-group="emb"' in text  # snapshots need no model


def test_bad_run_folders(traffic_run, tmp_path):
    with pytest.raises(ConfigError, match="not found; pass a folder written by `siamese train`"):
        RunFolder.read(tmp_path / "nope")
    partial = tmp_path / "partial"
    shutil.copytree(traffic_run, partial)
    (partial / "metrics.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"missing metrics\.jsonl"):
        build_report(partial)
    (partial / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1, oops\n')
    with pytest.raises(ConfigError, match=r"metrics\.jsonl, line 2: not valid JSON"):
        build_report(partial)


def test_curves_show_hardness_and_collapse(traffic_run):
    run = RunFolder.read(traffic_run)
    for m, (target, achieved) in zip(run.metrics[1:], [(0.2, 0.25), (0.6, 0.5)], strict=True):
        m.update(hardness_target=target, hardness_achieved=achieved)
    run.metrics[2].update(collapse=True, warnings=["embedding spread fell to 1% of its start"])
    text = curves_section(run)
    assert 'alt="hardness schedule and achieved hardness"' in text
    assert "epoch 2: embedding spread fell to 1% of its start" in text
    assert ">collapse<" in text and ">hardness target<" in text and f">{fmt(0.6)}<" in text
    for b64 in IMG.findall(text):
        Image.open(io.BytesIO(base64.b64decode(b64))).verify()


def test_thirty_epochs_stay_small(traffic_run):
    """The parts that grow with epochs (curves, one frame per epoch) stay far below 15 MB."""
    run = RunFolder.read(traffic_run)
    rng = np.random.default_rng(0)
    run.snapshot_labels = rng.integers(0, 8, size=150)
    run.snapshots = {e: rng.normal(size=(150, 16)).astype(np.float32) for e in range(31)}
    run.metrics = [{**run.metrics[-1], "epoch": e} for e in range(31)]
    frames = embedding_section(run)
    assert frames.count('data-group="emb"') == 31
    assert len(frames) + len(curves_section(run)) < 5e6
