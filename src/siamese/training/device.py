"""Where training, evaluation and the gallery run (``training.device``), and how batches get there.

``"auto"`` is CUDA when torch sees a GPU, else the CPU; ``"cpu"`` and ``"cuda"`` are what they
say, and ``"cuda"`` without a GPU is refused in one line (never a silent fall-back to the CPU).
A batch read on the host reaches a CUDA device from pinned (page-locked) memory by a
non-blocking copy, so the copy overlaps the host's next work; on the CPU the same call returns
the tensor itself, so CPU runs are bit-identical to a run without it.
"""

from __future__ import annotations

import torch

from siamese.errors import ConfigError
from siamese.training.config import CHOICES

DEVICES = CHOICES["training.device"]  # auto, cpu, cuda


def no_cuda_reason() -> str | None:
    """Why torch cannot use CUDA here (its build, or no visible GPU); None when it can."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"


def resolve_device(name: str = "auto", key: str = "training.device") -> torch.device:
    """The device ``name`` asks for on this machine.

    Args:
        name: ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``.
        key: the setting's name, for the error message.

    Returns:
        ``torch.device("cpu")`` or ``torch.device("cuda")`` (the current GPU; no index is read
        here, so nothing initialises CUDA on GPU 0 before a torchrun rank picks its own GPU).

    Raises:
        ConfigError: an unknown name, or ``"cuda"`` on a machine where torch sees no GPU.
    """
    if name not in DEVICES:
        raise ConfigError(f"{key}: expected one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cpu":
        return torch.device("cpu")
    why = no_cuda_reason()
    if why is None:
        return torch.device("cuda")
    if name == "auto":
        return torch.device("cpu")
    raise ConfigError(
        f'{key} = "cuda": no CUDA GPU is usable ({why}); set {key} = "auto" or "cpu", or run on '
        "a machine with an NVIDIA GPU and a CUDA build of torch"
    )


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` (a host tensor) on ``device``: pinned and copied without blocking onto a GPU.

    The copy is queued on the device's current stream, so work queued after it on that stream
    (the forward pass) sees the data; the pinned buffer is kept alive by torch's host allocator
    until the copy has run. On the CPU this returns ``x`` itself (no copy).
    """
    if device.type == "cuda" and not x.is_pinned():
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def place(model: torch.nn.Module, device: str = "auto", key: str = "device") -> torch.nn.Module:
    """``model`` moved to the device ``device`` names (``resolve_device``), for embedding.

    ``SiameseModel.embed`` runs where the model's parameters are and returns host tensors, so
    evaluation, enrolment and identification then embed on that device (CPU: a no-op).

    Raises:
        ConfigError: as ``resolve_device`` (``key`` names the setting).
    """
    return model.to(resolve_device(device, key))
