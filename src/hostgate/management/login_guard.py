"""Password checks that cannot freeze the server: argon2 off the event loop, bounded, and slowed after failures.

argon2 (64 MiB, t=3, p=4) costs ~0.1 s of CPU per check. Run on the event loop, 16 clients sending wrong
passwords made ``/health`` take seconds (issue #15, finding 3). So:

* a check runs on a small thread pool (argon2-cffi releases the GIL), at most ``login_workers`` at once, and at
  most ``login_queue`` wait for a worker; beyond that the answer is 429 at once (no unbounded queue);
* a password verified before (within ``REMEMBER_VERIFIED``, 60 s) is recognised by a keyed digest of it
  (``Authenticator.recall``), with no argon2;
* failures are counted per user name and per source address: after ``login_free_failures`` each further one
  blocks the key for an exponentially growing delay (``login_backoff`` doubling up to ``login_backoff_max``),
  and ``lockout_failures`` consecutive failures lock the user name for ``lockout_seconds``. A blocked key is
  answered 429 with ``Retry-After`` before any check, even for a right password, so a lockout is not a cheap
  oracle. A success clears the user's and the source's counts;
* every refusal (401 or 429) is answered after ``login_fail_delay`` seconds, so that a client flooding one
  connection cannot make the server answer it more than a few times a second;
* failed logins are logged with user name and source address, never the password; they and lockouts go to the
  audit trail too, failures rate-limited per user and address (login_audit.py) so that guessing does not turn
  into store writes.

The counters are this member's memory only (bounded, least recently used dropped first); an attacker that
spreads its guesses over the members gets each member's allowance. Shared counters would need a store write
per failed login, which is the amplification this module exists to prevent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.config.settings import SecuritySettings
from hostgate.errors import AuthenticationFailed, TooManyAttempts
from hostgate.management.audit import AuditTrail
from hostgate.management.login_audit import LoginAudit
from hostgate.management.records import UserRecord
from hostgate.management.security import Authenticator, Principal

__all__ = ["LoginGuard"]

log = logging.getLogger("hostgate.security")

_TRACKED = 10_000  # keys per table: bounded memory whatever names and addresses an attacker sends
_FORGET_AFTER = 900.0  # seconds without a failure after which a key's count starts again from zero


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


def _yield_to_the_loop() -> None:
    """Run this worker thread at the lowest CPU priority: on Linux ``nice`` is per thread and inherited by the
    threads argon2 starts for its lanes (p=4), so password checks take only CPU the event loop leaves over
    (bench/abuse.py: /health p99 under 64 flooding addresses). Elsewhere, or without permission, nothing
    changes."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


