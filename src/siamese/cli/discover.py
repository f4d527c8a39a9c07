"""`siamese discover`: cluster the queries a gallery answers "unknown"; enroll a cluster by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json
from siamese.errors import ConfigError


def discover(
    gallery_dir: Path = typer.Argument(..., help="Gallery folder written by `siamese enroll`."),
    files: list[Path] = typer.Argument(
        ...,
        help="Query files: images, .npy vectors/series, .csv series; for a vector model a .csv "
        "or .npy may hold one record per row.",
    ),
    method: str = typer.Option(
        "agglomerative",
        "--method",
        help="agglomerative (average linkage cut at --link-scale x --link) | hdbscan.",
    ),
    min_cluster_size: int = typer.Option(
        3,
        "--min-cluster-size",
        help="Smaller groups of unknown queries are noise, >= 2.",
        callback=in_range("--min-cluster-size", 2),
    ),
    link_scale: float = typer.Option(
        1.0,
        "--link-scale",
        help="agglomerative: cut at this multiple of --link's distance, > 0.",
        callback=in_range("--link-scale", 0, lo_open=True),
    ),
    unknown: str = typer.Option(
        "threshold",
        "--unknown",
        help="Which queries are clustered: threshold (those answered 'unknown') | novelty "
        "(farther from their nearest class than its own examples are from each other; no "
        "calibration needed).",
    ),
    novelty_rate: float = typer.Option(
        0.01,
        "--novelty-rate",
        help="--unknown novelty: the share of each class's enrolled examples beyond its novelty "
        "threshold, in (0, 1).",
        callback=in_range("--novelty-rate", 0, 1, lo_open=True, hi_open=True),
    ),
    link: str = typer.Option(
        "threshold",
        "--link",
        help="agglomerative: the cut is --link-scale x the gallery's threshold | spread (the "
        "median over classes of the mean distance between two enrolled examples).",
    ),
    min_samples: int | None = typer.Option(
        None,
        "--min-samples",
        help="hdbscan: the core-point neighbourhood, >= 1 (default: --min-cluster-size).",
        callback=in_range("--min-samples", 1),
    ),
    enroll: list[str] = typer.Option(
        [],
        "--enroll",
        help="CLUSTER=NAME: enroll that cluster's queries as the new class NAME (repeatable; "
        "all in one transaction).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Find new classes among the queries answered 'unknown': clusters with their size, medoid,
    members (file and line) and distance to the nearest known class."""
    from siamese.gallery import Gallery
    from siamese.gallery._records import load_records

    names = _names(enroll)
    g = Gallery.load(gallery_dir)
    spec = g.item_spec()
    if spec is None:
        raise ConfigError(
            f"{gallery_dir}: the model records no info.item_shape; files cannot be read"
        )
    items, lengths, origins = load_records(files, spec)
    found = g.discover(
        items,
        lengths,
        method=method,
        min_cluster_size=min_cluster_size,
        link_scale=link_scale,
        unknown=unknown,
        novelty_rate=novelty_rate,
        link=link,
        min_samples=min_samples,
    )
    if names:
        g.enroll_clusters(found, names)  # committed to the gallery's store before it returns
    if json_out:
        out = found.to_dict()
        where = lambda i: {"index": i, **origins[i]}  # noqa: E731
        for c in out["clusters"]:
            c["medoid"] = where(c["medoid"])
            c["members"] = [where(i) for i in c["members"]]
        out["noise"] = [where(i) for i in out["noise"]]
        out["enrolled"] = {str(c): n for c, n in names.items()}
        print_json(out)
        return
    console.print(found.message, markup=False, soft_wrap=True)
    if found.clusters:
        rule = (
            f"threshold {g.threshold_:.4g}"
            if unknown == "threshold"
            else f"novelty rate {novelty_rate:g}"
        )
        table = Table(title=f"New-class candidates ({rule}, {method})")
        for col in ("cluster", "size", "medoid", "nearest known class", "distance", "members"):
            table.add_column(col, justify="right" if col in ("size", "distance") else "left")
        for c in found.clusters:
            shown = ", ".join(_where(origins[i]) for i in c.members[:5])
            more = f" and {c.size - 5} more" if c.size > 5 else ""
            table.add_row(
                str(c.cluster),
                str(c.size),
                _where(origins[c.medoid]),
                c.nearest_class,
                f"{c.distance:.4f}",
                shown + more,
            )
        console.print(table)
    for c, n in names.items():
        console.print(
            f"enrolled cluster {c} ({found.clusters[c].size} examples) as {n!r}", markup=False
        )
    if found.clusters and not names:
        console.print("enroll one with --enroll CLUSTER=NAME", markup=False)


def _where(origin: dict[str, Any]) -> str:
    return f"{origin['file']}:{origin['line']}" if origin["line"] is not None else origin["file"]


def _names(pairs: list[str]) -> dict[int, str]:
    """``CLUSTER=NAME`` strings to ``{cluster: name}``."""
    out: dict[int, str] = {}
    for pair in pairs:
        key, sep, name = pair.partition("=")
        if not sep or not key.strip().isdigit() or not name.strip():
            raise ConfigError(
                f"--enroll: expected CLUSTER=NAME with a cluster number, got {pair!r} "
                "(e.g. --enroll 0=new_fault)"
            )
        if int(key) in out:
            raise ConfigError(f"--enroll: cluster {int(key)} is given twice")
        out[int(key)] = name.strip()
    return out
