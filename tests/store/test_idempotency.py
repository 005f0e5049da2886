"""Guarded writes (store.guard), one contract on both backends: SqliteStore and a real 3-member etcd cluster.

A write made under a WriteGuard records the guard's idempotency key in the same transaction; a second attempt
of the same call (same key, another owner) applies nothing and sees the first attempt's record; a write past
the client's deadline is refused and applies nothing; the records expire after the retention.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hostgate.errors import CompareFailed, DeadlineExpired
from hostgate.store import Store
from hostgate.store.etcd import EtcdStore
from hostgate.store.guard import DuplicateWrite, WriteGuard, WriteRecord, guarding
from hostgate.store.sqlite import SqliteStore
from tests.helpers.etcd import requires_etcd

RETENTION = 2.0  # short, so expiry is observable; etcd rounds the shared lease's TTL up to whole seconds


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=requires_etcd)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "store.sqlite3", member_name="m1", retention=RETENTION)
    cluster = request.getfixturevalue("etcd_cluster")
    return lambda: EtcdStore(cluster.endpoints, cluster.tls, retention=RETENTION)


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    s = make_store()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def prefix() -> str:
    return f"/test/{uuid.uuid4().hex[:12]}/"


def attempt(key: str, *, deadline: float = 30.0, member: str = "m1") -> WriteGuard:
    """One attempt of a call: its own owner id, the call's key, a deadline ``deadline`` seconds from now."""
    return WriteGuard(key, f"{member}/{uuid.uuid4().hex}", member, "fp", time.time() + deadline)


async def test_a_second_attempt_of_one_call_applies_nothing_and_sees_the_first(
    store: Store, prefix: str
) -> None:
    key = uuid.uuid4().hex
    first, second = attempt(key), attempt(key, member="m2")
    with guarding(first):
        revision = await store.compare_and_set(prefix + "name", b"hedge-B", 0)
    assert first.revision == revision
    record = await store.idempotency_record(key)
    assert record is not None and record.mod_revision == revision
    assert WriteRecord.decode(record.key, record.value).owner == first.owner

    current = await store.get(prefix + "name")
    assert current is not None
    with guarding(second), pytest.raises(DuplicateWrite) as dup:
        # The stale attempt reads the newest revision and compares against it: only the record stops it.
        await store.compare_and_set(prefix + "name", b"stale", current.mod_revision)
    assert dup.value.record.owner == first.owner and dup.value.record.member == "m1"
    for write in (
        lambda: store.put(prefix + "name", b"stale"),
        lambda: store.delete(prefix + "name"),
        lambda: store.compare_and_delete(prefix + "name", current.mod_revision),
    ):
        with guarding(second), pytest.raises(DuplicateWrite):
            await write()
    after = await store.get(prefix + "name")
    assert after is not None and after.value == b"hedge-B" and after.mod_revision == revision
    assert not second.claimed


async def test_later_writes_of_the_same_call_pass_and_move_the_record(store: Store, prefix: str) -> None:
    call = attempt(uuid.uuid4().hex)
    with guarding(call):
        r1 = await store.put(prefix + "a", b"1")
        r2 = await store.compare_and_set(prefix + "b", b"2", 0)
        assert await store.delete(prefix + "a") is True
        await store.compare_and_delete(prefix + "b", r2)
    assert r2 > r1 and call.revision > r2
    record = await store.idempotency_record(call.key)
    assert record is not None and record.mod_revision == call.revision
    assert await store.get(prefix + "a") is None and await store.get(prefix + "b") is None


async def test_a_failed_comparison_records_nothing(store: Store, prefix: str) -> None:
    await store.put(prefix + "x", b"0")
    call = attempt(uuid.uuid4().hex)
    with guarding(call), pytest.raises(CompareFailed):
        await store.compare_and_set(prefix + "x", b"1", 0)
    assert not call.claimed
    assert await store.idempotency_record(call.key) is None
    # ... so the call may go on: its next write is its first.
    with guarding(call):
        current = await store.get(prefix + "x")
        assert current is not None
        await store.compare_and_set(prefix + "x", b"1", current.mod_revision)
    assert call.claimed


async def test_the_answer_is_recorded_once_by_the_owner(store: Store, prefix: str) -> None:
    call = attempt(uuid.uuid4().hex)
    with guarding(call):
        await store.put(prefix + "k", b"v")
    done = WriteRecord(call.owner, call.member, call.fingerprint, "done", 200, {"name": "x"})
    await store.complete_idempotency_record(call.key, done.encode(), call.revision)
    record = await store.idempotency_record(call.key)
    assert record is not None
    assert WriteRecord.decode(record.key, record.value) == done
    with pytest.raises(CompareFailed):
        await store.complete_idempotency_record(call.key, done.encode(), call.revision - 1)


async def test_a_write_past_its_deadline_is_refused_and_applies_nothing(store: Store, prefix: str) -> None:
    late = attempt(uuid.uuid4().hex, deadline=-0.5)
    for write in (
        lambda: store.put(prefix + "late", b"v"),
        lambda: store.compare_and_set(prefix + "late", b"v", 0),
        lambda: store.get(prefix + "late"),  # every store call of the call is bounded by the deadline
    ):
        with guarding(late), pytest.raises(DeadlineExpired) as refused:
            await write()
        assert refused.value.code == "HG-2006"
    assert await store.get(prefix + "late") is None
    assert await store.idempotency_record(late.key) is None


async def test_writes_without_a_guard_keep_no_record(store: Store, prefix: str) -> None:
    key = uuid.uuid4().hex
    await store.put(prefix + "plain", b"v")
    assert await store.idempotency_record(key) is None


async def test_records_expire_after_the_retention(store: Store, prefix: str) -> None:
    call = attempt(uuid.uuid4().hex)
    with guarding(call):
        await store.put(prefix + "k", b"v")
    assert await store.idempotency_record(call.key) is not None
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + 20.0  # retention 2 s; etcd's lease TTL is rounded up, the machine is busy
    while await store.idempotency_record(call.key) is not None:
        assert loop.time() < stop_at, "the idempotency record did not expire"
        await asyncio.sleep(0.1)  # poll interval, bounded by the deadline
    # The write itself stays; only its record went.
    kv = await store.get(prefix + "k")
    assert kv is not None and kv.value == b"v"
    # Once the record is gone, a new call may use the same key.
    again = attempt(call.key)
    with guarding(again):
        await store.put(prefix + "k", b"w")
    assert again.claimed
