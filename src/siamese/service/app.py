"""The HTTP API over a Gallery (FastAPI): verify, identify, enroll, discover, health.

Every POST endpoint takes either JSON or ``multipart/form-data``:

* ``POST /identify``: JSON ``{"items": [ITEM, ...], "k": 5}``; multipart: files ``files`` (one or
  more) and an optional field ``k``.
* ``POST /verify``: JSON ``{"a": ITEM, "b": ITEM}``; multipart: files ``a`` and ``b``.
* ``POST /enroll``: JSON ``{"items": [ITEM, ...], "labels": ["name", ...]}``; multipart: files
  ``files`` and one ``labels`` field per file. All items are added or none: every item is read,
  checked and embedded before the gallery changes (under a lock); with a gallery folder the
  enrolment is one committed database transaction before the answer is sent (a store that
  cannot commit answers 503 and nothing is enrolled). ``"unknown"`` is a reserved class name.
* ``POST /discover``: JSON ``{"items": [ITEM, ...], "method": "agglomerative",
  "min_cluster_size": 3, "link_scale": 1.0, "unknown": "threshold", "novelty_rate": 0.01,
  "link": "threshold", "min_samples": null}``; multipart: files ``files`` and those fields. The
  items answered "unknown" (or, with ``"unknown": "novelty"``, beyond their nearest class's own
  spread) clustered into candidate new classes (``Gallery.discover``); members are indices into
  the items. Enroll a cluster by sending its items to ``/enroll``. A gallery without a
  calibrated threshold answers 422 unless ``unknown`` is novelty and ``link`` spread.
* ``GET /health``: status, counts and what an item looks like (no API key needed). It is
  answered on the event loop while reading, decoding and embedding run in worker threads.

An ``ITEM`` is ``{"image_base64": "<base64 PNG/JPEG...>"}`` or ``{"values": [...]}`` (a vector of
D numbers, a series as T rows of F numbers). Uploaded files are read by suffix: ``.npy``,
``.csv``, else as an image. Errors are JSON ``{"detail": "..."}``: 400 malformed JSON (including
JSON nested too deep), 401 API key, 409 the gallery was changed by another process, 413 body too
large or an image over the pixel limit (read from its header), 415 content type, 422 invalid or
wrong-shape items. No client input answers 500.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

import siamese
from siamese.errors import ConfigError, DataError, ModelFileError, SiameseError, TooLargeError
from siamese.gallery import Gallery
from siamese.gallery.inputs import stack
from siamese.service._batcher import MicroBatcher, check_batch_settings
from siamese.service._decode import decode_json_items, decode_uploads
from siamese.service._middleware import BodySizeLimit, check_api_key
from siamese.service._schemas import (
    REQUESTS,
    DiscoverRequest,
    DiscoverResponse,
    DiscoverSettings,
    EnrollRequest,
    EnrollResponse,
    ErrorResponse,
    HealthResponse,
    IdentifyRequest,
    IdentifyResponse,
    VerifyRequest,
    VerifyResponse,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorResponse} for c in (400, 401, 409, 413, 415, 422, 503)
}
MAX_LABEL = 200  # characters in a class name


def create_app(
    gallery: Gallery | str | Path,
    *,
    api_key: str | None = None,
    max_request_bytes: int = 16 * 2**20,
    max_items: int = 256,
    max_pixels: int = 4096 * 4096,
    model: Any = None,
    batch: bool = True,
    batch_max_items: int = 64,
    batch_max_wait_ms: float = 0.0,
) -> FastAPI:
    """Build the FastAPI app serving ``gallery``.

    Args:
        gallery: a fitted ``Gallery``, or a gallery folder (loaded, and saved after each enroll).
        api_key: when set, POST endpoints require it in the ``X-API-Key`` header (compared in
            constant time).
        max_request_bytes: larger request bodies get 413 without being read.
        max_items: most items per request.
        max_pixels: most pixels per image (width x height, read from the image header before
            decoding; larger images get 413).
        model: the model that embeds instead of the gallery folder's copy (an ONNX export run
            by ONNX Runtime, ``siamese.compress.OnnxModel``); only with a gallery folder.
        batch: batch concurrent ``/identify`` requests into one forward pass and one search
            (``siamese.service._batcher``); False: each request is embedded and searched alone.
        batch_max_items: most items in one batch (a larger request runs alone).
        batch_max_wait_ms: how long the first request of a batch waits for others (0: none;
            requests that arrive while a batch runs make the next batch).

    Raises:
        ModelFileError: the gallery folder is broken. ConfigError: the model does not record
            what an item looks like, or a batch setting is out of range.
    """
    if max_pixels < 1 or max_items < 1 or max_request_bytes < 1:
        raise ConfigError(
            f"service limits: expected positive max_pixels, max_items and max_request_bytes, got "
            f"{max_pixels}, {max_items} and {max_request_bytes}"
        )
    check_batch_settings(batch_max_items, batch_max_wait_ms)
    directory = Path(gallery) if isinstance(gallery, (str, Path)) else None
    g = Gallery.load(directory, model) if directory is not None else gallery
    if directory is not None and g.store_ is None:  # a first-layout folder: migrate it now
        g.save(directory, with_model=False)
    spec = g.item_spec()
    if spec is None:
        raise ConfigError(
            "the gallery's model records no info.item_shape: the service cannot read items"
        )
    lock = threading.Lock()  # guards the gallery's index and arrays (search and mutation)
    batcher = (
        MicroBatcher(g, lock, _identified, max_items=batch_max_items, max_wait_ms=batch_max_wait_ms)
        if batch
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # what is alive once serving starts (the libraries, the model, the gallery) is never
        # scanned by the garbage collector again: a full collection of it stalled every request
        # in flight for 0.55 s at load 8 on the 2-core machine
        gc.collect()
        gc.freeze()
        yield
        if batcher is not None:
            batcher.close()  # the worker thread ends with the app
        gc.unfreeze()  # collectable again (a process that goes on, e.g. tests)

    app = FastAPI(
        title="siamese",
        version=siamese.__version__,
        description=__doc__,
        responses=_ERRORS,
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)

    @app.exception_handler(SiameseError)
    async def _user_error(_: Request, exc: SiameseError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=413 if isinstance(exc, TooLargeError) else 422
        )

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            detail = "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in errors[:1])
            return JSONResponse({"detail": f"malformed JSON body ({detail})"}, status_code=400)
        msgs = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors]
        return JSONResponse({"detail": "; ".join(msgs[:5])[:2000]}, status_code=422)

    def authorise(key: str | None) -> None:
        check_api_key(api_key, key)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, Any]:  # on the event loop, never waiting for a worker
        return {
            "status": "ok",
            "classes": g.num_classes,
            "examples": len(g),
            "kind": spec.kind,
            "item_shape": list(spec.shape),
            "threshold": g.threshold_,
            "index": None if g.index_ is None else g.index_.structure,
        }

    @app.post(
        "/identify",
        response_model=IdentifyResponse,
        openapi_extra=_body("IdentifyRequest", ["files"], {"k": "integer"}),
    )
    async def identify(request: Request, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        authorise(x_api_key)
        uploads, raw = None, b""
        if _is_multipart(request):
            form = await request.form()
            uploads = await _uploads(form, "files", max_items)
            k = _int_field(form.get("k"), "k", 5)
        else:
            raw = await _raw_json(request)

        def prepare() -> tuple[np.ndarray, np.ndarray | None, int]:
            if uploads is not None:
                loaded, kk = decode_uploads(uploads, "files", spec, max_pixels), k
            else:
                body = IdentifyRequest.model_validate_json(raw)  # ValidationError -> 400 / 422
                _count(body.items, max_items)
                loaded, kk = decode_json_items(body.items, spec, max_pixels), body.k
            items, lengths = stack(loaded, spec)
            return items, lengths, kk

        if batcher is not None:  # prepared, embedded and searched in the batcher's thread
            return await batcher.submit(prepare)

        def run() -> dict[str, Any]:
            items, lengths, kk = prepare()
            emb = g.embed(items, lengths)  # (Q, D), outside the lock
            with lock:
                return _identified(g.identify_embeddings(emb, kk), g.threshold_)

        return await run_in_threadpool(run)

    @app.post(
        "/verify",
        response_model=VerifyResponse,
        openapi_extra=_body("VerifyRequest", ["a", "b"], {}),
    )
    async def verify(request: Request, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        authorise(x_api_key)
        up_a, up_b, raw = None, None, b""
        if _is_multipart(request):
            form = await request.form()
            up_a, up_b = await _uploads(form, "a", 1), await _uploads(form, "b", 1)
        else:
            raw = await _raw_json(request)

        def run() -> dict[str, Any]:
            if up_a is not None and up_b is not None:
                a = decode_uploads(up_a, "a", spec, max_pixels)
                b = decode_uploads(up_b, "b", spec, max_pixels)
            else:
                body = VerifyRequest.model_validate_json(raw)
                a = decode_json_items([body.a], spec, max_pixels)
                b = decode_json_items([body.b], spec, max_pixels)
            (xa, la), (xb, lb) = stack(a, spec), stack(b, spec)
            return g.verify(xa, xb, la, lb)[0].to_dict()

        return await run_in_threadpool(run)

    @app.post(
        "/enroll",
        response_model=EnrollResponse,
        openapi_extra=_body("EnrollRequest", ["files"], {"labels": "string"}),
    )
    async def enroll(request: Request, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        authorise(x_api_key)
        uploads, raw = None, b""
        if _is_multipart(request):
            form = await request.form()
            uploads = await _uploads(form, "files", max_items)
            form_labels = [str(v) for v in form.getlist("labels")]
        else:
            raw = await _raw_json(request)

        def run() -> dict[str, Any]:
            if uploads is not None:
                loaded, labels = decode_uploads(uploads, "files", spec, max_pixels), form_labels
            else:
                body = EnrollRequest.model_validate_json(raw)
                _count(body.items, max_items)
                loaded, labels = decode_json_items(body.items, spec, max_pixels), body.labels
            _check_labels(labels, len(loaded))
            items, lengths = stack(loaded, spec)
            emb = g.embed(items, lengths)  # every item checked and embedded before any change
            with lock:
                before = set(g.class_names_)
                try:
                    g.add_embeddings(emb, labels)  # committed to the store before it returns
                except ConfigError as exc:  # another process wrote to the store
                    raise HTTPException(409, str(exc)) from None
                except ModelFileError as exc:
                    raise HTTPException(503, f"nothing was enrolled: {exc}") from None
                new = [n for n in dict.fromkeys(labels) if n not in before]
                return {
                    "added": len(emb),
                    "new_classes": new,
                    "classes": g.num_classes,
                    "examples": len(g),
                }

        return await run_in_threadpool(run)

    @app.post(
        "/discover",
        response_model=DiscoverResponse,
        openapi_extra=_body(
            "DiscoverRequest",
            ["files"],
            {
                "method": "string",
                "min_cluster_size": "integer",
                "link_scale": "number",
                "unknown": "string",
                "novelty_rate": "number",
                "link": "string",
                "min_samples": "integer",
            },  # fmt: skip
        ),
    )
    async def discover(request: Request, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        authorise(x_api_key)
        uploads, raw, fields = None, b"", {}
        if _is_multipart(request):
            form = await request.form()
            uploads = await _uploads(form, "files", max_items)
            fields = {k: form.get(k) for k in DiscoverSettings.model_fields}
        else:
            raw = await _raw_json(request)

        def run() -> dict[str, Any]:
            if uploads is not None:
                given = {k: v for k, v in fields.items() if v is not None}
                body: DiscoverSettings = DiscoverSettings.model_validate(given)  # -> 422
                loaded = decode_uploads(uploads, "files", spec, max_pixels)
            else:
                body = DiscoverRequest.model_validate_json(raw)
                _count(body.items, max_items)
                loaded = decode_json_items(body.items, spec, max_pixels)
            items, lengths = stack(loaded, spec)
            emb = g.embed(items, lengths)  # (Q, D), outside the lock
            with lock:
                found = g.discover_embeddings(
                    emb, **body.model_dump(include=set(DiscoverSettings.model_fields))
                )
            return found.to_dict()

        return await run_in_threadpool(run)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _, defs = models_json_schema(
                [(m, "validation") for m in REQUESTS], ref_template="#/components/schemas/{model}"
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _identified(results: list[Any], threshold: float | None) -> dict[str, Any]:
    """The body of an ``/identify`` answer: each ``Identification.to_dict()`` and the threshold."""
    return {"results": [r.to_dict() for r in results], "threshold": threshold}


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def _raw_json(request: Request) -> bytes:
    ctype = request.headers.get("content-type", "application/json")
    if not ctype.startswith("application/json"):
        raise HTTPException(
            415, f"content type {ctype!r}: expected application/json or multipart/form-data"
        )
    return await request.body()  # parsed in a worker thread by the endpoint


async def _uploads(form: Any, field: str, most: int) -> list[tuple[str, bytes]]:
    uploads = [f for f in form.getlist(field) if isinstance(f, UploadFile)]
    if not uploads:
        raise DataError(f"multipart: expected one or more files in field {field!r}")
    if len(uploads) > most:
        raise DataError(
            f"multipart field {field!r}: at most {most} file(s) per request, got {len(uploads)}"
        )
    return [(f.filename or "upload", await f.read()) for f in uploads]


def _check_labels(labels: list[str], n: int) -> None:
    if len(labels) != n or any(not name.strip() for name in labels):
        raise DataError(f"enroll: expected one non-empty label per item ({n}), got {len(labels)}")
    long = [name for name in labels if len(name) > MAX_LABEL]
    if long:
        raise DataError(f"enroll: a label of {len(long[0])} characters; at most {MAX_LABEL}")


def _count(items: list[Any], max_items: int) -> None:
    if len(items) > max_items:
        raise DataError(
            f"items: at most {max_items} per request, got {len(items)}; split the request"
        )


def _int_field(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        k = int(str(value))
    except ValueError:
        raise DataError(f"{name}: expected an integer, got {str(value)[:20]!r}") from None
    if not 1 <= k <= 100:
        raise DataError(f"{name}: expected 1 to 100, got {k}")
    return k


def _body(name: str, file_fields: list[str], fields: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI request body: the JSON model, or multipart files and fields."""
    props: dict[str, Any] = {
        f: {"type": "array", "items": {"type": "string", "format": "binary"}} for f in file_fields
    }
    props.update({f: {"type": t} for f, t in fields.items()})
    content = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": props}},
    }
    return {"requestBody": {"required": True, "content": jsonable_encoder(content)}}
