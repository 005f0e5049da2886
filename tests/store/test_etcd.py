"""EtcdStore beyond the shared contract: membership, quorum loss, elections, TLS, against real etcd clusters.

Destructive tests get a 3-member cluster of their own (``etcd_cluster_fn``) and signal only its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.errors import MemberNotFound, QuorumLost, StoreUnavailable
from hostgate.store import open_store
from hostgate.store.etcd import EtcdStore, EtcdTls, grpc_target
from tests.helpers.etcd import LOADED, EtcdCluster, requires_etcd
from tests.helpers.ports import free_port

pytestmark = requires_etcd

# What one store call may take to ride out a leader election: about a second on an idle machine, several when
# other jobs share the 2 cores (etcd's election timers fire late and rounds split).
ELECTION_BUDGET = LOADED / 2


async def eventually(attempt: Callable[[], Awaitable[object]], timeout: float, what: str) -> float:
    """Retry ``attempt`` until it stops raising; returns how long that took, or fails after ``timeout``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    last: Exception | None = None
    while loop.time() - start < timeout:
        try:
            await attempt()
            return loop.time() - start
        except Exception as exc:
            last = exc
        await asyncio.sleep(0.05)  # retry interval, bounded by the deadline
    pytest.fail(f"{what} did not succeed within {timeout} s: {last!r}")


def test_grpc_target_lists_endpoints_in_order() -> None:
    assert grpc_target(["https://127.0.0.1:2379"]) == "127.0.0.1:2379"
    assert grpc_target(["https://10.0.0.2:1", "https://10.0.0.1:2"]) == "ipv4:10.0.0.2:1,10.0.0.1:2"
    assert grpc_target(["https://[::1]:1", "https://[fe80::1]:2"]) == "ipv6:[::1]:1,[fe80::1]:2"
    assert grpc_target(["https://[::1]:7"]) == "[::1]:7"


async def test_member_add_and_remove(etcd_cluster: EtcdCluster) -> None:
    store = etcd_cluster.store()
    try:
        before = await store.members()
        assert {m.name for m in before} == {"m1", "m2", "m3"}
        peer = f"https://127.0.0.4:{free_port('127.0.0.4')}"
        added, members = await store.add_member([peer])
        assert added.peer_urls == (peer,) and added.name == ""  # named when it first starts
        assert added.id in {m.id for m in members} and len(members) == 4
        await store.remove_member(added.id)
        assert {m.id for m in await store.members()} == {m.id for m in before}
        with pytest.raises(MemberNotFound):
            await store.remove_member(added.id)
    finally:
        await store.close()


async def test_status_of_another_member_and_of_a_dead_address(etcd_cluster: EtcdCluster) -> None:
    store = etcd_cluster.store()
    try:
        own = await store.status()
        other = await store.status(etcd_cluster.nodes[2].client_url)
        assert other.member_id != own.member_id and other.leader_id == own.leader_id
        t = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.status(f"https://127.0.0.1:{free_port()}")
        assert time.monotonic() - t < 1.5
    finally:
        await store.close()


async def test_a_client_certificate_from_another_ca_is_refused(etcd_cluster: EtcdCluster) -> None:
    foreign_ca = pki.create_ca("another-cluster")
    foreign = pki.issue_member_cert(foreign_ca, "intruder", ["127.0.0.1"])
    # Trusts our CA (so the server is verified), but presents a certificate our CA never signed.
    tls = EtcdTls(etcd_cluster.ca.cert_pem, foreign.cert_pem, foreign.key_pem)
    store = EtcdStore(etcd_cluster.endpoints[:1], tls, write_timeout=3.0)
    good = etcd_cluster.store()
    try:
        key = f"/test/{uuid.uuid4().hex}/secret"
        await good.put(key, b"s3cret")
        t = time.monotonic()
        with pytest.raises(StoreUnavailable) as err:
            await store.get(key, serializable=True)
        assert time.monotonic() - t < 3.0
        assert "TLS" in err.value.message or "connect" in err.value.message
    finally:
        await store.close()
        await good.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["frozen", "killed"])
