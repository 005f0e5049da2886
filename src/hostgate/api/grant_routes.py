"""``/api/v1/grants``: profiles granted to users and directory groups (read; add and remove as guarded writes).

Kept beside api/app.py, as api/ldap_routes.py is: ``create_app`` passes its own ``principal`` (credentials
checked by the login gate) and ``guarded`` (a write as a guarded call). Changes need an Administrator
(management/grant_admin.py); anyone may read the grants that apply to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.management.grant_admin import GrantAdmin
from hostgate.management.records import GrantRecord
from hostgate.management.security import Principal
from hostgate.messages import GrantRequest, GrantView

__all__ = ["grant_routes", "grant_view"]

Handler = Callable[[Request], Awaitable[Response]]


def grant_view(g: GrantRecord) -> GrantView:
    return GrantView(g.profile, g.subject_kind, g.subject, g.scope_kind, g.scope, g.granted_by, g.granted_at)


def _record(body: GrantRequest) -> GrantRecord:
    return GrantRecord(body.profile, body.subject_kind, body.subject, body.scope_kind, body.scope)


def grant_routes(
    admin: GrantAdmin, principal: Callable[[Request], Principal], guarded: Callable[[Handler], Handler]
) -> list[Route]:
    async def listing(request: Request) -> Response:
        return reply([grant_view(g) for g in admin.list_grants(principal(request))])

    async def add(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, GrantRequest)
        return reply(grant_view(await admin.add(who, _record(body))), 201)

    async def remove(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, GrantRequest)
        return reply(grant_view(await admin.remove(who, _record(body))))

    return [
        Route("/api/v1/grants", listing, methods=["GET"]),
        Route("/api/v1/grants", guarded(add), methods=["POST"]),
        Route("/api/v1/grants", guarded(remove), methods=["DELETE"]),
    ]
