"""The session server's routing as one plain ASGI app (no Starlette application, router or middleware stack).

Issue #16 (bench/sessions.py, profile of the session server at 10 sessions): between uvicorn and a session
route's handler, Starlette ran four layers (``ServerErrorMiddleware``, ``ExceptionMiddleware``, ``Router``, the
route's ``request_response`` wrapper), each wrapping ``send``, and the router tried one regular expression per
route in order. Here one dict lookup on the path's shape finds the handler. The routes stay Starlette
``Route`` values (``routes``: what the OpenAPI test lists) and the handlers keep taking a Starlette
``Request``; what Starlette's router answered on its own is answered the same way: an unknown path is a coded
404 (HG-1040), a known path with another method a coded 405 (HG-1041) with ``Allow`` (RFC 9110 §15.5.6), and a
GET route takes HEAD too. Everything runs inside ``hostgate._http.ErrorBoundary`` (request id, identity
headers, coded errors), as it did as the Starlette app's middleware.

Lookup (issue #18): the routes of one segment count have only a few distinct sets of parameter places, so a
path is found by one dict lookup per such set (the path with its segments at those places read as
parameters), not by comparing it with every shape of its length in turn; where two shapes match, the earlier
route wins, as before.

**Raw endpoints** (issue #18, the pooled acquire: a whole answer in a fifth of a millisecond leaves no room
for a ``Request``, Starlette's ``Headers`` and a ``Response`` with its own two wrapped sends): a route may
also be given as a :data:`RawHandler`, called with the scope (``path_params`` set) and ``receive`` and
returning its status and JSON body, which are sent here as two ASGI messages. Its ``Route`` entry, served by
:func:`as_endpoint` of the same function, stays in ``routes`` (what the OpenAPI test lists); the error
boundary, the request metrics and every check of the handler are the same either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hostgate._http import ErrorBoundary
from hostgate.errors import HostgateError, MethodNotAllowed, NoSuchEndpoint

__all__ = ["RawHandler", "SessionFace", "as_endpoint", "bearer"]

Handler = Callable[[Request], Awaitable[Response]]
# A raw endpoint: the scope (with ``path_params``) and receive in, (status, JSON body) out; refusals raise.
RawHandler = Callable[[Scope, Receive], Awaitable[tuple[int, bytes]]]
_ANY = "*"  # a path parameter's place in a shape
_JSON = (b"content-type", b"application/json")


def as_endpoint(raw: RawHandler) -> Handler:
    """The same endpoint for a ``Route`` (one implementation for both ways in)."""

    async def endpoint(request: Request) -> Response:
        status, body = await raw(request.scope, request.receive)
        return Response(body, status_code=status, media_type="application/json")

    return endpoint


def bearer(scope: Scope) -> bytes | None:
    """The ``Authorization`` header's value as sent (the first, as Starlette's ``Headers.get``), or ``None``."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return None


def _shape(path: str) -> tuple[tuple[str, ...], tuple[tuple[int, str], ...]]:
    """``/api/v1/sessions/{id}/ping`` -> (("api", "v1", "sessions", "*", "ping"), ((3, "id"),))."""
    parts = path.strip("/").split("/")
    params = tuple((i, p[1:-1]) for i, p in enumerate(parts) if p.startswith("{") and p.endswith("}"))
    places = {i for i, _ in params}
    return tuple(_ANY if i in places else p for i, p in enumerate(parts)), params


