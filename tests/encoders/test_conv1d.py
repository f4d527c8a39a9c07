"""The conv1d encoder: shapes, padding-invariance with lengths, ResNet blocks, errors."""

from __future__ import annotations

import pytest
import torch

from siamese.encoders import create_encoder
from siamese.errors import ConfigError


@pytest.mark.parametrize("max_length", [0, 4])
@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax"])
@pytest.mark.parametrize("residual", [False, True])
def test_padding_does_not_change_the_embedding(pooling, residual, max_length):
    torch.manual_seed(0)
    enc = create_encoder(
        "conv1d",
        input_shape=(12, 2),
        channels=(6, 8),
        kernels=(5, 3),
        residual=residual,
        pooling=pooling,
        dense=(8,),
        embedding_dim=4,
        max_length=max_length,
    )
    assert enc.window == (3 if max_length else 1)  # ceil(12 / 4)
    enc.train()
    enc(torch.randn(5, 12, 2), torch.tensor([12, 9, 7, 12, 4]))  # move the BN running stats
    enc.eval()
    x = torch.randn(1, 7, 2)  # (B, T, F)
    padded = torch.cat([x, torch.full((1, 5, 2), 50.0)], dim=1)  # garbage after the end
    a = enc(padded, torch.tensor([7]))
    b = enc(x)
    assert a.shape == (1, 4)
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(enc(padded), b, atol=1e-3)  # without lengths the padding counts


def test_resnet_blocks_and_l2_output():
    enc = create_encoder(
        "conv1d",
        input_shape=(30, 1),
        channels=(8, 16),
        kernels=(7, 5, 3),
        residual=True,
        embedding_dim=5,
        output_activation="l2",
    )
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv1d)]
    # two blocks of three convolutions plus a 1x1 shortcut each
    assert [c.kernel_size[0] for c in convs] == [7, 5, 3, 1, 7, 5, 3, 1]
    enc.eval()
    out = enc(torch.randn(3, 30, 1))
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_any_series_length_is_accepted():
    enc = create_encoder(
        "conv1d", input_shape=(10, 3), channels=(4,), kernels=(3,), embedding_dim=2
    )
    enc.eval()
    assert enc(torch.randn(2, 40, 3)).shape == (2, 2)
    assert enc.accepts_lengths


def test_bad_arguments_name_the_field():
    with pytest.raises(ConfigError, match=r"conv1d input_shape: expected \(time, features\)"):
        create_encoder("conv1d", input_shape=(1, 28, 28))
    with pytest.raises(ConfigError, match="conv1d pooling: expected one of mean, max, meanmax"):
        create_encoder("conv1d", input_shape=(10, 1), pooling="last")
    with pytest.raises(ConfigError, match="channels .* and kernels .* must have the same length"):
        create_encoder("conv1d", input_shape=(10, 1), channels=(4, 4), kernels=(3,))
