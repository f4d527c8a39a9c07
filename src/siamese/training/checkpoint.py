"""Checkpoints: model, optimizer and loop state as safetensors + JSON (never pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from siamese._io import atomic_write_bytes, atomic_write_json
from siamese.errors import ModelFileError


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, entry in state["state"].items():
        plain["state"][str(pid)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().contiguous().clone()
                plain["state"][str(pid)][key] = {"tensor": f"optim.{pid}.{key}"}
            else:
                plain["state"][str(pid)][key] = value
    return tensors, plain


def _unflatten_optimizer(plain: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state = {}
    for pid, entry in plain["state"].items():
        state[int(pid)] = {
            k: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v
            for k, v in entry.items()
        }
    return {"state": state, "param_groups": plain["param_groups"]}


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loop_state: dict[str, Any],
) -> None:
    """Write ``path.safetensors`` (tensors) and ``path.json`` (everything else); JSON last."""
    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    opt_tensors, opt_plain = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    atomic_write_bytes(path.with_suffix(".safetensors"), save(tensors))
    meta = {
        "optimizer": opt_plain,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "loop": loop_state,
    }
    atomic_write_json(path.with_suffix(".json"), meta)


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Restore model, optimizer and scheduler; return the loop state."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        tensors = load_file(str(path.with_suffix(".safetensors")))
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path}: unreadable checkpoint ({exc}); start without --resume"
        ) from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(_unflatten_optimizer(meta["optimizer"], tensors))
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    return meta["loop"]


def save_weights(path: Path, model: torch.nn.Module) -> None:
    atomic_write_bytes(
        path, save({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()})
    )


def load_weights(path: Path, model: torch.nn.Module) -> None:
    model.load_state_dict(load_file(str(path)))
