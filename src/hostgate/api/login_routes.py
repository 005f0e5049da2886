"""``POST /api/v1/login`` (a CLI login token), ``DELETE /api/v1/login`` (``hostgate logout``: end it on every
member) and ``PUT /api/v1/users/{name}/password``.

Kept beside api/app.py, like the LDAP routes, so that ``create_app`` gains one line: it passes its own
``principal`` (credentials checked by the login gate, Basic or a CLI login token) and ``guarded`` (a write as
a guarded call), and the login guard, which checks the current password of a password change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.errors import LoginNotOffered
from hostgate.management.cli_tokens import BEARER_PREFIX, CliTokens
from hostgate.management.login_guard import LoginGuard
from hostgate.management.passwords import change_password
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
from hostgate.messages import LoginAnswer, LoginEnded, LoginRequest, PasswordChange, PasswordChanged
from hostgate.tokens import MAX_CLOCK_SKEW

__all__ = ["login_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_routes(
    service: ManagementService,
    logins: CliTokens,
    guard: LoginGuard,
    principal: Callable[[Request], Principal],
    guarded: Callable[[Handler], Handler],
) -> list[Route]:
    async def login(request: Request) -> Response:
        who = principal(request)
        # Only a password gets a login: a token that could renew itself would never end.
        scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
        if scheme != "basic":
            raise LoginNotOffered("`hostgate login` needs the password; a login token cannot renew itself")
        body = await read_message(request, LoginRequest)
        token, expires = logins.mint(who, body.ttl)
        service.audit.record(
            actor=who.name, action="login.cli", target=who.name, source=_source(request),
            detail={"expires_at": f"{expires:.0f}"},
        )  # fmt: skip
        return reply(LoginAnswer(who.name, service.settings.server.cluster_id, token, expires))

    async def logout(request: Request) -> Response:
        who = principal(request)  # the gate has checked the token: still good, not ended yet
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not bearer.startswith(BEARER_PREFIX):
            raise LoginNotOffered("`hostgate logout` ends a CLI login: send its token, not a password")
        key, ended = logins.ending(bearer.strip())
        # A lease that runs out when the token would have expired: the record lasts only as long as it matters.
        lease = await service.store.grant_lease(max(1.0, ended.expires_at - time.time() + MAX_CLOCK_SKEW))
        await service.store.put(key, msgspec.json.encode(ended), lease=lease)
        # Refused here from the next request on; other members as soon as their copy shows the record.
        await service.cache.wait_until(lambda: service.cache.get(key) is not None)
        service.audit.record(
            actor=who.name, action="logout.cli", target=who.name, source=_source(request),
            detail={"expires_at": f"{ended.expires_at:.0f}"},
        )  # fmt: skip
        return reply(LoginEnded(who.name, ended.expires_at))

    async def set_password(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, PasswordChange)
        name = request.path_params["name"]
        record = await change_password(service, guard, who, name, body, _source(request))
        return reply(PasswordChanged(record.name, who.name))

    return [
        # Issues a token, writes nothing: not a guarded write (a hedged duplicate just issues a second token).
        Route("/api/v1/login", login, methods=["POST"]),
        # Idempotent by itself (a hedged duplicate writes the same record again): not a guarded write.
        Route("/api/v1/login", logout, methods=["DELETE"]),
        Route("/api/v1/users/{name}/password", guarded(set_password), methods=["PUT"]),
    ]
