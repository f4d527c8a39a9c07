"""ImageAugment, rotated_classes and center_crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.data.augment import ImageAugment, center_crop, rotated_classes
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError


def _images(n: int = 6, size: int = 12, channels: int = 1) -> LabeledDataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)
    return LabeledDataset(
        x, np.arange(n) % 3, ["a", "b", "c"], [f"img{i}" for i in range(n)], kind="image"
    )


def test_identity_augment_returns_input_unchanged():
    x = torch.rand(4, 1, 8, 8)
    assert ImageAugment().is_identity
    assert ImageAugment(rotate=10, p=0.0)(x) is x


def test_shift_moves_content_and_keeps_shape_and_range():
    x = torch.zeros(2, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 255
    torch.manual_seed(0)
    out = ImageAugment(shift=0.2)(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 255.0 + 1e-3
    assert not torch.allclose(out, x)


def test_flip_only_mirrors_exactly():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    aug = ImageAugment(flip=True)
    gen = torch.Generator().manual_seed(3)
    out = aug(x, generator=gen)
    for k in range(2):
        assert torch.allclose(out[k], x[k], atol=1e-4) or torch.allclose(
            out[k], x[k].flip(-1), atol=1e-4
        )


def test_same_seed_same_transform_and_uint8_input():
    x = torch.randint(0, 256, (3, 10, 10), dtype=torch.uint8)  # (B, H, W)
    aug = ImageAugment(rotate=15, scale=0.1, shear=5)
    a = aug(x, generator=torch.Generator().manual_seed(1))
    b = aug(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 10, 10) and torch.equal(a, b)


def test_from_config_rejects_unknown_keys_and_bad_values():
    assert ImageAugment.from_config(None) is None and ImageAugment.from_config({}) is None
    assert ImageAugment.from_config({"rotate": 5}).rotate == 5
    with pytest.raises(ConfigError, match="unknown keys \\['rotation'\\]; valid keys: rotate"):
        ImageAugment.from_config({"rotation": 5})
    with pytest.raises(ConfigError, match="augment.scale: expected a fraction below 1"):
        ImageAugment(scale=1.5)
    with pytest.raises(ConfigError, match="augment.padding: expected one of zeros"):
        ImageAugment(padding="wrap")
    with pytest.raises(ConfigError, match="augment.shift: expected a non-negative"):
        ImageAugment(shift=-0.1)


def test_rotated_classes_adds_three_rotated_copies_as_new_classes():
    ds = _images()
    out = rotated_classes(ds)
    assert len(out) == 4 * len(ds) and len(out.class_names) == 12
    assert out.class_names[3] == "a@rot90" and out.sources[6] == "img0@rot90"
    x = ds.load(np.arange(6))
    np.testing.assert_array_equal(out.load(np.arange(6, 12)), np.rot90(x, 1, axes=(-2, -1)))
    np.testing.assert_array_equal(out.labels[6:12], ds.labels + 3)


def test_rotated_classes_keep_the_reference_mask_aligned_with_the_items():
    ds = _images()
    ds.meta["is_reference"] = np.array([True, False, True, False, False, True])
    out = rotated_classes(ds, turns=(1, 2))
    ref = out.meta["is_reference"]
    assert len(ref) == len(out) == 18
    np.testing.assert_array_equal(ref, np.tile(ds.meta["is_reference"], 3))
    # each rotated class has as many references as its original
    for c in range(len(out.class_names)):
        assert ref[out.labels == c].sum() == ds.meta["is_reference"][ds.labels == c % 3].sum()
    np.testing.assert_array_equal(out.subset(np.arange(6, 12)).meta["is_reference"], ref[6:12])


def test_rotated_classes_needs_square_images():
    ds = LabeledDataset(
        np.zeros((2, 1, 4, 6), np.uint8), [0, 1], ["a", "b"], ["x", "y"], kind="image"
    )
    with pytest.raises(ConfigError, match="need square images, got item shape \\(1, 4, 6\\)"):
        rotated_classes(ds)


def test_center_crop_keeps_the_centre_then_resizes():
    ds = _images(size=12, channels=3)
    out = center_crop(ds, 6)
    np.testing.assert_array_equal(out.load(np.arange(6)), ds.load(np.arange(6))[..., 3:9, 3:9])
    small = center_crop(ds, 8, 4)
    assert small.item_shape == (3, 4, 4) and small.items.dtype == np.uint8
    assert small.meta["center_crop"] == [8, 8]
    with pytest.raises(
        ConfigError, match="crop: expected a box within the 12x12 images, got 20x20"
    ):
        center_crop(ds, 20)
