"""`siamese data inspect` and `siamese data sources`: look at a dataset before training on it.

Examples::

    siamese data inspect --source lfw -o path=../shared/data/lfw -o grayscale=true -o size=105
    siamese data inspect --source ucr -o path=../shared/data/ucr/JapaneseVowels --json
    siamese data inspect --config configs/omniglot.toml --verify

``-o/--option key=value`` values are TOML literals (``size=105``, ``parts=["background"]``,
``skip_missing=true``); a bare word is a string. ``--config`` reads the ``[data]`` table of a run
config (source, split settings and reader options); ``--source`` and ``-o`` override it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json
from siamese.errors import ConfigError

data_app = typer.Typer(
    help="Inspect datasets: counts, classes, pairs, shapes and split sizes.",
    no_args_is_help=True,
)


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["size=105", "path=data/x"]`` -> ``{"size": 105, "path": "data/x"}`` (TOML values).

    Raises:
        ConfigError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r}: expected key=value, e.g. -o path=data/faces")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw  # a bare word or path is a string
    return out


def _from_config(path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(source, reader options, split settings)`` from a run config's ``[data]`` table.

    The whole config is checked as ``siamese train`` checks it (an unknown ``[section]`` or key,
    a wrong type or a value out of range is an error), so what inspects cleanly also trains.
    """
    from siamese.training.config import from_dict, read_config_file

    cfg = from_dict(read_config_file(path))
    split = {"val_fraction": cfg.data.val_fraction, "test_fraction": cfg.data.test_fraction}
    split["seed"] = cfg.seed
    return cfg.data.source, dict(cfg.data.options), split


@data_app.command("inspect")
def inspect(
    source: str = typer.Option(
        None, "--source", "-s", help="Data source name (see `siamese data sources`)."
    ),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Reader option key=value (repeatable)."
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="Read source and options from a run config's [data]."
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Decode every item once; fail on unreadable files."
    ),
    val_fraction: float = typer.Option(
        None,
        help="Class share for validation in the default split, in [0, 1) (0.2).",
        callback=in_range("--val-fraction", 0, 1, hi_open=True),
    ),
    test_fraction: float = typer.Option(
        None,
        help="Class share for test in the default split, in [0, 1) (0.2).",
        callback=in_range("--test-fraction", 0, 1, hi_open=True),
    ),
    seed: int = typer.Option(
        None, help="Seed of the default class-disjoint split (0).", callback=in_range("--seed", 0)
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Read a dataset with a reader and print its analysis."""
    from siamese.data import list_sources, load_source, read_source
    from siamese.data.analysis import analyse_dataset, verify_error

    options: dict[str, Any] = {}
    split = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}
    if config is not None:
        cfg_source, options, split = _from_config(config)
        source = source or cfg_source
    if source is None:
        raise ConfigError(
            f"data inspect: no source given; pass --source NAME (one of {', '.join(list_sources())}) "
            "or --config FILE"
        )
    options.update(parse_options(option))
    for key, value in (
        ("val_fraction", val_fraction),
        ("test_fraction", test_fraction),
        ("seed", seed),
    ):
        if value is not None:
            split[key] = value
    # --verify decodes every file and reports what fails; otherwise loading checks the files
    dataset = (read_source if verify else load_source)(source, **options)
    report = {
        "source": source,
        "options": options,
        **analyse_dataset(dataset, **split, verify=verify),
    }
    if json_out:
        print_json(report)
    else:
        _print_report(report)
    error = verify_error(report)
    if error is not None:
        raise error


@data_app.command("sources")
def sources(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the data sources `[data] source = ...` accepts, with their options."""
    from siamese.data import list_sources, source_options

    rows = {
        name: {k: _default(v) for k, v in source_options(name).items()} for name in list_sources()
    }
    if json_out:
        print_json(rows)
        return
    table = Table(title="Data sources")
    table.add_column("source", style="bold")
    table.add_column("options (=default; without one: required)")
    for name, opts in rows.items():
        table.add_row(
            name, ", ".join(f"{k}={v!r}" if v != "required" else f"{k}" for k, v in opts.items())
        )
    console.print(table)


def _default(value: Any) -> Any:
    import inspect as _inspect

    return "required" if value is _inspect.Parameter.empty else value


def _print_report(r: dict[str, Any]) -> None:
    summary = Table(title=f"Dataset: {r['source']}", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("")
    per = r["items_per_class"]
    rows = [
        ("items", f"{r['items']:,}"),
        ("classes", f"{r['classes']:,}"),
        ("kind", r["kind"]),
        ("item shape", f"{tuple(r['item_shape'])} {r['dtype']}"),
        ("items per class", f"min {per['min']}, median {per['median']:g}, max {per['max']}"),
        ("single-item classes", str(per["single_item_classes"])),
    ]
    if "lengths" in r:
        ln = r["lengths"]
        rows.append(
            ("sequence lengths", f"min {ln['min']}, median {ln['median']:g}, max {ln['max']}")
        )
    if r.get("protocol"):
        rows.append(("protocol", str(r["protocol"])))
    for key, value in rows:
        summary.add_row(key, value)
    console.print(summary)
    splits = r["splits"]
    if "parts" in splits:
        table = Table(title="Split", caption=splits["kind"])
        for col in ("part", "items", "classes"):
            table.add_column(col, justify="left" if col == "part" else "right")
        for name, part in splits["parts"].items():
            table.add_row(name, f"{part['items']:,}", f"{part['classes']:,}")
        console.print(table)
    else:
        console.print(f"[yellow]no default split:[/] {splits['error']}")
    if "pairs" in r:
        p = r["pairs"]
        table = Table(
            title=f"Pairs: {p['total']:,} ({p['same']:,} same, {p['different']:,} different)"
        )
        for col in ("fold", "same", "different"):
            table.add_column(col, justify="right")
        for fold, c in p["folds"].items():
            table.add_row(str(int(fold) + 1), f"{c['same']:,}", f"{c['different']:,}")
        console.print(table)
    for note in r["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if "verify" in r:
        v = r["verify"]
        console.print(f"verified {v['checked']:,} item(s): {len(v['problems'])} unreadable")
