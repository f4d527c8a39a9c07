"""The HTTP API over a Gallery (FastAPI): verify, identify, enroll, health.

Every POST endpoint takes either JSON or ``multipart/form-data``:

* ``POST /identify``: JSON ``{"items": [ITEM, ...], "k": 5}``; multipart: files ``files`` (one or
  more) and an optional field ``k``.
* ``POST /verify``: JSON ``{"a": ITEM, "b": ITEM}``; multipart: files ``a`` and ``b``.
* ``POST /enroll``: JSON ``{"items": [ITEM, ...], "labels": ["name", ...]}``; multipart: files
  ``files`` and one ``labels`` field per file. All items are added or none: every item is read,
  checked and embedded before the gallery changes (under a lock); with a gallery folder the
  files are then rewritten (each atomically) — a failed disk write answers 500.
* ``GET /health``: status, counts and what an item looks like (no API key needed).

An ``ITEM`` is ``{"image_base64": "<base64 PNG/JPEG...>"}`` or ``{"values": [...]}`` (a vector of
D numbers, a series as T rows of F numbers). Uploaded files are read by suffix: ``.npy``,
``.csv``, else as an image. Errors are JSON ``{"detail": "..."}``: 400 malformed JSON, 401 API key,
413 body too large, 415 content type, 422 invalid or wrong-shape items.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

import siamese
from siamese.errors import ConfigError, DataError, SiameseError
from siamese.gallery import Gallery
from siamese.gallery.inputs import ItemSpec, from_bytes, from_image_bytes, from_values, stack
from siamese.service._middleware import BodySizeLimit, check_api_key
from siamese.service._schemas import (
    REQUESTS,
    EnrollRequest,
    EnrollResponse,
    ErrorResponse,
    HealthResponse,
    IdentifyRequest,
    IdentifyResponse,
    ItemIn,
    VerifyRequest,
    VerifyResponse,
)

Loaded = list[tuple[Any, int | None]]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorResponse} for c in (400, 401, 413, 415, 422)
}


def create_app(
    gallery: Gallery | str | Path,
    *,
    api_key: str | None = None,
    max_request_bytes: int = 16 * 2**20,
    max_items: int = 256,
) -> FastAPI:
    """Build the FastAPI app serving ``gallery``.

    Args:
        gallery: a fitted ``Gallery``, or a gallery folder (loaded, and saved after each enroll).
        api_key: when set, POST endpoints require it in the ``X-API-Key`` header (compared in
            constant time).
        max_request_bytes: larger request bodies get 413 without being read.
        max_items: most items per request.

    Raises:
        ModelFileError: the gallery folder is broken. ConfigError: the model does not record
            what an item looks like.
    """
    directory = Path(gallery) if isinstance(gallery, (str, Path)) else None
    g = Gallery.load(directory) if directory is not None else gallery
    spec = g.item_spec()
    if spec is None:
        raise ConfigError(
            "the gallery's model records no info.item_shape: the service cannot read items"
        )
    lock = threading.Lock()  # guards the gallery's index and arrays (search and mutation)

    app = FastAPI(
        title="siamese",
        version=siamese.__version__,
        description=__doc__,
        responses=_ERRORS,
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)

    @app.exception_handler(SiameseError)
    async def _user_error(_: Request, exc: SiameseError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        msgs = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(msgs[:5])}, status_code=422)

    def authorise(key: str | None) -> None:
        check_api_key(api_key, key)

    @app.get("/health", response_model=HealthResponse)
    def health() -> dict[str, Any]:
        with lock:
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
        if _is_multipart(request):
            form = await request.form()
            loaded = await _files(form, "files", spec)
            k = _int_field(form.get("k"), "k", 5)
        else:
            body = await _json(request, IdentifyRequest)
            loaded, k = _items(body.items, spec), body.k
        _count(loaded, max_items)

        def run() -> dict[str, Any]:
            items, lengths = stack(loaded, spec)
            emb = g.embed(items, lengths)  # (Q, D), outside the lock
            with lock:
                results = g.identify_embeddings(emb, k)
                return {"results": [r.to_dict() for r in results], "threshold": g.threshold_}

        return await run_in_threadpool(run)

    @app.post(
        "/verify",
        response_model=VerifyResponse,
        openapi_extra=_body("VerifyRequest", ["a", "b"], {}),
    )
    async def verify(request: Request, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        authorise(x_api_key)
        if _is_multipart(request):
            form = await request.form()
            a, b = await _files(form, "a", spec), await _files(form, "b", spec)
            if len(a) != 1 or len(b) != 1:
                raise DataError("verify: expected exactly one file 'a' and one file 'b'")
        else:
            body = await _json(request, VerifyRequest)
            a, b = _items([body.a], spec), _items([body.b], spec)

        def run() -> dict[str, Any]:
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
        if _is_multipart(request):
            form = await request.form()
            loaded = await _files(form, "files", spec)
            labels = [str(v) for v in form.getlist("labels")]
        else:
            body = await _json(request, EnrollRequest)
            loaded, labels = _items(body.items, spec), body.labels
        _count(loaded, max_items)
        if len(labels) != len(loaded) or any(not n.strip() for n in labels):
            raise DataError(
                f"enroll: expected one non-empty label per item ({len(loaded)}), got {len(labels)}"
            )

        def run() -> dict[str, Any]:
            items, lengths = stack(loaded, spec)
            emb = g.embed(items, lengths)  # every item checked and embedded before any change
            with lock:
                before = set(g.class_names_)
                g.add_embeddings(emb, labels)
                if directory is not None:
                    g.save(directory, with_model=False)
                new = [n for n in dict.fromkeys(labels) if n not in before]
                return {
                    "added": len(emb),
                    "new_classes": new,
                    "classes": g.num_classes,
                    "examples": len(g),
                }

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


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def _json(request: Request, model: type[BaseModel]) -> Any:
    ctype = request.headers.get("content-type", "application/json")
    if not ctype.startswith("application/json"):
        raise HTTPException(
            415, f"content type {ctype!r}: expected application/json or multipart/form-data"
        )
    raw = await request.body()
    try:
        json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"malformed JSON body ({exc})") from None
    return model.model_validate_json(raw)  # ValidationError -> 422


def _items(items: list[ItemIn], spec: ItemSpec) -> Loaded:
    out: Loaded = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        if item.image_base64 is not None:
            try:
                data = base64.b64decode(item.image_base64, validate=True)
            except (binascii.Error, ValueError):
                raise DataError(f"{where}.image_base64: not valid base64") from None
            out.append((from_image_bytes(data, spec, where=where), None))
        else:
            out.append(from_values(item.values, spec, where=f"{where}.values"))
    return out


async def _files(form: Any, field: str, spec: ItemSpec) -> Loaded:
    uploads = [f for f in form.getlist(field) if isinstance(f, UploadFile)]
    if not uploads:
        raise DataError(f"multipart: expected one or more files in field {field!r}")
    return [
        from_bytes(await f.read(), f.filename or "upload", spec, where=f"{field}:{f.filename}")
        for f in uploads
    ]


def _count(loaded: Loaded, max_items: int) -> None:
    if len(loaded) > max_items:
        raise DataError(
            f"items: at most {max_items} per request, got {len(loaded)}; split the request"
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
