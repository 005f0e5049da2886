"""Console logins valid on every member: a session record in the cluster's store, found from memory.

Decision (issue #20): a random session token in the browser's cookie, and a record of it in the store under
``/hostgate/console/sessions/<SHA-256 of the token>``. That key is under the configuration prefix every member
holds in memory (management/cache.py), so:

- **any member recognises a session** the moment its watch has the record (a few ms after the login's write;
  the member that wrote it waits for its own copy before answering), with a memory read per request and no
  store round trip: when the serving member dies, the next navigation through the alias reaches another
  member that already knows the session;
- **logout is effective on every member**: it deletes the record, and each member's copy drops it with the
  watch (a member whose watch is broken reloads its copy, deletes included, before it serves changes again);
- no key to rotate or share: the token is 32 random bytes (``secrets``), and the store keeps only its hash, so a
  backup or a copy of the store holds no usable session.

Rejected: a token signed with a cluster key (no write per login) needs a revocation list in the store for
logout anyway, and a leaked key would sign sessions for anyone.

A session ends ``SESSION_TTL`` after login (absolute), or earlier after ``idle_timeout`` seconds without
activity (``[console] idle_timeout``, kept in the record at login so every member applies the same one). The
idle timeout slides: :meth:`ConsoleSessions.touch` records the last activity in the session's record, so activity
on any member counts on every member. Touching writes only when the recorded time is older than a tenth of the
timeout (at most a minute): not a write per navigation, at the price of a session ending up to that much early.
The console's polling (the status bar, a live page's refresh) does not touch (console/web.py).

Every request also re-checks the user: a local account that was removed or whose password changed (its hash
differs from the one at login) ends its sessions; the profile (Administrator, Developer,
User) is evaluated from the grants on every request, so a revoked grant applies at once. Each session carries
its own CSRF token (synchronizer token pattern, OWASP CSRF cheat sheet), compared in constant time.
A login needs the store's majority (one write); a session already made keeps working without one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from hostgate.errors import (
    CompareFailed,
    ConsoleLoginRequired,
    ConsoleSessionIdle,
    CsrfRefused,
    HostgateError,
    StoreCorrupt,
)
from hostgate.management.records import PREFIX, UserRecord, user_key
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService

__all__ = [
    "SESSIONS_PREFIX",
    "SESSION_TTL",
    "ConsoleSession",
    "ConsoleSessions",
    "check_csrf",
    "credential_of",
]

SESSIONS_PREFIX = PREFIX + "console/sessions/"
SESSION_TTL = 8 * 3600.0  # a working day; then log in again
_PRUNE_BATCH = 50  # expired records deleted per login (bounded work; every login prunes a few)
_TOUCH_MAX = 60.0  # seconds: the coarsest step of the recorded last activity (see the module doc)


def _granularity(idle_timeout: float) -> float:
    return min(_TOUCH_MAX, idle_timeout / 10)


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _key(token: str) -> str:
    return SESSIONS_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def credential_of(record: UserRecord | None) -> str:
    """A short fingerprint of a local account's password hash: a changed password ends the account's
    sessions. Empty for directory users (the directory vouches for them at login only)."""
    return hashlib.sha256(record.password_hash.encode()).hexdigest()[:32] if record is not None else ""


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    user: str
    csrf: str
    created_at: float
    expires_at: float
    member: str  # where the user logged in (shown; any member serves the session)
    credential: str = ""  # credential_of(the local account) at login; "" for a directory user
    groups: tuple[str, ...] = ()
    group_dns: tuple[str, ...] = ()
    # The idle timeout in force for this session (seconds; 0: none) and the last recorded activity (Unix time).
    # Defaults keep records written before the idle timeout readable (no idle timeout for those).
    idle_timeout: float = 0.0
    last_active: float = 0.0

    def idle_until(self) -> float:
        """When the session ends for want of activity (``inf``: never)."""
        if self.idle_timeout <= 0:
            return math.inf
        return max(self.last_active, self.created_at) + self.idle_timeout

    def ends_at(self) -> float:
        return min(self.expires_at, self.idle_until())

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, key: str, raw: bytes) -> ConsoleSession:
        try:
            return _DECODER.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise StoreCorrupt(f"record {key} cannot be decoded: {exc}") from None


_DECODER = msgspec.json.Decoder(ConsoleSession)


def check_csrf(session: ConsoleSession, offered: str | None) -> None:
    """Raise ``CsrfRefused`` unless ``offered`` is this session's CSRF token (constant-time comparison)."""
    if not offered or not hmac.compare_digest(offered.encode(), session.csrf.encode()):
        raise CsrfRefused("this form or request does not carry your console session's CSRF token")


