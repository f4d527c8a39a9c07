"""dlib's face recognition ResNet (the network of face-api's ``faceRecognitionNet``), in PyTorch.

The layers follow @vladmandic/face-api's TypeScript definition (``src/faceRecognitionNet/``):

* input ``(B, 3, 150, 150)`` RGB pixel values in [0, 255]; the network subtracts the mean colour
  ``[122.782, 117.001, 104.298]`` and divides by 255 (``FaceRecognitionNet.forwardInput``);
* every conv layer is a convolution with bias followed by a per-channel affine "scale layer"
  (dlib's folded batch norm), then ReLU except the second conv of a residual block;
* ``conv32_down``: 7x7 stride 2, no padding ('valid'), then a 3x3 stride-2 max pool ('valid');
* residual blocks (two 3x3 'same' convs + identity) of 32, 64, 128, 256 channels; a down block
  starts with a 3x3 stride-2 'valid' conv and adds a 2x2 average pool of its input, zero-padded
  in channels (and the conv output zero-padded by a row and a column at the bottom/right where
  the pool's map is larger, as at 8x8 -> 3x3 vs 4x4);
* the mean over the final map, then a linear layer without bias to 128 numbers.

Weights come from ``siamese import-weights face-api`` (``siamese.weights.face_api``); built on
its own the network is randomly initialised (a small ``widths`` makes a tiny one for tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from siamese.encoders._layers import OutputActivation, as_image_batch, channels_last_, channels_of
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError

#: The mean colour face-api subtracts (R, G, B, pixel values 0-255), then it divides by 255.
MEAN_RGB = (122.782, 117.001, 104.298)
PIXEL_SCALE = 255.0

#: The residual stages: (width, blocks); the first block of every stage but the first goes down.
STAGES = ((32, 3), (64, 4), (128, 3), (256, 3))

#: The smallest side the layers take: the stem leaves a map of at least 24, halved 4 times to >= 3.
MIN_SIDE = 103


class ScaleLayer(nn.Module):
    """``x * weight + bias`` per channel (dlib's affine layer: a batch norm folded into numbers)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight[:, None, None] + self.bias[:, None, None]  # (B, C, H, W)


class ConvLayer(nn.Module):
    """Convolution with bias, then the scale layer, then (optionally) ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, relu: bool):
        super().__init__()
        # stride 2 is TF's 'valid' (no padding); stride 1 is 'same' (odd kernels: symmetric)
        pad = 0 if stride == 2 else kernel // 2
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad)
        self.scale = ScaleLayer(c_out)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.scale(self.conv(x))
        return F.relu(out) if self.relu else out


class ResidualBlock(nn.Module):
    """Two 3x3 conv layers plus a shortcut; ``down``: the first is stride 2 and the shortcut a
    2x2 average pool zero-padded to the new width."""

    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = ConvLayer(c_in, c_out, 3, 2 if down else 1, relu=True)
        self.conv2 = ConvLayer(c_out, c_out, 3, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))  # (B, C_out, H', W')
        if not self.down:
            return F.relu(out + x)
        pooled = F.avg_pool2d(x, 2, 2)  # (B, C_in, H // 2, W // 2)
        dh, dw = pooled.shape[-2] - out.shape[-2], pooled.shape[-1] - out.shape[-1]
        if dh or dw:  # face-api appends zero rows/columns at the bottom/right
            out = F.pad(out, (0, dw, 0, dh))
        extra = out.shape[1] - pooled.shape[1]
        if extra:  # and zero channels after the input's
            pooled = F.pad(pooled, (0, 0, 0, 0, 0, extra))
        return F.relu(out + pooled)


class FaceResNet(nn.Module):
    """dlib's ResNet face embedder as face-api defines it: 150x150 RGB -> 128 numbers.

    Args:
        input_shape: ``(3, H, W)``, or ``(1, H, W)`` / ``(H, W)`` for grayscale images (repeated
            into R, G and B); at least 103x103, and the pretrained weights expect 150x150.
        embedding_dim: the output size (128 for the pretrained weights).
        widths: the four stages' widths (32, 64, 128, 256 for the pretrained weights).
        output_activation: ``none`` (face-api's descriptor), ``l2`` or ``sigmoid``.

    ``layer_groups()`` lists the parameters from input to output (stem, the 14 residual blocks,
    the final linear layer), for a frozen backbone and layer-wise learning rates.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (3, 150, 150),
        embedding_dim: int = 128,
        widths: Sequence[int] = (32, 64, 128, 256),
        output_activation: str = "none",
    ):
        super().__init__()
        if channels_of(tuple(input_shape)) not in (1, 3):
            raise ConfigError(
                "face_resnet input_shape: expected RGB (3, H, W) or grayscale (1, H, W) images, "
                f"got {tuple(input_shape)}"
            )
        side = min(tuple(input_shape)[-2:])
        if side < MIN_SIDE:
            raise ConfigError(
                f"face_resnet input_shape: expected images of at least {MIN_SIDE}x{MIN_SIDE} "
                f"pixels (its four stride-2 stages), got {tuple(input_shape)}; the pretrained "
                "weights expect 150x150"
            )
        widths = list(widths)
        if (
            len(widths) != 4
            or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths)
            or widths != sorted(widths)
        ):
            raise ConfigError(
                "face_resnet widths: expected four positive, non-decreasing numbers (one per "
                f"stage, e.g. [32, 64, 128, 256]), got {widths!r}"
            )
        mean = torch.tensor(MEAN_RGB, dtype=torch.float32).reshape(1, 3, 1, 1)
        self.register_buffer("mean_rgb", mean, persistent=False)  # a constant, not a weight
        self.conv32_down = ConvLayer(3, widths[0], 7, 2, relu=True)
        c = widths[0]
        for (name, blocks), width in zip(STAGES, widths, strict=True):
            for k in range(blocks):
                down = name != STAGES[0][0] and k == 0
                self.add_module(_block_name(name, k), ResidualBlock(c, width, down))
                c = width
        self.conv256_down_out = ResidualBlock(c, c, down=True)
        self.fc = nn.Linear(c, embedding_dim, bias=False)
        self.embedding_dim = embedding_dim
        self.out = OutputActivation(output_activation)
        for m in self.modules():  # He initialisation: without batch norm, the default one
            if isinstance(m, nn.Conv2d):  # shrinks the signal to nothing over 29 conv layers
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        channels_last_(self)  # NHWC convolutions: 1.4x faster on CPU (values unchanged)

    def blocks(self) -> list[ResidualBlock]:
        """The residual blocks in order."""
        return [m for m in self.children() if isinstance(m, ResidualBlock)]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from input to output: stem, each residual block, then the head (``fc``)."""
        parts: list[nn.Module] = [self.conv32_down, *self.blocks(), self.fc]
        return [list(p.parameters()) for p in parts]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_image_batch(x, self.conv32_down.conv.weight).float()  # (B, C, H, W), C = 1 or 3
        if x.shape[1] == 1:  # grayscale: the same value in R, G and B
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean_rgb) / PIXEL_SCALE  # (B, 3, H, W)
        h = F.max_pool2d(self.conv32_down(x), 3, 2)
        for block in self.blocks():
            h = block(h)
        return self.out(self.fc(h.mean(dim=(2, 3))))  # (B, embedding_dim)


def _block_name(width: int, k: int) -> str:
    """face-api's names: ``conv32_1`` .. ``conv32_3``, ``conv64_down``, ``conv64_1`` .. ."""
    if width == STAGES[0][0]:
        return f"conv{width}_{k + 1}"
    return f"conv{width}_down" if k == 0 else f"conv{width}_{k}"


@register_encoder
def face_resnet(
    input_shape: tuple[int, ...] = (3, 150, 150),
    embedding_dim: int = 128,
    widths: Sequence[int] = (32, 64, 128, 256),
    output_activation: str = "none",
) -> nn.Module:
    """dlib's ResNet face embedder (face-api's faceRecognitionNet; weights: siamese
    import-weights face-api), 150x150 RGB in [0, 255]."""
    return FaceResNet(input_shape, embedding_dim, widths, output_activation)
