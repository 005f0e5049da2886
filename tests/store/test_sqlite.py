"""SqliteStore beyond the shared contract: one member, one process, an injectable clock, bounded history."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostgate.config.settings import ServerSettings, Settings, StoreBackend
from hostgate.errors import DataDirError, NotSupported, StoreError, StoreUnavailable
from hostgate.store import EventKind, open_store
from hostgate.store.sqlite import SqliteStore
from tests.helpers._clock import ManualClock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite3", member_name="solo", clock=ManualClock(), sweep_interval=3600)
    try:
        yield s
    finally:
        await s.close()


async def test_one_member_that_leads_itself(store: SqliteStore) -> None:
    (member,) = await store.members()
    assert member.name == "solo" and member.id != 0
    status = await store.status()
    assert status.member_id == status.leader_id == member.id
    with pytest.raises(NotSupported):
        await store.add_member(["https://127.0.0.2:2380"])
    with pytest.raises(NotSupported):
        await store.remove_member(member.id)


async def test_expired_lease_is_gone_on_the_next_read_without_the_sweeper(store: SqliteStore) -> None:
    clock = store._clock
    assert isinstance(clock, ManualClock)
    lease = await store.grant_lease(10)
    rev = await store.put("/l/k", b"v", lease=lease)
    clock.advance(9)
    await store.refresh_lease(lease)  # good for 10 s from now
    clock.advance(9)
    assert await store.get("/l/k") is not None
    async with contextlib.aclosing(store.watch_prefix("/l/", rev + 1)) as events:
        clock.advance(1.5)
        assert await store.get("/l/k") is None  # expired at read time: the sweeper runs only hourly here
        event = await asyncio.wait_for(anext(events), 5)
    assert (event.kind, event.key, event.mod_revision) == (EventKind.DELETE, "/l/k", rev + 1)
    with pytest.raises(StoreError):
        await store.refresh_lease(lease)


async def test_the_sweeper_expires_leases_nobody_reads(tmp_path: Path) -> None:
    clock = ManualClock()
    store = SqliteStore(tmp_path / "s.sqlite3", clock=clock, sweep_interval=0.01)
    try:
        lease = await store.grant_lease(5)
        rev = await store.put("/l/k", b"v", lease=lease)
        async with contextlib.aclosing(store.watch_prefix("/l/", rev + 1)) as events:
            clock.advance(6)
            event = await asyncio.wait_for(anext(events), 5)  # no read or write of ours triggered it
        assert event.kind is EventKind.DELETE
    finally:
        await store.close()


async def test_data_revision_and_leases_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    clock = ManualClock()
    first = SqliteStore(path, clock=clock)
    lease = await first.grant_lease(30)
    await first.put("/p/leased", b"l", lease=lease)
    rev = await first.put("/p/k", b"v")
    member = (await first.status()).member_id
    await first.close()

    clock.advance(1_000_000)  # monotonic time means nothing across a restart: leases get their TTL again
    second = SqliteStore(path, clock=clock)
    try:
        kv = await second.get("/p/k")
        assert kv is not None and (kv.value, kv.mod_revision) == (b"v", rev)
        assert await second.get("/p/leased") is not None
        assert (await second.status()).member_id == member
        assert await second.put("/p/k", b"w") == rev + 1
        async with contextlib.aclosing(second.watch_prefix("/p/", 1)) as events:
            first_event = await asyncio.wait_for(anext(events), 5)  # history survives too
        assert first_event.key == "/p/leased"
    finally:
        await second.close()


async def test_a_second_process_cannot_open_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path)
    try:
        with pytest.raises(DataDirError):
            SqliteStore(path)
    finally:
        await first.close()
    SqliteStore(path)._lock_file.close()  # free again once the first one closed


async def test_history_is_bounded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", history=10)
    try:
        revs = [await store.put("/h/k", str(i).encode()) for i in range(200)]
        with pytest.raises(StoreUnavailable, match="compacted"):
            async with contextlib.aclosing(store.watch_prefix("/h/", revs[0])) as events:
                await anext(events)
        async with contextlib.aclosing(store.watch_prefix("/h/", revs[-5])) as events:
            got = [await asyncio.wait_for(anext(events), 5) for _ in range(5)]
        assert [e.mod_revision for e in got] == revs[-5:]
    finally:
        await store.close()


async def test_close_ends_watches_and_refuses_work(store: SqliteStore) -> None:
    events = store.watch_prefix("/c/", (await store.status()).revision + 1)
    reader = asyncio.create_task(anext(events))
    await store.put("/c/k", b"v")
    assert (await asyncio.wait_for(reader, 5)).key == "/c/k"
    parked = asyncio.Event()

    async def read_next() -> object:
        # Nothing between set() and the watcher's empty queue.get() yields, so once this task suspends it is
        # parked on the queue: close() must wake a reader that is already waiting, not only a later one.
        parked.set()
        return await anext(events)

    waiting = asyncio.create_task(read_next())
    await parked.wait()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(StoreUnavailable):
        await store.get("/c/k")
    await events.aclose()  # type: ignore[attr-defined]


async def test_open_store_picks_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        server=ServerSettings(member_name="m1", address="127.0.0.1"),
        store=StoreBackend.SQLITE,
    )
    store = open_store(settings)
    try:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "store.sqlite3"
        await store.put("/o/k", b"v")
        assert (await store.members())[0].name == "m1"
    finally:
        await store.close()
