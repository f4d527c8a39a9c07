"""The registry of data sources: ``[data] source = "name"`` in a config picks one reader.

A reader is a function ``reader(**options) -> LabeledDataset`` registered with
``@register_source("name")``. ``load_source`` checks the options against the reader's signature,
so an unknown option is an error that lists the valid ones, and checks every file of a lazily read
dataset (image files: ``ImageFileStore.check``), so a broken file is found when the data are
loaded, before training starts, with every bad file listed in one error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError, DataError

#: How many bad files the load-time check names in its message (the count covers all of them).
LISTED = 20

_SOURCES: dict[str, Callable[..., LabeledDataset]] = {}


def register_source(
    name: str,
) -> Callable[[Callable[..., LabeledDataset]], Callable[..., LabeledDataset]]:
    """Register a reader function under ``name``."""

    def decorate(fn: Callable[..., LabeledDataset]) -> Callable[..., LabeledDataset]:
        _SOURCES[name] = fn
        return fn

    return decorate


def list_sources() -> list[str]:
    """Names of every registered data source."""
    _import_readers()
    return sorted(_SOURCES)


def source_options(name: str) -> dict[str, Any]:
    """The options a source takes, with their defaults (``inspect.Parameter.empty`` if required)."""
    fn = _get(name)
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()}


def load_source(name: str, **options: Any) -> LabeledDataset:
    """Read a dataset with the reader registered as ``name`` and check its files.

    Raises:
        ConfigError: unknown source name or option, or a required option missing.
        DataError: the reader's own errors, and files of the dataset that cannot be read (all
            of them counted, the first ``LISTED`` named).
    """
    dataset = read_source(name, **options)
    check_files(dataset.items)
    return dataset


def read_source(name: str, **options: Any) -> LabeledDataset:
    """``load_source`` without the check of every file (for ``data inspect --verify``, which
    decodes every file itself and reports what fails).

    Raises:
        ConfigError: unknown source name or option, or a required option missing.
        DataError: the reader's own errors.
    """
    fn = _get(name)
    params = inspect.signature(fn).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ConfigError(
            f"data source {name!r}: unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(params)}"
        )
    missing = [
        p.name
        for p in params.values()
        if p.default is inspect.Parameter.empty and p.name not in options
    ]
    if missing:
        raise ConfigError(
            f"data source {name!r}: missing required option(s) {', '.join(missing)} "
            f"(set them under [data] in the config, e.g. {missing[0]} = ...)"
        )
    return fn(**options)


def check_files(items: Any) -> None:
    """Check every file of an item store that reads files lazily (in-memory items need none).

    Raises:
        DataError: one or more files cannot be read; the message counts them all and names the
            first ``LISTED`` with the reason.
    """
    check = getattr(items, "check", None)
    problems = check() if callable(check) else []
    if not problems:
        return
    shown = "; ".join(p["error"] for p in problems[:LISTED])
    more = f"; and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
    fixes = list(dict.fromkeys(p.get("fix", "replace or remove them") for p in problems))
    raise DataError(
        f"{len(problems)} of {len(items)} file(s) cannot be used: {shown}{more}; {'; '.join(fixes)}"
    )


def _get(name: str) -> Callable[..., LabeledDataset]:
    _import_readers()
    if name not in _SOURCES:
        raise ConfigError(
            f"unknown data source {name!r}; valid sources: {', '.join(sorted(_SOURCES))}"
        )
    return _SOURCES[name]


def _import_readers() -> None:
    # Importing the package registers every reader it re-exports.
    import siamese.data  # noqa: F401
