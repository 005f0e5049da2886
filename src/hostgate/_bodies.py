"""Request bodies read with a cap, for both HTTP faces (management API and session server).

A body is read only after the request is authenticated (the callers see to it) and never past its limit: the
declared ``Content-Length`` is checked before anything is read, and a chunked body (no length) is counted
while it streams, so a 50 MB POST costs at most the limit in memory (issue #15, finding 4).
"""

from __future__ import annotations

import json
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from hostgate.errors import BodyTooLarge, UsageError
from hostgate.messages import decode_request, encode

__all__ = [
    "DEFAULT_MAX_BODY",
    "HEARTBEAT_MAX_BODY",
    "body_limit",
    "read_body",
    "read_json",
    "read_message",
    "receive_body",
    "reply",
]

T = TypeVar("T")

DEFAULT_MAX_BODY = 1_048_576
HEARTBEAT_MAX_BODY = 16_384


def body_limit(request: Request) -> int:
    """The app's limit (``app.state.max_body``, set from ``[security] max_body``), or the default."""
    app = request.scope.get("app")
    state = getattr(app, "state", None)
    limit = getattr(state, "max_body", DEFAULT_MAX_BODY)
    return limit if isinstance(limit, int) else DEFAULT_MAX_BODY


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"the request body is larger than this route accepts ({limit} bytes)")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge (HG-1010, 413) as soon as it is known to exceed ``limit`` bytes."""
    cached = getattr(request, "_body", None)
    if isinstance(cached, bytes):
        return cached
    body = await receive_body(request.scope, request.receive, limit)
    # The stream is consumed now; Starlette's own body()/json() read this attribute when it is set.
    request._body = body
    return body


async def receive_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """``read_body`` for an ASGI endpoint without a ``Request`` (api/_hot.py): the body read once, capped."""
    declared = _content_length(scope)
    if declared is not None:
        if not declared.isdigit():
            raise UsageError(f"Content-Length {declared[:40]!r} is not a number of bytes")
        if int(declared) > limit:
            raise _too_large(limit)
    # The ASGI messages read directly, as Starlette's Request.stream() does but without its async generator and
    # Headers object per request (issue #16: the body read was a sixth of a route call's time in the app).
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the usual case: the whole body in one message
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif kind == "http.disconnect":
            raise ClientDisconnect()
        message = await receive()
    return b"".join(chunks)


def _content_length(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-length":  # ASGI header names are lower-case
            return str(value.decode("latin-1"))
    return None


async def read_json(request: Request, limit: int) -> object:
    """The body parsed as JSON (UsageError HG-1003 when it is not JSON, however deeply nested)."""
    raw = await read_body(request, limit)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # json raises RecursionError on deep nesting
        raise UsageError("the request body is not valid JSON") from None


async def read_message(request: Request, kind: type[T], limit: int | None = None) -> T:
    """The body as the message ``kind`` (hostgate.messages), capped and type-checked in one pass: a wrong
    type, a missing or an unknown field is InvalidField (HG-1011) naming the field, before anything changes."""
    raw = await read_body(request, body_limit(request) if limit is None else limit)
    return decode_request(raw, kind)


def reply(message: object, status_code: int = 200) -> Response:
    """A message (or a list of them) as the JSON answer: encoded by the definition the clients decode with."""
    return Response(encode(message), status_code=status_code, media_type="application/json")
