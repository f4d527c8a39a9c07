"""conv4: one width for every block, or the four blocks' widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.encoders import create_encoder
from siamese.errors import ConfigError
from siamese.model import SiameseModel


def _conv_widths(enc: torch.nn.Module) -> list[tuple[int, int]]:
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    return [(c.in_channels, c.out_channels) for c in convs]


def test_per_block_widths():
    enc = create_encoder(
        "conv4", input_shape=(1, 28, 28), channels=[8, 8, 16, 32], embedding_dim=12
    )
    assert _conv_widths(enc) == [(1, 8), (8, 8), (8, 16), (16, 32)]
    # 28 -> 14 -> 7 -> 4 -> 2: a 2x2 map of the last block's 32 channels feeds the projection
    assert enc.fc.in_features == 32 * 2 * 2
    assert enc(torch.rand(3, 1, 28, 28)).shape == (3, 12)


def test_one_width_is_the_same_as_four_equal_widths():
    torch.manual_seed(0)
    one = create_encoder("conv4", input_shape=(1, 28, 28), channels=8, embedding_dim=12)
    torch.manual_seed(0)
    four = create_encoder("conv4", input_shape=(1, 28, 28), channels=[8, 8, 8, 8], embedding_dim=12)
    assert one.state_dict().keys() == four.state_dict().keys()
    for key, value in one.state_dict().items():
        torch.testing.assert_close(four.state_dict()[key], value, msg=key)


def test_widths_round_trip_through_the_model_file(tmp_path):
    torch.manual_seed(0)
    enc = create_encoder("conv4", input_shape=(1, 28, 28), channels=[4, 4, 8, 16], embedding_dim=6)
    args = {"input_shape": [1, 28, 28], "channels": [4, 4, 8, 16], "embedding_dim": 6}
    model = SiameseModel(enc, encoder_name="conv4", encoder_args=args)
    model.save(tmp_path / "m")
    again = SiameseModel.load(tmp_path / "m")
    x = np.random.default_rng(0).random((5, 1, 28, 28)).astype(np.float32)
    torch.testing.assert_close(again.embed(x), model.embed(x))


@pytest.mark.parametrize("bad", [[64, 64], [64, 64, 0, 128], [64, 64, 1.5, 128], 0, -8, True])
def test_bad_widths_name_the_setting(bad):
    with pytest.raises(ConfigError, match="conv4 channels"):
        create_encoder("conv4", input_shape=(1, 28, 28), channels=bad)