@dataclass(slots=True)
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class _Table:
    """Failure counts of one kind of key (user names, or source addresses), least recently used dropped."""

    def __init__(self, limit: int = _TRACKED) -> None:
        self._entries: OrderedDict[str, _Failures] = OrderedDict()
        self._limit = limit

    def blocked_for(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        return max(0.0, entry.blocked_until - now) if entry is not None else 0.0

    def fail(self, key: str, now: float) -> _Failures:
        entry = self._entries.pop(key, None)
        if entry is None or now - entry.last > _FORGET_AFTER:
            entry = _Failures()
        entry.count += 1
        entry.last = now
        self._entries[key] = entry
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        return entry

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class LoginGuard:
    """Checks HTTP Basic credentials for the API without blocking the event loop (see the module doc)."""

    def __init__(
        self,
        authenticator: Authenticator,
        policy: SecuritySettings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        audit: AuditTrail | None = None,
    ) -> None:
        self._auth = authenticator
        # Failures (rate-limited per user and address) and lockouts in the audit trail (login_audit.py).
        self._audit = LoginAudit(audit, clock=clock) if audit is not None else None
        self._policy = policy
        self._clock = clock
        self._users = _Table()
        self._sources = _Table()
        self._executor = ThreadPoolExecutor(
            max_workers=policy.login_workers, thread_name_prefix="argon2", initializer=_yield_to_the_loop
        )
        self._slots = asyncio.Semaphore(policy.login_workers)
        self._waiting = 0
        self._user_turns: dict[str, _Turn] = {}
        self._source_turns: dict[str, _Turn] = {}
        # Metrics hook (hostgate/metrics.py, set by `hostgate server`): each refused login, by who checked it.
        self.on_failure: Callable[[str], None] | None = None

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._auth.directories.close()

    def _refuse_if_blocked(self, user: str, source: str) -> None:
        now = self._clock.monotonic()
        wait = max(self._users.blocked_for(user.lower(), now), self._sources.blocked_for(source, now))
        if wait > 0:
            raise TooManyAttempts(
                f"too many failed logins for user {user!r} or from {source}; retry in {math.ceil(wait)} s",
                retry_after=wait,
            )

    def remembered(self, user: str, password: str, source: str) -> Principal | None:
        """The principal when this very password was verified recently and neither the user nor the address is
        blocked, with no await (the gate's fast path: most requests of a busy client); ``None``: take
        :meth:`authenticate`, which refuses a blocked key, checks anew, and counts."""
        now = self._clock.monotonic()
        if self._users.blocked_for(user.lower(), now) > 0 or self._sources.blocked_for(source, now) > 0:
            return None  # a lockout holds even for a right password: authenticate() answers it, late
        known = self._auth.recall(user, password)[1]
        if known is not None:
            self._succeeded(user, source)
        return known

    async def authenticate(self, user: str, password: str, source: str) -> Principal:
        try:
            return await self._authenticate(user, password, source)
        except (AuthenticationFailed, TooManyAttempts):
            # Every refusal is answered late (PAM's pam_faildelay idea): a flooding client then costs the
            # server a sleeping coroutine per connection instead of a request per millisecond (bench/abuse.py).
            await asyncio.sleep(self._policy.login_fail_delay)
            raise

    async def _authenticate(self, user: str, password: str, source: str) -> Principal:
        self._refuse_if_blocked(user, source)
        record, known = self._auth.recall(user, password)
        if known is not None:
            self._succeeded(user, source)
            return known
        # One uncached check per user name and per address at a time: the others wait (cheaply) and then see
        # either the block the first one's failure set, or the cached success of a right password. Without
        # this, 64 parallel guesses all pass the block check before the first failure is counted.
        async with self._turn(self._user_turns, user.lower()), self._turn(self._source_turns, source):
            self._refuse_if_blocked(user, source)
            record, known = self._auth.recall(user, password)
            if known is not None:
                self._succeeded(user, source)
                return known
            return await self._check(record, user, password, source)

    async def _check(self, record: UserRecord | None, user: str, password: str, source: str) -> Principal:
        if self._waiting >= self._policy.login_queue + self._policy.login_workers:
            raise TooManyAttempts("the server is busy checking passwords; retry shortly", retry_after=1.0)
        self._waiting += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                verified = await loop.run_in_executor(self._executor, Authenticator.verify, record, password)
        finally:
            self._waiting -= 1
        if record is None and self._auth.directories.configured:
            return await self._check_directories(user, password, source)
        try:
            principal = self._auth.admit(record, password, verified)
        except AuthenticationFailed:
            self._failed(user, source, "local account")
            raise
        self._succeeded(user, source)
        return principal

    async def _check_directories(self, user: str, password: str, source: str) -> Principal:
        """No local account of that name: the directories, in order (management/ldap/provider.py). A refusal
        counts as a failed login; a directory that is down does not (the user guessed nothing)."""
        try:
            identity = await self._auth.directories.authenticate(user, password)
        except AuthenticationFailed:
            self._failed(user, source, "directory")
            raise
        self._succeeded(user, source)
        log.info("user %r authenticated by directory %r from %s", user, identity.directory, source)
        return self._auth.principal(identity.user, identity.groups, identity.group_dns)

    @contextlib.asynccontextmanager
    async def _turn(self, turns: dict[str, _Turn], key: str) -> AsyncIterator[None]:
        turn = turns.get(key)
        if turn is None:
            turn = turns[key] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if turn.users == 0:
                del turns[key]  # bounded: only keys with a request in progress are kept

    def _succeeded(self, user: str, source: str) -> None:
        if self._audit is not None:
            self._audit.succeeded(user, source)
        self._users.clear(user.lower())
        self._sources.clear(source)

    def _failed(self, user: str, source: str, checked_by: str) -> None:
        if self._audit is not None:
            self._audit.failed(user, source, checked_by)
        if self.on_failure is not None:
            self.on_failure(checked_by)
        now = self._clock.monotonic()
        p = self._policy
        # Lower case: accounts are looked up case-insensitively (records.user_key), so "Admin" is "admin".
        by_user = self._users.fail(user.lower(), now)
        by_source = self._sources.fail(source, now)
        for entry in (by_user, by_source):
            extra = entry.count - p.login_free_failures
            if extra > 0:
                delay = min(p.login_backoff * 2 ** min(extra - 1, 30), p.login_backoff_max)
                entry.blocked_until = max(entry.blocked_until, now + delay)
        if by_user.count >= p.lockout_failures:
            by_user.blocked_until = max(by_user.blocked_until, now + p.lockout_seconds)
            if by_user.count == p.lockout_failures:
                log.warning(
                    "user %r locked out for %.0f s after %d failed logins (last from %s)",
                    user, p.lockout_seconds, by_user.count, source,
                )  # fmt: skip
                if self._audit is not None:
                    self._audit.locked_out(user, source, by_user.count, p.lockout_seconds)
        # Never the password: a mistyped one is often a real one with a typo.
        log.warning(
            "failed login for user %r from %s (%d for the user, %d from the address)",
            user, source, by_user.count, by_source.count,
        )  # fmt: skip
