"""One contract, two backends: every test here runs on SqliteStore and on EtcdStore (a real 3-member cluster).

The etcd cluster is shared by the whole run, so each test works under its own key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hostgate.errors import CompareFailed, StoreError, StoreUnavailable
from hostgate.store import EventKind, Store, StoreEvent
from hostgate.store.etcd import EtcdStore
from hostgate.store.sqlite import SqliteStore
from tests.helpers.etcd import requires_etcd

Compactable = SqliteStore | EtcdStore


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=requires_etcd)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Compactable]:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "store.sqlite3", member_name="m1")
    cluster = request.getfixturevalue("etcd_cluster")
    return lambda: cluster.store()  # type: ignore[no-any-return]


@pytest.fixture
async def store(make_store: Callable[[], Compactable]) -> AsyncIterator[Compactable]:
    s = make_store()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def prefix() -> str:
    return f"/test/{uuid.uuid4().hex[:12]}/"


async def collect(events: AsyncIterator[StoreEvent], count: int, timeout: float = 10.0) -> list[StoreEvent]:
    """The next ``count`` events, or fail after ``timeout``."""
    got: list[StoreEvent] = []

    async def take() -> None:
        async for event in events:
            got.append(event)
            if len(got) == count:
                return

    try:
        await asyncio.wait_for(take(), timeout)
    except TimeoutError:
        pytest.fail(f"expected {count} events within {timeout} s, got {got}")
    return got


async def poll(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Wait until ``await predicate()`` is true, or fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)  # poll interval, bounded by the deadline
    pytest.fail(f"{what} did not happen within {timeout} s")


# --- key-value ----------------------------------------------------------------------------------------------


async def test_get_put_delete(store: Store, prefix: str) -> None:
    key = prefix + "a"
    assert await store.get(key) is None
    rev = await store.put(key, b"one")
    kv = await store.get(key)
    assert kv is not None and (kv.key, kv.value, kv.mod_revision, kv.lease) == (key, b"one", rev, 0)
    assert await store.get(key, serializable=True) == kv
    assert await store.delete(key) is True
    assert await store.get(key) is None
    assert await store.delete(key) is False


async def test_keys_are_text_and_values_are_bytes(store: Store, prefix: str) -> None:
    key = prefix + "ключ/é"
    value = bytes(range(256))
    await store.put(key, value)
    kv = await store.get(key)
    assert kv is not None and kv.key == key and kv.value == value
    kvs, _ = await store.get_prefix(prefix + "ключ/")
    assert [k.key for k in kvs] == [key]


async def test_mod_revision_is_store_wide_and_increasing(store: Store, prefix: str) -> None:
    revs = [await store.put(prefix + k, b"v") for k in ("a", "b", "a", "c")]
    assert revs == sorted(revs) and len(set(revs)) == 4
    a, b = await store.get(prefix + "a"), await store.get(prefix + "b")
    assert a is not None and b is not None
    assert (a.mod_revision, b.mod_revision) == (revs[2], revs[1])
    assert await store.delete(prefix + "c")
    assert await store.put(prefix + "d", b"v") > revs[-1] + 1  # the delete took a revision of its own


async def test_compare_and_set_succeeds_on_the_current_revision(store: Store, prefix: str) -> None:
    key = prefix + "k"
    rev = await store.put(key, b"1")
    new = await store.compare_and_set(key, b"2", rev)
    assert new > rev
    kv = await store.get(key)
    assert kv is not None and (kv.value, kv.mod_revision) == (b"2", new)


async def test_compare_and_set_on_a_stale_revision_writes_nothing(store: Store, prefix: str) -> None:
    key = prefix + "k"
    old = await store.put(key, b"1")
    current = await store.put(key, b"2")
    _, before = await store.get_prefix(prefix)
    with pytest.raises(CompareFailed) as err:
        await store.compare_and_set(key, b"3", old)
    assert str(current) in err.value.message
    kv = await store.get(key)
    assert kv is not None and (kv.value, kv.mod_revision) == (b"2", current)
    _, after = await store.get_prefix(prefix)
    assert after == before  # a failed comparison takes no revision


async def test_create_if_absent(store: Store, prefix: str) -> None:
    key = prefix + "new"
    rev = await store.compare_and_set(key, b"first", 0)
    with pytest.raises(CompareFailed):
        await store.compare_and_set(key, b"second", 0)
    kv = await store.get(key)
    assert kv is not None and (kv.value, kv.mod_revision) == (b"first", rev)
    with pytest.raises(CompareFailed):
        await store.compare_and_set(prefix + "missing", b"x", rev)  # a missing key has revision 0
    assert await store.get(prefix + "missing") is None


async def test_concurrent_compare_and_set_has_one_winner(store: Store, prefix: str) -> None:
    key = prefix + "race"
    rev = await store.put(key, b"start")

    async def contender(i: int) -> int | None:
        try:
            return await store.compare_and_set(key, f"w{i}".encode(), rev)
        except CompareFailed:
            return None

    results = await asyncio.gather(*(contender(i) for i in range(8)))
    winners = [(i, r) for i, r in enumerate(results) if r is not None]
    assert len(winners) == 1
    kv = await store.get(key)
    assert kv is not None and (kv.value, kv.mod_revision) == (f"w{winners[0][0]}".encode(), winners[0][1])


async def test_compare_and_delete(store: Store, prefix: str) -> None:
    key = prefix + "k"
    old = await store.put(key, b"1")
    current = await store.put(key, b"2")
    with pytest.raises(CompareFailed):
        await store.compare_and_delete(key, old)
    assert await store.get(key) is not None
    await store.compare_and_delete(key, current)
    assert await store.get(key) is None


async def test_get_prefix_returns_sorted_keys_and_the_snapshot_revision(store: Store, prefix: str) -> None:
    await store.put(prefix + "b/2", b"b2")
    await store.put(prefix + "a", b"a")  # a sibling whose name starts like the prefix below
    await store.put(prefix + "b/1", b"b1")
    last = await store.put(prefix + "c", b"c")
    kvs, revision = await store.get_prefix(prefix + "b/")
    assert [(kv.key, kv.value) for kv in kvs] == [(prefix + "b/1", b"b1"), (prefix + "b/2", b"b2")]
    assert revision >= last  # the snapshot includes every write acknowledged before it
    after = await store.put(prefix + "b/3", b"b3")
    assert after > revision
    kvs, revision2 = await store.get_prefix(prefix + "b/", serializable=True)
    assert len(kvs) == 3 and revision2 >= after
    assert (await store.get_prefix(prefix + "nothing/"))[0] == []


# --- watch --------------------------------------------------------------------------------------------------


async def test_watch_yields_every_change_in_order(store: Store, prefix: str) -> None:
    _, start = await store.get_prefix(prefix)
    async with contextlib.aclosing(store.watch_prefix(prefix, start + 1)) as events:
        writes: list[tuple[EventKind, str, bytes, int]] = []
        for i in range(5):
            key = prefix + f"k{i % 2}"
            writes.append((EventKind.PUT, key, f"v{i}".encode(), await store.put(key, f"v{i}".encode())))
        await store.put("/outside/" + prefix, b"not watched")
        rev = await store.put(prefix + "gone", b"x")
        writes.append((EventKind.PUT, prefix + "gone", b"x", rev))
        assert await store.delete(prefix + "gone")
        _, snapshot = await store.get_prefix(prefix)
        got = await collect(events, len(writes) + 1)
    assert [(e.kind, e.key, e.value, e.mod_revision) for e in got[:-1]] == writes
    deleted = got[-1]
    assert (deleted.kind, deleted.key, deleted.value) == (EventKind.DELETE, prefix + "gone", b"")
    assert rev < deleted.mod_revision <= snapshot


async def test_watch_resumes_from_a_past_revision(store: Store, prefix: str) -> None:
    revs = [await store.put(prefix + f"k{i}", f"{i}".encode()) for i in range(4)]
    async with contextlib.aclosing(store.watch_prefix(prefix, revs[1])) as events:
        replayed = await collect(events, 3)
        assert [e.mod_revision for e in replayed] == revs[1:]
        live = await store.put(prefix + "k9", b"9")
        (event,) = await collect(events, 1)
    assert (event.key, event.value, event.mod_revision) == (prefix + "k9", b"9", live)


async def test_watch_from_compacted_history_raises_store_unavailable(store: Compactable, prefix: str) -> None:
    first = await store.put(prefix + "k", b"1")
    await store.put(prefix + "k", b"2")
    last = await store.put(prefix + "k", b"3")
    await store.compact(last)
    with pytest.raises(StoreUnavailable):
        async with contextlib.aclosing(store.watch_prefix(prefix, first)) as events:
            await collect(events, 1)
    async with contextlib.aclosing(store.watch_prefix(prefix, last)) as events:
        (event,) = await collect(events, 1)  # from the compaction revision on, history is still there
    assert event.mod_revision == last


# --- leases -------------------------------------------------------------------------------------------------


async def test_lease_expiry_removes_its_keys(store: Store, prefix: str) -> None:
    lease = await store.grant_lease(1.0)
    await store.put(prefix + "session", b"alive", lease=lease)
    rev = await store.put(prefix + "durable", b"stays")
    kv = await store.get(prefix + "session")
    assert kv is not None and kv.lease == lease
    async with contextlib.aclosing(store.watch_prefix(prefix, rev + 1)) as events:

        async def gone() -> bool:
            return await store.get(prefix + "session") is None

        await poll(gone, 15.0, "lease expiry")
        (event,) = await collect(events, 1)
    assert (event.kind, event.key) == (EventKind.DELETE, prefix + "session")
    assert await store.get(prefix + "durable") is not None
    with pytest.raises(StoreError):
        await store.refresh_lease(lease)


async def test_refresh_keeps_a_lease_alive(store: Store, prefix: str) -> None:
    lease = await store.grant_lease(1.0)
    await store.put(prefix + "session", b"alive", lease=lease)
    loop = asyncio.get_running_loop()
    until = loop.time() + 3.0  # longer than the TTL (etcd raises a 1 s TTL to its minimum, 2 s here)
    while loop.time() < until:
        await store.refresh_lease(lease)
        assert await store.get(prefix + "session") is not None
        await asyncio.sleep(0.25)  # keep-alive period
    await store.revoke_lease(lease)


async def test_revoke_deletes_the_keys_at_once(store: Store, prefix: str) -> None:
    lease = await store.grant_lease(60.0)
    await store.put(prefix + "a", b"1", lease=lease)
    rev = await store.put(prefix + "b", b"2", lease=lease)
    async with contextlib.aclosing(store.watch_prefix(prefix, rev + 1)) as events:
        await store.revoke_lease(lease)
        assert await store.get(prefix + "a") is None and await store.get(prefix + "b") is None
        got = await collect(events, 2)
    assert {e.key for e in got} == {prefix + "a", prefix + "b"}
    assert {e.kind for e in got} == {EventKind.DELETE}
    assert got[0].mod_revision == got[1].mod_revision  # one revision for the whole revoke
    await store.revoke_lease(lease)  # revoking a lease that is gone is a no-op
    with pytest.raises(StoreError):
        await store.put(prefix + "c", b"3", lease=lease)
    assert await store.get(prefix + "c") is None


# --- status and membership ----------------------------------------------------------------------------------


async def test_status_and_members(store: Store, prefix: str) -> None:
    rev = await store.put(prefix + "k", b"v")
    status = await store.status()
    assert status.member_id != 0 and status.leader_id != 0
    assert status.revision >= rev
    assert status.version
    members = await store.members()
    assert status.member_id in {m.id for m in members}
    assert status.leader_id in {m.id for m in members}


# --- ranges (the audit trail's records, outside the in-memory copy) --------------------------------------------


async def test_put_many_is_one_atomic_write(store: Store, prefix: str) -> None:
    before = await store.put(prefix + "x", b"x")
    revision = await store.put_many([(prefix + f"r/{i:03d}", f"v{i}".encode()) for i in range(100)])
    assert revision == before + 1  # one revision for all of them
    kvs, _ = await store.get_prefix(prefix + "r/")
    assert [(kv.key, kv.value, kv.mod_revision) for kv in kvs] == [
        (prefix + f"r/{i:03d}", f"v{i}".encode(), revision) for i in range(100)
    ]


async def test_get_range_is_half_open_ordered_and_limited(store: Store, prefix: str) -> None:
    await store.put_many([(prefix + k, k.encode()) for k in ("a", "b", "c", "d", "e")])
    await store.put(prefix[:-1] + "0", b"outside")  # right after the prefix in byte order
    keys = lambda kvs: [kv.key[len(prefix) :] for kv in kvs]  # noqa: E731
    assert keys(await store.get_range(prefix + "b", prefix + "e")) == ["b", "c", "d"]
    assert keys(await store.get_range(prefix + "b", prefix + "e", descending=True)) == ["d", "c", "b"]
    assert keys(await store.get_range(prefix + "a", prefix + "z", limit=2)) == ["a", "b"]
    assert keys(await store.get_range(prefix + "a", prefix + "z", limit=2, descending=True)) == ["e", "d"]
    assert keys(await store.get_range(prefix + "a", prefix + "z", serializable=True)) == list("abcde")
    assert await store.count_range(prefix + "b", prefix + "e") == 3
    assert await store.count_range(prefix, prefix + "\xff") == 5
    assert await store.get_range(prefix + "x", prefix + "z") == []


async def test_delete_range_deletes_exactly_the_range_and_is_idempotent(store: Store, prefix: str) -> None:
    await store.put_many([(prefix + k, b"v") for k in ("a", "b", "c", "d")])
    events = store.watch_prefix(prefix, await store.put(prefix + "e", b"v") + 1)
    try:
        assert await store.delete_range(prefix + "a", prefix + "c") == 2
        got = await collect(events, 2)
        assert [(e.kind, e.key) for e in got] == [
            (EventKind.DELETE, prefix + "a"),
            (EventKind.DELETE, prefix + "b"),
        ]
        assert got[0].mod_revision == got[1].mod_revision  # one atomic write
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    assert await store.delete_range(prefix + "a", prefix + "c") == 0
    kvs, _ = await store.get_prefix(prefix)
    assert [kv.key[len(prefix) :] for kv in kvs] == ["c", "d", "e"]
