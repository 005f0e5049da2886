"""ConfigCache, in process over a real SqliteStore: what the member's in-memory copy guarantees.

- It holds exactly the keys under its prefix, as the store has them, once ``start()`` returns.
- It follows every put and delete through the watch; ``wait_for_revision`` returns once a write is shown.
- A login, the cluster record and routing read only the copy: they work while the store refuses reads.
- A broken watch is survived: the last copy is served meanwhile, and the changes made while it was broken
  (deletes too) are shown once the store answers again.
- ``decode`` decodes a stored value once and never serves a decoded record for bytes no longer stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostgate.errors import StoreUnavailable
from hostgate.management.cache import ConfigCache
from hostgate.management.records import PREFIX, UserRecord, user_key
from hostgate.management.security import Authenticator, hash_password
from hostgate.store.base import KeyValue, StoreEvent
from hostgate.store.sqlite import SqliteStore

BOUND = 10.0  # generous for a loaded 2-core machine; every wait below returns as soon as its condition holds


class FlakyStore(SqliteStore):
    """A real SqliteStore that counts reads, refuses them on demand and can break its running watches (the
    faults a member's copy must survive); writes and watches are the real store's."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, member_name="m1")
        self.reads = 0
        self.refuse_reads = False
        self.refuse_watches = False
        # A prefix read answered as a member that lags behind would answer it (the contract allows a
        # serializable read to be stale: an etcd follower that has not applied the latest writes yet).
        self.stale: tuple[list[KeyValue], int] | None = None
        self.stale_served = 0

    def _read(self) -> None:
        self.reads += 1
        if self.refuse_reads:
            raise StoreUnavailable("the test refuses reads")

    async def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        self._read()
        return await super().get(key, serializable=serializable)

    async def get_prefix(self, prefix: str, *, serializable: bool = False) -> tuple[list[KeyValue], int]:
        self._read()
        if self.stale is not None and serializable:
            self.stale_served += 1
            return self.stale
        return await super().get_prefix(prefix, serializable=serializable)

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        if self.refuse_watches:
            return self._refused_watch()
        return super().watch_prefix(prefix, start_revision)

    async def _refused_watch(self) -> AsyncIterator[StoreEvent]:
        raise StoreUnavailable("the test refuses watches")
        yield  # an async generator that fails on its first step

    async def break_watches(self) -> None:
        """End every running watch with StoreUnavailable, the way ``close()`` ends them (on the store's thread)."""

        def deliver() -> None:
            for watcher in self._watchers:
                watcher.deliver(StoreUnavailable("the test broke this watch"))

        await self._run(deliver)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FlakyStore]:
    s = FlakyStore(tmp_path / "store.sqlite3")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def cache(store: FlakyStore) -> AsyncIterator[ConfigCache]:
    await store.put(PREFIX + "a", b"1")
    await store.put("/elsewhere/b", b"2")
    c = ConfigCache(store, PREFIX, retry_delay=0.01)
    await c.start()
    try:
        yield c
    finally:
        await c.close()


async def test_start_loads_exactly_the_prefix_at_the_store_revision(
    store: FlakyStore, cache: ConfigCache
) -> None:
    assert cache.loaded.is_set()
    assert cache.items(PREFIX) == [(PREFIX + "a", b"1")]
    assert cache.get("/elsewhere/b") is None
    assert cache.revision == (await store.status()).revision


async def test_puts_and_deletes_are_shown_once_their_revision_is(
    store: FlakyStore, cache: ConfigCache
) -> None:
    revision = await store.put(PREFIX + "b", b"2")
    assert await cache.wait_for_revision(revision, BOUND)
    assert cache.get(PREFIX + "b") == b"2" and cache.revision >= revision
    await store.delete(PREFIX + "a")
    assert await cache.wait_until(lambda: cache.get(PREFIX + "a") is None, BOUND)
    assert cache.items(PREFIX) == [(PREFIX + "b", b"2")]
    # Writes outside the prefix are not copied (and do not wake anyone waiting for the copy to change).
    await store.put("/elsewhere/c", b"3")
    assert not await cache.wait_until(lambda: cache.get("/elsewhere/c") is not None, 0.2)


async def test_items_are_sorted_and_filtered_by_prefix(store: FlakyStore, cache: ConfigCache) -> None:
    for key in ("users/zed", "users/amy", "domains/prod"):
        revision = await store.put(PREFIX + key, key.encode())
    assert await cache.wait_for_revision(revision, BOUND)
    assert [k for k, _ in cache.items(PREFIX + "users/")] == [PREFIX + "users/amy", PREFIX + "users/zed"]


