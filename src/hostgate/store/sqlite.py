"""``SqliteStore``: the ``Store`` contract for a single server, in one SQLite file (WAL).

One process owns the file (an ``flock`` on ``FILE.lock`` keeps a second server out) and one thread owns the
connection: every operation runs on a single-thread executor, so operations are serialised and each write
is one ``BEGIN IMMEDIATE`` transaction. Like etcd, the store keeps one revision counter; every write that
changes something takes the next revision, and its events go to the ``events`` table.

Watches are served in-process: a watcher's history replay and its registration happen in the same step on
the store's thread, and later events are handed to its queue by that thread after each commit, so a watcher
sees every event once, in revision order. The ``events`` table keeps the last ``history`` revisions; a
watch that starts before them raises ``StoreUnavailable`` (etcd's "compacted").

Leases expire on the injectable clock: a background task sweeps them and every operation first expires
what is due, so a read never returns a key whose lease has run out. On open, each lease gets its full TTL
again (what etcd does when a new leader takes over), since monotonic time does not survive a restart.

Idempotency records of guarded writes (``store.guard``) live in their own table with an ``expires_at`` column
on the wall clock (they must outlive a restart); each guarded write stores its record in the same transaction
as its change, and expired rows are deleted by the writes themselves (at most once a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import (
    CompareFailed,
    DataDirError,
    DeadlineExpired,
    NotSupported,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from hostgate.store.base import EventKind, KeyValue, MemberInfo, Store, StoreEvent, StoreStatus
from hostgate.store.guard import RETENTION, WriteGuard, active_guard

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    key BLOB PRIMARY KEY, value BLOB NOT NULL, mod_revision INTEGER NOT NULL, lease INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, revision INTEGER NOT NULL, kind TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_revision ON events (revision);
CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, ttl REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, revision INTEGER NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at);
"""
_PRUNE_EVERY = 64


