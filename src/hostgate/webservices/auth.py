"""The caller's credentials: HTTP Basic (REST and SOAP) or a WS-Security UsernameToken (SOAP), checked with the
cluster before a request body is read.

The web-service layer keeps no accounts: the cluster checks the credentials (``GET /api/v1/whoami`` through the
alias) and every call passes them on again (the route call authenticates). A success is remembered for
``remember`` seconds per cluster and credentials (an HMAC under a per-process key, never the password), so only
a caller's first request costs the extra round trip; a refused one is never remembered. Credentials are never
logged.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable

from hostgate.connector import ClusterClient, ClusterLocation
from hostgate.errors import AuthenticationFailed
from hostgate.webservices.invoke import Caller

__all__ = ["REALM", "Authenticator", "basic_caller"]

REALM = 'Basic realm="hostgate web services", charset="UTF-8"'
_REMEMBER = 60.0
_MAX_REMEMBERED = 10_000


def basic_caller(header: str | None) -> Caller | None:
    """The Basic credentials of an ``Authorization`` value; None without one; raises when malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise AuthenticationFailed(
            "the web services take HTTP Basic credentials (or a WS-Security UsernameToken)"
        )
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthenticationFailed("the Authorization header is malformed") from None
    if not sep or not user:
        raise AuthenticationFailed("the Authorization header is malformed")
    return Caller(user, password)


class Authenticator:
    """Checks credentials with the cluster at a location; remembers successes briefly."""

    def __init__(self, *, remember: float = _REMEMBER, clock: Callable[[], float] = time.monotonic) -> None:
        self.remember = remember
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._ok: dict[tuple[str, str, bytes], float] = {}

    async def check(self, location: ClusterLocation, caller: Caller | None) -> Caller:
        if caller is None:
            raise AuthenticationFailed("the web services need credentials (HTTP Basic, or a UsernameToken)")
        key = (location.alias, str(location.ca_file), caller.fingerprint(self._key))
        now = self._clock()
        until = self._ok.get(key)
        if until is not None and until > now:
            return caller
        client = ClusterClient.at(location, user=caller.user, password=caller.password)
        await client.request("GET", "/api/v1/whoami")  # raises AuthenticationFailed (HG-3001) when refused
        if len(self._ok) >= _MAX_REMEMBERED:
            self._ok = {k: v for k, v in self._ok.items() if v > now}
            if len(self._ok) >= _MAX_REMEMBERED:
                self._ok.clear()
        self._ok[key] = now + self.remember
        return caller
