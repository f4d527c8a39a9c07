"""`siamese serve`: the HTTP API over a gallery (uvicorn, loopback by default)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from siamese.cli._common import console, free_port, in_range

# the batcher's limits (siamese.service._batcher, which loads faiss: not imported at startup)
MAX_ITEMS, MAX_WAIT_MS = 4096, 1000.0


def serve(
    gallery_dir: Path = typer.Argument(..., help="Gallery folder written by `siamese enroll`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(
        8000, "--port", help="TCP port, 1 to 65535.", callback=in_range("--port", 1, 65535)
    ),
    api_key_env: str = typer.Option(
        "SIAMESE_API_KEY",
        "--api-key-env",
        help="Environment variable holding the API key (if set).",
    ),
    max_request_mb: float = typer.Option(
        16.0,
        "--max-request-mb",
        help="Largest request body in MB, > 0.",
        callback=in_range("--max-request-mb", 0, lo_open=True),
    ),
    max_pixels: int = typer.Option(
        4096 * 4096,
        "--max-pixels",
        help="Most pixels (width x height, from the image header) per uploaded image, >= 1.",
        callback=in_range("--max-pixels", 1),
    ),
    model: Path = typer.Option(
        None,
        "--model",
        help="An ONNX export of the gallery's model (float32, fp16 or int8, `siamese export`) "
        "to embed with, through ONNX Runtime, instead of the gallery's torch model.",
    ),
    batch: bool = typer.Option(
        True,
        "--batch/--no-batch",
        help="Batch concurrent /identify requests into one forward pass and one index search "
        "(in one worker thread, off the event loop); --no-batch embeds and searches each alone.",
    ),
    batch_max_items: int = typer.Option(
        64,
        "--batch-max-items",
        help="Most items embedded and searched together, 1 to 4096.",
        callback=in_range("--batch-max-items", 1, MAX_ITEMS),
    ),
    batch_max_wait_ms: float = typer.Option(
        0.0,
        "--batch-max-wait-ms",
        help="How long the first request of a batch waits for others, 0 to 1000 ms (0: it "
        "takes what is waiting; under load, what arrived while the last batch ran).",
        callback=in_range("--batch-max-wait-ms", 0, MAX_WAIT_MS),
    ),
) -> None:
    """Serve /identify, /verify, /enroll and /health (OpenAPI at /docs); enrolments are saved."""
    # a busy port is one line and exit 2, not uvicorn's exit 3 (checked, then left to uvicorn)
    free_port(host, port).close()
    import uvicorn

    from siamese.service import create_app

    key = os.environ.get(api_key_env) or None
    embedder = None
    if model is not None:
        from siamese.compress.onnx_model import serving_model

        embedder = serving_model(model, gallery_dir)
    app = create_app(
        gallery_dir,
        api_key=key,
        max_request_bytes=int(max_request_mb * 2**20),
        max_pixels=max_pixels,
        model=embedder,
        batch=batch,
        batch_max_items=batch_max_items,
        batch_max_wait_ms=batch_max_wait_ms,
    )
    how = "" if embedder is None else f" with {model} ({embedder.precision}, ONNX Runtime)"
    batching = (
        f"batches of up to {batch_max_items} items, {batch_max_wait_ms:g} ms wait"
        if batch
        else "no batching"
    )
    console.print(
        f"serving {gallery_dir}{how} on http://{host}:{port} "
        f"(API key {'required' if key else 'off'}; /identify: {batching})"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