def _prefix_end(prefix: bytes) -> bytes | None:
    """The first key after every key starting with ``prefix`` (``None``: no upper bound)."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


class _Claimed(Exception):
    """Internal: a guarded write found its own record (an earlier try had applied it); roll back."""

    def __init__(self, revision: int) -> None:
        super().__init__(revision)
        self.revision = revision


@dataclass(eq=False)
class _Watcher:
    prefix: bytes
    queue: asyncio.Queue[list[StoreEvent] | StoreError]
    loop: asyncio.AbstractEventLoop

    def deliver(self, item: list[StoreEvent] | StoreError) -> None:
        with contextlib.suppress(RuntimeError):  # the watcher's loop is closed: nobody is listening
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class SqliteStore(Store):
    """The store in one SQLite file, for a single management server.

    Keeps the whole ``Store`` contract (tests/store/test_conformance.py) except membership changes, which it
    refuses with ``NotSupported``. Every operation runs on the store's own thread, so no call blocks the event
    loop and operations are applied one at a time in call order; an acknowledged write is on disk
    (``synchronous=FULL``). After ``close()`` every call and running watch raises ``StoreUnavailable``.

    Example::

        store = SqliteStore(data_dir / "store.sqlite3", member_name="m1")
        revision = await store.put("/hostgate/x", b"1")
        await store.close()
    """

    def __init__(
        self,
        path: Path,
        *,
        member_name: str = "local",
        clock: Clock = SYSTEM_CLOCK,
        history: int = 10_000,
        sweep_interval: float = 0.25,
        retention: float = RETENTION,
    ) -> None:
        self.path = path
        self._member_name = member_name
        self._clock = clock
        self._history = history
        self._sweep_interval = sweep_interval
        self._retention = retention
        self._records_swept_at = 0.0  # wall clock of the last purge of expired idempotency records
        self._lock_file = self._take_lock(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hostgate-sqlite")
        # Touched only on the executor's thread:
        self._db: sqlite3.Connection | None = None
        self._revision = 0
        self._floor = 1  # the oldest revision a watch may start from
        self._member_id = 0
        self._next_expiry: float | None = None
        self._watchers: set[_Watcher] = set()
        self._writes = 0
        # Touched only on the event loop:
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    @staticmethod
    def _take_lock(path: Path) -> IO[bytes]:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(path.name + ".lock")
        f = lock_path.open("a+b")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise DataDirError(
                f"{path} is in use by another process",
                hint="Only one hostgate server may use a data directory; stop the other one first.",
            ) from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        return f

    # --- plumbing -------------------------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StoreUnavailable(f"the store {self.path} is closed")
        guard = active_guard()
        if guard is not None:
            guard.check("store call")  # every store call of a guarded request is bounded by its deadline
        if self._sweeper is None:
            # A context of its own: the first call may come from a guarded request, whose guard must not follow.
            self._sweeper = asyncio.create_task(
                self._sweep(), name="sqlite-lease-sweeper", context=contextvars.Context()
            )
        timer = self.timer
        started = time.perf_counter() if timer is not None else 0.0
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, fn)
        except RuntimeError as exc:  # executor shut down under us
            raise StoreUnavailable(f"the store {self.path} is closed") from exc
        finally:
            if timer is not None:
                # Reads are the functions named read (every query here); the rest change something.
                timer("read" if fn.__name__ == "read" else "write", time.perf_counter() - started)

    def _guarded(self, fn: Callable[[], T]) -> T:
        try:
            self._open()
            self._expire_due()
            return fn()
        except sqlite3.DatabaseError as exc:
            if self._db is not None and self._db.in_transaction:
                self._db.rollback()
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreUnavailable(f"{self.path}: {exc}") from exc
            raise StoreCorrupt(f"{self.path}: {exc}") from exc

    def _open(self) -> None:
        if self._db is not None:
            return
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a power cut
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('revision', 1), ('floor', 1)")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('member_id', ?)", (secrets.randbits(63) or 1,))
        db.execute("UPDATE leases SET expires_at = ? + ttl", (self._clock.monotonic(),))
        db.execute("COMMIT")
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        self._db = db
        self._revision, self._floor, self._member_id = meta["revision"], meta["floor"], meta["member_id"]
        self._next_expiry = db.execute("SELECT MIN(expires_at) FROM leases").fetchone()[0]

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None and threading.current_thread().name.startswith("hostgate-sqlite")
        return self._db

    def _write(
        self,
        change: Callable[[sqlite3.Connection, int], list[StoreEvent]],
        *,
        keep_without_events: bool = False,
    ) -> int:
        """Run ``change(db, next_revision)`` in one transaction; publish its events. Returns the revision.

        A change without events is rolled back unless ``keep_without_events`` (a guarded write's record).
        """
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            revision = self._revision + 1
            events = change(db, revision)
            if not events and not keep_without_events:
                db.execute("ROLLBACK")
                return self._revision
            db.executemany(
                "INSERT INTO events (revision, kind, key, value) VALUES (?, ?, ?, ?)",
                [(e.mod_revision, str(e.kind), e.key.encode(), e.value) for e in events],
            )
            db.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
            self._writes += 1
            if self._writes % _PRUNE_EVERY == 0 and revision - self._history + 1 > self._floor:
                self._set_floor(db, revision - self._history + 1)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._revision = revision
        self._publish(events)
        return revision

    def _set_floor(self, db: sqlite3.Connection, floor: int) -> None:
        db.execute("DELETE FROM events WHERE revision < ?", (floor,))
        db.execute("UPDATE meta SET value = ? WHERE name = 'floor'", (floor,))
        self._floor = floor

    def _publish(self, events: list[StoreEvent]) -> None:
        for w in self._watchers:
            prefix = w.prefix.decode()
            batch = [e for e in events if e.key.startswith(prefix)]
            if batch:
                w.deliver(batch)

    # --- leases (store thread) ------------------------------------------------------------------------------

    def _expire_due(self) -> None:
        now = self._clock.monotonic()
        if self._next_expiry is None or now < self._next_expiry:
            return
        db = self._conn
        due = [row[0] for row in db.execute("SELECT id FROM leases WHERE expires_at <= ?", (now,))]
        for lease in due:
            self._revoke(lease)
        self._next_expiry = db.execute("SELECT MIN(expires_at) FROM leases").fetchone()[0]

    def _revoke(self, lease: int) -> None:
        """Delete the lease and its keys: one revision for all of them, as etcd does."""
        db = self._conn
        keys = [bytes(r[0]) for r in db.execute("SELECT key FROM kv WHERE lease = ? ORDER BY key", (lease,))]
        if not keys:  # no key, no event, no revision
            db.execute("DELETE FROM leases WHERE id = ?", (lease,))
            return

        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            db.execute("DELETE FROM kv WHERE lease = ?", (lease,))
            db.execute("DELETE FROM leases WHERE id = ?", (lease,))
            return [StoreEvent(EventKind.DELETE, k.decode(), b"", revision) for k in keys]

        self._write(change)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)  # sweep period for lease expiry
            with contextlib.suppress(StoreError):
                await self._run(lambda: None)  # _guarded expires what is due

    def _check_lease(self, db: sqlite3.Connection, lease: int) -> None:
        if lease and db.execute("SELECT 1 FROM leases WHERE id = ?", (lease,)).fetchone() is None:
            raise StoreError(f"lease {lease:x} not found (expired or revoked)")

    # --- key-value ------------------------------------------------------------------------------------------

    async def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        def read() -> KeyValue | None:
            row = self._conn.execute(
                "SELECT value, mod_revision, lease FROM kv WHERE key = ?", (key.encode(),)
            ).fetchone()
            return KeyValue(key, bytes(row[0]), row[1], row[2]) if row else None

        return await self._run(read)

    async def get_prefix(self, prefix: str, *, serializable: bool = False) -> tuple[list[KeyValue], int]:
        def read() -> tuple[list[KeyValue], int]:
            start = prefix.encode()
            end = _prefix_end(start)
            sql = "SELECT key, value, mod_revision, lease FROM kv WHERE key >= ?"
            args: tuple[bytes, ...] = (start,)
            if end is not None:
                sql += " AND key < ?"
                args = (start, end)
            rows = self._conn.execute(sql + " ORDER BY key", args).fetchall()
            kvs = [KeyValue(bytes(k).decode(), bytes(v), rev, lease) for k, v, rev, lease in rows]
            return kvs, self._revision

        return await self._run(read)

    def _put_change(
        self, key: str, value: bytes, lease: int
    ) -> Callable[[sqlite3.Connection, int], list[StoreEvent]]:
        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            self._check_lease(db, lease)
            db.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)", (key.encode(), value, revision, lease)
            )
            return [StoreEvent(EventKind.PUT, key, value, revision)]

        return change

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        guard = active_guard()
        if guard is not None:
            return await self._guarded_write(f"put {key}", guard, self._put_change(key, value, lease))
        return await self._run(lambda: self._write(self._put_change(key, value, lease)))

    # --- ranges (records outside the in-memory copy: the audit trail) --------------------------------------

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        rows = [(k.encode(), v) for k, v in items]

        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            db.executemany(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, 0)", [(k, v, revision) for k, v in rows]
            )
            return [StoreEvent(EventKind.PUT, k.decode(), v, revision) for k, v in rows]

        return await self._run(lambda: self._write(change))

    async def get_range(
        self, start: str, end: str, *, limit: int = 0, descending: bool = False, serializable: bool = False
    ) -> list[KeyValue]:
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT key, value, mod_revision, lease FROM kv WHERE key >= ? AND key < ? ORDER BY key {order}"
        )

        def read() -> list[KeyValue]:
            args: tuple[bytes | int, ...] = (start.encode(), end.encode())
            rows = self._conn.execute(
                sql + (" LIMIT ?" if limit > 0 else ""), args + ((limit,) if limit > 0 else ())
            )
            return [KeyValue(bytes(k).decode(), bytes(v), rev, lease) for k, v, rev, lease in rows]

        return await self._run(read)

    async def count_range(self, start: str, end: str, *, serializable: bool = False) -> int:
        def read() -> int:
            sql = "SELECT COUNT(*) FROM kv WHERE key >= ? AND key < ?"
            return int(self._conn.execute(sql, (start.encode(), end.encode())).fetchone()[0])

        return await self._run(read)

    async def delete_range(self, start: str, end: str) -> int:
        gone: list[int] = [0]

        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            bounds = (start.encode(), end.encode())
            keys = [bytes(r[0]) for r in db.execute("SELECT key FROM kv WHERE key >= ? AND key < ?", bounds)]
            db.execute("DELETE FROM kv WHERE key >= ? AND key < ?", bounds)
            gone[0] = len(keys)
            return [StoreEvent(EventKind.DELETE, k.decode(), b"", revision) for k in keys]

        await self._run(lambda: self._write(change))
        return gone[0]

    def _current(self, db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT mod_revision FROM kv WHERE key = ?", (key.encode(),)).fetchone()
        return int(row[0]) if row else 0

    def _delete_change(
        self, key: str, found: list[bool]
    ) -> Callable[[sqlite3.Connection, int], list[StoreEvent]]:
        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            found.append(db.execute("DELETE FROM kv WHERE key = ?", (key.encode(),)).rowcount > 0)
            return [StoreEvent(EventKind.DELETE, key, b"", revision)] if found[-1] else []

        return change

    async def delete(self, key: str) -> bool:
        found: list[bool] = []
        guard = active_guard()
        if guard is not None:
            await self._guarded_write(f"delete {key}", guard, self._delete_change(key, found))
            return not found or found[-1]  # no entry: an earlier try of ours had applied it
        await self._run(lambda: self._write(self._delete_change(key, found)))
        return found[-1]

    def _compare(self, db: sqlite3.Connection, what: str, key: str, expected: int) -> None:
        current = self._current(db, key)
        if current != expected:
            found = f"revision {current}" if current else "no key"
            raise CompareFailed(f"{what} {key}: expected revision {expected}, found {found}")

    async def compare_and_set(self, key: str, value: bytes, expected_revision: int, *, lease: int = 0) -> int:
        put = self._put_change(key, value, lease)

        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            self._compare(db, "compare-and-set", key, expected_revision)
            return put(db, revision)

        guard = active_guard()
        if guard is not None:
            return await self._guarded_write(f"compare-and-set {key}", guard, change)
        return await self._run(lambda: self._write(change))

    async def compare_and_delete(self, key: str, expected_revision: int) -> None:
        delete = self._delete_change(key, [])

        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            self._compare(db, "compare-and-delete", key, expected_revision)
            return delete(db, revision)

        guard = active_guard()
        if guard is not None:
            await self._guarded_write(f"compare-and-delete {key}", guard, change)
            return
        await self._run(lambda: self._write(change))

    # --- guarded writes (hedged requests; store.guard) -------------------------------------------------------

    async def _guarded_write(
        self, what: str, guard: WriteGuard, change: Callable[[sqlite3.Connection, int], list[StoreEvent]]
    ) -> int:
        """``change`` and the guard's record in one transaction; the revision (``DuplicateWrite`` etc.)."""
        guard.check(what)
        record = guard.pending_record()

        def guarded_change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            now = self._clock.wall()
            if guard.deadline <= now:  # checked again on the store's thread, just before the write
                raise DeadlineExpired(
                    f"{what}: not applied, the client's deadline passed before it was stored"
                )
            row = db.execute(
                "SELECT value, revision FROM idempotency WHERE key = ? AND expires_at > ?", (guard.key, now)
            ).fetchone()
            found_revision = int(row[1]) if row else 0
            if found_revision != guard.revision:
                raise _Claimed(guard.conflict(bytes(row[0]) if row else None, found_revision))
            events = change(db, revision)
            db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?)",
                (guard.key, record, revision, now + self._retention),
            )
            if now - self._records_swept_at >= 1.0:
                db.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))
                self._records_swept_at = now
            return events

        def run() -> int:
            try:
                return self._write(guarded_change, keep_without_events=True)
            except _Claimed as claimed:  # an earlier try of this attempt had applied it
                return claimed.revision

        revision = await self._run(run)
        guard.revision = revision
        return revision

    async def idempotency_record(self, key: str) -> KeyValue | None:
        def read() -> KeyValue | None:
            row = self._conn.execute(
                "SELECT value, revision FROM idempotency WHERE key = ? AND expires_at > ?",
                (key, self._clock.wall()),
            ).fetchone()
            return KeyValue(key, bytes(row[0]), int(row[1])) if row else None

        return await self._run(read)

    async def complete_idempotency_record(self, key: str, value: bytes, expected_revision: int) -> None:
        def update() -> None:
            cur = self._conn.execute(
                "UPDATE idempotency SET value = ? WHERE key = ? AND revision = ? AND expires_at > ?",
                (value, key, expected_revision, self._clock.wall()),
            )
            if not cur.rowcount:
                raise CompareFailed(
                    f"the record of idempotency key {key} is no longer at {expected_revision}"
                )

        await self._run(update)

    async def compact(self, revision: int) -> None:
        """Discard history before ``revision``; watches that start earlier then raise ``StoreUnavailable``."""

        def run() -> None:
            if revision > self._revision:
                raise StoreError(f"cannot compact at {revision}: the store is at revision {self._revision}")
            if revision > self._floor:
                db = self._conn
                db.execute("BEGIN IMMEDIATE")
                self._set_floor(db, revision)
                db.execute("COMMIT")

        await self._run(run)

    # --- watch ----------------------------------------------------------------------------------------------

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        return self._watch(prefix, start_revision)

    async def _watch(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        watcher = _Watcher(prefix.encode(), asyncio.Queue(), asyncio.get_running_loop())

        def register() -> None:
            start = start_revision if start_revision > 0 else self._revision + 1
            if start < self._floor:
                raise StoreUnavailable(
                    f"watch {prefix}* from revision {start}: history before revision {self._floor} is compacted;"
                    " re-read and watch again"
                )
            if start <= self._revision:
                sql = "SELECT revision, kind, key, value FROM events WHERE revision >= ? AND key >= ?"
                args: tuple[int | bytes, ...] = (start, watcher.prefix)
                end = _prefix_end(watcher.prefix)
                if end is not None:
                    sql += " AND key < ?"
                    args = (*args, end)
                rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
                if rows:
                    watcher.deliver(
                        [
                            StoreEvent(EventKind(kind), bytes(k).decode(), bytes(v), rev)
                            for rev, kind, k, v in rows
                        ]
                    )
            self._watchers.add(watcher)

        await self._run(register)
        try:
            while True:
                item = await watcher.queue.get()
                if isinstance(item, StoreError):
                    raise item
                for event in item:
                    yield event
        finally:
            if not self._closed:
                with contextlib.suppress(RuntimeError):
                    self._executor.submit(self._watchers.discard, watcher)

    # --- leases ---------------------------------------------------------------------------------------------

    async def grant_lease(self, ttl: float) -> int:
        if ttl <= 0:
            raise StoreError(f"a lease needs a positive TTL, not {ttl}")

        def grant() -> int:
            db = self._conn
            while True:
                lease = secrets.randbits(62) or 1
                expires = self._clock.monotonic() + ttl
                cur = db.execute("INSERT OR IGNORE INTO leases VALUES (?, ?, ?)", (lease, ttl, expires))
                if cur.rowcount:
                    self._next_expiry = (
                        expires if self._next_expiry is None else min(self._next_expiry, expires)
                    )
                    return lease

        return await self._run(grant)

    async def refresh_lease(self, lease: int) -> None:
        def refresh() -> None:
            cur = self._conn.execute(
                "UPDATE leases SET expires_at = ? + ttl WHERE id = ?", (self._clock.monotonic(), lease)
            )
            if not cur.rowcount:
                raise StoreError(f"lease {lease:x} has expired or was revoked")
            self._next_expiry = self._conn.execute("SELECT MIN(expires_at) FROM leases").fetchone()[0]

        await self._run(refresh)

    async def revoke_lease(self, lease: int) -> None:
        def revoke() -> None:
            self._revoke(lease)
            self._next_expiry = self._conn.execute("SELECT MIN(expires_at) FROM leases").fetchone()[0]

        await self._run(revoke)

    # --- membership and status ------------------------------------------------------------------------------

    async def _member(self) -> MemberInfo:
        member_id = await self._run(lambda: self._member_id)
        return MemberInfo(member_id, self._member_name, (), ())

    async def members(self) -> list[MemberInfo]:
        return [await self._member()]

    async def add_member(
        self, peer_urls: list[str], *, learner: bool = False
    ) -> tuple[MemberInfo, list[MemberInfo]]:
        raise NotSupported("a single-server SQLite store has exactly one member; members cannot be added")

    async def remove_member(self, member_id: int) -> None:
        raise NotSupported("a single-server SQLite store has exactly one member; it cannot be removed")

    async def status(self, client_url: str | None = None) -> StoreStatus:
        if client_url is not None:
            raise NotSupported(f"a single-server SQLite store has no member at {client_url}")
        member_id, revision = await self._run(lambda: (self._member_id, self._revision))
        return StoreStatus(member_id, member_id, revision, f"sqlite {sqlite3.sqlite_version}")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

        def shut() -> None:
            for w in self._watchers:
                w.deliver(StoreUnavailable(f"the store {self.path} was closed"))
            self._watchers.clear()
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)
        fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
        self._lock_file.close()