class SessionFace:
    """An ASGI app over ``routes`` (each with a Starlette ``Request -> Response`` endpoint)."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        max_body: int,
        log: logging.Logger,
        identity: Mapping[str, str],
        raw: Mapping[tuple[str, str], RawHandler] | None = None,
    ) -> None:
        self.routes = list(routes)
        self._app = ErrorBoundary(self._dispatch, log=log, headers=identity, face="session server")
        # hostgate._bodies.body_limit reads scope["app"].state.max_body, as it does on a Starlette app.
        self.state = State({"max_body": max_body})
        # {shape: (order, params, {method: handler}, {method: raw handler}, the shape's first Route)}; the Route
        # gives the request metrics their route label (scope["route"], as Starlette sets it).
        self._shapes: dict[tuple[str, ...], _Shape] = {}
        # By segment count: the distinct sets of parameter places, each tried with one lookup.
        self._places: dict[int, list[tuple[int, ...]]] = {}
        self._found: dict[str, tuple[dict[str, str], _Shape]] = {}  # path -> what _search found for it
        raws = dict(raw or {})
        for route in self.routes:
            shape, params = _shape(route.path)
            entry = self._shapes.get(shape)
            if entry is None:
                entry = self._shapes[shape] = _Shape(len(self._shapes), params, {}, {}, route)
                places = tuple(i for i, _ in params)
                known = self._places.setdefault(len(shape), [])
                if places not in known:
                    known.append(places)
            for method in route.methods or ():
                entry.methods[method] = route.endpoint
                found = raws.pop((method, route.path), None)
                if found is not None:
                    entry.raw[method] = found
        if raws:
            raise ValueError(f"raw endpoints without a route: {sorted(raws)}")

    def _find(self, path: str) -> tuple[dict[str, str], _Shape] | None:
        # A session's calls and a pool's acquire ask for the same few paths over and over (issue #18): a path
        # found once is found again with one lookup. Bounded: cleared whole past _FOUND_MAX (paths carry ids).
        found = self._found.get(path)
        if found is not None:
            return dict(found[0]), found[1]
        found = self._search(path)
        if found is not None:
            if len(self._found) >= _FOUND_MAX:
                self._found.clear()
            self._found[path] = (dict(found[0]), found[1])
        return found

    def _search(self, path: str) -> tuple[dict[str, str], _Shape] | None:
        parts = path.strip("/").split("/") if path.startswith("/") else None
        if not parts or "" in parts:
            return None
        best: _Shape | None = None
        for places in self._places.get(len(parts), ()):
            key = list(parts)
            for i in places:
                key[i] = _ANY
            found = self._shapes.get(tuple(key))
            if found is not None and (best is None or found.order < best.order):
                best = found
        if best is None:
            return None
        return {name: parts[i] for i, name in best.params}, best

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off (runtime/server.py); no websockets here
            return
        scope["app"] = self
        path: str = scope["path"]
        method: str = scope["method"]
        found = self._find(path)
        if found is None:
            raise NoSuchEndpoint(f"no such endpoint: {method[:20]} {_shown(path)}")
        params, shape = found
        scope["route"] = shape.route
        scope["path_params"] = params
        raw = shape.raw.get(method)
        if raw is not None:
            status, body = await raw(scope, receive)
            headers = [_JSON, (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        handler = shape.methods.get(method)
        if handler is None:
            error = MethodNotAllowed(f"{_shown(path)} does not take {method[:20]}")
            await _refuse(error, {"Allow": ", ".join(sorted(shape.methods))}, scope, receive, send)
            return
        response = await handler(Request(scope, receive))
        await response(scope, receive, send)


_FOUND_MAX = 4096


def _shown(path: str) -> str:
    return path if len(path) <= 200 else f"{path[:200]}..."  # a fuzzer's 64 KiB path is not echoed whole


@dataclass(slots=True)
class _Shape:
    order: int  # of its first route: where two shapes match one path, the earlier route wins
    params: tuple[tuple[int, str], ...]
    methods: dict[str, Handler]
    raw: dict[str, RawHandler]
    route: Route


async def _refuse(
    error: HostgateError, headers: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    """A coded error with headers of its own (the boundary's answer has none but the identity headers)."""
    request_id = scope.get("state", {}).get("request_id", "")
    body = {**error.to_payload(), "request_id": request_id}
    await JSONResponse(body, status_code=error.http_status, headers=headers)(scope, receive, send)
