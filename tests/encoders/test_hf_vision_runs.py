"""hf_vision through the library: a tiny random ViT fine-tuned (frozen backbone first, then
layer-wise learning rates), exported to ONNX with parity, enrolled and identified in a gallery
with its Hugging Face folder gone, and a bad folder refused by ``siamese train`` (exit 2) before
the run folder is written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from cli_run import run_cli
from hf_tiny import tiny_model_folder

from siamese.export import export_model
from siamese.gallery import Gallery
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.training import load_config


def _images(tmp_path):
    """6 classes x 4 grayscale 24x24 images, one pattern per class (resized to 32 by the model)."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 24, 24))
    x = np.repeat(base, 4, axis=0) + 0.4 * rng.normal(size=(24, 24, 24))
    items = np.clip(128 + 50 * x, 0, 255).astype(np.uint8)
    np.savez(tmp_path / "faces.npz", items=items, labels=np.repeat(np.arange(6), 4))
    return tmp_path / "faces.npz", items, np.repeat(np.arange(6), 4)


def _config(tmp_path, folder, name="hf", extra=()):
    data, _, _ = _images(tmp_path)
    return load_config(None, [
        f'name="{name}"', f'out_dir="{tmp_path / "runs"}"', 'data.source="arrays"',
        f'data.path="{data}"', 'data.normalise="none"', "data.val_fraction=0.25",
        "data.test_fraction=0.25", 'model.encoder="hf_vision"', f'model.pretrained="{folder}"',
        'model.pooling="cls"', "model.embedding_dim=8", 'model.output_activation="l2"',
        'objective.name="triplet"', 'objective.distance="cosine"', 'sampling.kind="pk"',
        "sampling.p=3", "sampling.k=2", "training.epochs=2", "training.steps_per_epoch=2",
        "training.val_batches=1", "training.progress=false", "training.early_stopping=false",
        'training.on_collapse="warn"', "training.freeze_backbone_epochs=1",
        "training.backbone_lr_scale=0.5", "training.layer_decay=0.8",
        "training.learning_rate=0.01", "evaluation.n_way=2", "evaluation.episodes=4",
        "evaluation.val_episodes=4", "evaluation.pairs=10", *extra,
    ])  # fmt: skip


def test_fine_tune_export_and_gallery_without_the_folder(tmp_path):
    folder = tiny_model_folder(tmp_path / "hf", "vit")
    tf = pytest.importorskip("transformers")
    start = tf.AutoModel.from_pretrained(folder).state_dict()  # the pretrained weights
    one = train_from_config(_config(tmp_path, folder, "one", ["training.epochs=1"]), report=False)
    w1 = one.model.encoder.state_dict()
    for key, value in start.items():  # epoch 1: the backbone frozen, only the head trained
        assert torch.equal(w1["backbone." + key], value), f"{key} moved while frozen"
    run = train_from_config(_config(tmp_path, folder), report=False)
    w2 = run.model.encoder.state_dict()
    assert not torch.equal(w2["backbone.embeddings.patch_embeddings.projection.weight"],
                           start["embeddings.patch_embeddings.projection.weight"])  # fmt: skip
    metrics = [json.loads(x) for x in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m.get("backbone_frozen") for m in metrics[1:]] == [True, False]
    ckpt = json.loads((run.run_dir / "checkpoints" / "last.json").read_text())
    lrs = [g["lr"] for g in ckpt["optimizer"]["param_groups"]]
    # head (projection), then final norm + pooler, layer 1, layer 0, embeddings, top down
    assert lrs == pytest.approx([0.01, 0.005, 0.004, 0.0032, 0.00256])

    shutil.rmtree(tmp_path / "hf")  # the model folder carries everything from here on
    report = export_model(run.run_dir, "onnx")
    assert report["max_abs_diff"] <= 1e-4 and "items of" in report["checked_on"]
    model = SiameseModel.load(run.run_dir)
    _, items, labels = _images(tmp_path)
    items = items[:, None]  # (N, 1, 24, 24): the reader's image items
    enrolled = Gallery(model).fit(items[::4], [f"c{c}" for c in labels[::4]])
    enrolled.save(tmp_path / "gallery")
    gallery = Gallery.load(tmp_path / "gallery")
    answers = gallery.identify(items[1::4], k=2)
    assert len(answers) == 6 and all(len(a.matches) == 2 for a in answers)
    e = model.embed(items[::4])
    nearest = (e @ model.embed(items[1::4]).T).argmax(0)  # cosine: unit-length embeddings
    assert [a.matches[0].label for a in answers] == [f"c{c}" for c in labels[::4][nearest]]


def test_a_bad_folder_fails_train_with_exit_2_before_the_run_folder(tmp_path, capsys):
    folder = tiny_model_folder(tmp_path / "hf", "vit")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    code, out, err = run_cli(capsys, "train", "--config", str(_write_toml(tmp_path, folder)))
    assert code == 2, out + err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "pytorch_model.bin: a pickle checkpoint, refused" in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "runs" / "bad").exists()


def _write_toml(tmp_path, folder):
    data, _, _ = _images(tmp_path)
    path = tmp_path / "hf.toml"
    path.write_text(
        f'name = "bad"\nout_dir = "{tmp_path / "runs"}"\n[data]\nsource = "arrays"\n'
        f'path = "{data}"\nnormalise = "none"\n[model]\nencoder = "hf_vision"\n'
        f'pretrained = "{folder}"\n[training]\nepochs = 1\nsteps_per_epoch = 1\n'
    )
    return path
