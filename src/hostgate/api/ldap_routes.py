"""``/api/v1/ldap``: the directories' settings (read, replace whole) and a check of them on one user.

Kept beside api/app.py so that the LDAP provider adds routes without reshaping the app: ``create_app`` passes
its own ``principal`` (credentials checked by the login gate) and ``guarded`` (a write as a guarded call).
Answers carry password references, never passwords (the settings hold nothing else).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate._bodies import body_limit, read_json
from hostgate.errors import UsageError
from hostgate.management.ldap.admin import LdapAdmin
from hostgate.management.security import Principal

__all__ = ["ldap_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def ldap_routes(
    admin: LdapAdmin, principal: Callable[[Request], Principal], guarded: Callable[[Handler], Handler]
) -> list[Route]:
    async def show(request: Request) -> Response:
        principal(request).require_admin()
        return JSONResponse(_settings_json(admin))

    async def replace(request: Request) -> Response:
        who = principal(request)
        who.require_admin()
        body = await read_json(request, body_limit(request))
        await admin.replace(who, body)
        return JSONResponse(_settings_json(admin))

    async def test(request: Request) -> Response:
        who = principal(request)
        body = await read_json(request, body_limit(request))
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, str) or not user:
            raise UsageError("field 'user': expected the user name to look up")
        reports = await admin.test(who, user)
        return JSONResponse({"user": user, "directories": [asdict(r) for r in reports]})

    return [
        Route("/api/v1/ldap", show, methods=["GET"]),
        Route("/api/v1/ldap", guarded(replace), methods=["PUT"]),
        # Reads only (a look-up): not a guarded write.
        Route("/api/v1/ldap/test", test, methods=["POST"]),
    ]


def _settings_json(admin: LdapAdmin) -> dict[str, object]:
    settings = admin.settings()
    return {
        "directories": [d.to_json() for d in settings.directories],
        "cache_seconds": settings.cache_seconds,
    }
