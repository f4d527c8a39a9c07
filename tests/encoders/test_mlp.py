"""The MLP encoder's input dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamese.encoders import create_encoder
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
