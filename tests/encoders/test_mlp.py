"""The MLP encoder's input corruption: input dropout and swap noise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamese.encoders import create_encoder
from siamese.encoders._layers import SwapNoise
from siamese.errors import ConfigError


def test_input_dropout_zeroes_inputs_in_training_only():
    enc = create_encoder("mlp", input_shape=(6,), hidden=(8,), embedding_dim=3, input_dropout=0.5)
    first = enc.net[0]
    assert isinstance(first, nn.Dropout) and first.p == 0.5
    x = torch.ones(200, 6)
    enc.train()
    assert (first(x) == 0).float().mean() > 0.3  # about half the features zeroed
    enc.eval()
    torch.testing.assert_close(enc(x), enc(x))  # deterministic at inference
    torch.testing.assert_close(first(x), x)


def test_no_input_dropout_keeps_the_layer_layout():
    enc = create_encoder("mlp", input_shape=(6,), hidden=(8,), embedding_dim=3)
    assert isinstance(enc.net[0], nn.Linear)  # saved models without the option load unchanged
    assert not any(isinstance(m, nn.Dropout) for m in enc.net)


def test_bad_input_dropout_is_a_config_error():
    with pytest.raises(ConfigError, match="mlp input_dropout: expected 0 <= p < 1"):
        create_encoder("mlp", input_shape=(6,), input_dropout=1.0)
    with pytest.raises(ConfigError, match="mlp input_swap: expected 0 <= p < 1, got -0.1"):
        create_encoder("mlp", input_shape=(6,), input_swap=-0.1)


def test_input_swap_takes_each_value_from_the_same_feature_of_the_batch():
    enc = create_encoder("mlp", input_shape=(5,), hidden=(8,), embedding_dim=3, input_swap=0.6)
    first = enc.net[0]
    assert isinstance(first, SwapNoise) and isinstance(enc.net[1], nn.Linear)
    rows, cols = 400, 5
    x = torch.arange(rows)[:, None] + 1000.0 * torch.arange(cols)[None, :]  # (R, C): row + 1000 col
    enc.train()
    torch.manual_seed(0)
    y = first(x)
    assert torch.equal(
        torch.div(y, 1000, rounding_mode="floor"), torch.arange(cols).expand(rows, -1)
    )
    changed = (y != x).float().mean()
    assert 0.55 < changed < 0.65  # p = 0.6, less the rare donor that is the record itself
    assert y.std(0).sub(x.std(0)).abs().max() / x.std(0).max() < 0.15  # same spread, no rescaling
    enc.eval()
    torch.testing.assert_close(first(x), x)
    torch.testing.assert_close(enc(x), enc(x))


def test_brute_force_swap_noise_matches_a_loop():
    noise = SwapNoise(0.5).train()
    x = torch.randn(7, 4)
    torch.manual_seed(3)
    y = noise(x)
    torch.manual_seed(3)
    swap, donors = torch.rand_like(x) < 0.5, torch.randint(0, 7, x.shape)
    expected = x.clone()
    for i in range(7):
        for j in range(4):
            if swap[i, j]:
                expected[i, j] = x[donors[i, j], j]
    torch.testing.assert_close(y, expected)
