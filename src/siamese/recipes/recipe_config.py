"""Build a run config from the shipped recipe for a data source's kind of items."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from siamese.errors import ConfigError

KINDS = {"sequence": "sequences", "image": "images", "vector": "vectors"}  # item kind -> recipe
IMAGE_SIZE = 64  # image sources that take ``size`` get it unless -o size=... says otherwise


def recipe_text(recipe: str) -> str:
    """The TOML text of a shipped recipe (``sequences``, ``images`` or ``vectors``).

    Raises:
        ConfigError: an unknown recipe name.
    """
    if recipe not in KINDS.values():
        raise ConfigError(f"recipe {recipe!r}: expected one of {', '.join(KINDS.values())}")
    return (resources.files("siamese.recipes") / f"{recipe}.toml").read_text(encoding="utf-8")


def recipe_config(
    source: str, options: dict[str, Any], overrides: list[str] | None = None
) -> tuple[Any, str]:
    """The run config for ``source`` read with ``options``: the recipe for its kind of items.

    The data is read once to learn its kind (``sequence``, ``image`` or ``vector``) and whether
    it has its own split: ``split = "protocol"`` where it does (UCR TRAIN/TEST, Omniglot
    background/evaluation, a tabular test file), class-disjoint otherwise. The run is named
    after the source and the data's folder or file. ``overrides`` (``--set``) apply last.

    Returns:
        ``(RunConfig, recipe name)``.

    Raises:
        ConfigError / DataError: as the reader or the config raise them; a kind with no recipe.
    """
    from siamese.data import load_source, source_options
    from siamese.training.config import apply_overrides, from_dict

    dataset = load_source(source, **options)
    recipe = KINDS.get(dataset.kind)
    if recipe is None:
        raise ConfigError(
            f"--source {source}: items of kind {dataset.kind!r} have no shipped recipe "
            f"(recipes: {', '.join(KINDS.values())}); pass --config FILE"
        )
    data = tomllib.loads(recipe_text(recipe))
    table = data.setdefault("data", {})
    table["source"] = source
    table["split"] = "protocol" if dataset.split is not None else "classes"
    if recipe == "images" and "size" in source_options(source) and "size" not in options:
        table["size"] = IMAGE_SIZE
    table.update(options)
    where = options.get("path")
    data["name"] = f"{source}-{Path(str(where)).stem}" if where else source
    return from_dict(apply_overrides(data, list(overrides or []))), recipe
