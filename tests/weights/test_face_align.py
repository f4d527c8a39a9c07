"""dlib's face chip maths on synthetic landmarks: a known similarity is recovered, chips are cut
where the transform says, the aligned encoder falls back to the central crop when it must."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siamese.data.face_align import (
    MEAN_FACE_X,
    MEAN_FACE_Y,
    POINTS_5,
    POINTS_68,
    chip_transform,
    extract_chips,
    inside,
    similarity,
    template,
)
from siamese.encoders.face_aligned import AlignedFaceNet
from siamese.errors import ConfigError


def _similar(points: torch.Tensor, scale: float, angle: float, shift: tuple[float, float]):
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s], [s, c]]) * scale
    return points @ rot.T + torch.tensor(shift)


def test_a_known_similarity_is_recovered_exactly_and_under_noise():
    src = template("68", 150, 0.25)  # (33, 2)
    dst = torch.stack([_similar(src, 0.8, 0.3, (12.0, -5.0)), _similar(src, 1.7, -1.1, (3, 40))])
    m = similarity(src, dst)  # (2, 2, 3)
    c, s = math.cos(0.3) * 0.8, math.sin(0.3) * 0.8
    torch.testing.assert_close(m[0], torch.tensor([[c, -s, 12.0], [s, c, -5.0]]), atol=1e-4, rtol=0)
    mapped = src @ m[1, :, :2].T + m[1, :, 2]
    torch.testing.assert_close(mapped, dst[1], atol=1e-3, rtol=0)
    # with noise: the least-squares answer beats every nearby similarity (brute-force check)
    noisy = dst[:1] + torch.randn(1, *src.shape, generator=torch.Generator().manual_seed(0))
    best = similarity(src, noisy)[0]
    err = ((src @ best[:, :2].T + best[:, 2] - noisy[0]) ** 2).sum()
    for da, db, dt in [(0.01, 0, 0), (0, 0.01, 0), (0, 0, 0.1), (-0.01, 0.01, -0.1)]:
        alt = best.clone()
        alt[0, 0] += da
        alt[1, 1] += da
        alt[0, 1] -= db
        alt[1, 0] += db
        alt[:, 2] += dt
        assert ((src @ alt[:, :2].T + alt[:, 2] - noisy[0]) ** 2).sum() > err


def test_template_is_dlibs_mean_face_with_padding():
    t = template("68", 150, 0.25)
    assert len(POINTS_68) == 33 and POINTS_68[0] == 27 and POINTS_68[-1] == 64
    k = POINTS_68.index(36)
    want = [(0.25 + MEAN_FACE_X[36 - 17]) / 1.5 * 150, (0.25 + MEAN_FACE_Y[36 - 17]) / 1.5 * 150]
    np.testing.assert_allclose(t[k].numpy(), want, rtol=1e-6)
    five = template("5", 100, 0.0)
    np.testing.assert_allclose(five[0].numpy(), [85.95674595992, 21.34981538014], rtol=1e-6)
    assert POINTS_5 == (45, 42, 36, 39, 33)
    with pytest.raises(ConfigError, match="expected '68'"):
        template("7", 150, 0.25)


def test_chips_are_cut_where_the_transform_maps_them():
    img = torch.arange(40 * 60, dtype=torch.float32).reshape(1, 1, 40, 60)  # (B, C, H, W)
    shift = torch.tensor([[[1.0, 0, 10], [0, 1.0, 5]]])  # chip pixel u -> image u + (10, 5)
    chip = extract_chips(img, shift, 20)
    torch.testing.assert_close(chip[0, 0], img[0, 0, 5:25, 10:30])
    half = torch.tensor([[[2.0, 0, 0], [0, 2.0, 0]]])  # every chip pixel covers 2x2 image pixels
    chip = extract_chips(img, half, 10)
    want = img[0, 0, :20, :20].reshape(10, 2, 10, 2).mean(dim=(1, 3))
    torch.testing.assert_close(chip[0, 0], want)
    outside = torch.tensor([[[1.0, 0, 100], [0, 1.0, 0]]])
    assert extract_chips(img, outside, 5).abs().max() == 0  # zeros outside the image


def test_landmarks_on_the_template_give_the_identity_chip():
    marks = torch.zeros(1, 68, 2)
    marks[0, list(POINTS_68)] = template("68", 150, 0.25)
    m = chip_transform(marks, "68", 150, 0.25)
    torch.testing.assert_close(m[0], torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), atol=1e-4, rtol=0)
    assert inside(marks, "68", 150, 150).all()
    marks[0, 30, 0] = 151.0
    assert not inside(marks, "68", 150, 150).any()
    marks[0, 30, 0] = float("nan")
    assert not inside(marks, "68", 150, 150).any()


def _pinned(points_at: torch.Tensor) -> AlignedFaceNet:
    """An aligned net whose landmark model answers ``points_at`` (fractions) for any input."""
    torch.manual_seed(0)
    net = AlignedFaceNet((3, 150, 150), landmark_box=1.0, widths=(4, 4, 8, 8)).eval()
    with torch.no_grad():
        net.landmarks.fc.weight.zero_()
        net.landmarks.fc.bias.copy_(points_at.reshape(-1))
    return net


def test_the_encoder_aligns_and_falls_back_to_the_central_crop():
    img = torch.rand(2, 3, 150, 150, generator=torch.Generator().manual_seed(1)) * 255
    at = torch.zeros(68, 2)
    at[list(POINTS_68)] = template("68", 150, 0.25) / 150  # the mean face, as fractions
    chips, ok = _pinned(at).align(img)
    assert ok.all()
    torch.testing.assert_close(chips, img, atol=1e-2, rtol=0)  # already a chip: unchanged
    chips, ok = _pinned(torch.full((68, 2), 5.0)).align(img)  # points far off the image
    assert not ok.any()
    want = extract_chips(
        img, torch.tensor([[[110 / 150, 0, 20], [0, 110 / 150, 20]]]).expand(2, 2, 3), 150
    )
    torch.testing.assert_close(chips, want)
    assert _pinned(at)(img).shape == (2, 128)
    with pytest.raises(ConfigError, match="landmark_box: expected a fraction"):
        AlignedFaceNet(landmark_box=1.5)
