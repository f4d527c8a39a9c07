"""Importers of pretrained weights from other frameworks' files into siamese model folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from siamese.errors import ConfigError
from siamese.weights.face_api import import_face_api
from siamese.weights.tfjs_manifest import read_tfjs_weights

#: ``siamese import-weights FORMAT``: the formats and what each reads.
FORMATS = {
    "face-api": "@vladmandic/face-api's face recogniser (TensorFlow.js manifest + .bin shard)",
}


def import_weights(
    format: str, path: str | Path, out: str | Path, **options: Any
) -> dict[str, Any]:
    """Convert pretrained weights of ``format`` at ``path`` into the model folder ``out``.

    Raises:
        ConfigError: an unknown format (the message lists the known ones), or bad options.
        ModelFileError: unreadable or mismatched weight files.
    """
    if format != "face-api":
        known = "; ".join(f"{k}: {v}" for k, v in FORMATS.items())
        raise ConfigError(f"import-weights: unknown format {format!r}; known formats: {known}")
    return import_face_api(path, out, **options)


__all__ = ["FORMATS", "import_face_api", "import_weights", "read_tfjs_weights"]
