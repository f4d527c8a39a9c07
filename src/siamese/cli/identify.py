"""`siamese identify`: who/what is each file, or "unknown"."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json


def identify(
    gallery_dir: Path = typer.Argument(..., help="Gallery folder written by `siamese enroll`."),
    files: list[Path] = typer.Argument(
        ..., help="Query files: images, .npy vectors/series, .csv series."
    ),
    k: int = typer.Option(
        5, "--k", "-k", help="Classes to list per query, >= 1.", callback=in_range("-k", 1)
    ),
    rerank_k: int = typer.Option(
        0,
        "--rerank",
        help="Re-rank the index's top K classes with a pair scorer: the model's pair head, else "
        "an L1 + sigmoid head trained on the gallery's embeddings (needs a class with 2+ "
        "examples); 0: off.",
        callback=in_range("--rerank", 0),
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Identify each file against the gallery: its top-k classes, or 'unknown' beyond the threshold."""
    from siamese.gallery import Gallery
    from siamese.gallery.inputs import load_file, stack

    g = Gallery.load(gallery_dir)
    spec = g.item_spec()
    if spec is None:
        from siamese.errors import ConfigError

        raise ConfigError(
            f"{gallery_dir}: the model records no info.item_shape; files cannot be read"
        )
    items, lengths = stack([load_file(f, spec) for f in files], spec)
    if rerank_k:
        from siamese.gallery.rerank import rerank, train_pair_head

        scorer = g.model.head or train_pair_head(g.embeddings_, g.labels_)
        emb = g.embed(items, lengths)
        results = rerank(g, emb, g.identify_embeddings(emb, max(k, rerank_k)), scorer)
        results = [replace(r, matches=r.matches[:k]) for r in results]
    else:
        results = g.identify(items, k=k, lengths=lengths)
    if json_out:
        print_json([{"file": str(f), **r.to_dict()} for f, r in zip(files, results, strict=True)])
        return
    table = Table(title=f"Identified against {g.num_classes} classes (threshold {g.threshold_})")
    table.add_column("file")
    table.add_column("answer", style="bold")
    table.add_column("distance", justify="right")
    table.add_column(f"top-{k}")
    for f, r in zip(files, results, strict=True):
        answer = r.label if r.known else f"[yellow]{r.label}[/]"
        top = ", ".join(f"{m.label} ({m.distance:.3f})" for m in r.matches)
        table.add_row(str(f), answer, f"{r.distance:.4f}", top)
    console.print(table)
