"""Model files: safetensors + JSON, bit-identical reload, no pickle, clear errors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from siamese.data import Normaliser
from siamese.encoders import create_encoder
from siamese.errors import ModelFileError
from siamese.model import SiameseModel
from siamese.objectives import PairHead


def _model(head=False):
    torch.manual_seed(0)
    args = {"input_shape": [12, 3], "hidden_size": 8, "embedding_dim": 4}
    enc = create_encoder("lstm", **args)
    norm = Normaliser("feature", [1.0, 2.0, 3.0], [0.5, 1.0, 2.0])
    return SiameseModel(
        enc,
        norm,
        PairHead(4) if head else None,
        encoder_name="lstm",
        encoder_args=args,
        info={"class_names": ["a", "b"]},
    )


@pytest.mark.parametrize("head", [False, True])
def test_save_load_bit_identical(tmp_path, head):
    m = _model(head)
    x = torch.rand(7, 12, 3)
    m.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "model.json").read_text())
    assert cfg["encoder"]["name"] == "lstm" and cfg["normaliser"]["mean"] == [1.0, 2.0, 3.0]
    m2 = SiameseModel.load(tmp_path)
    assert torch.equal(m.embed(x), m2.embed(x))
    e1, e2 = m.embed(x[:3]), m.embed(x[3:6])
    assert torch.equal(m.similarity(e1, e2), m2.similarity(e1, e2))


def test_load_never_unpickles(tmp_path, monkeypatch):
    _model().save(tmp_path)

    def boom(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(torch, "load", boom)
    SiameseModel.load(tmp_path)


def test_embed_uses_eval_mode_and_keeps_batchnorm_stats():
    torch.manual_seed(0)
    enc = create_encoder("mlp", input_shape=(4,), hidden=(8,), embedding_dim=2)
    m = SiameseModel(enc, encoder_name="mlp", encoder_args={"input_shape": [4]})
    m.train()
    bn = next(x for x in m.modules() if isinstance(x, torch.nn.BatchNorm1d))
    before = bn.running_mean.clone()
    m.embed(torch.rand(16, 4) * 10)
    assert torch.equal(before, bn.running_mean)
    assert m.training  # mode restored


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelFileError, match="model.json: missing"):
        SiameseModel.load(tmp_path)
    _model().save(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match="corrupt weights file"):
        SiameseModel.load(tmp_path)
    _model().save(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="corrupt model config"):
        SiameseModel.load(tmp_path)


def test_weights_that_do_not_match_config(tmp_path):
    _model().save(tmp_path)
    cfg = json.loads((tmp_path / "model.json").read_text())
    cfg["encoder"]["args"]["hidden_size"] = 16
    (tmp_path / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="weights do not match"):
        SiameseModel.load(tmp_path)


def test_normaliser_fit_ignores_padding():
    from siamese.data import LabeledDataset

    x = np.zeros((2, 4, 1), np.float32)
    x[0, :2, 0] = [1, 3]
    x[1, :4, 0] = [1, 3, 1, 3]
    x[0, 2:, 0] = 1000  # padding
    ds = LabeledDataset(x, [0, 1], ["a", "b"], ["s0", "s1"], kind="sequence", lengths=[2, 4])
    n = Normaliser.fit(ds, "feature")
    assert n.mean.item() == pytest.approx(2.0) and n.std.item() == pytest.approx(1.0)
