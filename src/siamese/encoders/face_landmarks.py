"""face-api's 68-point face landmark network (``FaceLandmark68Net``), in PyTorch.

The layers follow @vladmandic/face-api's TypeScript definition (``src/faceLandmarkNet/``,
``src/faceFeatureExtractor/``):

* input ``(B, 3, 112, 112)`` RGB pixel values in [0, 255], a face crop; the network subtracts the
  mean colour ``[122.782, 117.001, 104.298]`` and divides by 255 (as the face recogniser does);
* four "dense blocks" of 32, 64, 128, 256 channels (``denseBlock4``): a stride-2 first conv (a
  plain 3x3 conv in the first block, a depthwise-separable one after), then three
  depthwise-separable 3x3 convs, each fed the ReLU of the sum of all earlier outputs of the block;
  every conv has a bias; TensorFlow's 'same' padding (at stride 2 on an even side: one row and
  one column at the bottom/right only);
* a 7x7 average pool of the 7x7 map, then a linear layer to 136 numbers: the 68 points' ``x, y``
  (interleaved) as fractions of the input's width and height.

Weights come from ``siamese import-weights face-api`` (``siamese.weights.face_landmarks``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from siamese.encoders.face_resnet import MEAN_RGB, PIXEL_SCALE

#: The side of the square input (face-api's ``toBatchTensor(112)``).
INPUT_SIZE = 112
#: The four dense blocks' widths.
WIDTHS = (32, 64, 128, 256)
POINTS = 68


def _same_pad(x: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow's 'same' padding of a 3x3 kernel: ``max((ceil(n / s) - 1) * s + 3 - n, 0)``
    rows (and columns), the odd one at the bottom/right."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # width first, as F.pad takes them
        total = max((-(-n // stride) - 1) * stride + 3 - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SeparableConv(nn.Module):
    """A depthwise 3x3 conv (no bias), then a pointwise 1x1 conv with bias (tf.separableConv2d)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(_same_pad(x, self.stride)))


class PlainConv(nn.Module):
    """A 3x3 conv with bias, stride 2, 'same' padding (the first block's first layer)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(_same_pad(x, 2))


class DenseBlock(nn.Module):
    """face-api's ``denseBlock4``: four convs, each after the first fed the sum of the earlier."""

    def __init__(self, c_in: int, c_out: int, first: bool):
        super().__init__()
        self.conv0 = PlainConv(c_in, c_out) if first else SeparableConv(c_in, c_out, 2)
        self.conv1 = SeparableConv(c_out, c_out, 1)
        self.conv2 = SeparableConv(c_out, c_out, 1)
        self.conv3 = SeparableConv(c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + out2 + out3))
        return F.relu(out1 + out2 + out3 + out4)


class FaceLandmark68Net(nn.Module):
    """face-api's 68-point landmark network: a 112x112 RGB face crop -> ``(B, 68, 2)`` points.

    ``forward`` takes ``(B, 3, 112, 112)`` pixel values in [0, 255] and returns the points' ``x, y``
    as fractions of the crop's width and height (face-api's ``runNet`` output, reshaped).
    """

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor(MEAN_RGB, dtype=torch.float32).reshape(1, 3, 1, 1)
        self.register_buffer("mean_rgb", mean, persistent=False)
        c = 3
        for k, width in enumerate(WIDTHS):
            self.add_module(f"dense{k}", DenseBlock(c, width, first=k == 0))
            c = width
        self.fc = nn.Linear(c, 2 * POINTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - self.mean_rgb) / PIXEL_SCALE  # (B, 3, 112, 112)
        for k in range(len(WIDTHS)):
            x = getattr(self, f"dense{k}")(x)
        x = F.avg_pool2d(x, 7, 2)  # (B, 256, 1, 1) from the 7x7 map
        return self.fc(x.flatten(1)).reshape(-1, POINTS, 2)  # (B, 68, 2)
