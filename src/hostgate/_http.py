"""The error boundary both HTTP faces run inside: request ids, identity headers, coded errors (ASGI middleware).

The management API (``api/app.py``) and the session server (``session/server.py``) need the same three things
on every answer, so they are written once, here:

- **A request id**: every response has an ``X-Request-Id`` header, and every error body a ``request_id``, so
  a user can quote it and an operator can find the one log record that carries it.
- **Identity headers on every response**, errors and Starlette's own 404/405 included: the connector treats an
  answer without its cluster's ``X-Hostgate-Cluster-Id`` as another cluster's (HG-5102), so an unstamped 500
  from a member of the right cluster used to read as "wrong cluster".
- **Coded errors**: a ``HostgateError`` becomes ``{"code", "message", "hint", "request_id"}`` with its HTTP
  status; any other exception (a bug: ``RecursionError``, ``KeyError``, ...) becomes ``InternalError``
  (HG-1000, 500), logged once with its traceback and the request id. No traceback leaves the server, and the
  exception is not re-raised, so neither Starlette nor uvicorn logs it a second time.

    Starlette(routes=..., middleware=[error_boundary(log, {"X-Hostgate-Cluster-Id": cid, ...}, "API")])

Only ``hostgate.errors`` is imported: the faces sit on either side of the package map (``api/`` beside
``management/``, ``session/`` beside ``hosts/``) and both may import the bottom.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostgate.errors import (
    HostError,
    HostgateError,
    InternalError,
    MethodNotAllowed,
    NoSuchEndpoint,
    UsageError,
)

__all__ = [
    "CURRENT_REQUEST_ID",
    "REQUEST_ID_HEADER",
    "ErrorBoundary",
    "coded_http_exceptions",
    "error_boundary",
]

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")
# The id of the request being answered, for log records written while it runs (the JSON log's "request_id",
# runtime/logs.py). uvicorn runs each request in a task of its own, so the value never leaks to another request.
CURRENT_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("hostgate_request_id", default="")


class _RequestIds:
    """Request ids: 48 random bits per process, then a counter (``3f9a0c12b7e4-1a``).

    Unique within a process by the counter, and between processes by the random prefix (drawn again in a
    forked child, so parent and child never share one). ``secrets.token_hex`` per request cost about 5 % of the
    session server's CPU per call (issue #16, bench/sessions.py profile); a counter costs nothing.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_hex(6) + "-"
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():x}"


_new_request_id = _RequestIds()


def _where(scope: Scope) -> str:
    """ "METHOD /path" for a log record (built only when one is written: issue #16, every request paid for it)."""
    return f"{scope.get('method', '?')} {scope.get('path', '?')}"


class ErrorBoundary:
    """Pure ASGI middleware (no ``BaseHTTPMiddleware``: that one runs the app in a task group, which would
    change how cancellation and streaming behave for every route)."""

    def __init__(self, app: ASGIApp, *, log: logging.Logger, headers: Mapping[str, str], face: str) -> None:
        self.app = app
        self.log = log
        self.face = face
        self._headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._names = frozenset({k for k, _ in self._headers} | {_REQUEST_ID_NAME})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _new_request_id()
        CURRENT_REQUEST_ID.set(request_id)
        state = scope.get("state")
        if state is None:
            scope["state"] = {"request_id": request_id}
        else:
            state["request_id"] = request_id
        stamp = (*self._headers, (_REQUEST_ID_NAME, request_id.encode("latin-1")))
        names = self._names
        started = False

        async def send_stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", ())
                # The app's own headers of these names are replaced (the boundary's are the ones that count);
                # the hot paths' answers carry none, so the filtering list is built only when one is there.
                for k, _ in headers:
                    if k.lower() in names:
                        headers = [(k, v) for k, v in headers if k.lower() not in names]
                        break
                message = {**message, "headers": [*headers, *stamp]}
            await send(message)

        try:
            await self.app(scope, receive, send_stamped)
        except HostgateError as exc:
            if exc.http_status >= 500 or isinstance(exc, HostError):
                self.log.warning("%s failed (request %s): %s", _where(scope), request_id, exc)
            if not started:
                await self._answer(exc, request_id, scope, receive, send_stamped)
        except ClientDisconnect:
            # The client went away before its body was read (the dialer drops the slower attempt of a hedged
            # request): no one is left to answer, and it is no bug.
            self.log.info(
                "%s: the client disconnected before its request was read (request %s)",
                _where(scope),
                request_id,
            )
        except Exception as exc:
            # The boundary: a bug anywhere below becomes one coded 500 and one log record.
            self.log.exception("%s failed (request %s)", _where(scope), request_id)
            if not started:
                error = InternalError(
                    f"internal error in the {self.face} ({type(exc).__name__}); request {request_id}"
                )
                await self._answer(error, request_id, scope, receive, send_stamped)

    @staticmethod
    async def _answer(
        exc: HostgateError, request_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        body: dict[str, str] = {**exc.to_payload(), "request_id": request_id}
        await JSONResponse(body, status_code=exc.http_status)(scope, receive, send)


def error_boundary(log: logging.Logger, headers: Mapping[str, str], face: str) -> Middleware:
    """The boundary as a Starlette ``middleware=[...]`` entry (outside routing, so 404/405 are stamped too)."""
    return Middleware(ErrorBoundary, log=log, headers=dict(headers), face=face)


async def _coded_http_exception(request: Request, exc: Exception) -> Response:
    # Starlette's router answers an unknown path (404) or method (405) with a plain-text HTTPException
    # response from its ExceptionMiddleware, inside the boundary: without this the only uncoded errors of
    # both faces (found by the fuzz tests, issue #15).
    assert isinstance(exc, HTTPException)
    path = request.url.path
    path = path if len(path) <= 200 else f"{path[:200]}..."  # a fuzzer's 64 KiB path is not echoed whole
    where = f"{request.method[:20]} {path}"
    error: HostgateError
    if exc.status_code == 404:
        error = NoSuchEndpoint(f"no such endpoint: {where}")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{path} does not take {request.method[:20]}")
    else:
        error = UsageError(f"{where}: {exc.detail}")
    body = {**error.to_payload(), "request_id": request.scope.get("state", {}).get("request_id", "")}
    status = exc.status_code if 400 <= exc.status_code < 500 else error.http_status
    return JSONResponse(body, status_code=status, headers=dict(exc.headers or {}))


def coded_http_exceptions() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """``Starlette(exception_handlers=...)``: Starlette's own 404/405 as coded errors (HG-1040, HG-1041)."""
    return {HTTPException: _coded_http_exception}
