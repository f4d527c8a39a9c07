"""Every registered encoder builds, runs forward and backward, and errors name the valid choices."""

from __future__ import annotations

import pytest
import torch
from hf_tiny import tiny_model_folder

from siamese.encoders import create_encoder, list_encoders
from siamese.errors import ConfigError

SMALL = {
    "koch_cnn": {"input_shape": (1, 105, 105), "embedding_dim": 32},
    "conv1d": {"input_shape": (20, 3), "channels": (8, 8), "kernels": (5, 3), "embedding_dim": 4},
    "conv4": {"input_shape": (1, 28, 28), "channels": 8, "embedding_dim": 16},
    "face_resnet": {"input_shape": (3, 103, 103), "widths": (4, 4, 8, 8), "embedding_dim": 8},
    "face_aligned": {"input_shape": (3, 64, 64), "widths": (4, 4, 8, 8), "embedding_dim": 8},
    "hf_vision": {"input_shape": (1, 32, 32), "pooling": "mean", "embedding_dim": 8},  # + a folder
    "lstm": {
        "input_shape": (20, 5),
        "hidden_size": 8,
        "embedding_dim": 3,
        "output_activation": "sigmoid",
    },
    "mlp": {"input_shape": (12,), "hidden": (16,), "embedding_dim": 2},
}


def test_every_registered_encoder_is_covered():
    assert set(list_encoders()) == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_encoder_forward_backward(name, tmp_path):
    kw = SMALL[name]
    if name == "hf_vision":  # a tiny random ViT saved with save_pretrained
        kw = {**kw, "pretrained": str(tiny_model_folder(tmp_path, "vit"))}
    torch.manual_seed(0)
    enc = create_encoder(name, **kw)
    x = torch.rand(3, *kw["input_shape"])
    out = enc(x)
    assert out.shape == (3, enc.embedding_dim)
    out.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


def test_koch_cnn_shapes_and_init():
    enc = create_encoder("koch_cnn")
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [
        (64, (10, 10)),
        (128, (7, 7)),
        (128, (4, 4)),
        (256, (4, 4)),
    ]
    assert enc.fc.in_features == 256 * 6 * 6 and enc.fc.out_features == 4096
    assert abs(convs[0].bias.mean().item() - 0.5) < 0.01
    assert abs(convs[1].weight.std().item() - 0.01) < 0.002
    e = enc(torch.rand(2, 1, 105, 105))
    assert (e >= 0).all() and (e <= 1).all()  # dense sigmoid


def test_lstm_lengths_mask_padding():
    torch.manual_seed(0)
    enc = create_encoder(
        "lstm", input_shape=(10, 2), hidden_size=4, pooling="concat", instance_norm=True
    )
    enc.eval()
    x = torch.rand(1, 6, 2)
    padded = torch.cat([x, torch.full((1, 4, 2), 99.0)], dim=1)
    a = enc(padded, torch.tensor([6]))
    b = enc(x, torch.tensor([6]))
    assert torch.allclose(a, b, atol=1e-6)


def test_l2_output_has_unit_norm():
    enc = create_encoder("mlp", input_shape=(5,), embedding_dim=4, output_activation="l2")
    enc.eval()
    assert torch.allclose(enc(torch.rand(3, 5)).norm(dim=1), torch.ones(3), atol=1e-5)


def test_unknown_encoder_lists_valid_ones():
    with pytest.raises(
        ConfigError,
        match="unknown encoder 'resnet'; valid encoders: conv1d, conv4, face_aligned, face_resnet, hf_vision, koch_cnn, lstm, mlp",
    ):
        create_encoder("resnet")
    with pytest.raises(ConfigError, match="unknown argument\\(s\\) depth; valid arguments"):
        create_encoder("mlp", input_shape=(3,), depth=3)


def test_lstm_input_branches_and_fixed_features():
    torch.manual_seed(0)
    enc = create_encoder(
        "lstm",
        input_shape=(16, 3),
        hidden_size=4,
        pooling="stats",
        instance_norm=True,
        summary_stats=True,
        spectrum=8,
        fixed_features=0.5,
        embedding_dim=4,
        output_activation="l2",
    )
    assert enc.embedding_dim == 4 + 3 * (12 + 8)  # learned part + appended fixed features
    out = enc(torch.rand(5, 16, 3))
    assert out.shape == (5, enc.embedding_dim)
    assert torch.allclose(out[:, :4].norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(out[:, 4:].norm(dim=1), torch.full((5,), 0.5), atol=1e-4)
    out.sum().backward()
    assert enc.fixed_norm.running_mean.abs().sum() > 0  # fitted on training batches
    enc.eval()  # padding is ignored by every branch
    x = torch.rand(2, 11, 3)
    padded = torch.cat([x, torch.full((2, 5, 3), 99.0)], dim=1)
    a = enc(padded, torch.tensor([11, 11]))
    assert torch.allclose(a, enc(x), atol=1e-5)


def test_lstm_rejects_bad_branch_settings():
    with pytest.raises(ConfigError, match="lstm spectrum: expected 0 to 8"):
        create_encoder("lstm", input_shape=(16, 3), spectrum=9)
    with pytest.raises(ConfigError, match="lstm fixed_features: expected a non-negative"):
        create_encoder("lstm", input_shape=(16, 3), fixed_features=-1.0)


def test_koch_cnn_channels():
    enc = create_encoder("koch_cnn", input_shape=(1, 105, 105), channels=[8, 16, 16, 32])
    assert [m.out_channels for m in enc.features if isinstance(m, torch.nn.Conv2d)] == [
        8,
        16,
        16,
        32,
    ]
    assert enc.fc.in_features == 32 * 6 * 6
    with pytest.raises(ConfigError, match="koch_cnn channels: expected four positive widths"):
        create_encoder("koch_cnn", channels=[8, 16])
