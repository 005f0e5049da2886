"""Maintenance routes of the management API (issue #21), beside api/app.py like the other route modules:
``PUT /api/v1/cluster/leader`` (``hostgate cluster move-leader``: an Administrator's guarded write) and
``POST /api/v1/session-servers/{name}/admin-token`` (``hostgate sessions``: management/session_admin.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.management.leadership import move_leader
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
from hostgate.management.session_admin import grant_sessions_admin
from hostgate.messages import LeaderMove

__all__ = ["maintenance_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def maintenance_routes(
    service: ManagementService,
    principal: Callable[[Request], Principal],
    guarded: Callable[[Handler], Handler],
) -> list[Route]:
    async def leader(request: Request) -> Response:
        who = principal(request)
        who.require_admin()  # before the body: nothing is read for a caller who may not ask
        body = await read_message(request, LeaderMove)
        return reply(
            await move_leader(service.store, service.settings, service.member_records(), who, body.member)
        )

    async def sessions_admin(request: Request) -> Response:
        # Writes nothing (a signed token for one session server): not a guarded write.
        who = principal(request)
        cluster_id = service.settings.server.cluster_id
        return reply(grant_sessions_admin(service.domains, cluster_id, who, request.path_params["name"]))

    return [
        Route("/api/v1/cluster/leader", guarded(leader), methods=["PUT"]),
        Route("/api/v1/session-servers/{name}/admin-token", sessions_admin, methods=["POST"]),
    ]
