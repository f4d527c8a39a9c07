"""SiameseModel = normaliser + shared encoder (+ Koch pair head), saved as inspectable files."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

import siamese
from siamese._io import atomic_write_bytes, atomic_write_json
from siamese._read import read_json
from siamese.data.array_files import memory_bytes
from siamese.data.normaliser import Normaliser
from siamese.encoders import create_encoder
from siamese.errors import ConfigError, ModelFileError
from siamese.objectives.distances import get_distance
from siamese.objectives.pair_head import PairHead

WEIGHTS = "model.safetensors"
CONFIG = "model.json"


class SiameseModel(nn.Module):
    """One encoder with shared weights, its input normaliser and an optional pair head.

    Args:
        encoder: any ``nn.Module`` mapping a batch of items to ``(B, D)`` embeddings.
        normaliser: applied to raw items before the encoder (statistics from training data).
        head: Koch's ``PairHead`` when the model was trained with ``koch_bce``.
        encoder_name, encoder_args: how to rebuild the encoder from ``model.json`` (None for a
            custom module: ``load`` then needs ``encoder=``).
        distance: the distance used to compare embeddings when there is no head.
        info: anything else worth saving (class names, objective, training config, data kind).
        test_time_shift: ``s`` > 0 embeds each image as the mean of its embeddings shifted by
            every offset of at most ``s`` pixels in each direction ((2s + 1)^2 views, edges
            replicated) in ``embed``: evaluation, enrolment and serving, never the training
            batches. Saved in ``model.json``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        normaliser: Normaliser | None = None,
        head: PairHead | None = None,
        *,
        encoder_name: str | None = None,
        encoder_args: dict[str, Any] | None = None,
        distance: str = "euclidean",
        info: dict[str, Any] | None = None,
        test_time_shift: int = 0,
    ):
        super().__init__()
        self.normaliser = normaliser or Normaliser("none")
        self.encoder = encoder
        self.head = head
        self.encoder_name = encoder_name
        self.encoder_args = dict(encoder_args or {})
        self.distance_name = distance
        self.distance = get_distance(distance)
        self.info = dict(info or {})
        if int(test_time_shift) < 0:
            raise ConfigError(f"test_time_shift: expected 0 or more pixels, got {test_time_shift}")
        self.test_time_shift = int(test_time_shift)

    @property
    def accepts_lengths(self) -> bool:
        return bool(getattr(self.encoder, "accepts_lengths", False))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Embed a batch in the current train/eval mode (the training path)."""
        x = self.normaliser(x, lengths)
        if lengths is not None and self.accepts_lengths:
            return self.encoder(x, lengths)
        return self.encoder(x)  # (B, D)

    def embed(
        self,
        x: np.ndarray | torch.Tensor,
        lengths: np.ndarray | torch.Tensor | None = None,
        *,
        batch_size: int = 256,
        flip: bool = False,
    ) -> torch.Tensor:
        """Embeddings ``(N, D)`` in eval mode (batch norm statistics untouched), without gradients.

        Images are embedded as the mean over their test-time views: the shifts of
        ``test_time_shift``, and with ``flip`` also their left-right mirror images.
        """
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                device = next(self.parameters(), torch.empty(0)).device
                x = torch.as_tensor(x).to(device)
                lens = None if lengths is None else torch.as_tensor(lengths)
                out = [
                    self._embed_views(
                        x[i : i + batch_size],
                        None if lens is None else lens[i : i + batch_size],
                        flip,
                    )
                    for i in range(0, len(x), batch_size)
                ]
                return torch.cat(out).cpu() if out else torch.empty(0, 0)
        finally:
            self.train(was_training)

    def _embed_views(
        self, x: torch.Tensor, lens: torch.Tensor | None, flip: bool = False
    ) -> torch.Tensor:
        """``forward``, averaged over the test-time views of a batch (shifts: images only).

        The mean is scaled back to unit length when embeddings are compared by angle (an
        L2-normalised encoder or the cosine distance).
        """
        s = self.test_time_shift if x.ndim == 4 else 0
        if s == 0 and not flip:
            return self.forward(x, lens)
        views = []
        for img in [x, x.flip(-1)] if flip else [x]:
            H, W = img.shape[-2:]
            padded = (
                torch.nn.functional.pad(img.float(), (s, s, s, s), mode="replicate") if s else img
            )
            views += [
                self.forward(padded[..., s + dy : s + dy + H, s + dx : s + dx + W], lens)
                for dy in range(-s, s + 1)
                for dx in range(-s, s + 1)
            ]
        mean = torch.stack(views).mean(0)
        if self.encoder_args.get("output_activation") == "l2" or self.distance_name == "cosine":
            mean = torch.nn.functional.normalize(mean, dim=1, eps=1e-8)
        return mean

    def embed_dataset(
        self, dataset: Any, *, batch_size: int = 256, flip: bool = False
    ) -> np.ndarray:
        """Embed every item of a ``LabeledDataset`` (loading it batch by batch; ``flip``: as
        ``embed``)."""
        chunks = []
        for start in range(0, len(dataset), batch_size):
            idx = np.arange(start, min(start + batch_size, len(dataset)))
            lens = None if dataset.lengths is None else dataset.lengths[idx]
            chunks.append(
                self.embed(dataset.load(idx), lens, batch_size=batch_size, flip=flip).numpy()
            )
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

    def similarity(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Row-wise similarity of embeddings, higher = more alike.

        The pair head's probability when the model has one, else the negated distance.
        """
        with torch.inference_mode():
            device = next(self.parameters(), torch.empty(0)).device
            e1, e2 = torch.as_tensor(e1).to(device), torch.as_tensor(e2).to(device)
            if self.head is not None:
                return self.head.probability(e1, e2).cpu()
            return -self.distance.pairwise(e1, e2).cpu()

    def config(self) -> dict[str, Any]:
        """Everything ``model.json`` holds."""
        return {
            "format": "siamese-model/1",
            "library_version": siamese.__version__,
            "torch_version": torch.__version__,
            "encoder": {"name": self.encoder_name, "args": self.encoder_args},
            "normaliser": self.normaliser.to_json(),
            "head": None if self.head is None else {"name": "pair_head", "dim": self.head.dim},
            "distance": self.distance_name,
            "embedding_dim": int(getattr(self.encoder, "embedding_dim", 0) or 0),
            "test_time_shift": self.test_time_shift,
            "info": self.info,
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``model.json`` into ``directory`` (each atomically)."""
        directory = Path(directory)
        tensors = {k: v.detach().contiguous().clone() for k, v in self.state_dict().items()}
        atomic_write_bytes(directory / WEIGHTS, save(tensors))
        atomic_write_json(directory / CONFIG, self.config())
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, encoder: nn.Module | None = None) -> SiameseModel:
        """Rebuild a saved model. Nothing is unpickled: weights come from safetensors.

        Nothing is allocated before the files agree: the encoder (and pair head) that
        ``model.json`` describes is first built on PyTorch's ``meta`` device (shapes, no memory),
        and its tensor names and shapes must match those in the ``model.safetensors`` header, so a
        tampered ``model.json`` asking for huge layers is refused without building them.

        Args:
            directory: a folder holding ``model.json`` and ``model.safetensors``.
            encoder: the module to load weights into, for models built on a custom encoder.

        Raises:
            ModelFileError: a file is missing, corrupt, does not match the other, or describes
                a model larger than this machine's memory.
        """
        directory = Path(directory)
        cfg_path, w_path = directory / CONFIG, directory / WEIGHTS
        for p in (cfg_path, w_path):
            if not p.is_file():
                raise ModelFileError(
                    f"{p}: missing; a model folder holds {CONFIG} and {WEIGHTS} "
                    "(written by SiameseModel.save or `siamese train`)"
                )
        cfg, enc, norm, head_dim = _read_config(cfg_path)
        if encoder is None and not enc.get("name"):
            raise ModelFileError(
                f"{cfg_path}: the model was built on a custom encoder; pass encoder= to load it"
            )
        meta = torch.device("meta")
        probe = _build(cfg_path, enc if encoder is None else None, head_dim, meta)
        wanted = {**_shapes_of(probe), **_shapes_of(norm, "normaliser.")}
        if encoder is not None:
            wanted.update(_shapes_of(encoder, "encoder."))
        _check_shapes(cfg_path, w_path, wanted, _weight_shapes(w_path))
        built, head = _build(cfg_path, enc if encoder is None else None, head_dim, None)
        encoder = encoder if built is None else built
        try:
            model = cls(
                encoder,
                norm,
                head,
                encoder_name=enc.get("name"),
                encoder_args=enc.get("args", {}),
                distance=cfg.get("distance", "euclidean"),
                info=cfg.get("info", {}),
                test_time_shift=cfg.get("test_time_shift", 0),
            )
        except (ConfigError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{cfg_path}: corrupt model config ({exc}); re-save the model"
            ) from None
        try:
            state = load_file(str(w_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(
                f"{w_path}: corrupt weights file ({exc}); re-save the model"
            ) from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ModelFileError(f"{w_path}: weights do not match {CONFIG} ({first})") from None
        model.eval()
        return model


#: The largest ``model.json`` read (bytes); normaliser statistics make it at most a few MB.
MAX_CONFIG_BYTES = 256 * 2**20


def _read_config(path: Path) -> tuple[dict[str, Any], dict[str, Any], Normaliser, int | None]:
    """``(config, encoder section, normaliser, pair head dim or None)`` of a ``model.json``."""
    try:
        cfg = read_json(path, "model config", max_bytes=MAX_CONFIG_BYTES, error=ModelFileError)
    except ModelFileError as exc:
        raise ModelFileError(f"corrupt model config: {exc}") from None
    try:
        enc = cfg["encoder"]
        if not isinstance(enc, dict) or not isinstance(enc.get("args", {}), dict):
            raise TypeError("encoder: expected {'name': ..., 'args': {...}}")
        norm = Normaliser.from_json(cfg["normaliser"])
        head = cfg.get("head")
        head_dim = None if not head else head["dim"]
        if head_dim is not None and (isinstance(head_dim, bool) or not isinstance(head_dim, int)):
            raise TypeError(f"head.dim: expected an integer, got {head_dim!r}")
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
        raise ModelFileError(f"{path}: corrupt model config ({exc}); re-save the model") from None
    return cfg, enc, norm, head_dim


def _build(
    cfg_path: Path, enc: dict[str, Any] | None, head_dim: int | None, device: torch.device | None
) -> Any:
    """The encoder (``enc``: None for none) and pair head ``model.json`` describes.

    Returns:
        ``(encoder, head)`` (either may be None), or on a ``device`` (``meta``: shapes, no
        memory) one module holding both, to read their state-dict shapes.
    """
    try:
        with torch.device(device) if device is not None else nullcontext():
            encoder = None if enc is None else create_encoder(enc["name"], **enc.get("args", {}))
            head = None if head_dim is None else PairHead(head_dim)
    except ConfigError as exc:
        raise ModelFileError(f"{cfg_path}: {exc}") from None
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(
            f"{cfg_path}: the model cannot be built from its encoder and head arguments "
            f"({first}); re-save the model"
        ) from None
    if device is None:
        return encoder, head
    probe = nn.Module()
    for name, part in (("encoder", encoder), ("head", head)):
        if part is not None:
            probe.add_module(name, part)
    return probe


def _shapes_of(module: nn.Module, prefix: str = "") -> dict[str, tuple[int, ...]]:
    return {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}


def _weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors file's header (no tensor is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: corrupt weights file ({exc}); re-save the model") from None


def _check_shapes(
    cfg_path: Path,
    w_path: Path,
    wanted: dict[str, tuple[int, ...]],
    found: dict[str, tuple[int, ...]],
) -> None:
    """The tensors ``model.json`` describes must be those of the weights file, shape for shape.

    Raises:
        ModelFileError: missing, unexpected or differently shaped tensors (the first few named),
            or a model too large for this machine's memory.
    """
    missing = [k for k in wanted if k not in found]
    extra = [k for k in found if k not in wanted]
    differ = [k for k in wanted if k in found and wanted[k] != found[k]]
    if missing or extra or differ:
        parts = []
        if differ:
            parts.append(
                "shapes differ: "
                + ", ".join(f"{k} {found[k]} in the file vs {wanted[k]}" for k in differ[:3])
            )
        if missing:
            parts.append("missing: " + ", ".join(missing[:3]))
        if extra:
            parts.append("unexpected: " + ", ".join(extra[:3]))
        raise ModelFileError(
            f"{w_path}: weights do not match {cfg_path.name} ({'; '.join(parts)}); the two "
            "files come from different models or one was edited: re-save the model"
        )
    numel = sum(int(np.prod(s, dtype=object)) for s in wanted.values())
    ram = memory_bytes()
    if ram is not None and numel * 4 > ram:
        raise ModelFileError(
            f"{cfg_path}: a model of {numel:,} parameters needs {numel * 4 / 2**30:.1f} GiB, more "
            f"than this machine's {ram / 2**30:.1f} GiB of memory"
        )
