"""A Hugging Face transformers vision model (ViT, DINOv2, CLIP's vision tower, ConvNeXt ...) as
the shared encoder, with the model's own image preprocessing.

``pretrained`` names a local folder in ``save_pretrained``'s layout (``config.json``,
``model.safetensors``, ``preprocessor_config.json``) or a hub name (downloaded where there is a
network); ``siamese.encoders._hf_load`` finds and checks it. The encoder takes ``(B, 3, H, W)``
(or grayscale ``(B, 1, H, W)`` / ``(B, H, W)``, repeated into R, G and B) pixel values in [0, 255],
so the run's ``data.normalise`` is ``"none"``; it resizes, crops, rescales and normalises them as
the model's image processor does (``_hf_preprocess``), runs the model and pools its output:

* ``pooled``: the model's own pooled output (ViT's pooler, DINOv2's and CLIP's normalised CLS
  token, ConvNeXt's normalised mean over the map);
* ``cls``: the CLS token of the last layer (transformers with one);
* ``mean``: the mean of the last layer's patch tokens (CLS, distillation and register tokens left
  out), or of a convolutional model's last feature map;

then an optional linear projection to ``embedding_dim`` and the output activation.

The run saves the model's config and preprocessing in ``model.json`` (``architecture``, from
``rebuild_args``), so a saved model is rebuilt from its own folder, without the Hugging Face folder
or a network. ``layer_groups()`` (embeddings, each transformer layer or ConvNeXt stage, the final
norm and pooler, the projection) serves ``training.freeze_backbone_epochs``, ``backbone_lr_scale``
and ``layer_decay``.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from siamese.encoders._hf_load import (
    KEY,
    load_pretrained,
    read_folder,
    resolve,
    transformers_module,
    vision_config,
)
from siamese.encoders._hf_load import build_random as build_hf_random
from siamese.encoders._hf_preprocess import ImagePreprocess
from siamese.encoders._layers import OutputActivation, as_image_batch, channels_of
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError

POOLINGS = ("pooled", "cls", "mean")


class HFVisionEncoder(nn.Module):
    """A transformers vision model + its preprocessing + pooling + optional projection.

    Args:
        backbone: the transformers model (``AutoModel`` of a vision config).
        architecture: ``{"config": config.to_dict(), "preprocess": preprocess_spec}``.
        input_shape: ``(C, H, W)`` or ``(H, W)``, C = 1 or 3: the items' shape.
        pooling: ``pooled``, ``cls`` or ``mean``.
        embedding_dim: the projection's size (None: the pooled features, unprojected).
        output_activation: ``none``, ``l2`` or ``sigmoid``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        architecture: dict[str, Any],
        input_shape: tuple[int, ...],
        pooling: str = "pooled",
        embedding_dim: int | None = None,
        output_activation: str = "none",
    ):
        super().__init__()
        shape = tuple(input_shape)
        if len(shape) not in (2, 3) or channels_of(shape) not in (1, 3):
            raise ConfigError(
                "hf_vision input_shape: expected RGB (3, H, W) or grayscale (1, H, W) images, "
                f"got {shape}"
            )
        if pooling not in POOLINGS:
            raise ConfigError(
                f"model.pooling = {pooling!r}: expected one of {', '.join(POOLINGS)} (hf_vision)"
            )
        self.architecture = architecture
        # no task loss of its own: transformers warns about an unset loss type when a tool (the
        # trainer, torch.jit.trace) reads every attribute
        backbone._loss_function = None
        self.backbone = backbone
        self.pooling = pooling
        self.preprocess = ImagePreprocess(architecture["preprocess"], *shape[-2:])
        self.special_tokens = _special_tokens(backbone)
        self.forward_kwargs = _forward_kwargs(backbone, self.preprocess.out_size)
        features = self._probe_features()
        self.proj = nn.Linear(features, embedding_dim) if embedding_dim else nn.Identity()
        self.embedding_dim = embedding_dim or features
        self.out = OutputActivation(output_activation)

    def _probe_features(self) -> int:
        """The pooled features' size, from one forward pass of a blank image (on the meta device
        when the model is built there: no compute)."""
        ref = next(self.backbone.parameters())
        x = torch.zeros(1, 3, *self.preprocess.out_size, device=ref.device)
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                feats = self._pool(self.backbone(pixel_values=x, **self.forward_kwargs))
        except (ValueError, RuntimeError, TypeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"hf_vision: {type(self.backbone).__name__} does not take the "
                f"{self.preprocess.out_size} images its preprocessing makes ({first[:160]}); "
                "check preprocessor_config.json against config.json's image_size"
            ) from None
        finally:
            self.backbone.train(was_training)
        return int(feats.shape[1])

    def _pool(self, out: Any) -> torch.Tensor:
        name = type(self.backbone).__name__
        if self.pooling == "pooled":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise ConfigError(
                    f"model.pooling = 'pooled': {name} has no pooled output; use 'cls' or 'mean'"
                )
            return pooled.flatten(1)  # (B, F)
        h = out.last_hidden_state  # (B, T, F) tokens or (B, F, h, w) map
        if h.dim() == 4:
            if self.pooling == "cls":
                raise ConfigError(
                    f"model.pooling = 'cls': {name} is convolutional (no CLS token); use "
                    "'pooled' or 'mean'"
                )
            return h.mean(dim=(2, 3))  # (B, F)
        if self.pooling == "cls":
            if self.special_tokens == 0:
                raise ConfigError(
                    f"model.pooling = 'cls': {name} has no CLS token; use 'pooled' or 'mean'"
                )
            return h[:, 0]  # (B, F)
        return h[:, self.special_tokens :].mean(dim=1)  # (B, F): patch tokens only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_image_batch(x).float()  # (B, C, H, W), C = 1 or 3, values 0-255
        if x.shape[1] == 1:  # grayscale: the same value in R, G and B
            x = x.expand(-1, 3, -1, -1)
        out = self.backbone(pixel_values=self.preprocess(x), **self.forward_kwargs)
        return self.out(self.proj(self._pool(out)))  # (B, embedding_dim)

    def rebuild_args(self) -> dict[str, Any]:
        """What ``model.json`` keeps beside the config's arguments so that a saved model is
        rebuilt without the Hugging Face folder (its config and preprocessing)."""
        return {"architecture": self.architecture}

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from input to output: embeddings (and anything before the layers), each
        layer of the model's largest layer list (transformer layers; ConvNeXt's stages), what
        follows them (final norm, pooler), then the projection when there is one."""
        stack = _layer_stack(self.backbone)
        before: list[nn.Parameter] = []
        layers: list[list[nn.Parameter]] = [[] for _ in range(len(stack[1]) if stack else 0)]
        after: list[nn.Parameter] = []
        for name, p in self.backbone.named_parameters():
            if stack and name.startswith(stack[0] + "."):
                layers[int(name[len(stack[0]) + 1 :].split(".")[0])].append(p)
            elif any(layers):
                after.append(p)
            else:
                before.append(p)
        groups = [before, *layers, after, list(self.proj.parameters())]
        return [g for g in groups if g]


def _layer_stack(backbone: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The ``(name, ModuleList)`` holding most of the model's parameters (its layers)."""
    best, size = None, 0
    for name, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            n = sum(p.numel() for p in module.parameters())
            if n > size:
                best, size = (name, module), n
    return best


