"""Image encoders run channels-last (NHWC) for speed; the layout must not change any value."""

from __future__ import annotations

import copy

import pytest
import torch

from siamese.encoders import create_encoder
from siamese.model import SiameseModel


@pytest.mark.parametrize(
    ("name", "shape", "kw"),
    [
        ("conv4", (1, 28, 28), {"channels": 8, "embedding_dim": 16}),
        # RGB with a 2x2 final map: the flattened features keep their NCHW order
        ("conv4", (3, 32, 32), {"channels": 8, "embedding_dim": 16}),
        ("koch_cnn", (1, 105, 105), {"embedding_dim": 16}),
    ],
)
def test_channels_last_matches_plain_layout(name, shape, kw):
    torch.manual_seed(0)
    enc = create_encoder(name, input_shape=shape, **kw)
    conv = next(m for m in enc.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = copy.deepcopy(enc).to(memory_format=torch.contiguous_format)
    x = torch.rand(4, *shape)
    enc.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(enc(x), plain(x), rtol=1e-4, atol=1e-5)
    # the same gradients (float32 sums in another order: within 1% of each tensor's largest)
    grads = []
    for m in (enc, plain):
        m.train()
        m(x).pow(2).sum().backward()
        grads.append({k: p.grad for k, p in m.named_parameters()})
    for k, g in grads[1].items():
        torch.testing.assert_close(grads[0][k], g, rtol=0, atol=1e-2 * float(g.abs().max()), msg=k)


def test_channels_last_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    args = {"input_shape": (1, 28, 28), "channels": 8}
    model = SiameseModel(create_encoder("conv4", **args), encoder_name="conv4", encoder_args=args)
    model.save(tmp_path / "m")
    loaded = SiameseModel.load(tmp_path / "m")
    x = torch.rand(3, 1, 28, 28)
    model.encoder.eval(), loaded.encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.encoder(x), model.encoder(x))
    conv = next(m for m in loaded.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
