"""The management API's write path (issue #14, defects 1 and 8) on a real SqliteStore, in process over ASGI.

- Two attempts of one call (same Idempotency-Key) apply once; the second gets the first answer, even where
  the service would otherwise refuse it ("already exists", "no such domain").
- A key reused for another request is refused; a request past its deadline is refused and changes nothing.
- A write the member's copy has not shown in time is a success marked ``visibility: pending`` (header and
  field), not a plain success that claims the member shows it, and not an error that tempts a retry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.config.settings import ServerSettings, Settings, StoreBackend
from hostgate.management.cache import ConfigCache
from hostgate.management.records import CLUSTER_KEY, PREFIX, ClusterInfo, UserRecord, user_key
from hostgate.management.security import ADMIN_ROLE, hash_password
from hostgate.management.service import ManagementService
from hostgate.store.base import Store
from hostgate.store.etcd import EtcdStore
from hostgate.store.sqlite import SqliteStore
from tests.helpers.etcd import EtcdCluster, requires_etcd, write_member_files

PASSWORD = "correct-horse-battery"


@dataclass
class Member:
    api: httpx.AsyncClient
    store: SqliteStore
    cache: ConfigCache


def settings_of(data_dir: Path, backend: StoreBackend) -> Settings:
    write_member_files(data_dir, pki.create_ca("test-cluster"), "m1", "127.0.0.1")
    return Settings(
        data_dir=data_dir,
        server=ServerSettings(member_name="m1", address="127.0.0.1", cluster_id="test-cluster"),
        store=backend,
    )


async def seed(store: Store) -> None:
    await store.put(CLUSTER_KEY, ClusterInfo("test-cluster", "vhi-prod-sea", time.time()).encode())
    await store.put(user_key("admin"), UserRecord("admin", hash_password(PASSWORD), (ADMIN_ROLE,)).encode())


def api_of(service: ManagementService) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service)),
        base_url="https://m1",
        auth=("admin", PASSWORD),
    )


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[Member]:
    settings = settings_of(tmp_path / "m1", StoreBackend.SQLITE)
    store = SqliteStore(settings.data_dir / "store.sqlite3", member_name="m1")
    await seed(store)
    cache = ConfigCache(store, PREFIX)
    await cache.start()
    api = api_of(ManagementService(settings, store, cache))
    try:
        yield Member(api, store, cache)
    finally:
        await api.aclose()
        await cache.close()
        await store.close()


def call(key: str | None = None, deadline: float = 10.0) -> dict[str, str]:
    """The headers of one write call: its idempotency key and absolute deadline (``deadline`` s from now)."""
    return {
        "Idempotency-Key": key or uuid.uuid4().hex,
        "X-Hostgate-Deadline": f"{time.time() + deadline:.3f}",
    }


async def test_a_second_attempt_of_a_call_gets_the_first_answer_and_applies_nothing(member: Member) -> None:
    headers = call()
    body = {"name": "operator1", "password": "operator-password"}
    first = await member.api.post("/api/v1/users", json=body, headers=headers)
    again = await member.api.post("/api/v1/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers.get("x-hostgate-replayed") == "true"
    assert "x-hostgate-replayed" not in first.headers
    users = (await member.api.get("/api/v1/users")).json()
    assert [u["name"] for u in users].count("operator1") == 1

    # A new call with a new key is a new request: refused as usual (a conflict since issue #21).
    third = await member.api.post("/api/v1/users", json=body, headers=call())
    assert third.status_code == 409 and third.json()["code"] == "HG-1070"


async def test_a_duplicate_delete_gets_the_first_answer_not_not_found(member: Member) -> None:
    created = await member.api.post("/api/v1/domains", json={"name": "prod"}, headers=call())
    assert created.status_code == 201
    headers = call()
    first = await member.api.delete("/api/v1/domains/prod", headers=headers)
    again = await member.api.delete("/api/v1/domains/prod", headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() == {"removed": "prod"}
    assert again.headers.get("x-hostgate-replayed") == "true"


async def test_a_refused_call_is_never_applied_by_its_late_twin(member: Member) -> None:
    """Found by the nemesis suite (make chaos): a hedged create answered "already exists" (HG-1003 then; HG-1070 since issue #21) by one
    member while its twin, held up on a hung member, created the domain later, after a delete the client had
    seen acknowledged. A refusal must claim the call's key like an applied write does."""
    assert (
        await member.api.post("/api/v1/domains", json={"name": "flag"}, headers=call())
    ).status_code == 201
    twin = call()
    refused = await member.api.post("/api/v1/domains", json={"name": "flag"}, headers=twin)
    assert refused.status_code == 409 and refused.json()["code"] == "HG-1070", refused.text
    assert (await member.api.delete("/api/v1/domains/flag", headers=call())).status_code == 200

    late = await member.api.post("/api/v1/domains", json={"name": "flag"}, headers=twin)
    assert late.status_code == 409 and late.json()["code"] == "HG-1070", late.text
    assert late.headers.get("x-hostgate-replayed") == "true"
    domains = (await member.api.get("/api/v1/domains")).json()
    assert "flag" not in [d["name"] for d in domains], domains


async def test_a_key_reused_for_another_request_is_refused(member: Member) -> None:
    headers = call()
    assert (await member.api.post("/api/v1/domains", json={"name": "a"}, headers=headers)).status_code == 201
    other = await member.api.post("/api/v1/domains", json={"name": "b"}, headers=headers)
    assert other.status_code == 400 and other.json()["code"] == "HG-1003"
    assert "Idempotency-Key" in other.json()["message"]
    assert [d["name"] for d in (await member.api.get("/api/v1/domains")).json()] == ["a"]


async def test_a_write_past_its_deadline_is_refused_and_changes_nothing(member: Member) -> None:
    late = await member.api.put(
        "/api/v1/cluster/name", json={"name": "too-late"}, headers=call(deadline=-1.0)
    )
    assert late.status_code == 504
    assert late.json()["code"] == "HG-2006"
    assert "deadline" in late.json()["message"]
    kv = await member.store.get(CLUSTER_KEY)
    assert kv is not None and ClusterInfo.decode(CLUSTER_KEY, kv.value).name == "vhi-prod-sea"


async def test_bad_write_headers_are_refused_with_a_code(member: Member) -> None:
    for headers in ({"Idempotency-Key": "short"}, {"X-Hostgate-Deadline": "tomorrow"}):
        resp = await member.api.put("/api/v1/cluster/name", json={"name": "x"}, headers=headers)
        assert resp.status_code == 400 and resp.json()["code"] == "HG-1003", resp.text


async def test_a_write_the_copy_has_not_shown_is_a_success_marked_pending(member: Member) -> None:
    # The copy stops following the store (as when this member's store member lags behind the leader).
    await member.cache.close()
    headers = call(deadline=30.0)
    resp = await member.api.put("/api/v1/cluster/name", json={"name": "renamed"}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("x-hostgate-visibility") == "pending"
    assert resp.json()["name"] == "renamed" and resp.json()["visibility"] == "pending"
    kv = await member.store.get(CLUSTER_KEY)  # committed all the same
    assert kv is not None and ClusterInfo.decode(CLUSTER_KEY, kv.value).name == "renamed"
    # A duplicate attempt of the call gets the same (pending) answer.
    again = await member.api.put("/api/v1/cluster/name", json={"name": "renamed"}, headers=headers)
    assert again.headers.get("x-hostgate-visibility") == "pending" and again.json() == resp.json()


@requires_etcd
async def test_a_write_a_lagging_store_member_has_not_shown_is_marked_pending(
    etcd_cluster_fn: EtcdCluster, tmp_path: Path
) -> None:
    """The real cause: the copy follows a store member that stops (SIGSTOP) after loading; the write still
    commits through the other two."""
    cluster = etcd_cluster_fn
    writer = cluster.store(0)
    follower = EtcdStore([cluster.nodes[2].client_url], cluster.tls)
    cache = ConfigCache(follower, PREFIX)
    api = None
    try:
        await seed(writer)
        await cache.start()
        api = api_of(ManagementService(settings_of(tmp_path / "m1", StoreBackend.ETCD), writer, cache))
        assert (await api.get("/api/v1/whoami")).status_code == 200
        cluster.nodes[2].freeze()
        try:
            resp = await api.put(
                "/api/v1/cluster/name", json={"name": "renamed"}, headers=call(deadline=30.0)
            )
        finally:
            cluster.nodes[2].thaw()
        assert resp.status_code == 200, resp.text
        assert resp.headers.get("x-hostgate-visibility") == "pending"
        assert resp.json()["visibility"] == "pending"
        kv = await writer.get(CLUSTER_KEY)
        assert kv is not None and ClusterInfo.decode(CLUSTER_KEY, kv.value).name == "renamed"
    finally:
        if api is not None:
            await api.aclose()
        await cache.close()
        await follower.close()
        await writer.close()
