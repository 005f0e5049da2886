"""The two hot paths of the management API, answered without Starlette's wrappers or objects (issue #16).

``POST /api/v1/route`` (every client connection) and ``POST /api/v1/session-servers/{name}/heartbeat`` (every
session server, every few seconds, to every member) make up nearly all of a member's requests. Through Starlette
each one passes its outer ``ServerErrorMiddleware`` (a wrapper around ``send``), its ``ExceptionMiddleware``, the
route table's regular expressions and a second exception wrapper, and the endpoint builds a ``Request`` and a
``Response`` (a header list, then two more wrapped sends). Profiled live under wrk (py-spy, bench/routing.py), a
member spent its extra CPU over a bare Starlette app in the Python interpreter, spread over these layers.

:class:`HotStarlette` is the app ``create_app`` returns: for those two paths it runs the app's own middleware
(the error boundary and the login gate: the same classes and arguments as every other route, so request ids,
identity headers, coded errors and authentication before the body are exactly as before) around
:class:`HotRoutes`, which calls the endpoint with the raw ASGI scope and receive and sends its JSON answer as
two ASGI messages (or 204 without a body: a conditional heartbeat whose sender holds the answer already). A match is by method and exact path, as the ``Route`` entries match (``{name}`` is one
non-empty path segment). Anything else, including another method on those paths (405, HG-1041), goes through
Starlette as before; the ``Route`` entries of both paths stay in the table, served by the same endpoints.

Nothing is lost by skipping Starlette's layers: they turn only Starlette's ``HTTPException`` into an answer,
which these endpoints never raise, and ``ServerErrorMiddleware`` only sees what the error boundary (which
catches every exception) lets through: nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HEARTBEAT_PATH", "ROUTE_PATH", "HotRoutes", "HotStarlette", "RawEndpoint", "as_endpoint"]

# An endpoint of a hot path: the scope (with ``path_params``) and receive in, the JSON answer (200) out, or
# b"" for 204 No Content (a heartbeat whose sender holds the answer already); a refusal is a HostgateError,
# coded by the error boundary like any other route's.
RawEndpoint = Callable[[Scope, Receive], Awaitable[bytes]]

ROUTE_PATH = "/api/v1/route"
HEARTBEAT_PATH = "/api/v1/session-servers/{name}/heartbeat"
_HB_HEAD, _, _HB_TAIL = HEARTBEAT_PATH.partition("{name}")
_ENDPOINT_KEY = "hostgate.hot_endpoint"
_JSON = (b"content-type", b"application/json")


def as_endpoint(raw: RawEndpoint) -> Callable[[Request], Awaitable[Response]]:
    """The same endpoint for Starlette's route table (one implementation for both ways in)."""

    async def endpoint(request: Request) -> Response:
        body = await raw(request.scope, request.receive)
        if not body:
            return Response(status_code=204)
        return Response(body, media_type="application/json")

    return endpoint


class HotRoutes:
    """The two hot endpoints, matched by method and exact path; answers JSON straight as ASGI messages."""

    def __init__(self, route: RawEndpoint, heartbeat: RawEndpoint) -> None:
        self.route = route
        self.heartbeat = heartbeat

    def match(self, scope: Scope) -> bool:
        """True (with ``path_params`` and the endpoint set in ``scope``) when this is a hot path's request."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        path: str = scope["path"]
        if path == ROUTE_PATH:
            scope["path_params"] = {}
            scope[_ENDPOINT_KEY] = self.route
            return True
        if path.startswith(_HB_HEAD) and path.endswith(_HB_TAIL):
            name = path[len(_HB_HEAD) : -len(_HB_TAIL)]
            if name and "/" not in name:
                scope["path_params"] = {"name": name}
                scope[_ENDPOINT_KEY] = self.heartbeat
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Reached only through HotStarlette, after match() (and the middleware: boundary, login gate).
        body = await scope[_ENDPOINT_KEY](scope, receive)
        if not body:  # 204 No Content: no content-length or content-type (RFC 9110 8.6, 15.3.5)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_JSON, (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})


class HotStarlette(Starlette):
    """A Starlette app whose two hot paths run its middleware around :class:`HotRoutes` instead of its router."""

    _hot: HotRoutes | None = None
    _hot_stack: ASGIApp | None = None

    def serve_hot(self, hot: HotRoutes) -> None:
        """Answer the hot paths with ``hot``, inside this app's own middleware (built as Starlette builds it)."""
        if self.max_body_size is not None:  # Starlette's body limit is not part of user_middleware
            raise ValueError("the hot paths cap their bodies themselves; do not set max_body_size")
        app: ASGIApp = hot
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        self._hot, self._hot_stack = hot, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot, stack = self._hot, self._hot_stack
        if hot is not None and stack is not None and hot.match(scope):
            scope["app"] = self  # as Starlette sets it (hostgate._bodies reads the app's body limit there)
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
