"""The encoder registry: ``@register_encoder`` on small factories, ``create_encoder(name, **kw)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from siamese.errors import ConfigError

_ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register_encoder(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a factory under its function name. Factories take ``input_shape`` first."""
    _ENCODERS[fn.__name__] = fn
    return fn


def list_encoders() -> list[str]:
    """Names of every registered encoder."""
    return sorted(_ENCODERS)


def encoder_options(name: str) -> dict[str, Any]:
    """The arguments an encoder takes, with defaults (``inspect.Parameter.empty`` if required)."""
    return {p.name: p.default for p in inspect.signature(_get(name)).parameters.values()}


def encoder_doc(name: str) -> str:
    """The first line of an encoder factory's docstring."""
    return (inspect.getdoc(_get(name)) or "").splitlines()[0]


def create_encoder(name: str, **kwargs: Any) -> nn.Module:
    """Build the encoder registered as ``name``.

    Raises:
        ConfigError: unknown name (the message lists the valid ones) or unknown argument.
    """
    fn = _get(name)
    params = inspect.signature(fn).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"encoder {name!r}: unknown argument(s) {', '.join(unknown)}; "
            f"valid arguments: {', '.join(params)}"
        )
    return fn(**kwargs)


def _get(name: str) -> Callable[..., nn.Module]:
    if name not in _ENCODERS:
        raise ConfigError(f"unknown encoder {name!r}; valid encoders: {', '.join(list_encoders())}")
    return _ENCODERS[name]
