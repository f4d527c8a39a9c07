"""Request guards: a body-size limit (ASGI middleware) and the optional API key check."""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import HTTPException

Scope = dict[str, Any]


class BodySizeLimit:
    """Reject requests whose body exceeds ``max_bytes`` with 413, before they reach an endpoint.

    A declared ``Content-Length`` over the limit is refused without reading the body; a chunked
    body is counted as it arrives and the endpoint's read fails with 413 once it passes the limit.
    """

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_json(send, 413, f"request body over {self.max_bytes} bytes")
            return
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


def check_api_key(expected: str | None, given: str | None) -> None:
    """Compare the ``X-API-Key`` header with the expected key in constant time.

    Raises:
        HTTPException: 401 when a key is required and missing or wrong.
    """
    if expected is None:
        return
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header")


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
