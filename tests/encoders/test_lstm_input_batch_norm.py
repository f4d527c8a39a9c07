"""The LSTM's input batch norm (``input_batch_norm``) against ``nn.BatchNorm1d``, on padded
batches, and its config check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamese.encoders import create_encoder
from siamese.encoders._layers import SequenceBatchNorm
from siamese.errors import ConfigError
from siamese.training import load_config


def test_matches_batchnorm1d_in_train_and_eval_mode():
    torch.manual_seed(0)
    ours, ref = SequenceBatchNorm(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        ours.weight.copy_(torch.tensor([0.5, 2.0, 1.5]))
        ours.bias.copy_(torch.tensor([0.1, -0.3, 0.0]))
    ref.load_state_dict(ours.state_dict())  # the same buffers and parameters
    for _ in range(4):  # training: batch statistics, running statistics updated alike
        x = torch.randn(6, 10, 3) * torch.tensor([1.0, 5.0, 0.1]) + 3.0  # (B, T, C)
        got = ours(x, torch.ones(6, 10, 1))
        want = ref(x.transpose(1, 2)).transpose(1, 2)
        assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(ours.running_mean, ref.running_mean, atol=1e-6)
    assert torch.allclose(ours.running_var, ref.running_var, atol=1e-5)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 4
    ours.eval(), ref.eval()
    x = torch.randn(2, 7, 3)
    got = ours(x, torch.ones(2, 7, 1))
    assert torch.allclose(got, ref(x.transpose(1, 2)).transpose(1, 2), atol=1e-5)


def test_padding_is_left_out_of_the_batch_statistics():
    torch.manual_seed(1)
    bn = SequenceBatchNorm(2)
    x = torch.randn(2, 8, 2)
    mask = torch.ones(2, 8, 1)
    mask[1, 5:] = 0  # the second series has 5 valid steps
    padded = x.clone()
    padded[1, 5:] = 1e6  # whatever the padding holds
    out = bn(padded, mask)
    valid = torch.cat([x[0], x[1, :5]])  # (13, 2): the valid steps only
    want = (valid - valid.mean(0)) / torch.sqrt(valid.var(0, unbiased=False) + 1e-5)
    assert torch.allclose(torch.cat([out[0], out[1, :5]]), want, atol=1e-5)
    assert torch.all(out[1, 5:] == 0)
    assert torch.allclose(bn.running_mean, 0.1 * valid.mean(0), atol=1e-6)


def test_lstm_option_normalises_the_input_and_changes_with_mode():
    torch.manual_seed(0)
    enc = create_encoder("lstm", input_shape=(12, 3), hidden_size=4, input_batch_norm=True)
    assert isinstance(enc.input_bn, SequenceBatchNorm)
    assert create_encoder("lstm", input_shape=(12, 3), hidden_size=4).input_bn is None
    x = torch.randn(5, 12, 3) * 10 + 50  # far from the running statistics' start (0, 1)
    train_out = enc(x)
    enc.eval()
    eval_out = enc(x)  # running statistics after one batch: not yet the batch's own
    assert train_out.shape == eval_out.shape == (5, 16)
    assert not torch.allclose(train_out, eval_out, atol=1e-3)


def test_config_value_must_be_true_or_false():
    with pytest.raises(ConfigError, match="'model.input_batch_norm' = 1: expected true or false"):
        load_config(None, ["model.input_batch_norm=1"])
