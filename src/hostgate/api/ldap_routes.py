"""``/api/v1/ldap``: the directories' settings (read, replace whole) and a check of them on one user.

Kept beside api/app.py so that the LDAP provider adds routes without reshaping the app: ``create_app`` passes
its own ``principal`` (credentials checked by the login gate) and ``guarded`` (a write as a guarded call).
Answers carry password references, never passwords (the settings hold nothing else).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.errors import UsageError
from hostgate.management.ldap.admin import LdapAdmin
from hostgate.management.ldap.config import LdapSettings
from hostgate.management.security import Principal
from hostgate.messages import (
    LdapSettingsUpdate,
    LdapSettingsView,
    LdapTestAnswer,
    LdapTestReport,
    LdapTestRequest,
    encode,
)

__all__ = ["ldap_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def ldap_routes(
    admin: LdapAdmin, principal: Callable[[Request], Principal], guarded: Callable[[Handler], Handler]
) -> list[Route]:
    async def show(request: Request) -> Response:
        principal(request).require_admin()
        return reply(_settings_view(admin.settings()))

    async def replace(request: Request) -> Response:
        who = principal(request)
        who.require_admin()
        # Types checked in one pass (HG-1011 naming the field); the config then checks the rules (HG-3100).
        # Left-out optional fields are UNSET and dropped by encode(), so the config's defaults apply; decoded
        # back to plain JSON values (lists, as the config reads; to_builtins would keep tuples).
        body = await read_message(request, LdapSettingsUpdate)
        data = msgspec.json.decode(encode(body))
        return reply(_settings_view(await admin.replace(who, data)))

    async def test(request: Request) -> Response:
        who = principal(request)
        user = (await read_message(request, LdapTestRequest)).user
        if not user:
            raise UsageError("field 'user': expected the user name to look up")
        reports = await admin.test(who, user)
        return reply(LdapTestAnswer(user, tuple(LdapTestReport(**asdict(r)) for r in reports)))

    return [
        Route("/api/v1/ldap", show, methods=["GET"]),
        Route("/api/v1/ldap", guarded(replace), methods=["PUT"]),
        # Reads only (a look-up): not a guarded write.
        Route("/api/v1/ldap/test", test, methods=["POST"]),
    ]


def _settings_view(settings: LdapSettings) -> LdapSettingsView:
    # The config's JSON form is the wire form (tests/unit/test_ldap_messages.py keeps the fields equal).
    data = {
        "directories": [d.to_json() for d in settings.directories],
        "cache_seconds": settings.cache_seconds,
    }
    return msgspec.convert(data, LdapSettingsView)