class ConsoleSessions:
    """Console sessions in the store, checked against this member's in-memory copy (see the module doc)."""

    def __init__(
        self,
        service: ManagementService,
        *,
        ttl: float = SESSION_TTL,
        idle_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
        visibility_timeout: float = 5.0,
    ) -> None:
        self._store = service.store
        self._cache = service.cache
        self._auth = service.auth
        self._member = service.member_name
        self._ttl = ttl
        self._idle = service.settings.console.idle_timeout if idle_timeout is None else idle_timeout
        self._clock = clock
        self._visibility_timeout = visibility_timeout

    async def create(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session for ``principal`` (authenticated by the caller): its token and record."""
        now = self._clock()
        local = self._cache.decode(user_key(principal.name), UserRecord.decode)
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            user=local.name if local is not None else principal.name,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self._ttl,
            member=self._member,
            credential=credential_of(local),
            groups=principal.groups,
            group_dns=principal.group_dns,
            idle_timeout=self._idle,
            last_active=now,
        )
        await self._prune(now)
        revision = await self._store.compare_and_set(_key(token), session.encode(), 0)
        # Read-your-writes: the redirect after login lands on this member, which must know the session.
        await self._cache.wait_for_revision(revision, self._visibility_timeout)
        return token, session

    def find(self, token: str | None) -> tuple[ConsoleSession, Principal]:
        """The session of ``token`` and its principal now (grants evaluated afresh); ``ConsoleLoginRequired``
        when there is none, it expired, or its local account was removed or changed password."""
        if not token:
            raise ConsoleLoginRequired("you are not logged in to the console")
        session = self._cache.decode(_key(token), ConsoleSession.decode)
        if session is None:
            raise ConsoleLoginRequired(
                "your console session has ended (logged out, or unknown to the cluster)"
            )
        now = self._clock()
        if now >= session.expires_at:
            raise ConsoleLoginRequired("your console session has expired")
        if now >= session.idle_until():
            raise ConsoleSessionIdle(
                f"your console session ended after {_duration(session.idle_timeout)} without activity"
            )
        if session.credential:
            local = self._cache.decode(user_key(session.user), UserRecord.decode)
            if local is None or not hmac.compare_digest(credential_of(local), session.credential):
                raise ConsoleLoginRequired(
                    f"the account {session.user!r} was removed or its password changed since you logged in"
                )
        return session, self._auth.principal(session.user, session.groups, session.group_dns)

    async def touch(self, token: str, session: ConsoleSession) -> None:
        """Record activity of ``session`` (found by :meth:`find` for ``token``): the idle timeout starts again
        on every member. Writes only when the recorded time is older than the granularity (module doc); a store
        without a majority or a concurrent change (another member's touch, a logout) leaves it as it is: the
        page is still served."""
        if session.idle_timeout <= 0:
            return
        now = self._clock()
        if now - session.last_active < _granularity(session.idle_timeout):
            return
        key = _key(token)
        with contextlib.suppress(HostgateError):
            kv = await self._store.get(key)
            if kv is None:
                return  # logged out meanwhile: never write it back
            stored = ConsoleSession.decode(key, kv.value)
            if now - stored.last_active < _granularity(stored.idle_timeout):
                return
            fresh = dataclasses.replace(stored, last_active=now)
            await self._store.compare_and_set(key, fresh.encode(), kv.mod_revision)

    async def end(self, token: str | None) -> bool:
        """Log out: delete the session's record (every member's copy drops it). False if there was none."""
        if not token:
            return False
        kv = await self._store.get(_key(token))
        if kv is None:
            return False
        try:
            await self._store.compare_and_delete(kv.key, kv.mod_revision)
        except CompareFailed:
            return False
        await self._cache.wait_until(lambda: self._cache.get(kv.key) is None, self._visibility_timeout)
        return True

    def count(self) -> int:
        """Sessions not yet expired (for the overview)."""
        now = self._clock()
        return sum(
            1
            for key, _ in self._cache.items(SESSIONS_PREFIX)
            if (s := self._cache.decode(key, ConsoleSession.decode)) is not None and s.ends_at() > now
        )

    async def _prune(self, now: float) -> None:
        """Delete a few expired sessions (each login does; no timer needed, nothing else reads them)."""
        expired = [
            key
            for key, _ in self._cache.items(SESSIONS_PREFIX)
            if (s := self._cache.decode(key, ConsoleSession.decode)) is not None and s.ends_at() <= now
        ]
        for key in expired[:_PRUNE_BATCH]:
            kv = await self._store.get(key)
            if kv is not None:
                with contextlib.suppress(CompareFailed):  # another member pruned it first
                    await self._store.compare_and_delete(key, kv.mod_revision)
