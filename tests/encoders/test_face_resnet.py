"""face_resnet: face-api's layer plan (names, map sizes, padding), grayscale input, bad arguments."""

from __future__ import annotations

import json

import pytest
import torch

from siamese.encoders import create_encoder
from siamese.encoders.face_resnet import FaceResNet, ResidualBlock
from siamese.errors import ConfigError
from siamese.weights.face_api import tf_name


def test_map_sizes_follow_face_api_at_150():
    net = FaceResNet().eval()
    sizes = {}
    for name, block in net.named_children():
        if isinstance(block, ResidualBlock):
            block.register_forward_hook(lambda m, i, o, n=name: sizes.update({n: o.shape[1:]}))
    out = net(torch.zeros(1, 3, 150, 150))
    assert out.shape == (1, 128)
    # 150 -> 7x7/2 valid 72 -> maxpool 3/2 35 -> 17 -> 8 -> 4 (3 + a zero row/col) -> 2 (1 + pad)
    assert sizes["conv32_3"] == (32, 35, 35)
    assert sizes["conv64_down"] == (64, 17, 17)
    assert sizes["conv128_down"] == (128, 8, 8)
    assert sizes["conv256_down"] == (256, 4, 4)
    assert sizes["conv256_down_out"] == (256, 2, 2)


def test_down_block_pads_like_face_api():
    """At 8x8 the stride-2 conv gives 3x3 and the pool 4x4: the conv output gets a zero row and
    column at the bottom/right, and the pooled input zero channels after its own."""
    torch.manual_seed(0)
    block = ResidualBlock(2, 4, down=True).eval()
    x = torch.rand(1, 2, 8, 8)
    with torch.no_grad():
        conv = block.conv2(block.conv1(x))  # (1, 4, 3, 3)
        out = block(x)
    pooled = torch.nn.functional.avg_pool2d(x, 2)  # (1, 2, 4, 4)
    want = torch.zeros(1, 4, 4, 4)
    want[:, :, :3, :3] += conv
    want[:, :2] += pooled
    torch.testing.assert_close(out, torch.relu(want))


def test_parameter_names_are_face_api_tensor_names(shared_data):
    manifest = shared_data / "pretrained/face-api/face_recognition_model-weights_manifest.json"
    names = {w["name"] for g in json.loads(manifest.read_text()) for w in g["weights"]}
    assert {tf_name(k) for k in FaceResNet().state_dict()} == names


def test_grayscale_is_rgb_with_equal_channels():
    torch.manual_seed(0)
    net = create_encoder("face_resnet", input_shape=(1, 110, 110), widths=[4, 4, 8, 8]).eval()
    gray = torch.randint(0, 256, (2, 1, 110, 110)).float()
    with torch.no_grad():
        torch.testing.assert_close(net(gray), net(gray.expand(-1, 3, -1, -1)))
        torch.testing.assert_close(net(gray[:, 0]), net(gray))  # (B, H, W) too


def test_layer_groups_hold_every_parameter_once_head_last():
    net = FaceResNet(widths=[4, 4, 8, 8])
    groups = net.layer_groups()
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) == len(list(net.parameters()))
    assert groups[-1] == [net.fc.weight] and len(groups) == 16  # stem + 14 blocks + head


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"input_shape": (3, 102, 102)}, "at least 103x103 pixels"),
        ({"input_shape": (4, 150, 150)}, r"expected RGB \(3, H, W\) or grayscale"),
        ({"widths": [32, 64, 128]}, "four positive, non-decreasing numbers"),
        ({"widths": [64, 32, 128, 256]}, "non-decreasing"),
        ({"output_activation": "tanh"}, "output_activation"),
    ],
)
def test_bad_arguments(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        create_encoder("face_resnet", **kw)
