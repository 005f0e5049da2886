"""The audit trail on a real member in process (real SqliteStore, ConfigCache, service and HTTP face over ASGI):
the hook on every guarded write, GET /api/v1/audit, secrets never stored, retention, and a store that does not
take entries (a 3-member etcd cluster with its majority frozen by SIGSTOP) never failing or stalling a caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from hostgate.api.app import create_app
from hostgate.api.audit_routes import WriteAudit
from hostgate.config.settings import AuditSettings
from hostgate.management.audit import AuditTrail
from hostgate.management.audit_query import Query
from hostgate.management.audit_records import AUDIT_END, AUDIT_PREFIX, scrub
from hostgate.management.records import PREFIX
from hostgate.store.guard import WriteGuard, guarding
from hostgate.store.sqlite import SqliteStore
from tests.helpers._clock import ManualClock
from tests.helpers.etcd import EtcdCluster, requires_etcd
from tests.helpers.inprocess import InProcessMember, start_member
from tests.helpers.listing import listing_service

SECRET = "Zebra-Sentinel-7781-do-not-store"


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    try:
        yield m
    finally:
        await m.close()


async def _entries(m: InProcessMember, **query: str) -> list[dict[str, Any]]:
    assert await m.service.audit.flush(30.0), "the audit writer did not store its entries"
    async with m.http() as api:
        resp = await api.get("/api/v1/audit", params=query)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["entries"])


async def test_an_admin_change_is_recorded_with_who_when_where_and_what(member: InProcessMember) -> None:
    before = time.time()
    async with member.http() as api:
        resp = await api.post("/api/v1/users", json={"name": "bob", "password": SECRET, "admin": False})
    assert resp.status_code == 201, resp.text
    [entry] = await _entries(member, action="add_user")
    assert (entry["actor"], entry["action"], entry["target"], entry["outcome"]) == (
        "admin",
        "add_user",
        "bob",
        "ok",
    )
    assert entry["source"] == "127.0.0.1"  # httpx's ASGI transport's client address
    assert entry["member"] == "m1" and before <= entry["time"] <= time.time()
    assert entry["at"].endswith("Z") and entry["at"].startswith(
        time.strftime("%Y-", time.gmtime(entry["time"]))
    )
    assert entry["detail"] == {"admin": "false", "name": "bob", "password": "(removed)"}


async def test_a_refused_change_records_its_code(member: InProcessMember) -> None:
    async with member.http("operator") as api:  # the User profile: not an Administrator
        refused = await api.post("/api/v1/domains", json={"name": "prod"})
    async with member.http() as api:
        missing = await api.delete("/api/v1/users/nobody")
    assert (refused.status_code, missing.status_code) == (403, 404)
    entries = await _entries(member)
    by_action = {e["action"]: e for e in entries}
    assert by_action["create_domain"]["actor"] == "operator"
    assert by_action["create_domain"]["outcome"] == refused.json()["code"] == "HG-3002"
    assert by_action["create_domain"]["target"] == "prod"
    assert (by_action["remove_user"]["target"], by_action["remove_user"]["outcome"]) == ("nobody", "HG-1042")


async def test_requests_without_credentials_and_replayed_duplicates_leave_no_entry(
    member: InProcessMember,
) -> None:
    async with member.http(user="") as api:
        anonymous = await api.post("/api/v1/domains", json={"name": "prod"})
    assert anonymous.status_code == 401
    headers = {"Idempotency-Key": "k" * 32}
    async with member.http() as api:
        first = await api.post("/api/v1/domains", json={"name": "prod"}, headers=headers)
        again = await api.post("/api/v1/domains", json={"name": "prod"}, headers=headers)
    assert (first.status_code, again.status_code, again.headers["x-hostgate-replayed"]) == (201, 201, "true")
    assert [(e["action"], e["actor"]) for e in await _entries(member)] == [("create_domain", "admin")]


def test_every_write_route_has_an_action_name_from_the_endpoint_table(tmp_path: Path) -> None:
    hook = WriteAudit(AuditTrail())
    names = set()
    app = create_app(listing_service())
    for route in app.routes:
        assert isinstance(route, Route)
        for method in (route.methods or set()) - {"GET", "HEAD"}:
            path = route.path.replace("{name}", "x").replace("{server}", "y")
            names.add(hook.action(method, path))
    assert not [n for n in names if " " in n], names  # no fallback "POST /api/v1/..." names
    assert {"add_user", "remove_user", "create_domain", "rename", "join", "ldap_replace"} <= names


async def test_secrets_never_reach_the_store(member: InProcessMember, tmp_path: Path) -> None:
    async with member.http() as api:
        assert (
            await api.post("/api/v1/users", json={"name": "carol", "password": SECRET})
        ).status_code == 201
        # A refused request (a name that exists) with a password in its body: recorded, scrubbed.
        assert (
            await api.post("/api/v1/users", json={"name": "carol", "password": SECRET + "2"})
        ).status_code == 409  # a conflict (HG-1070) since issue #21
    member.service.audit.record(
        actor="admin",
        action="test",
        detail={"bind_password": SECRET, "nested": {"token": SECRET, "csr_pem": SECRET}, "keys": [SECRET]},
    )
    entries = await _entries(member)
    assert len(entries) == 3 and SECRET not in repr(entries)
    await member.store.close()  # every byte on disk, the WAL included
    stored = b"".join(
        p.read_bytes() for p in (tmp_path / "m1").iterdir() if p.name.startswith("store.sqlite3")
    )
    assert b"carol" in stored and b"add_user" in stored
    assert SECRET.encode() not in stored


def test_scrub_removes_secret_named_fields_at_any_depth_and_bounds_the_rest() -> None:
    detail = scrub(
        {
            "name": "x",
            "Password": "p",
            "directories": [{"bind_password_ref": "file:/etc/pw", "urls": ["ldaps://d"]}],
            "long": "y" * 1000,
            **{f"z{i:02d}": str(i) for i in range(40)},  # sorted last: cut at 32 fields
        }
    )
    d = dict(detail)
    assert d["Password"] == "(removed)" and "file:/etc/pw" not in d["directories"]
    assert '"bind_password_ref":"(removed)"' in d["directories"]
    assert len(d["long"]) == 256 and len(detail) == 32


async def test_the_trail_lives_outside_the_members_in_memory_copy(member: InProcessMember) -> None:
    async with member.http() as api:
        await api.post("/api/v1/domains", json={"name": "prod"})
    assert await member.service.audit.flush(30.0)
    stored, _ = await member.store.get_prefix(AUDIT_PREFIX)
    assert stored and all(kv.key.startswith(AUDIT_PREFIX) for kv in stored)
    assert not AUDIT_PREFIX.startswith(PREFIX)
    assert not [k for k, _ in member.cache.items("") if k.startswith(AUDIT_PREFIX)]


async def test_the_api_pages_filters_and_refuses_bad_queries(member: InProcessMember) -> None:
    trail = member.service.audit
    for i in range(7):
        trail.record(actor="admin", action="login.failed" if i % 2 else "add_user", target=f"t{i}")
    assert await trail.flush(30.0)
    async with member.http() as api:
        newest = (await api.get("/api/v1/audit", params={"limit": "3"})).json()
        assert [e["target"] for e in newest["entries"]] == ["t6", "t5", "t4"] and newest["order"] == "newest"
        rest = (await api.get("/api/v1/audit", params={"limit": "10", "cursor": newest["next"]})).json()
        assert [e["target"] for e in rest["entries"]] == ["t3", "t2", "t1", "t0"] and rest["next"] is None
        logins = (await api.get("/api/v1/audit", params={"action": "login", "order": "oldest"})).json()
        assert [e["target"] for e in logins["entries"]] == ["t1", "t3", "t5"]
        future = (await api.get("/api/v1/audit", params={"since": "2999-01-01T00:00"})).json()
        assert future["entries"] == []
        far = (await api.get("/api/v1/audit", params={"since": "1e15"})).json()  # past 20 digits of ns
        assert far["entries"] == []
        recent = (
            await api.get("/api/v1/audit", params={"since": "1h", "until": str(time.time() + 60)})
        ).json()
        assert len(recent["entries"]) == 7
        for params, code in (
            ({"limit": "0"}, "HG-1011"),
            ({"limit": "x"}, "HG-1011"),
            ({"order": "sideways"}, "HG-1011"),
            ({"since": "yesterday-ish"}, "HG-1003"),
            ({"colour": "red"}, "HG-1003"),
            ({"cursor": "/hostgate/users/admin"}, "HG-1011"),
        ):
            resp = await api.get("/api/v1/audit", params=params)
            assert (resp.status_code, resp.json()["code"]) == (400, code), params
    async with member.http("operator") as api:
        resp = await api.get("/api/v1/audit")
    assert (resp.status_code, resp.json()["code"]) == (403, "HG-3002")


async def test_retention_prunes_by_age_then_by_count(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    clock = ManualClock(1_800_000_000.0)
    trail = AuditTrail(store, "m1", AuditSettings(retention_days=1, max_entries=5), clock=clock)
    try:
        for i in range(4):
            trail.record(actor="admin", action="old", target=str(i))
        clock.advance(2 * 86_400)  # two days later
        for i in range(8):
            trail.record(actor="admin", action="new", target=str(i))
        assert await trail.flush(30.0)
        pruned = await trail.prune()
        assert (pruned.expired, pruned.excess) == (4, 3), str(pruned)
        page = await trail.read(Query(limit=100, oldest_first=True))
        assert [(e.action, e.target) for e in page.entries] == [("new", str(i)) for i in range(3, 8)]
        again = await trail.prune()  # idempotent: nothing more to do
        assert (again.expired, again.excess) == (0, 0)
        assert await store.count_range(AUDIT_PREFIX, AUDIT_END) == 5
    finally:
        await trail.close()
        await store.close()


async def test_a_full_queue_counts_what_it_drops_and_says_so_once_stored(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    trail = AuditTrail(store, "m1", AuditSettings(queue=10))
    try:
        for i in range(25):  # recorded before the writer runs (no await): 10 queued, 15 counted
            trail.record(actor="admin", action="burst", target=str(i))
        assert await trail.flush(30.0)
        page = await trail.read(Query(limit=100, oldest_first=True))
        assert [e.target for e in page.entries if e.action == "burst"] == [str(i) for i in range(10)]
        [dropped] = [e for e in page.entries if e.action == "audit.dropped"]
        assert dict(dropped.detail) == {"count": "15"} and dropped.actor == "hostgate"
    finally:
        await trail.close()
        await store.close()


@requires_etcd
async def test_a_store_without_quorum_never_fails_or_stalls_the_caller(etcd_cluster_fn: EtcdCluster) -> None:
    cluster = etcd_cluster_fn
    store = cluster.store(write_timeout=2.0, election_grace=1.0)
    trail = AuditTrail(store, "m1", AuditSettings(queue=1000), retry_max=0.5)
    try:
        trail.record(actor="admin", action="before", target="x")
        assert await trail.flush(30.0)
        for node in cluster.nodes[1:]:
            node.freeze()  # SIGSTOP: the store member this trail talks to has no majority
        started = time.monotonic()
        for i in range(200):
            trail.record(actor="admin", action="during", target=str(i), detail={"password": SECRET})
        assert time.monotonic() - started < 0.5  # never waits for the store
        await asyncio.sleep(0)  # let the writer try (and fail) while the majority is frozen
        assert not await trail.flush(3.0) and trail.pending == 200  # they wait on the member
        for node in cluster.nodes[1:]:
            node.thaw()
        assert await trail.flush(60.0), "entries waiting for the quorum were not stored after it came back"
        page = await trail.read(Query(limit=1000, oldest_first=True))
        assert [e.action for e in page.entries].count("during") == 200
        assert [e.target for e in page.entries if e.action == "during"] == [str(i) for i in range(200)]
    finally:
        for node in cluster.nodes[1:]:
            node.thaw()
        await trail.close()
        await store.close()


async def test_the_writer_never_inherits_the_write_guard_of_the_request_that_started_it(
    member: InProcessMember,
) -> None:
    # A handler may record inside its guarded call (a deployment, a grant): had the writer task been started in
    # that context, the request's guard (store.guard) would bound every later store write of the writer, and
    # every batch after the request's deadline would be refused (DeadlineExpired) for good.
    deadline = time.time() + 1.0
    with guarding(WriteGuard("k" * 32, "attempt-1", "m1", "", deadline)):
        member.service.audit.record(actor="admin", action="inside-a-guarded-call")
    while time.time() < deadline + 0.2:
        await asyncio.sleep(0.05)  # until the request's deadline has passed (wall clock), bounded
    member.service.audit.record(actor="admin", action="after-its-deadline")
    assert await member.service.audit.flush(10.0), (
        "the writer's store writes carry a finished request's guard"
    )
    assert [e["action"] for e in await _entries(member)] == ["after-its-deadline", "inside-a-guarded-call"]
