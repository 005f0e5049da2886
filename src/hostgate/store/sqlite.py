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
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import (
    CompareFailed,
    DataDirError,
    NotSupported,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from hostgate.store.base import EventKind, KeyValue, MemberInfo, Store, StoreEvent, StoreStatus

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
    ) -> None:
        self.path = path
        self._member_name = member_name
        self._clock = clock
        self._history = history
        self._sweep_interval = sweep_interval
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
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="sqlite-lease-sweeper")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, fn)
        except RuntimeError as exc:  # executor shut down under us
            raise StoreUnavailable(f"the store {self.path} is closed") from exc

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

    def _write(self, change: Callable[[sqlite3.Connection, int], list[StoreEvent]]) -> int:
        """Run ``change(db, next_revision)`` in one transaction; publish its events. Returns the revision."""
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            revision = self._revision + 1
            events = change(db, revision)
            if not events:
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
        return await self._run(lambda: self._write(self._put_change(key, value, lease)))

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

        return await self._run(lambda: self._write(change))

    async def compare_and_delete(self, key: str, expected_revision: int) -> None:
        delete = self._delete_change(key, [])

        def change(db: sqlite3.Connection, revision: int) -> list[StoreEvent]:
            self._compare(db, "compare-and-delete", key, expected_revision)
            return delete(db, revision)

        await self._run(lambda: self._write(change))

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
