"""SeriesAugment: each transform does what it says, padding stays zero, bad configs are named."""

from __future__ import annotations

import pytest
import torch

from siamese.data.augment_series import SeriesAugment
from siamese.errors import ConfigError


def _ramp(b: int = 4, t: int = 20, f: int = 2) -> torch.Tensor:
    return torch.linspace(0, 1, t)[None, :, None].repeat(b, 1, f)  # (B, T, F)


def test_identity_returns_the_input():
    x = _ramp()
    assert SeriesAugment()(x) is x
    assert SeriesAugment(jitter=0.1, p=0.0)(x) is x
    assert SeriesAugment.from_config({}) is None


def test_jitter_adds_noise_of_the_given_size():
    x = torch.zeros(64, 50, 1)
    out = SeriesAugment(jitter=0.1)(x, generator=torch.Generator().manual_seed(0))
    assert abs(float(out.std()) - 0.1) < 0.01


def test_scaling_multiplies_each_series_and_dimension_by_one_factor():
    x = torch.ones(8, 10, 3)
    out = SeriesAugment(scale=0.2)(x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, out[:, :1, :].expand_as(out))  # constant over time
    assert out[:, 0, :].std() > 0.05


def test_slicing_keeps_the_range_and_monotonicity_of_a_ramp():
    x = _ramp(b=6)
    out = SeriesAugment(slice=0.5)(x, generator=torch.Generator().manual_seed(1))
    assert (out[:, 1:] >= out[:, :-1] - 1e-6).all()  # a stretched window of a ramp is a ramp
    assert (out[:, 0] >= 0).all() and (out[:, -1] <= 1 + 1e-6).all()
    assert not torch.allclose(out, x)


def test_padding_stays_zero_and_only_valid_steps_are_sliced():
    x = _ramp(b=3, t=12)
    lengths = torch.tensor([12, 7, 4])
    x[1, 7:] = 0
    x[2, 4:] = 0
    aug = SeriesAugment(jitter=0.05, scale=0.1, slice=0.4)
    out = aug(x, lengths, generator=torch.Generator().manual_seed(0))
    assert (out[1, 7:] == 0).all() and (out[2, 4:] == 0).all()
    assert out.shape == x.shape


def test_bad_config_names_the_key():
    with pytest.raises(ConfigError, match="augment.slice: expected a fraction below 1"):
        SeriesAugment(slice=1.0)
    with pytest.raises(ConfigError, match="augment.jitter: expected a non-negative number"):
        SeriesAugment(jitter=-1)
    with pytest.raises(ConfigError, match=r"unknown keys \['warp'\]; valid keys: jitter, scale"):
        SeriesAugment.from_config({"warp": 0.2})
    assert SeriesAugment.from_config({"jitter": 0.03}).to_config()["jitter"] == 0.03
