"""Face alignment from 68 landmarks, as dlib's ``get_face_chip_details`` + ``extract_image_chip``.

dlib's face recogniser was trained on "face chips": 150x150 crops in which a similarity transform
(rotation, one scale, translation) has put the face's landmarks as close as possible (least
squares) to a mean face, with ``padding`` (0.25 for the recogniser) of the mean face's box added
on every side. This module does the same, in torch, on batches:

* ``template(points, size, padding)``: the mean face in chip pixels. ``"68"`` uses dlib's 68-point
  variant: its mean positions of points 17-67 without the eyebrows (17-26) and the lower lip
  (55-59, 65-67), 33 points. ``"5"`` uses dlib's 5-point variant (its constants for the eyes'
  corners and the base of the nose), fed here with the 68-point model's points 45, 42, 36, 39, 33.
* ``similarity(src, dst)``: the least-squares similarity ``dst ~ s R src + t`` (Umeyama's closed
  form in 2-D, no reflection), as dlib's ``find_similarity_transform``.
* ``chip_grid`` / ``extract_chips``: for every chip pixel, the image position the transform maps
  it to, sampled bilinearly (``grid_sample``, zeros outside the image, as dlib fills).

Coordinates are continuous pixels: ``(0, 0)`` is the top-left corner of the top-left pixel, a
pixel's centre is at ``+0.5``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamese.errors import ConfigError

#: dlib's mean face, points 17-67 (``get_face_chip_details``), as fractions of the face box.
MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
)  # fmt: skip
MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
)  # fmt: skip
#: The 68-point variant's points: 27-54 and 60-64 (no eyebrows, no lower lip).
POINTS_68 = tuple(i for i in range(17, 68) if not (55 <= i <= 59 or 65 <= i <= 67 or i <= 26))
#: The 5-point variant: dlib's constants, and the 68-point model's points that correspond.
FIVE_POINT = ((0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677),
              (0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242),
              (0.4901123135679, 0.6277975316475))  # fmt: skip
POINTS_5 = (45, 42, 36, 39, 33)
VARIANTS = ("68", "5")


def landmark_indices(points: str) -> tuple[int, ...]:
    """The 68-point model's points the variant ``points`` (``"68"`` or ``"5"``) aligns."""
    check_variant(points)
    return POINTS_68 if points == "68" else POINTS_5


def check_variant(points: str) -> str:
    """``points`` validated.

    Raises:
        ConfigError: not ``"68"`` or ``"5"``.
    """
    if points not in VARIANTS:
        raise ConfigError(
            f"face alignment points: expected '68' (dlib's 68-point variant) or '5' (its 5-point "
            f"variant), got {points!r}"
        )
    return points


def template(points: str, size: int, padding: float) -> torch.Tensor:
    """dlib's mean face in the pixels of a ``size`` x ``size`` chip: ``(N, 2)`` ``x, y``.

    ``(padding + p) / (1 + 2 padding) * size`` for every mean-face position ``p``.
    """
    if points == "5":
        mean = torch.tensor(FIVE_POINT, dtype=torch.float64)
    else:
        idx = [i - 17 for i in landmark_indices(points)]
        mean = torch.tensor([[MEAN_FACE_X[i], MEAN_FACE_Y[i]] for i in idx], dtype=torch.float64)
    return ((padding + mean) / (2 * padding + 1) * size).float()


def similarity(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The least-squares similarity from ``src`` to ``dst`` points: ``(B, 2, 3)`` matrices.

    Args:
        src: ``(N, 2)`` or ``(B, N, 2)`` points.
        dst: ``(B, N, 2)`` points.

    Returns:
        ``M`` with ``dst ~ M[:, :, :2] @ src + M[:, :, 2]``, ``M[:, :, :2] = [[a, -b], [b, a]]``
        (rotation and one scale, no reflection), minimising the summed squared distance.
    """
    src = src.expand(dst.shape[0], -1, -1) if src.dim() == 2 else src
    ms, md = src.mean(dim=1, keepdim=True), dst.mean(dim=1, keepdim=True)  # (B, 1, 2)
    s, d = src - ms, dst - md  # (B, N, 2)
    norm = (s * s).sum(dim=(1, 2)).clamp_min(1e-12)  # (B,)
    a = (s * d).sum(dim=(1, 2)) / norm
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(dim=1) / norm
    rot = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], 1)  # (B, 2, 2)
    t = md[:, 0] - (rot @ ms[:, 0, :, None])[..., 0]  # (B, 2)
    return torch.cat([rot, t[..., None]], dim=2)


def chip_transform(landmarks: torch.Tensor, points: str, size: int, padding: float) -> torch.Tensor:
    """``(B, 2, 3)``: chip pixels -> image pixels, from ``(B, 68, 2)`` landmarks (image pixels)."""
    idx = list(landmark_indices(points))
    ref = template(points, size, padding).to(landmarks)
    return similarity(ref, landmarks[:, idx])


def extract_chips(images: torch.Tensor, transform: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, C, size, size)`` chips of ``(B, C, H, W)`` float images: chip pixel centre ``u`` is
    sampled (bilinear, zeros outside) at image position ``transform @ [u, 1]``."""
    h, w = images.shape[-2:]
    # chip normalised coordinates n -> chip pixels u = (n + 1) size / 2 -> image pixels x = M u
    # -> image normalised 2 x / (W, H) - 1 (align_corners=False: -1 and 1 are the outer edges)
    to_pix = torch.tensor([[size / 2, 0, size / 2], [0, size / 2, size / 2], [0, 0, 1]])
    to_norm = torch.tensor([[2 / w, 0, -1], [0, 2 / h, -1], [0, 0, 1]])
    last = transform[:, :1] * 0 + transform.new_tensor([0, 0, 1])  # (B, 1, 3); no len(): ONNX
    full = torch.cat([transform, last], 1)  # (B, 3, 3)
    theta = (to_norm.to(transform) @ full @ to_pix.to(transform))[:, :2]  # (B, 2, 3)
    n = (torch.arange(size, dtype=theta.dtype, device=theta.device) * 2 + 1) / size - 1
    base = torch.stack(
        [
            n.expand(size, size),
            n[:, None].expand(size, size),
            torch.ones_like(n.expand(size, size)),
        ],
        dim=-1,
    )  # (size, size, 3): x, y, 1 of each chip pixel centre
    # affine_grid's sum, written out (ONNX has no affine_grid before opset 20)
    grid = (base.reshape(1, -1, 3) @ theta.transpose(1, 2)).reshape(-1, size, size, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def inside(
    landmarks: torch.Tensor, points: str, h: int, w: int, margin: float = 0.0
) -> torch.Tensor:
    """``(B,)`` bool: every point the variant aligns lies within the image (``margin`` pixels
    of slack outside it)."""
    pts = landmarks[:, list(landmark_indices(points))]
    x, y = pts[..., 0], pts[..., 1]
    ok = (x >= -margin) & (x <= w + margin) & (y >= -margin) & (y <= h + margin)
    return ok.all(dim=1) & torch.isfinite(pts).all(dim=(1, 2))
