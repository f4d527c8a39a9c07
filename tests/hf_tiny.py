"""Tiny random Hugging Face vision models saved with ``save_pretrained``, for the hf_vision tests
(no network: configs of hidden size 16, 2 layers, 32x32 images)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

#: A ViT image processor's settings (ViTImageProcessor.to_dict(), the keys that change pixels).
PREPROCESSOR = {
    "do_resize": True,
    "size": {"height": 32, "width": 32},
    "resample": 2,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "ViTImageProcessor",
}
KINDS = ("vit", "dinov2", "convnext", "clip_vision", "clip")


def tiny_config(kind: str):
    """The transformers config of a tiny random model of ``kind``."""
    tf = pytest.importorskip("transformers")
    tokens = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2}
    image = {"image_size": 32, "patch_size": 8}
    if kind == "vit":
        return tf.ViTConfig(**tokens, **image, intermediate_size=32)
    if kind == "dinov2":
        return tf.Dinov2Config(**tokens, **image, mlp_ratio=2)
    if kind == "convnext":
        return tf.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=32)
    vision = tf.CLIPVisionConfig(**tokens, **image, intermediate_size=32)
    if kind == "clip_vision":
        return vision
    text = {**tokens, "intermediate_size": 32, "vocab_size": 64, "bos_token_id": 0}
    return tf.CLIPConfig(
        vision_config=vision.to_dict(), text_config={**text, "eos_token_id": 1}, projection_dim=8
    )


def tiny_model_folder(root: Path, kind: str = "vit", *, preprocessor: dict | None = None) -> Path:
    """``root/<kind>``: a seeded random tiny model of ``kind`` and its preprocessor config."""
    tf = pytest.importorskip("transformers")
    folder = Path(root) / kind
    if (folder / "config.json").is_file():
        return folder
    torch.manual_seed(0)
    config = tiny_config(kind)
    model = tf.CLIPModel(config) if kind == "clip" else tf.AutoModel.from_config(config)
    tf.utils.logging.disable_progress_bar()
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor or PREPROCESSOR))
    return folder
