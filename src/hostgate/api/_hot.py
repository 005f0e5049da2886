"""The two hot paths of the management API, dispatched before Starlette's router (issue #16).

``POST /api/v1/route`` (every client connection) and ``POST /api/v1/session-servers/{name}/heartbeat`` (every
session server, every few seconds, to every member) make up nearly all of a member's requests. Starlette sends
each request through its exception middleware, tries the route table's regular expressions and wraps the
endpoint in a second exception wrapper: a tenth of a route call's time in the app. This pure ASGI layer sits
inside the error boundary and the login gate (so authentication, request ids, identity headers and coded errors
are exactly as for every other route) and calls those two endpoints directly, matched by method and exact
path the way their ``Route`` entries match them (``{name}`` is one non-empty path segment). Anything else,
including another method on those paths (405, HG-1041), goes on to Starlette as before.

Nothing is lost by skipping Starlette's wrappers: they turn only Starlette's ``HTTPException`` into an answer,
which these endpoints never raise; a ``HostgateError`` or a bug goes up to the error boundary either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HEARTBEAT_PATH", "ROUTE_PATH", "HotRoutes"]

Handler = Callable[[Request], Awaitable[Response]]

ROUTE_PATH = "/api/v1/route"
HEARTBEAT_PATH = "/api/v1/session-servers/{name}/heartbeat"
_HB_HEAD, _, _HB_TAIL = HEARTBEAT_PATH.partition("{name}")


class HotRoutes:
    def __init__(self, app: ASGIApp, route: Handler, heartbeat: Handler) -> None:
        self.app = app
        self.route = route
        self.heartbeat = heartbeat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            endpoint: Handler | None = None
            if path == ROUTE_PATH:
                endpoint = self.route
                scope["path_params"] = {}
            elif path.startswith(_HB_HEAD) and path.endswith(_HB_TAIL):
                name = path[len(_HB_HEAD) : -len(_HB_TAIL)]
                if name and "/" not in name:
                    endpoint = self.heartbeat
                    scope["path_params"] = {"name": name}
            if endpoint is not None:
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
