"""The write path of every face: one guarded call per write request, the first answer for its duplicates.

A client may send one write to two members (the staggered dialer hedges). Each request therefore carries
``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header: the same key for every attempt of one call, a
new key per call) and ``X-Hostgate-Deadline`` (absolute, seconds since the epoch). :class:`WriteCalls` runs
the request's handler under a :class:`~hostgate.store.guard.WriteGuard`, so every store write the service
makes for it is recorded with the key in the same transaction (``store.guard``), then stores the answer in
that record. An attempt that finds the key already applied does nothing and answers with the first answer
(``X-Hostgate-Replayed: true``), waiting for it while the first attempt is still running, up to its deadline
(then ``WriteInProgress``). A request whose deadline has passed is refused (``DeadlineExpired``) on receipt and
again just before the store write.

Also here: a write the member's copy has not shown within the wait is answered as a success with
``X-Hostgate-Visibility: pending`` and ``"visibility": "pending"`` in the body (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import (
    DeadlineExpired,
    HostgateError,
    SecurityError,
    TooManyAttempts,
    UsageError,
    WriteInProgress,
)
from hostgate.store.base import Store
from hostgate.store.guard import (
    MAX_HORIZON,
    DuplicateWrite,
    WriteGuard,
    WriteRecord,
    guarding,
    valid_key,
)

# Never holds a value: a refused call's guarded delete of it stores the call's record and nothing else.
_CLAIM_ONLY_KEY = "/hostgate-writes-claim"

__all__ = [
    "DEADLINE_HEADER",
    "DEFAULT_DEADLINE",
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "VISIBILITY_HEADER",
    "WriteAnswer",
    "WriteCalls",
    "fingerprint",
    "json_body",
]

log = logging.getLogger("hostgate.management.writes")

IDEMPOTENCY_HEADER = "Idempotency-Key"
DEADLINE_HEADER = "X-Hostgate-Deadline"
REPLAYED_HEADER = "X-Hostgate-Replayed"
VISIBILITY_HEADER = "X-Hostgate-Visibility"
DEFAULT_DEADLINE = 30.0  # for a request that names none (curl, an older client): it is not hedged either
# A duplicate waiting for the first attempt's answer polls the record, backing off: the first attempt usually
# answers within a store write or two, but its member may be slow (argon2, a lagging copy).
_REPLAY_POLL_FIRST = 0.05
_REPLAY_POLL_MAX = 0.5


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    """An HTTP answer as the write path keeps it: status, JSON body (``None``: empty) and extra headers."""

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of_error(cls, exc: HostgateError) -> WriteAnswer:
        if isinstance(exc, TooManyAttempts):  # a lockout met inside a write (`user passwd`) says when, too
            return cls(
                exc.http_status, exc.to_payload(), (("Retry-After", str(max(1, math.ceil(exc.retry_after)))),)
            )
        return cls(exc.http_status, exc.to_payload())


def fingerprint(method: str, path: str, authorization: str, body: bytes) -> str:
    """What identifies a request besides its key: method, path, user name (never the password) and body; for
    a bearer token (a CLI login) a digest of the token, which names the user and is the same for every
    attempt of a call."""
    user = ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0].lower()
        except (binascii.Error, UnicodeDecodeError):
            user = ""
    elif scheme.lower() == "bearer":
        user = "bearer:" + hashlib.sha256(value.strip().encode()).hexdigest()
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), user.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class WriteCalls:
    """Runs write requests as guarded calls against ``store`` (one per member, shared by its faces)."""

    def __init__(self, store: Store, member: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._store = store
        self._member = member
        self._clock = clock

    def open(self, key: str | None, deadline: str | None, what: str) -> WriteGuard:
        """The guard of one received request; ``DeadlineExpired`` at once when its deadline has passed."""
        now = self._clock.wall()
        if key is None:
            key = uuid.uuid4().hex  # an unhedged client: nothing to match, but the call is still recorded
        elif not valid_key(key.strip('"')):
            raise UsageError(
                f"{IDEMPOTENCY_HEADER} {key[:40]!r} is not 16-128 letters, digits, '-', '_', '.' or ':'",
                hint="Send a new random key (a UUID) with every call, the same one with each of its retries.",
            )
        if deadline is None:
            until = now + DEFAULT_DEADLINE
        else:
            try:
                until = float(deadline)
            except ValueError:
                until = math.nan
            if not math.isfinite(until):
                raise UsageError(f"{DEADLINE_HEADER} {deadline[:40]!r} is not seconds since the epoch")
            # Honoured at most MAX_HORIZON ahead, so no attempt outlives its key's record (RETENTION).
            until = min(until, now + MAX_HORIZON)
        guard = WriteGuard(
            key.strip('"'),
            f"{self._member}/{uuid.uuid4().hex}",
            self._member,
            "",  # the fingerprint is taken once the handler has read the body (authenticate before reading)
            until,
            wall=self._clock.wall,
        )
        guard.check(what)
        return guard

    async def run(
        self,
        guard: WriteGuard,
        call: Callable[[], Awaitable[WriteAnswer]],
        print_: Callable[[], Awaitable[str]],
    ) -> WriteAnswer:
        """``call()`` under ``guard``: its answer (errors included) recorded with the key, or the first answer.

        ``print_()`` is the request's :func:`fingerprint`, asked for only after ``call()`` has run.
        """
        try:
            with guarding(guard):
                try:
                    answer = await call()
                except HostgateError as exc:
                    answer = WriteAnswer.of_error(exc)
                    if not guard.claimed and not isinstance(exc, SecurityError | DeadlineExpired):
                        # A refusal claims the key too (a guarded no-op write records it), so that another
                        # attempt of this call, held up by a hung or cut-off member, cannot apply the call
                        # later, after the client was told it failed (found by the nemesis suite: a hedged
                        # create answered "already exists", its stalled twin created the key after a later
                        # delete). If another attempt claimed it first, its answer is ours: DuplicateWrite.
                        await self._claim_refusal(guard)
        except DuplicateWrite as dup:
            guard.fingerprint = await print_()
            return await self._replay(guard, dup.record)
        if guard.unseen_revision:
            answer = _pending_visibility(answer)
        if guard.claimed:
            guard.fingerprint = await print_()
            record = WriteRecord(
                guard.owner,
                guard.member,
                guard.fingerprint,
                "done",
                answer.status,
                answer.body,
                answer.headers,
            )
            try:
                await self._store.complete_idempotency_record(guard.key, record.encode(), guard.revision)
            except HostgateError as exc:
                # The write stands; a duplicate of this call then answers WriteInProgress instead of our answer.
                log.warning("could not record the answer of idempotency key %s: %s", guard.key, exc)
        return answer

    async def _claim_refusal(self, guard: WriteGuard) -> None:
        """Record this attempt's refusal under the key; raises ``DuplicateWrite`` if another attempt applied."""
        try:
            await self._store.delete(
                _CLAIM_ONLY_KEY
            )  # guarded: stores this attempt's record, deletes nothing
        except HostgateError as exc:
            # The refusal stands; a stalled twin can still apply (the store was unreachable for us too).
            log.warning("could not record the refusal of idempotency key %s: %s", guard.key, exc)
            await self._raise_if_applied(guard)

    async def _raise_if_applied(self, guard: WriteGuard) -> None:
        try:
            kv = await self._store.idempotency_record(guard.key)
        except HostgateError:
            return  # the original error stands
        if kv is not None:
            raise DuplicateWrite(guard.key, WriteRecord.decode(kv.key, kv.value), kv.mod_revision)

    async def _replay(self, guard: WriteGuard, record: WriteRecord) -> WriteAnswer:
        pause = _REPLAY_POLL_FIRST
        while not record.done:
            left = guard.remaining()
            if left <= 0:
                raise WriteInProgress(
                    f"idempotency key {guard.key}: member {record.member} applied this request, and its answer "
                    "was not recorded before your deadline"
                )
            await asyncio.sleep(min(pause, left))  # poll interval, bounded by the client's deadline
            pause = min(pause * 2, _REPLAY_POLL_MAX)
            try:
                kv = await asyncio.wait_for(self._store.idempotency_record(guard.key), max(left, 0.01))
            except (HostgateError, TimeoutError):
                continue
            if kv is None:
                raise WriteInProgress(
                    f"idempotency key {guard.key}: member {record.member} applied this request; its record "
                    "expired before its answer was recorded"
                )
            record = WriteRecord.decode(kv.key, kv.value)
        if record.fingerprint != guard.fingerprint:
            raise UsageError(
                f"{IDEMPOTENCY_HEADER} {guard.key} was already used for another request (method, path, user "
                "or body differ)",
                hint="Send a new key with every call; repeat a key only to retry the very same request.",
            )
        log.info(
            "idempotency key %s was applied by %s; this attempt answers with its answer (HTTP %d) and applies "
            "nothing",
            guard.key,
            record.member,
            record.status,
        )
        return WriteAnswer(record.status, record.body, (*record.headers, (REPLAYED_HEADER, "true")))


def _pending_visibility(answer: WriteAnswer) -> WriteAnswer:
    if answer.status >= 400:
        return answer
    body = {**answer.body, "visibility": "pending"} if isinstance(answer.body, dict) else answer.body
    return WriteAnswer(answer.status, body, (*answer.headers, (VISIBILITY_HEADER, "pending")))


def json_body(raw: bytes) -> Any:
    """A response body as the write path records it (``None`` when empty)."""
    return json.loads(raw) if raw else None
