"""Test-time shifts: the mean embedding over shifted views, saved with the model, never exported."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from siamese.data import Normaliser
from siamese.encoders import create_encoder
from siamese.errors import ConfigError
from siamese.export import export_model
from siamese.model import SiameseModel

ARGS = {"input_shape": [1, 12, 12], "channels": 4, "embedding_dim": 6, "output_activation": "l2"}


def _conv_model(shift: int = 0) -> SiameseModel:
    torch.manual_seed(0)
    return SiameseModel(
        create_encoder("conv4", **ARGS),
        Normaliser("global", [30.0], [60.0]),
        encoder_name="conv4",
        encoder_args=ARGS,
        distance="cosine",
        info={"kind": "image", "item_shape": [1, 12, 12]},
        test_time_shift=shift,
    )


def test_embedding_is_the_renormalised_mean_over_every_shift():
    model = _conv_model(shift=1)
    x = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8)
    got = model.embed(x)
    # brute force: 9 views, each the image moved by (dy, dx) with its edge pixels repeated
    model.eval()
    views = []
    with torch.no_grad():
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                moved = torch.empty(5, 1, 12, 12)
                for i in range(12):
                    for j in range(12):
                        si, sj = min(max(i + dy, 0), 11), min(max(j + dx, 0), 11)
                        moved[:, :, i, j] = x[:, :, si, sj].float()
                views.append(model.forward(moved))
    want = F.normalize(torch.stack(views).mean(0), dim=1)
    assert torch.allclose(got, want, atol=1e-5)
    model.test_time_shift = 0
    assert not torch.allclose(model.embed(x), got, atol=1e-3)  # the shifts change something
    assert torch.allclose(model.embed(x), model.forward(x.float()), atol=1e-6)


def test_saved_with_the_model_and_checked(tmp_path):
    _conv_model(shift=2).save(tmp_path)
    assert json.loads((tmp_path / "model.json").read_text())["test_time_shift"] == 2
    loaded = SiameseModel.load(tmp_path)
    assert loaded.test_time_shift == 2
    x = torch.randint(0, 256, (3, 1, 12, 12), dtype=torch.uint8)
    assert torch.equal(loaded.embed(x), _conv_model(shift=2).embed(x))
    with pytest.raises(ConfigError, match="test_time_shift: expected 0 or more pixels"):
        _conv_model(shift=-1)


def test_sequences_are_not_shifted():
    args = {"input_shape": [12, 3], "hidden_size": 8, "embedding_dim": 4}
    torch.manual_seed(0)
    m = SiameseModel(create_encoder("lstm", **args), encoder_name="lstm", encoder_args=args)
    x = torch.rand(4, 12, 3)
    plain = m.embed(x)
    m.test_time_shift = 2
    assert torch.equal(m.embed(x), plain)


def test_export_embeds_one_view_and_names_the_setting(tmp_path):
    _conv_model(shift=1).save(tmp_path)
    report = export_model(tmp_path, "torchscript")
    assert report["max_abs_diff"] <= 1e-4 and report["test_time_shift"] == 1
