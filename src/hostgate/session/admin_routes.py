"""The session server's side of ``hostgate sessions list|end`` (issue #21; why it is gathered this way:
management/session_admin.py): every live session, and ending any one, for a ``sessions-admin`` token the
cluster minted for this server (checked with the cluster's public keys, bound to this server and cluster).
The console's Sessions page (issue #20) also reads a session's current screen here, hidden fields masked
(session/screens.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import reply
from hostgate.errors import AuthenticationFailed, SessionNotFound
from hostgate.messages import Closed, SessionList
from hostgate.session.registry import SessionRegistry
from hostgate.session.screens import screen_view

__all__ = ["admin_routes"]

# The token kind management/session_admin.py mints (the session layer does not import management).
SESSIONS_ADMIN = "sessions-admin"


def admin_routes(registry: SessionRegistry) -> list[Route]:
    def check(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            # Whatever the security switch says: listing and ending other users' sessions always needs it.
            raise AuthenticationFailed(
                "this request needs a sessions-admin token from the management cluster"
            )
        registry.token_keys.verify(
            token, kind=SESSIONS_ADMIN, cluster_id=registry.cluster_id, server=registry.server
        )

    async def listing(request: Request) -> Response:
        check(request)
        sessions = sorted(registry.sessions.values(), key=lambda s: s.created_at)
        return reply(SessionList(registry.server, tuple(s.info() for s in sessions)))

    async def end(request: Request) -> Response:
        check(request)
        session = await registry.end(request.path_params["id"])
        return reply(Closed(session.id))

    async def screen(request: Request) -> Response:
        check(request)
        session_id = request.path_params["id"]
        session = registry.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id} on session server {registry.server}")
        # No session lock: the driver serialises calls on its connection itself (hosts/base.py), and a
        # snapshot must not wait behind a long operation; the screen shown is the one at this instant.
        snapshot = await session.runtime.host.snapshot()
        return reply(screen_view(registry.server, session, snapshot))

    return [
        Route("/api/v1/admin/sessions", listing, methods=["GET"]),
        Route("/api/v1/admin/sessions/{id}/screen", screen, methods=["GET"]),
        Route("/api/v1/admin/sessions/{id}", end, methods=["DELETE"]),
    ]