def _special_tokens(backbone: nn.Module) -> int:
    """How many tokens come before the patch tokens: CLS, DeiT's distillation token, DINOv2's
    registers (0 for a model without a CLS token)."""
    names = [n.rsplit(".", 1)[-1] for n, _ in backbone.named_parameters()]
    count = int("cls_token" in names or "class_embedding" in names)
    count += int("distillation_token" in names)
    if "register_tokens" in names:
        count += int(getattr(backbone.config, "num_register_tokens", 0) or 0)
    return count


def _forward_kwargs(backbone: nn.Module, size: tuple[int, int]) -> dict[str, Any]:
    """``interpolate_pos_encoding=True`` where the model takes images of another size than its
    config's ``image_size`` that way (ViT, CLIP); nothing otherwise."""
    image_size = getattr(backbone.config, "image_size", None)
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    takes = "interpolate_pos_encoding" in inspect.signature(backbone.forward).parameters
    if takes and image_size is not None and tuple(image_size) != tuple(size):
        return {"interpolate_pos_encoding": True}
    return {}


@register_encoder
def hf_vision(
    input_shape: tuple[int, ...] = (3, 224, 224),
    pretrained: str = "",
    pooling: str = "pooled",
    embedding_dim: int | None = None,
    output_activation: str = "none",
    architecture: dict[str, Any] | None = None,
) -> nn.Module:
    """A Hugging Face vision model (ViT, DINOv2, CLIP vision, ConvNeXt ...; pip install
    'siamese[hf]') from a local folder or hub name, with its own preprocessing.

    Args:
        input_shape: the items' shape, pixel values 0-255 (``data.normalise = "none"``).
        pretrained: the model's folder (``save_pretrained`` layout) or hub name.
        pooling: ``pooled`` (the model's pooled output), ``cls`` or ``mean``.
        embedding_dim: a linear projection to this size (None: none).
        output_activation: ``none``, ``l2`` or ``sigmoid``.
        architecture: written by the run into ``model.json`` (config and preprocessing) to
            rebuild a saved model without its folder; leave it unset.
    """
    transformers_module()  # the extra's name before anything else
    if architecture is None:
        folder = resolve(pretrained)
        config_dict, spec = read_folder(folder)
        config = vision_config(config_dict, folder / "config.json")
        backbone, missing = load_pretrained(folder, config)
        unused = "pooler." if pooling != "pooled" else None  # e.g. ViT without its pooler
        missing = [k for k in missing if not (unused and k.startswith(unused))]
        if missing and all(k.startswith("pooler.") for k in missing):
            raise ConfigError(
                f"{folder / 'model.safetensors'}: no weights for {type(backbone).__name__}'s "
                f"pooler ({missing[0]!r}): the model was saved without one; set model.pooling "
                "= 'cls' or 'mean'"
            )
        if missing:
            raise ConfigError(
                f"{folder / 'model.safetensors'}: tensor {missing[0]!r} is missing (and "
                f"{len(missing) - 1} more); expected every weight of "
                f"{type(backbone).__name__}: is it the folder of another model?"
            )
        architecture = {"config": config_dict, "preprocess": spec}
    else:
        if not (
            isinstance(architecture, dict)
            and isinstance(architecture.get("config"), dict)
            and isinstance(architecture.get("preprocess"), dict)
        ):
            raise ConfigError(
                "model.architecture: expected {'config': {...}, 'preprocess': {...}} as the run "
                f"writes it; leave it unset and give {KEY}"
            )
        config = vision_config(architecture["config"], "model.architecture.config")
        backbone = build_hf_random(config)
    try:
        return HFVisionEncoder(
            backbone, architecture, input_shape, pooling, embedding_dim, output_activation
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"model.architecture: malformed preprocessing ({exc}); leave it unset and give {KEY}"
        ) from None
