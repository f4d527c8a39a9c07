"""A Hugging Face model's own image preprocessing (``preprocessor_config.json``), in torch.

The image processors of transformers (ViTImageProcessor, BitImageProcessor for DINOv2,
CLIPImageProcessor, ConvNextImageProcessor) do, in order: resize (to a fixed height x width, or
the shortest edge to a size), centre crop, rescale (x 1/255), normalise ((x - mean) / std).
``preprocess_spec`` reads those settings into a plain dict (saved in ``model.json`` with the
model), and ``ImagePreprocess`` applies them inside the encoder, to ``(B, 3, H, W)`` pixel values
in [0, 255]: training, the gallery, the service and the exports all see the same thing.

Resizing is ``torch.nn.functional.interpolate`` (bilinear or bicubic with antialiasing, as
Pillow resamples); Pillow's other filters (lanczos, box, hamming) are replaced by bicubic. When
the data reader already gives images at the model's size (``data.size``), nothing is resized.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from siamese.errors import ConfigError

#: Pillow's resampling codes -> interpolate modes (lanczos 1, box 4, hamming 5: bicubic).
RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def preprocess_spec(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The settings of a ``preprocessor_config.json`` that change pixels, checked.

    Returns:
        ``{"resize": None | {"height", "width"} | {"shortest_edge"}, "crop": None | {"height",
        "width"}, "crop_pct": float | None, "resample": mode, "scale": float, "mean": [3],
        "std": [3]}``.

    Raises:
        ConfigError: a setting of the wrong type (named with the file).
    """

    def fail(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key!r} = {raw.get(key)!r}: expected {expected}")

    resize = _size(raw.get("size"), where, "size") if raw.get("do_resize", True) else None
    crop = None
    if raw.get("do_center_crop", False) and raw.get("crop_size") is not None:
        crop = _size(raw.get("crop_size"), where, "crop_size")
        if "shortest_edge" in crop:  # a square crop given as one number
            crop = {"height": crop["shortest_edge"], "width": crop["shortest_edge"]}
    crop_pct = raw.get("crop_pct")
    if crop_pct is not None and not (isinstance(crop_pct, (int, float)) and 0 < crop_pct <= 1):
        raise fail("crop_pct", "a fraction in (0, 1]")
    resample = raw.get("resample", 2)
    if not isinstance(resample, int) or isinstance(resample, bool) or not 0 <= resample <= 5:
        raise fail("resample", "a Pillow resampling code 0-5")
    scale = float(raw.get("rescale_factor", 1 / 255)) if raw.get("do_rescale", True) else 1.0
    mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    if raw.get("do_normalize", True):
        mean, std = _three(raw, "image_mean", where), _three(raw, "image_std", where)
        if min(std) <= 0:
            raise fail("image_std", "three positive numbers")
    return {
        "resize": resize,
        "crop": crop,
        "crop_pct": None if crop_pct is None else float(crop_pct),
        "resample": RESAMPLE.get(resample, "bicubic"),
        "scale": scale,
        "mean": mean,
        "std": std,
    }


def _three(raw: dict[str, Any], key: str, where: str) -> list[float]:
    """Three numbers (R, G, B) of ``raw[key]``; one number stands for all three."""
    value = raw.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where}: {key!r} = {raw.get(key)!r}: expected three numbers (R, G, B)")
    return [float(v) for v in value]


