"""Directories tried in order, off the event loop, each bounded in time.

The order follows VHI's practice with several authenticators: the next directory is asked only when this one
does not know the user. So, per directory:

* the user is found and the password is right: authenticated, with the directory's groups;
* the user is found and the bind is refused (wrong password, locked, expired): final, ``AuthenticationFailed``;
  the same password is not tried against the next directory (that would let a second directory's account
  with the same name answer for the first one's user);
* the user is not found: ask the next directory;
* the directory is down (refused, silent past its timeouts, TLS refused, service account refused): ask the
  next directory, and remember the fault. When no directory decided and at least one was down, the answer is
  ``DirectoryUnavailable`` with each fault, not "wrong password": the user may well exist in the one that was
  down.

An empty password is refused before any bind: a simple bind with a DN and no password is an "unauthenticated
bind" that servers answer with success (RFC 4513 §5.1.2).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import (
    AuthenticationFailed,
    DirectoryUnavailable,
    DirectoryUserAmbiguous,
    EmptyPasswordRefused,
)
from hostgate.management.ldap.client import (
    DirectoryDown,
    DirectoryIdentity,
    NotInDirectory,
    ask_directory,
    look_up,
)
from hostgate.management.ldap.config import DirectoryConfig, LdapSettings

__all__ = ["DirectoryAuthenticator", "DirectoryReport"]

log = logging.getLogger("hostgate.security.ldap")

# The steps of one attempt that wait on the directory: service bind, root DSE, user search, StartTLS and bind
# as the user, and the group searches (at most max_depth). Each waits at most ``timeout``.
_FIXED_STEPS = 6


def _budget(directory: DirectoryConfig) -> float:
    """The longest one attempt may take when every socket wait runs to its timeout (plus slack for a loaded
    machine): past it the attempt counts as down, whatever its thread is still doing."""
    per_url = directory.connect_timeout + directory.timeout
    return 2 * len(directory.urls) * per_url + (_FIXED_STEPS + directory.max_depth) * directory.timeout + 1.0


@dataclass(frozen=True, slots=True)
class DirectoryReport:
    """What one directory said about a user, for ``hostgate ldap test`` (no secret in it)."""

    directory: str
    outcome: str  # "found", "not found", "ambiguous", "down"
    dn: str = ""
    groups: tuple[str, ...] = ()
    nested: str = ""
    fault: str = ""


class DirectoryAuthenticator:
    """Authenticates users against the configured directories (``settings()`` is read at each call, so a
    change replicated through the store applies to the next login)."""

    def __init__(
        self, settings: Callable[[], LdapSettings], *, workers: int = 4, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._settings = settings
        self._workers = workers
        self._clock = clock
        # Successful logins recognised for ``cache_seconds`` by an HMAC of the password under a key of this
        # process (never the password): HTTP Basic sends credentials with every request, and each directory
        # login costs two TLS handshakes and several searches (~0.1 s here).
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[str, tuple[bytes, float, DirectoryIdentity]] = OrderedDict()
        self._verified_for: LdapSettings | None = None
        # Own small pool: a silent directory holds a worker up to its timeouts, and must not hold the event
        # loop's default executor or the argon2 workers. Made at first use, and again after close().
        self._executor: ThreadPoolExecutor | None = None

    @property
    def configured(self) -> bool:
        return bool(self._settings().directories)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def recall(self, user: str, password: str) -> DirectoryIdentity | None:
        """The identity of a login that succeeded with this very password within ``cache_seconds`` (cheap, no
        directory asked); None otherwise. A change of the settings forgets every entry."""
        settings = self._settings()
        if settings is not self._verified_for:
            self._verified.clear()
            self._verified_for = settings
        entry = self._verified.get(user.lower())
        if entry is None or not password:
            return None
        digest, expires, identity = entry
        if self._clock.monotonic() >= expires:
            del self._verified[user.lower()]
            return None
        if not hmac.compare_digest(digest, self._digest(password)):
            return None
        return identity

    def _remember(self, user: str, password: str, identity: DirectoryIdentity) -> None:
        settings = self._settings()
        if settings is not self._verified_for:
            self._verified.clear()
            self._verified_for = settings
        if settings.cache_seconds <= 0:
            return
        expires = self._clock.monotonic() + settings.cache_seconds
        self._verified[user.lower()] = (self._digest(password), expires, identity)
        self._verified.move_to_end(user.lower())
        while len(self._verified) > 10_000:  # bounded whatever names arrive
            self._verified.popitem(last=False)

    def _digest(self, password: str) -> bytes:
        return hmac.digest(self._key, password.encode(), "sha256")

    async def authenticate(self, user: str, password: str) -> DirectoryIdentity:
        identity = await self._authenticate(user, password)
        self._remember(user, password, identity)
        return identity

    async def _authenticate(self, user: str, password: str) -> DirectoryIdentity:
        if not password:
            raise EmptyPasswordRefused("an empty password is refused (RFC 4513 §5.1.2: unauthenticated bind)")
        if not user:
            raise AuthenticationFailed("wrong user name or password")
        faults: list[str] = []
        for directory in self._settings().directories:
            try:
                return await self._ask(directory, user, password)
            except NotInDirectory:
                continue
            except DirectoryDown as exc:
                faults.append(f"{directory.name}: {exc}")
                log.warning("directory %r skipped for user %r: %s", directory.name, user, exc)
        if faults:
            raise DirectoryUnavailable(
                f"no directory could decide about user {user!r}: " + " | ".join(faults)
            )
        raise AuthenticationFailed("wrong user name or password")

    async def look_up(self, user: str) -> list[DirectoryReport]:
        """Every directory's view of ``user`` (service account only, no user bind): an administrator's check
        of the settings. Asks all directories, in order, whatever each answers."""
        reports: list[DirectoryReport] = []
        for directory in self._settings().directories:
            try:
                found = await self._run(directory, look_up, directory, user)
            except NotInDirectory:
                reports.append(DirectoryReport(directory.name, "not found"))
            except DirectoryDown as exc:
                reports.append(DirectoryReport(directory.name, "down", fault=str(exc)))
            except DirectoryUserAmbiguous as exc:
                reports.append(DirectoryReport(directory.name, "ambiguous", fault=exc.message))
            else:
                reports.append(DirectoryReport(directory.name, "found", found.dn, found.groups, found.nested))
        return reports

    async def _ask(self, directory: DirectoryConfig, user: str, password: str) -> DirectoryIdentity:
        return await self._run(directory, ask_directory, directory, user, password)

    async def _run(
        self, directory: DirectoryConfig, step: Callable[..., DirectoryIdentity], *args: object
    ) -> DirectoryIdentity:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="ldap")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, step, *args)
        budget = _budget(directory)
        try:
            return await asyncio.wait_for(future, budget)
        except TimeoutError:
            raise DirectoryDown(f"no decision within {budget:.0f} s") from None
