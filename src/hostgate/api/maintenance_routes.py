"""Maintenance routes of the management API (issue #21), beside api/app.py like the other route modules:
``PUT /api/v1/cluster/leader`` (``hostgate cluster move-leader``: an Administrator's guarded write)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.management.leadership import move_leader
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
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

    return [Route("/api/v1/cluster/leader", guarded(leader), methods=["PUT"])]