async def test_a_revision_never_reached_is_a_false_answer_not_a_hang(cache: ConfigCache) -> None:
    assert not await cache.wait_for_revision(cache.revision + 1_000, 0.05)
    assert await cache.wait_for_revision(cache.revision, 0.05)  # already shown: at once


async def test_decode_runs_once_per_stored_value_and_never_serves_a_stale_record(
    store: FlakyStore, cache: ConfigCache
) -> None:
    calls: list[bytes] = []

    def decoder(key: str, raw: bytes) -> str:
        calls.append(raw)
        return raw.decode()

    assert cache.decode(PREFIX + "a", decoder) == "1"
    assert cache.decode(PREFIX + "a", decoder) == "1"
    assert calls == [b"1"]
    revision = await store.put(PREFIX + "a", b"one")
    assert await cache.wait_for_revision(revision, BOUND)
    assert cache.decode(PREFIX + "a", decoder) == "one"
    await store.delete(PREFIX + "a")
    assert await cache.wait_until(lambda: cache.get(PREFIX + "a") is None, BOUND)
    assert cache.decode(PREFIX + "a", decoder) is None
    assert calls == [b"1", b"one"]


async def test_a_login_reads_only_the_copy_and_works_while_the_store_refuses_reads(
    store: FlakyStore, cache: ConfigCache
) -> None:
    revision = await store.put(
        user_key("ada"), UserRecord("ada", hash_password("pw-of-ada-1"), ("user",)).encode()
    )
    assert await cache.wait_for_revision(revision, BOUND)
    auth = Authenticator(cache)
    store.refuse_reads = True
    reads = store.reads
    principal = await asyncio.to_thread(auth.authenticate, "ada", "pw-of-ada-1")
    assert principal.name == "ada" and principal.roles == ("user",)
    assert store.reads == reads, "a login read the store"


async def test_a_broken_watch_serves_the_last_copy_then_shows_what_changed_meanwhile(
    store: FlakyStore, cache: ConfigCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hostgate.management.cache")
    revision = await store.put(PREFIX + "kept", b"k")
    assert await cache.wait_for_revision(revision, BOUND)
    store.refuse_reads = True  # the reload after the break fails too: the copy must still serve
    await store.break_watches()
    await store.delete(PREFIX + "a")
    last = await store.put(PREFIX + "new", b"n")
    # Whatever the copy shows meanwhile is a state the store had, never an empty or half-loaded copy.
    assert cache.get(PREFIX + "kept") == b"k"
    store.refuse_reads = False
    assert await cache.wait_for_revision(last, BOUND)
    assert dict(cache.items(PREFIX)) == {PREFIX + "kept": b"k", PREFIX + "new": b"n"}
    said = [r.getMessage() for r in caplog.records]
    assert any("config watch broke" in m for m in said), said  # one line each time, not silence


async def test_close_stops_following(store: FlakyStore, cache: ConfigCache) -> None:
    await cache.close()
    revision = await store.put(PREFIX + "after", b"x")
    assert not await cache.wait_for_revision(revision, 0.2)
    assert cache.get(PREFIX + "after") is None


async def test_a_reload_from_a_lagging_member_never_moves_the_copy_back(
    store: FlakyStore, cache: ConfigCache
) -> None:
    """Found writing these tests: a reload took whatever the serializable read answered, so after a broken
    watch a member whose read was served by a lagging etcd follower went back in time (an account just added,
    and shown, could no longer log in; ``revision`` went down), until the watch caught up again."""
    before = await store.get_prefix(PREFIX, serializable=True)
    revision = await store.put(PREFIX + "b", b"2")
    assert await cache.wait_for_revision(revision, BOUND)
    store.stale = before
    store.refuse_watches = True  # hold the copy on what the reload made of it
    await store.break_watches()
    deadline = asyncio.get_running_loop().time() + BOUND
    while store.stale_served < 2:  # the second reload attempt: the first one has been applied (or not)
        assert asyncio.get_running_loop().time() < deadline, "the copy was never reloaded"
        await asyncio.sleep(0.01)  # poll interval, bounded by the deadline
    assert cache.revision >= revision
    assert cache.get(PREFIX + "b") == b"2"
    store.stale = None
    store.refuse_watches = False
    later = await store.put(PREFIX + "c", b"3")
    assert await cache.wait_for_revision(later, BOUND)
    assert dict(cache.items(PREFIX)) == {PREFIX + "a": b"1", PREFIX + "b": b"2", PREFIX + "c": b"3"}
