"""``normalise = "series"``: every series z-normalised on its own over its valid steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.data import LabeledDataset, Normaliser
from siamese.errors import ConfigError


def test_each_series_and_feature_gets_mean_0_std_1_over_its_valid_steps():
    rng = np.random.default_rng(0)
    x = np.zeros((3, 6, 2), dtype=np.float32)
    x[0] = rng.normal(5.0, 0.001, size=(6, 2))  # a tiny-amplitude series: keeps its shape
    x[1, :4] = rng.normal(-300.0, 50.0, size=(4, 2))
    x[1, 4:] = 1e6  # padding beyond length 4 is ignored and comes out 0
    x[2, :3, 0] = 7.0  # a constant feature: no division by ~0
    lengths = torch.tensor([6, 4, 3])
    out = Normaliser("series")(torch.as_tensor(x), lengths).numpy()
    for i, n in enumerate(lengths.tolist()):
        valid = x[i, :n].astype(np.float64)
        std = valid.std(0)
        want = (valid - valid.mean(0)) / np.where(std > 1e-8, std, 1.0)
        assert np.allclose(out[i, :n], want, atol=1e-3)
        assert np.all(out[i, n:] == 0)
    assert np.allclose(out[0].std(0), 1.0, atol=1e-3)  # brute force, per item and feature


def test_without_lengths_the_whole_series_counts_and_nothing_is_fitted():
    x = torch.arange(12.0).reshape(2, 3, 2)
    ds = LabeledDataset(x.numpy(), [0, 1], ["a", "b"], ["s0", "s1"], kind="sequence")
    n = Normaliser.fit(ds, "series")
    out = n(x)
    assert torch.allclose(out.mean(1), torch.zeros(2, 2), atol=1e-6)
    assert n.to_json()["mode"] == "series"
    assert torch.equal(Normaliser.from_json(n.to_json())(x), out)


def test_series_mode_on_non_sequence_items_is_one_clear_error():
    ds = LabeledDataset(np.zeros((2, 4, 4, 1)), [0, 1], ["a", "b"], ["a", "b"], kind="image")
    with pytest.raises(ConfigError, match=r"normalise = 'series': expected sequences .* 'feature'"):
        Normaliser.fit(ds, "series")


def test_the_model_normalises_each_series_over_its_true_length():
    from siamese.encoders import create_encoder
    from siamese.model import SiameseModel

    torch.manual_seed(0)
    args = {"input_shape": [10, 1], "channels": [4], "kernels": [3], "embedding_dim": 3}
    model = SiameseModel(create_encoder("conv1d", **args), Normaliser("series"))
    short = torch.randn(1, 6, 1) * 0.01 + 3.0
    padded = torch.cat([short, torch.full((1, 4, 1), 50.0)], dim=1)  # (1, 10, 1)
    a = model.embed(short, torch.tensor([6]))
    b = model.embed(padded, torch.tensor([6]))
    c = model.embed(short * 1000.0, torch.tensor([6]))  # scale does not matter
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-4)