def _size(value: Any, where: str, key: str) -> dict[str, int]:
    """``{"height", "width"}`` or ``{"shortest_edge"}`` of a ``size`` / ``crop_size`` setting."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"shortest_edge": value}
    if isinstance(value, dict):
        ints = {k: v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}
        if "height" in ints and "width" in ints and min(ints["height"], ints["width"]) > 0:
            return {"height": ints["height"], "width": ints["width"]}
        if ints.get("shortest_edge", 0) > 0:
            return {"shortest_edge": ints["shortest_edge"]}
    raise ConfigError(
        f"{where}: {key!r} = {value!r}: expected {{'height': H, 'width': W}} or "
        "{'shortest_edge': S} (positive integers)"
    )


def output_sizes(spec: dict[str, Any], height: int, width: int) -> tuple[tuple, tuple]:
    """``(resize_to, crop_to)`` for ``height x width`` input images (each ``()`` for none).

    As the image processors compute them: a fixed size is used as is; a shortest edge ``s``
    scales the image so its shorter side is ``s`` (the longer ``int(s * long / short)``);
    ConvNeXt's ``crop_pct`` (below 384 pixels) resizes the shortest edge to ``s / crop_pct`` and
    then crops ``s x s``.
    """
    resize, crop = spec["resize"], spec["crop"]
    if resize is None:
        size: tuple = ()
    elif "height" in resize:
        size = (resize["height"], resize["width"])
    else:
        s = resize["shortest_edge"]
        if spec.get("crop_pct") is not None and s < 384:
            crop = {"height": s, "width": s}
            s = int(s / spec["crop_pct"])
        short, long = sorted((height, width))
        other = int(s * long / short)
        size = (s, other) if height <= width else (other, s)
    cut = () if crop is None else (crop["height"], crop["width"])
    if size == (height, width):
        size = ()
    return size, cut


class ImagePreprocess(nn.Module):
    """Resize, centre crop, rescale and normalise ``(B, 3, H, W)`` images of pixel values 0-255.

    Resizing with antialiasing (``interpolate(..., antialias=True)``) is linear and separable, and
    the input size is fixed per model, so it is done as two matrix products, ``Ry @ x @ Rx^T``:
    the matrices are the interpolation applied to the identity, once, with the crop's rows and
    columns kept. The same numbers, and a graph every exporter carries (ONNX has no antialiased
    resize before opset 18).

    Args:
        spec: ``preprocess_spec``'s dict.
        height, width: the size of the images the encoder is given (fixed per model).
    """

    def __init__(self, spec: dict[str, Any], height: int, width: int):
        super().__init__()
        size, crop = output_sizes(spec, height, width)
        h, w = size or (height, width)
        if crop and (crop[0] > h or crop[1] > w):
            raise ConfigError(
                f"hf_vision: the model's crop_size {crop} is larger than its resized images "
                f"{(h, w)}; check preprocessor_config.json"
            )
        self.out_size = crop or (h, w)
        top, left = (h - self.out_size[0]) // 2, (w - self.out_size[1]) // 2
        self.description = f"resize={size or 'none'}, crop={crop or 'none'}"
        mode = spec["resample"]
        rows = _resize_matrix(height, h, mode)[top : top + self.out_size[0]]  # (h', H)
        cols = _resize_matrix(width, w, mode)[left : left + self.out_size[1]]  # (w', W)
        # without a resize, the crop is a slice (no matrix products)
        self.window = None if size else (top, left)
        self.register_buffer("rows", rows, persistent=False)  # constants, not weights
        self.register_buffer("cols_t", cols.T.contiguous(), persistent=False)
        scale = torch.tensor(spec["scale"], dtype=torch.float32)
        mean = torch.tensor(spec["mean"], dtype=torch.float32).reshape(1, 3, 1, 1)
        std = torch.tensor(spec["std"], dtype=torch.float32).reshape(1, 3, 1, 1)
        # (x * scale - mean) / std as one multiply-add
        self.register_buffer("mul", scale / std, persistent=False)
        self.register_buffer("add", -mean / std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.window is None:
            x = self.rows @ x @ self.cols_t  # (B, 3, h', w'): resized and cropped
            x = x.clamp(0, 255)  # as Pillow's 8-bit result: bicubic overshoot cut
        elif tuple(x.shape[-2:]) != self.out_size:
            top, left = self.window
            x = x[..., top : top + self.out_size[0], left : left + self.out_size[1]]
        return x * self.mul + self.add  # (B, 3, h', w')

    def extra_repr(self) -> str:
        return self.description


def _resize_matrix(n_in: int, n_out: int, mode: str) -> torch.Tensor:
    """``(n_out, n_in)``: one axis of ``interpolate(mode, antialias=True)`` as a matrix (the
    identity when the size is unchanged)."""
    if n_in == n_out:
        return torch.eye(n_in)
    # one unit impulse per input pixel, as rows 4 pixels wide: interpolate's antialiased kernels
    # treat a 1-pixel-wide image differently (torch 2.13: not as Pillow), a wider one as Pillow
    impulses = torch.eye(n_in).reshape(n_in, 1, n_in, 1).expand(-1, -1, -1, 4).contiguous()
    out = F.interpolate(impulses, size=(n_out, 4), mode=mode, antialias=mode != "nearest")
    return out[:, 0, :, 0].T.contiguous()  # (n_out, n_in)
