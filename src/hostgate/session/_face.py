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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hostgate._http import ErrorBoundary
from hostgate.errors import HostgateError, MethodNotAllowed, NoSuchEndpoint

__all__ = ["SessionFace"]

Handler = Callable[[Request], Awaitable[Response]]
_ANY = "*"  # a path parameter's place in a shape


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
    ) -> None:
        self.routes = list(routes)
        self._app = ErrorBoundary(self._dispatch, log=log, headers=identity, face="session server")
        # hostgate._bodies.body_limit reads scope["app"].state.max_body, as it does on a Starlette app.
        self.state = State({"max_body": max_body})
        # By segment count, then shape: {shape: (params, {method: handler})}.
        self._table: dict[int, dict[tuple[str, ...], tuple[tuple[tuple[int, str], ...], dict[str, Handler]]]]
        self._table = {}
        # The template of each shape, for the request metrics' route label (scope["route"], as Starlette sets it).
        self._routes: dict[tuple[str, ...], Route] = {}
        for route in self.routes:
            shape, params = _shape(route.path)
            _, methods = self._table.setdefault(len(shape), {}).setdefault(shape, (params, {}))
            self._routes.setdefault(shape, route)
            for method in route.methods or ():
                methods[method] = route.endpoint

    def _find(self, path: str) -> tuple[dict[str, str], dict[str, Handler], Route] | None:
        parts = path.strip("/").split("/") if path.startswith("/") else None
        if not parts or "" in parts:
            return None
        for shape, (params, methods) in self._table.get(len(parts), {}).items():
            if all(s in (_ANY, p) for s, p in zip(shape, parts, strict=True)):
                return {name: parts[i] for i, name in params}, methods, self._routes[shape]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off (runtime/server.py); no websockets here
            return
        scope["app"] = self
        path: str = scope["path"]
        method: str = scope["method"]
        found = self._find(path)
        shown = path if len(path) <= 200 else f"{path[:200]}..."  # a fuzzer's 64 KiB path is not echoed whole
        if found is None:
            raise NoSuchEndpoint(f"no such endpoint: {method[:20]} {shown}")
        params, methods, scope["route"] = found
        handler = methods.get(method)
        if handler is None:
            error = MethodNotAllowed(f"{shown} does not take {method[:20]}")
            await _refuse(error, {"Allow": ", ".join(sorted(methods))}, scope, receive, send)
            return
        scope["path_params"] = params
        response = await handler(Request(scope, receive))
        await response(scope, receive, send)


async def _refuse(
    error: HostgateError, headers: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    """A coded error with headers of its own (the boundary's answer has none but the identity headers)."""
    request_id = scope.get("state", {}).get("request_id", "")
    body = {**error.to_payload(), "request_id": request_id}
    await JSONResponse(body, status_code=error.http_status, headers=headers)(scope, receive, send)
