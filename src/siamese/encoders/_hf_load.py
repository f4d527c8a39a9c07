"""Finding, checking and loading a Hugging Face vision model for the ``hf_vision`` encoder.

A model is a folder in ``save_pretrained``'s layout: ``config.json``, ``model.safetensors`` (or
its sharded index) and ``preprocessor_config.json``; a hub name (``facebook/dinov2-small``) is
downloaded into the local cache first (only those files), where the machine has a network.
Pickle checkpoints (``pytorch_model.bin``) are refused: loading them can run code. Every check
runs before any weight is read, and a failure is one line naming the file.

transformers is imported only here, and only when an ``hf_vision`` encoder is built, so the
library works without it (``pip install 'siamese[hf]'`` adds it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from siamese._read import read_json
from siamese.encoders._hf_preprocess import preprocess_spec
from siamese.errors import ConfigError, SiameseError

KEY = "model.pretrained"
CONFIG, PREPROCESSOR = "config.json", "preprocessor_config.json"
WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
#: What a hub download fetches (never a pickle).
HUB_FILES = [CONFIG, PREPROCESSOR, "*.safetensors", "model.safetensors.index.json"]


def transformers_module() -> Any:
    """``import transformers``, or the one-line error naming the extra that installs it."""
    try:
        import transformers
    except ImportError:
        raise ConfigError(
            "model.encoder = 'hf_vision' needs the transformers package, which is not installed; "
            "pip install 'siamese[hf]' (or pip install transformers)"
        ) from None
    return transformers


def resolve(pretrained: str) -> Path:
    """The local folder of ``pretrained``: a folder as given, or a hub name's cached download.

    Raises:
        ConfigError: empty, a path that is not a folder, or a hub name that cannot be fetched.
    """
    if not pretrained:
        raise ConfigError(
            f"{KEY}: expected the folder of a transformers vision model (saved with "
            "save_pretrained) or a hub name such as 'facebook/dinov2-small'; got none"
        )
    folder = Path(pretrained).expanduser()
    if folder.is_dir():
        return folder
    looks_local = pretrained.startswith(("/", ".", "~")) or pretrained.count("/") != 1
    if folder.exists() or looks_local:
        what = "is a file" if folder.exists() else "does not exist"
        raise ConfigError(
            f"{KEY} = {pretrained!r}: {what}; expected a folder holding {CONFIG} and "
            f"{WEIGHTS[0]} (written by save_pretrained), or a hub name 'owner/model'"
        )
    transformers_module()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=pretrained, allow_patterns=HUB_FILES))
    except Exception as exc:  # network, unknown repo, gated model: one line, whichever
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"{KEY} = {pretrained!r}: not a local folder, and fetching it from the Hugging Face "
            f"hub failed ({first}); give the folder the model was saved to with save_pretrained"
        ) from None


def read_folder(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(vision config as a dict, preprocessing spec)`` of a model folder, every file checked.

    Raises:
        ConfigError: a missing or malformed file, a model that is not a vision model, a pickle
            checkpoint without safetensors weights; the file is named.
    """
    cfg_path = folder / CONFIG
    if not cfg_path.is_file():
        raise ConfigError(
            f"{cfg_path}: missing; expected a transformers model folder ({CONFIG} + {WEIGHTS[0]} "
            f"+ {PREPROCESSOR}, as save_pretrained writes them)"
        )
    raw = _json(cfg_path, "transformers model config")
    config = vision_config(raw, cfg_path)
    _check_weights(folder)
    pre_path = folder / PREPROCESSOR
    if not pre_path.is_file():
        raise ConfigError(
            f"{pre_path}: missing; expected the model's image preprocessing (size, image_mean, "
            "image_std); save it with the model's image processor's save_pretrained, or copy the "
            "file from the hub model the weights came from"
        )
    spec = preprocess_spec(_json(pre_path, "image preprocessing config"), str(pre_path))
    return config.to_dict(), spec


def vision_config(raw: Any, where: Path | str) -> Any:
    """The transformers config of the vision tower a ``config.json`` describes (CLIP, SigLIP:
    their ``vision_config``).

    Raises:
        ConfigError: no or an unknown ``model_type``, or a model whose input is not an image.
    """
    tf = transformers_module()
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if not isinstance(model_type, str):
        raise ConfigError(
            f"{where}: no 'model_type'; expected the config.json of a transformers model"
        )
    try:
        with _quiet():  # its warnings about other parts of a model (CLIP's text tower)
            config = tf.AutoConfig.for_model(
                model_type, **{k: v for k, v in raw.items() if k != "model_type"}
            )
    except (ValueError, KeyError, TypeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"{where}: model_type {model_type!r} is not one this transformers "
            f"{tf.__version__} knows ({first[:120]}); expected a vision model such as vit, "
            "dinov2, clip or convnext"
        ) from None
    config = getattr(config, "vision_config", None) or config
    cls = model_class(config)
    if cls is None or getattr(cls, "main_input_name", None) != "pixel_values":
        takes = getattr(cls, "main_input_name", "no AutoModel")
        raise ConfigError(
            f"{where}: model_type {model_type!r} is not a vision model (its input is {takes!r}, "
            "not images); expected a vision backbone such as vit, dinov2, clip or convnext"
        )
    return config


def model_class(config: Any) -> Any:
    """The ``AutoModel`` class of a config (None if it has none)."""
    mapping = transformers_module().AutoModel._model_mapping
    return mapping.get(type(config), None)


def load_pretrained(folder: Path, config: Any) -> tuple[nn.Module, list[str]]:
    """The model of ``folder`` with its weights, float32; returns it and its missing tensors.

    Raises:
        ConfigError: the weights cannot be read or do not fit the config (the folder named).
    """
    import torch

    cls = model_class(config)
    try:
        with _quiet():
            model, info = cls.from_pretrained(
                str(folder),
                use_safetensors=True,
                output_loading_info=True,
                dtype=torch.float32,
            )
    except Exception as exc:  # safetensors, OSError, shape errors...: one line, whichever
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"{folder / WEIGHTS[0]}: cannot be loaded into {cls.__name__} ({first[:200]}); "
            "expected the weights save_pretrained wrote with this config.json"
        ) from None
    bad = info.get("mismatched_keys") or []
    if bad:
        raise ConfigError(
            f"{folder / WEIGHTS[0]}: tensor {bad[0]!r} does not have the shape {CONFIG} asks "
            "for; the weights and config come from different models"
        )
    return model.float(), list(info.get("missing_keys") or [])


def build_random(config: Any) -> nn.Module:
    """The model of ``config`` with fresh weights (to load a saved state into)."""
    with _quiet():
        return model_class(config)._from_config(config).float()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers' load reports and progress bars off (its errors still raise)."""
    logging = transformers_module().utils.logging
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _json(path: Path, what: str) -> Any:
    try:
        return read_json(path, what, max_bytes=16 * 2**20, error=ConfigError)
    except SiameseError as exc:
        raise ConfigError(str(exc)) from None


def _check_weights(folder: Path) -> None:
    if any((folder / name).is_file() for name in WEIGHTS):
        return
    pickles = sorted(p for pattern in PICKLES for p in folder.glob(pattern))
    if pickles:
        raise ConfigError(
            f"{pickles[0]}: a pickle checkpoint, refused (loading it can run code); expected "
            f"{folder / WEIGHTS[0]}: convert it once where you trust the file, with "
            "model.save_pretrained(folder) (safetensors by default)"
        )
    raise ConfigError(
        f"{folder / WEIGHTS[0]}: missing; expected the model's weights beside {CONFIG} "
        "(save_pretrained writes model.safetensors)"
    )