async def test_writes_fail_fast_without_a_majority_and_reads_survive(
    etcd_cluster_fn: EtcdCluster, how: str
) -> None:
    cluster = etcd_cluster_fn
    write_timeout = 2.0
    store = cluster.store(0, write_timeout=write_timeout)
    try:
        rev = await store.put("/q/k", b"before")
        for node in cluster.nodes[1:]:
            if how == "frozen":
                node.freeze()
            else:
                node.kill()

        for _ in range(2):  # the first write waits out what could be an election, never past write_timeout
            t = time.monotonic()
            with pytest.raises(QuorumLost):
                await store.put("/q/k", b"during")
            assert time.monotonic() - t < write_timeout + 0.5

        # The member has now been leaderless for longer than an election takes: writes fail at once.
        t = time.monotonic()
        with pytest.raises(QuorumLost):
            await store.compare_and_set("/q/k", b"during", rev)
        assert time.monotonic() - t < 0.5

        kv = await store.get("/q/k", serializable=True)  # the local copy answers without a quorum
        assert kv is not None and kv.value == b"before"
        with pytest.raises(QuorumLost):
            await store.get("/q/k")  # a linearizable read needs the majority
        assert (await store.status()).leader_id == 0

        if how == "frozen":
            for node in cluster.nodes[1:]:
                node.thaw()
        else:
            cluster.start(cluster.nodes[1:2])  # one member back is a majority again
        await eventually(lambda: store.put("/q/k", b"after"), LOADED, "a write once the majority is back")
        kv = await store.get("/q/k")
        assert kv is not None and kv.value in (b"after", b"during")
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_write_waits_out_a_leader_election(etcd_cluster_fn: EtcdCluster) -> None:
    cluster = etcd_cluster_fn
    leader = cluster.leader_node()
    follower = next(i for i, n in enumerate(cluster.nodes) if n is not leader)
    # One call must ride out the election (the caller does not retry), so the store's own budget is sized
    # for a loaded machine: with the defaults (5 s, 3 s leaderless grace) a slow election was HG-2002.
    store = cluster.store(follower, write_timeout=ELECTION_BUDGET, election_grace=ELECTION_BUDGET)
    try:
        await store.put("/e/k", b"0")
        leader_id = (await store.status()).leader_id
        t = time.monotonic()
        leader.kill()
        rev = await store.put("/e/k", b"1")  # no QuorumLost: two of three members elect a new leader
        elapsed = time.monotonic() - t
        assert elapsed < ELECTION_BUDGET
        status = await store.status()
        assert status.leader_id not in (0, leader_id) and status.revision >= rev
        kv = await store.get("/e/k")
        assert kv is not None and kv.value == b"1"
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_compare_and_set_caught_by_a_leader_failure_applies_exactly_once(
    etcd_cluster_fn: EtcdCluster,
) -> None:
    cluster = etcd_cluster_fn
    leader = cluster.leader_node()
    follower = next(i for i, n in enumerate(cluster.nodes) if n is not leader)
    store = cluster.store(follower, write_timeout=ELECTION_BUDGET, election_grace=ELECTION_BUDGET)
    try:
        rev = await store.put("/x/k", b"old")
        leader.freeze()  # the follower forwards the proposal to a leader that never answers
        t = time.monotonic()
        new = await store.compare_and_set(
            "/x/k", b"new", rev
        )  # resent once a new leader shows it never applied
        assert time.monotonic() - t < ELECTION_BUDGET
        leader.thaw()  # the old leader's copy of the first proposal must not apply on top
        cluster.wait_healthy()
        async with contextlib.aclosing(store.watch_prefix("/x/", rev)) as events:
            first = await anext(events)
            second = await anext(events)
            assert (first.value, first.mod_revision) == (b"old", rev)
            assert (second.value, second.mod_revision) == (b"new", new)
            marker = await store.put("/x/marker", b"end")
            third = await anext(events)
        assert third.mod_revision == marker  # nothing between: "new" was written exactly once
    finally:
        await store.close()


def test_open_store_dials_the_local_member_or_the_configured_endpoints(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, size=1)  # settings and certificates only
    settings = cluster.nodes[0].settings
    store = open_store(settings)
    assert isinstance(store, EtcdStore) and store.endpoints == (settings.etcd_client_url,)
    external = ("https://10.0.0.1:2379", "https://10.0.0.2:2379")
    store = open_store(replace(settings, etcd=replace(settings.etcd, endpoints=external)))
    assert isinstance(store, EtcdStore) and store.endpoints == external
