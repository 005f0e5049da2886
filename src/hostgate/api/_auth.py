"""HTTP Basic credentials checked before any route runs: before a body is read, off the event loop, throttled.

An ASGI middleware rather than a call inside each handler, so that no handler can read a body (or do anything
else) for a request with wrong credentials, and so that the 429 answer carries ``Retry-After`` (RFC 9110
section 10.2.3). A CLI login token (``Authorization: Bearer hgcli_...``, management/cli_tokens.py) is checked
here too, before any body is read, with no argon2 (a signature checked once per token, then the expiry and the
user's record from memory); it yields the same principal as the account's Basic credentials. Requests without
either pass through untouched: the open routes (health, CA), other bearer tokens and certificate routes
(heartbeats), and the handlers' own "this request needs credentials" answer.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from typing import cast

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hostgate.errors import AuthenticationFailed, HostgateError, LoginInvalid, TooManyAttempts
from hostgate.management.cli_tokens import BEARER_PREFIX as CLI_BEARER_PREFIX
from hostgate.management.login_guard import LoginGuard
from hostgate.management.security import Principal

__all__ = ["PRINCIPAL_SCOPE_KEY", "BasicAuthGate", "cli_bearer", "parse_basic"]

PRINCIPAL_SCOPE_KEY = "hostgate.principal"
# No credentials needed there; a stray Authorization header must not cost an argon2 check.
OPEN_PATHS = frozenset({"/api/v1/health", "/api/v1/ca"})


def parse_basic(header: str) -> tuple[str, str] | None:
    """(user, password) of a Basic ``Authorization`` value; None for another scheme; raises when malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthenticationFailed("the Authorization header is malformed") from None
    if not sep:
        raise AuthenticationFailed("the Authorization header is malformed")
    return user, password


def cli_bearer(header: str) -> str | None:
    """The CLI login token of a ``Bearer hgcli_...`` value; None for anything else (other bearer tokens are
    not the gate's: they pass through to their routes as before)."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(CLI_BEARER_PREFIX):
        return None
    return value


def _cli_login(scope: Scope) -> Callable[[str], Principal]:
    """The check of CLI login tokens (``CliTokens.verify``), which ``create_app`` keeps on the app's state, as
    it keeps the body limit there (hostgate._bodies); a face without one refuses every login token."""
    check = getattr(scope["app"].state, "cli_login", None) if "app" in scope else None
    if check is None:
        raise LoginInvalid("this server does not accept CLI login tokens")
    return cast(Callable[[str], Principal], check)


def _authorization(scope: Scope) -> str:
    """The ``Authorization`` header's value ("" if none): the first one, as Starlette's ``Headers.get``, read
    from the raw list without building a ``Headers`` object per request (issue #16)."""
    for name, value in scope["headers"]:
        if name == b"authorization":  # ASGI header names are lower-case
            return str(value.decode("latin-1"))
    return ""


class BasicAuthGate:
    def __init__(self, app: ASGIApp, guard: LoginGuard, identity: Mapping[str, str]) -> None:
        self.app = app
        self.guard = guard
        self.identity = dict(identity)  # the headers every answer of this face carries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            header = _authorization(scope)
            credentials = parse_basic(header)
            if credentials is not None:
                client = scope.get("client")
                source = str(client[0]) if client else "unknown"
                # A password verified recently answers without a coroutine (issue #16); else the full check.
                principal: Principal = self.guard.remembered(
                    *credentials, source
                ) or await self.guard.authenticate(*credentials, source)
                scope[PRINCIPAL_SCOPE_KEY] = principal
            elif (token := cli_bearer(header)) is not None:
                scope[PRINCIPAL_SCOPE_KEY] = _cli_login(scope)(token)
        except HostgateError as exc:
            payload = exc.to_payload()
            request_id = scope.get("state", {}).get("request_id")  # set by hostgate._http's error boundary
            if request_id:
                payload = {**payload, "request_id": request_id}
            response = JSONResponse(payload, status_code=exc.http_status, headers=self.identity)
            if isinstance(exc, TooManyAttempts):
                response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
