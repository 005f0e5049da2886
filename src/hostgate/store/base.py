"""The ``Store`` contract: what management servers may ask of replicated storage.

Two backends implement it (``sqlite.SqliteStore`` for a single server, ``etcd.EtcdStore`` for a cluster) and
both pass the conformance suite in ``tests/store/``; code above this layer cannot tell them apart.

Semantics every backend guarantees:

- **Keys** are ``str`` paths (``/hostgate/cluster/info``); **values** are ``bytes``. Each key carries a
  ``mod_revision``: a store-wide, strictly increasing integer assigned by the write that last changed it.
- **Atomicity**: ``put``, ``delete`` and ``compare_and_set`` are each atomic; ``compare_and_set`` is a
  single-key transaction on revisions (``expected_revision=0`` means "the key must not exist").
- **Linearizable writes** and, by default, linearizable reads; ``serializable=True`` reads the local copy
  (may be stale, works without a quorum).
- **Ordering**: ``watch_prefix`` yields every change under a prefix after ``start_revision`` in revision
  order, without gaps, until cancelled.
- **Leases**: a key put with a lease disappears when the lease expires or is revoked.
- **Guarded writes** (``store.guard``): while a ``WriteGuard`` is active in the calling task, ``put``,
  ``delete``, ``compare_and_set`` and ``compare_and_delete`` also write the guard's idempotency record in the
  same transaction, and apply nothing if another attempt of the same call has written it (``DuplicateWrite``
  with that record) or if the guard's deadline has passed (``DeadlineExpired``). Every store call under a
  guard is bounded by its deadline. Records expire ``RETENTION`` seconds (at least) after their last write.
- **Ranges** (``put_many``, ``get_range``, ``count_range``, ``delete_range``): keys ``start <= key < end`` in
  byte order, for records kept outside the in-memory copy (the audit trail, management/audit.py). They are
  never guarded: ``put_many`` is one atomic write (one revision) of distinct keys, safe to repeat.
- **Errors**: an unreachable backend raises ``StoreUnavailable``; a write that cannot reach a majority
  raises ``QuorumLost`` within ``write_timeout`` (it never blocks forever); a failed comparison raises
  ``CompareFailed``; an operation a backend cannot do raises ``NotSupported``. No third-party exception
  escapes a backend.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hostgate.errors import NotSupported

__all__ = ["EventKind", "KeyValue", "MemberInfo", "Store", "StoreEvent", "StoreStatus"]


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    lease: int = 0


class EventKind(StrEnum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class StoreEvent:
    kind: EventKind
    key: str
    value: bytes  # empty for DELETE
    mod_revision: int


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One member of the store's own membership (an etcd member; the SQLite file's single member)."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    # A raft learner (etcd 3.4+): receives the log, does not vote and does not count towards the majority.
    is_learner: bool = False


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """What the member this store talks to says about itself."""

    member_id: int
    leader_id: int  # 0 when there is no leader (no quorum)
    revision: int
    version: str
    is_learner: bool = False  # the member is a raft learner, not yet promoted to a voter


class Store(abc.ABC):
    """Async key-value store with revisions, prefix watch, leases and membership."""

    # How long each request took, by kind ("read" or "write"; retries included): ``hostgate server`` sets
    # it to its metrics' store timer (hostgate/metrics.py); a store used elsewhere times nothing.
    timer: Callable[[str, float], None] | None = None

    def time_requests(self, timer: Callable[[str, float], None]) -> None:
        """Report each request's duration to ``timer(kind, seconds)`` from now on."""
        self.timer = timer

    @abc.abstractmethod
    async def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        """The key's current value, or ``None``."""

    @abc.abstractmethod
    async def get_prefix(self, prefix: str, *, serializable: bool = False) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` (sorted by key) and the store revision the snapshot was taken at."""

    @abc.abstractmethod
    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        """Write unconditionally; returns the new ``mod_revision``."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete; ``True`` if the key existed."""

    @abc.abstractmethod
    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Write every ``(key, value)`` (distinct keys, at most 100) in one atomic write; the new revision.

        Not guarded (it ignores an active write guard) and *at least once*, like ``put``.
        """

    @abc.abstractmethod
    async def get_range(
        self, start: str, end: str, *, limit: int = 0, descending: bool = False, serializable: bool = False
    ) -> list[KeyValue]:
        """Keys ``start <= key < end`` in key order (reversed if ``descending``), at most ``limit`` (0: all)."""

    @abc.abstractmethod
    async def count_range(self, start: str, end: str, *, serializable: bool = False) -> int:
        """How many keys ``start <= key < end`` hold."""

    @abc.abstractmethod
    async def delete_range(self, start: str, end: str) -> int:
        """Delete every key ``start <= key < end`` in one atomic write; how many there were. Not guarded."""

    @abc.abstractmethod
    async def compare_and_set(self, key: str, value: bytes, expected_revision: int, *, lease: int = 0) -> int:
        """Write only if the key's ``mod_revision`` is ``expected_revision`` (0: key absent).

        Returns the new revision; raises ``CompareFailed`` otherwise (nothing written).
        """

    @abc.abstractmethod
    async def compare_and_delete(self, key: str, expected_revision: int) -> None:
        """Delete only if the key's ``mod_revision`` is ``expected_revision``; else ``CompareFailed``."""

    @abc.abstractmethod
    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        """Every change under ``prefix`` with revision >= ``start_revision``, in order, until cancelled.

        Raises ``StoreUnavailable`` from the iterator when the watch cannot continue without a gap
        (the caller then re-reads with ``get_prefix`` and watches again).
        """

    @abc.abstractmethod
    async def idempotency_record(self, key: str) -> KeyValue | None:
        """The (unexpired) record of idempotency key ``key``, read linearizably, or ``None``."""

    @abc.abstractmethod
    async def complete_idempotency_record(self, key: str, value: bytes, expected_revision: int) -> None:
        """Replace the record of ``key`` with ``value`` (the call's answer) if it is still at ``expected_revision``.

        Not guarded, and it does not restart the record's retention. ``CompareFailed`` if the record changed.
        """

    @abc.abstractmethod
    async def grant_lease(self, ttl: float) -> int:
        """A new lease id that expires ``ttl`` seconds from now unless refreshed."""

    @abc.abstractmethod
    async def refresh_lease(self, lease: int) -> None:
        """Push the lease's expiry ``ttl`` seconds into the future; ``StoreError`` if it already expired."""

    @abc.abstractmethod
    async def revoke_lease(self, lease: int) -> None:
        """Expire the lease now, deleting its keys."""

    @abc.abstractmethod
    async def members(self) -> list[MemberInfo]:
        """The store's membership."""

    @abc.abstractmethod
    async def add_member(
        self, peer_urls: list[str], *, learner: bool = False
    ) -> tuple[MemberInfo, list[MemberInfo]]:
        """Add a (not yet started) member, as a non-voting learner if asked; returns it and the new list."""

    @abc.abstractmethod
    async def remove_member(self, member_id: int) -> None:
        """Remove a member from the membership."""

    async def move_leader(self, member_id: int) -> None:
        """Hand the leadership to member ``member_id`` (etcd's MoveLeader); the default refuses.

        Only a replicated store has a leader to move: ``NotSupported`` here (a lone SQLite server)."""
        raise NotSupported(
            "a lone server's SQLite store has one member and no leader to move; move-leader needs an etcd cluster"
        )

    @abc.abstractmethod
    async def status(self, client_url: str | None = None) -> StoreStatus:
        """Status of the member at ``client_url`` (default: the member this store object talks to).

        Answers within a short timeout; an unreachable member raises ``StoreUnavailable``.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and background tasks; the object is unusable afterwards."""
