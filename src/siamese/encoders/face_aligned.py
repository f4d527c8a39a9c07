"""dlib's face embedder behind face-api's landmark model: find 68 points, align a chip, embed it.

``face_aligned`` is one encoder, so every path that feeds a model an image (``enroll``,
``identify``, ``verify``, ``evaluate``, the service, ``embed_dataset``, fine-tuning, ONNX export)
aligns faces the same way, with nothing to repeat in the image preparation:

1. **Landmarks.** The central square of ``landmark_box`` times the item's side (a stand-in for a
   face detector's box: LFW's deep-funneled images, and photos framed like them, have the face
   in the middle) is resized to 112x112 and given to ``FaceLandmark68Net``.
2. **Chip.** The similarity transform that puts the landmarks onto dlib's mean face with
   ``padding`` (``siamese.data.face_align``, dlib's ``get_face_chip_details``) cuts a 150x150
   chip from the item, bilinear, zeros outside the image (``extract_image_chip``).
3. **Embedding.** ``FaceResNet`` on the chip.

**When alignment fails.** A face whose aligned points fall outside the item, or are not finite,
is not aligned: its chip is the central square of ``fallback_crop`` times the side (the fixed crop
the unaligned model uses), resized to 150x150. ``align(x)`` returns, beside the chips, which items
were aligned, so a caller can count or refuse the fallbacks.

The landmark network is frozen (no gradients); ``layer_groups()`` are the embedder's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from siamese.data.face_align import check_variant, chip_transform, extract_chips, inside
from siamese.encoders._layers import as_image_batch, channels_of
from siamese.encoders._registry import register_encoder
from siamese.encoders.face_landmarks import INPUT_SIZE, FaceLandmark68Net
from siamese.encoders.face_resnet import FaceResNet
from siamese.errors import ConfigError

CHIP = 150


def _fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(
            f"face_aligned {name}: expected a fraction of the image side in (0, 1], got {value!r}"
        )
    return float(value)


class AlignedFaceNet(nn.Module):
    """Landmarks, dlib's face chip, then dlib's ResNet: an RGB face image -> 128 numbers.

    Args:
        input_shape: ``(3, H, W)`` (or ``(1, H, W)``: grayscale repeated into R, G, B).
        points: ``"68"`` (dlib's 68-point chip: 33 points of eyes, nose, mouth) or ``"5"``
            (its 5-point chip: the eyes' corners and the base of the nose).
        padding: dlib's chip padding (0.25 for its face recogniser).
        landmark_box: the central square given to the landmark model, a fraction of the side.
        fallback_crop: the central square used where alignment fails, a fraction of the side.
        embedding_dim, widths, output_activation: as ``face_resnet``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (3, 150, 150),
        points: str = "68",
        padding: float = 0.25,
        landmark_box: float = 0.9,
        fallback_crop: float = 110 / 150,
        embedding_dim: int = 128,
        widths: Sequence[int] = (32, 64, 128, 256),
        output_activation: str = "none",
    ):
        super().__init__()
        shape = tuple(input_shape)
        if channels_of(shape) not in (1, 3) or min(shape[-2:]) < 32:
            raise ConfigError(
                "face_aligned input_shape: expected RGB (3, H, W) or grayscale (1, H, W) images "
                f"of at least 32x32, got {shape}"
            )
        if isinstance(padding, bool) or not isinstance(padding, (int, float)) or padding < 0:
            raise ConfigError(f"face_aligned padding: expected a number >= 0, got {padding!r}")
        self.points = check_variant(str(points))
        self.padding = float(padding)
        self.landmark_box = _fraction(landmark_box, "landmark_box")
        self.fallback_crop = _fraction(fallback_crop, "fallback_crop")
        self.landmarks = FaceLandmark68Net().requires_grad_(False)
        self.embedder = FaceResNet((3, CHIP, CHIP), embedding_dim, widths, output_activation)
        self.embedding_dim = embedding_dim

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """The embedder's groups (the landmark network is frozen)."""
        return self.embedder.layer_groups()

    def find_landmarks(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 68, 2)`` points in the pixels of the ``(B, 3, H, W)`` float images ``x``."""
        h, w = x.shape[-2:]
        side = self.landmark_box * min(h, w)
        top, left = (h - side) / 2, (w - side) / 2
        box = self._central(x, side, INPUT_SIZE)  # (B, 3, 112, 112)
        self.landmarks.eval()
        with torch.no_grad():
            rel = self.landmarks(box)  # (B, 68, 2) fractions of the box
        return rel * side + rel.new_tensor([left, top])

    def align(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(chips (B, 3, 150, 150), aligned (B,) bool)`` of image items ``x``."""
        x = as_image_batch(x, self.embedder.conv32_down.conv.weight).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h, w = x.shape[-2:]
        marks = self.find_landmarks(x)
        ok = inside(marks, self.points, h, w)
        m = chip_transform(torch.nan_to_num(marks), self.points, CHIP, self.padding)
        side = self.fallback_crop * min(h, w)
        s = side / CHIP
        plain = m.new_tensor([[s, 0, (w - side) / 2], [0, s, (h - side) / 2]])
        m = torch.where(ok[:, None, None], m, plain.expand_as(m))
        return extract_chips(x, m, CHIP), ok

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chips, _ = self.align(x)
        return self.embedder(chips)

    @staticmethod
    def _central(x: torch.Tensor, side: float, size: int) -> torch.Tensor:
        """The central ``side`` square of ``x`` resized to ``size`` (bilinear, as tfjs's
        ``resizeBilinear`` that face-api uses: no antialiasing)."""
        h, w = x.shape[-2:]
        s = side / size
        m = x.new_tensor([[s, 0, (w - side) / 2], [0, s, (h - side) / 2]])
        return extract_chips(x, m.expand(x.shape[0], 2, 3), size)


@register_encoder
def face_aligned(
    input_shape: tuple[int, ...] = (3, 150, 150),
    points: str = "68",
    padding: float = 0.25,
    landmark_box: float = 0.9,
    fallback_crop: float = 110 / 150,
    embedding_dim: int = 128,
    widths: Sequence[int] = (32, 64, 128, 256),
    output_activation: str = "none",
) -> nn.Module:
    """dlib's face embedder on faces aligned by face-api's 68-point landmark model (weights:
    siamese import-weights face-api), RGB images in [0, 255]."""
    return AlignedFaceNet(
        input_shape, points, padding, landmark_box, fallback_crop, embedding_dim, widths,
        output_activation,
    )  # fmt: skip


__all__ = ["AlignedFaceNet", "face_aligned"]
