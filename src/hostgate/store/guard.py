"""Write guards: what makes a hedged write safe to send to two members (docs/architecture.md, "Hedged writes").

The staggered dialer may send one write to two members. Each call therefore carries a client-generated
idempotency key and an absolute deadline; the management API opens a :class:`WriteGuard` for the request
(:func:`guarding`), and while it is active every store write of that request (``put``, ``delete``,
``compare_and_set``, ``compare_and_delete``) is applied **together with a record of the key, in the same
transaction** (one etcd txn, one SQLite transaction):

- the first write of a call succeeds only if no record of its key exists yet, and writes the record;
- later writes of the same call succeed only if the record is still the one this call wrote;
- so of two attempts of one call, exactly one applies anything; the other gets :class:`DuplicateWrite`
  carrying the winner's record, and answers with the winner's answer once it is recorded.

Every store call made under a guard is bounded by the guard's deadline, and a write is refused with
``DeadlineExpired`` once it has passed (checked on receipt and again just before the write).

Records expire after :data:`RETENTION` seconds (an etcd lease shared by all records of a minute; an expiry
column in SQLite). A member honours a deadline at most :data:`MAX_HORIZON` seconds ahead of its own clock, so
no attempt can outlive the record of its own key: ``MAX_HORIZON + write_timeout + clock skew < RETENTION``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hostgate.errors import DeadlineExpired, StoreCorrupt

__all__ = [
    "IDEMPOTENCY_PREFIX",
    "MAX_HORIZON",
    "RETENTION",
    "DuplicateWrite",
    "WriteGuard",
    "WriteRecord",
    "active_guard",
    "guarding",
    "idempotency_path",
    "note_unseen",
    "valid_key",
]

log = logging.getLogger("hostgate.store.guard")

# Outside the configuration prefix (/hostgate/), so the members' in-memory copies never hold these records.
IDEMPOTENCY_PREFIX = "/hostgate-writes/"
RETENTION = 300.0
MAX_HORIZON = 120.0
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-.:]{16,128}$")

_CURRENT: contextvars.ContextVar[WriteGuard | None] = contextvars.ContextVar(
    "hostgate_write_guard", default=None
)


def valid_key(key: str) -> bool:
    """An idempotency key hostgate accepts: 16 to 128 URL-safe characters (a UUID or 128 random bits)."""
    return bool(_KEY_RE.match(key))


def idempotency_path(key: str) -> str:
    return IDEMPOTENCY_PREFIX + key


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """What the store keeps for one idempotency key: who applied it and, once known, the answer it gave.

    ``fingerprint`` identifies the request (method, path, user, body), so a key reused for another request
    is refused instead of answered with an unrelated answer; it is recorded with the answer ("done").
    """

    owner: str
    member: str
    fingerprint: str
    state: str = "pending"  # "pending" until the answer is recorded, then "done"
    status: int = 0
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def done(self) -> bool:
        return self.state == "done"

    def encode(self) -> bytes:
        raw = {
            "owner": self.owner,
            "member": self.member,
            "fingerprint": self.fingerprint,
            "state": self.state,
            "status": self.status,
            "body": self.body,
            "headers": [list(h) for h in self.headers],
        }
        return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, key: str, raw: bytes) -> WriteRecord:
        try:
            d = json.loads(raw)
            return cls(
                str(d["owner"]),
                str(d["member"]),
                str(d["fingerprint"]),
                str(d["state"]),
                int(d["status"]),
                d["body"],
                tuple((str(k), str(v)) for k, v in d["headers"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreCorrupt(f"the write record {key} cannot be decoded: {exc}") from exc


class DuplicateWrite(Exception):
    """Another attempt of this call (same idempotency key) already applied it; nothing was written.

    Not a ``HostgateError`` on purpose: no ``except HostgateError`` in the service may swallow it; the
    management API catches it and answers with the first attempt's answer.
    """

    def __init__(self, key: str, record: WriteRecord, revision: int) -> None:
        super().__init__(f"write {key} was already applied by {record.member} (attempt {record.owner})")
        self.key = key
        self.record = record
        self.revision = revision


@dataclass(slots=True)
class WriteGuard:
    """The state of one attempt of one write call (mutable: the revision of its record moves as it writes).

    ``revision`` is 0 until this attempt's first write stored the record; afterwards it is the record's
    revision, which the attempt's next write compares against. ``unseen_revision`` is set when the member's
    in-memory copy did not show the attempt's own write in time (answered as "visibility: pending").
    """

    key: str
    owner: str
    member: str
    fingerprint: str
    deadline: float  # wall-clock seconds, as the client sent it (clamped to MAX_HORIZON)
    revision: int = 0
    unseen_revision: int = 0
    wall: Callable[[], float] = field(default=time.time, repr=False)

    @property
    def path(self) -> str:
        return idempotency_path(self.key)

    @property
    def claimed(self) -> bool:
        return self.revision > 0

    def remaining(self) -> float:
        return self.deadline - self.wall()

    def check(self, what: str) -> float:
        """Seconds left before the deadline; ``DeadlineExpired`` (nothing applied) once it has passed."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExpired(
                f"{what}: not applied, the client's deadline passed {-left:.2f} s ago "
                f"(idempotency key {self.key})"
            )
        return left

    def pending_record(self) -> bytes:
        """The record stored with this attempt's writes (the answer is added when the call ends)."""
        return WriteRecord(self.owner, self.member, self.fingerprint).encode()

    def conflict(self, found: bytes | None, found_revision: int) -> int:
        """A guarded write's record comparison failed: our own earlier write (its revision), else raise.

        ``found`` is the record now stored under the key (``None``: gone, i.e. expired under a long call).
        """
        if found is None:
            raise DeadlineExpired(
                f"the record of idempotency key {self.key} expired while the call was still writing; "
                "nothing more was applied"
            )
        record = WriteRecord.decode(self.path, found)
        if record.owner == self.owner:
            return found_revision  # a retried request of ours that had applied after all
        raise DuplicateWrite(self.key, record, found_revision)


def active_guard() -> WriteGuard | None:
    """The guard of the write call running in this task, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def guarding(guard: WriteGuard) -> Iterator[WriteGuard]:
    """Make ``guard`` apply to every store call of this task (and of tasks it starts) until the block ends."""
    token = _CURRENT.set(guard)
    try:
        yield guard
    finally:
        _CURRENT.reset(token)


def note_unseen(revision: int) -> None:
    """This member's copy did not show ``revision`` in time: the answer will say "visibility: pending".

    The write IS committed; an error here would only tempt a retry of a change that was made.
    """
    log.warning(
        "this member's copy has not shown revision %d yet; answering with visibility pending", revision
    )
    guard = _CURRENT.get()
    if guard is not None:
        guard.unseen_revision = max(guard.unseen_revision, revision)
