"""Fine-tuning a pretrained encoder: its weights as the start, a frozen backbone first, then
layer-wise learning rates.

* ``model.init_from = DIR``: the encoder starts from the weights of a model folder (``siamese
  import-weights``, or any run), checked tensor for tensor.
* ``training.freeze_backbone_epochs = n``: for the first ``n`` epochs only the encoder's head (its
  last layer group, e.g. face_resnet's final linear layer) and the pair head train; the backbone's
  parameters get no gradient. From epoch ``n + 1`` everything trains.
* ``training.backbone_lr_scale`` and ``training.layer_decay``: the backbone's layer groups learn at
  ``learning_rate x backbone_lr_scale x layer_decay^d``, ``d`` = 0 for the group just below the
  head, 1 for the one below it, ..., so the layers nearest the input move least (layer-wise decay,
  as in BEiT / ELECTRA fine-tuning). The head keeps ``learning_rate``.

The encoder names its layer groups, input to output, with ``layer_groups()`` (face_resnet does).
The optimiser holds one parameter group per layer group from the start, so checkpoints, resume
and collapse recovery see the same optimiser in every phase; the phase of an epoch follows from
its number alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from siamese.errors import ConfigError


class BackboneSchedule:
    """Which parameters train in an epoch, and at which learning rate each layer group learns.

    Args:
        model: the ``SiameseModel`` whose ``encoder`` has ``layer_groups()``.
        freeze_epochs: epochs with the backbone frozen (0: never).
        backbone_lr_scale: the backbone's learning rate relative to the head's.
        layer_decay: factor per layer group further from the head (1: none).

    Raises:
        ConfigError: the encoder does not name its layer groups, or a factor out of range.
    """

    def __init__(
        self,
        model: Any,
        *,
        freeze_epochs: int = 0,
        backbone_lr_scale: float = 1.0,
        layer_decay: float = 1.0,
    ):
        groups = getattr(model.encoder, "layer_groups", None)
        if groups is None:
            raise ConfigError(
                f"training.freeze_backbone_epochs / backbone_lr_scale / layer_decay: encoder "
                f"{getattr(model, 'encoder_name', None)!r} does not name its layer groups "
                "(layer_groups()); they work with face_resnet, face_aligned and hf_vision; leave them at "
                "0 / 1 / 1"
            )
        if backbone_lr_scale <= 0 or not 0 < layer_decay <= 1:
            raise ConfigError(
                "training.backbone_lr_scale: expected > 0, training.layer_decay: expected in "
                f"(0, 1]; got {backbone_lr_scale} and {layer_decay}"
            )
        self.freeze_epochs = int(freeze_epochs)
        self.backbone_lr_scale = float(backbone_lr_scale)
        self.layer_decay = float(layer_decay)
        layers = [list(g) for g in groups()]
        self.head = layers[-1]
        self.backbone = layers[:-1]
        listed = {id(p) for g in layers for p in g}
        self.rest = [p for p in model.parameters() if id(p) not in listed]  # pair head etc.

    def param_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups: the head (and the rest of the model), then the backbone's
        groups from the top down, each with its learning rate."""
        out = [{"params": self.head + self.rest, "lr": learning_rate}]
        for depth, params in enumerate(reversed(self.backbone)):
            lr = learning_rate * self.backbone_lr_scale * self.layer_decay**depth
            out.append({"params": params, "lr": lr})
        return out

    def frozen(self, epoch: int) -> bool:
        """Whether the backbone is frozen in ``epoch`` (1-based)."""
        return epoch <= self.freeze_epochs

    def apply(self, epoch: int) -> bool:
        """Set ``requires_grad`` for ``epoch``; returns whether the backbone is frozen."""
        frozen = self.frozen(epoch)
        for params in self.backbone:
            for p in params:
                p.requires_grad_(not frozen)
        return frozen


def init_encoder_from(encoder: nn.Module, cfg: Any, path: str | Path) -> dict[str, Any]:
    """Load the encoder weights of the model folder ``path`` into ``encoder``.

    Returns:
        What the run records under ``info.init_from``: the folder and its ``info.pretrained``.

    Raises:
        ConfigError: the folder holds another encoder, its tensors do not fit this one (the first
            differing tensor is named), or its model takes differently normalised inputs.
        ModelFileError: the folder is missing or broken (``SiameseModel.load``).
    """
    from siamese.model import SiameseModel

    src = SiameseModel.load(path)
    where = f"model.init_from = {str(path)!r}"
    if src.encoder_name != cfg.model.encoder:
        raise ConfigError(
            f"{where} holds a {src.encoder_name!r} encoder (arguments {src.encoder_args}); set "
            f"model.encoder = {src.encoder_name!r} with the same arguments"
        )
    if src.normaliser.mode != cfg.data.normalise:
        raise ConfigError(
            f"{where}: its model takes inputs normalised {src.normaliser.mode!r}, but "
            f"data.normalise = {cfg.data.normalise!r}; set data.normalise = "
            f"{src.normaliser.mode!r} so the pretrained weights see the inputs they were made for"
        )
    mine, theirs = encoder.state_dict(), src.encoder.state_dict()
    for key in [*mine, *(k for k in theirs if k not in mine)]:  # in the network's order
        if key not in mine or key not in theirs or mine[key].shape != theirs[key].shape:
            got = tuple(theirs[key].shape) if key in theirs else "absent"
            want = tuple(mine[key].shape) if key in mine else "absent"
            raise ConfigError(
                f"{where}: tensor {key!r} is {got} there but {want} in this run's "
                f"{cfg.model.encoder} encoder; give [model] the folder's arguments "
                f"{src.encoder_args}"
            )
    encoder.load_state_dict(theirs, strict=True)
    return {"path": str(path), "pretrained": src.info.get("pretrained")}
