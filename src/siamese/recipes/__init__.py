"""Shipped run recipes, one per kind of data (sequences, images, vectors), as package data.

``siamese train --source NAME -o key=value`` without ``--config`` reads the data, takes the recipe
for its kind and trains it: a first run needs no TOML. The recipes are plain TOML files beside
this module (``sequences.toml`` is the UCR recipe chosen with ``benchmarks/ucr.py --select``).
"""

from siamese.recipes.recipe_config import KINDS, recipe_config, recipe_text

__all__ = ["KINDS", "recipe_config", "recipe_text"]
