"""ManagementService, in process over a real SqliteStore, through its own methods and its HTTP face
(``create_app`` over ``httpx.ASGITransport``).

What it guarantees: reads come from the member's copy and writes are shown by its next answer; only
Administrators change anything, and a refused change writes nothing; the lone SQLite member reports itself
as leader with a majority and refuses cluster operations it cannot do, with coded errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostgate.errors import (
    AuthenticationFailed,
    BuiltinAdminProtected,
    Conflict,
    InvalidField,
    LastMember,
    MemberNotFound,
    NotAuthorized,
    NotSupported,
    StoreUnavailable,
    UsageError,
    UserNotFound,
)
from hostgate.management.cache import ConfigCache
from hostgate.management.records import PREFIX
from hostgate.management.service import JoinRequest, ManagementService
from tests.helpers.inprocess import (
    ADMIN,
    CLUSTER_ID,
    CLUSTER_NAME,
    OPERATOR,
    PASSWORD,
    InProcessMember,
    start_member,
)


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    try:
        yield m
    finally:
        await m.close()


async def _snapshot(member: InProcessMember) -> list[tuple[str, bytes]]:
    kvs, _ = await member.store.get_prefix(PREFIX)
    return [(kv.key, kv.value) for kv in kvs]


# --- the service's own methods ------------------------------------------------------------------------------


async def test_a_lone_sqlite_member_is_its_own_leader_with_a_majority(member: InProcessMember) -> None:
    status = await member.service.cluster_status()
    assert (status.name, status.id, status.answered_by, status.store) == (
        CLUSTER_NAME,
        CLUSTER_ID,
        "m1",
        "sqlite",
    )
    assert status.quorum and not status.degraded
    assert (status.voters, status.fault_tolerance) == (1, 0)
    (m1,) = status.members
    assert (m1.name, m1.healthy, m1.leader, m1.role, m1.detail) == ("m1", True, True, "voter", "ok")


async def test_a_member_that_has_not_loaded_its_copy_says_so(member: InProcessMember) -> None:
    empty = ConfigCache(member.store, "/nothing-here/")
    await empty.start()
    try:
        service = ManagementService(member.settings, member.store, empty)
        with pytest.raises(StoreUnavailable, match="not loaded"):
            service.cluster_info()
    finally:
        await empty.close()


async def test_a_new_user_can_log_in_as_soon_as_add_user_returns(member: InProcessMember) -> None:
    await member.service.add_user(ADMIN, "Ada", "ada-password-1", admin=False)
    principal = member.service.authenticate("ada", "ada-password-1")  # names are case-insensitive
    assert (principal.name, principal.roles) == ("Ada", ("user",))
    with pytest.raises(Conflict, match="already exists"):
        await member.service.add_user(ADMIN, "ADA", "another-password", admin=True)
    assert [u.name for u in member.service.users()] == ["Ada", "admin", "operator"]


@pytest.mark.parametrize(
    ("name", "password"),
    [("bad name", "long-enough-1"), ("", "long-enough-1"), ("x" * 65, "long-enough-1"), ("ok", "short"),
     ("ok", " padded-password ")],
)  # fmt: skip
async def test_bad_user_input_is_refused_whole(member: InProcessMember, name: str, password: str) -> None:
    before = await _snapshot(member)
    with pytest.raises(UsageError):
        await member.service.add_user(ADMIN, name, password, admin=False)
    assert await _snapshot(member) == before


async def test_only_an_administrator_changes_anything_and_a_refusal_writes_nothing(
    member: InProcessMember,
) -> None:
    before = await _snapshot(member)
    attempts = [
        member.service.add_user(OPERATOR, "eve", "eve-password-1", admin=True),
        member.service.remove_user(OPERATOR, "admin"),
        member.service.rename_cluster(OPERATOR, "other"),
        member.service.remove_member(OPERATOR, "m1"),
        member.service.join(OPERATOR, JoinRequest("m2", "127.0.0.2", 1, 2, 3, "")),
    ]
    for attempt in attempts:
        with pytest.raises(NotAuthorized):
            await attempt
    assert await _snapshot(member) == before


async def test_a_removed_user_cannot_log_in_at_once_and_nobody_removes_themselves(
    member: InProcessMember,
) -> None:
    member.service.authenticate("operator", PASSWORD)  # verified once: a cheap re-check is remembered
    await member.service.remove_user(ADMIN, "OPERATOR")
    with pytest.raises(AuthenticationFailed):
        member.service.authenticate("operator", PASSWORD)
    with pytest.raises(UserNotFound):
        await member.service.remove_user(ADMIN, "operator")
    with pytest.raises(BuiltinAdminProtected):  # the built-in admin: never, by anyone (issue #17)
        await member.service.remove_user(ADMIN, "Admin")
    await member.service.add_user(ADMIN, "ada", "ada-password-1", admin=True)
    with pytest.raises(UsageError, match="logged in with"):
        await member.service.remove_user(member.service.authenticate("ada", "ada-password-1"), "ADA")
    assert [u.name for u in member.service.users()] == ["ada", "admin"]


async def test_rename_is_checked_and_shown_at_once(member: InProcessMember) -> None:
    for bad in ("a..b", "-lead", "", "x" * 254, "under_score"):
        with pytest.raises(InvalidField):
            await member.service.rename_cluster(ADMIN, bad)
    assert member.service.cluster_info().name == CLUSTER_NAME
    renamed = await member.service.rename_cluster(ADMIN, "  vhi-test  ")
    assert renamed.name == "vhi-test" and renamed.id == CLUSTER_ID
    assert member.service.cluster_info() == renamed


async def test_a_sqlite_member_refuses_joins_and_keeps_its_last_member(member: InProcessMember) -> None:
    before = await _snapshot(member)
    with pytest.raises(NotSupported, match="--store etcd"):
        await member.service.join(ADMIN, JoinRequest("m2", "127.0.0.2", 9443, 2379, 2380, "csr"))
    with pytest.raises(LastMember):
        await member.service.remove_member(ADMIN, "m1")
    with pytest.raises(MemberNotFound, match="members: m1"):
        await member.service.remove_member(ADMIN, "m9")
    assert await _snapshot(member) == before


# --- the HTTP face ----------------------------------------------------------------------------------------------


async def test_only_health_and_the_ca_answer_without_credentials(member: InProcessMember) -> None:
    async with member.http(user="") as anonymous:
        health = await anonymous.get("/api/v1/health")
        assert health.json() == {"status": "ok", "member": "m1", "cluster_id": CLUSTER_ID}
        assert health.headers["x-hostgate-cluster-id"] == CLUSTER_ID
        assert health.headers["x-hostgate-member"] == "m1"
        ca = await anonymous.get("/api/v1/ca")
        assert ca.status_code == 200 and ca.text == member.ca.cert_pem.decode()
        for path in ("/api/v1/whoami", "/api/v1/cluster", "/api/v1/users", "/api/v1/domains"):
            resp = await anonymous.get(path)
            assert resp.status_code == 401 and resp.json()["code"] == "HG-3001", (path, resp.text)
            assert "Traceback" not in resp.text


async def test_wrong_credentials_are_a_coded_401_that_names_no_user(member: InProcessMember) -> None:
    for user, password in (("admin", "wrong-password"), ("nobody", PASSWORD)):
        async with member.http(user, password) as api:
            resp = await api.get("/api/v1/whoami")
        assert resp.status_code == 401 and resp.json()["code"] == "HG-3001"
        assert resp.json()["request_id"] == resp.headers["x-request-id"]
    # The same message whether the account exists or not: no user enumeration.
    async with member.http("admin", "wrong-password") as a, member.http("nobody", "wrong-password") as b:
        assert (await a.get("/api/v1/whoami")).json()["message"] == (await b.get("/api/v1/whoami")).json()[
            "message"
        ]


async def test_the_http_face_calls_the_same_service(member: InProcessMember) -> None:
    async with member.http() as admin, member.http("operator", PASSWORD) as operator:
        me = (await operator.get("/api/v1/whoami")).json()
        assert me == {"name": "operator", "roles": ["user"], "profiles": []}
        refused = await operator.get("/api/v1/users")
        assert refused.status_code == 403 and refused.json()["code"] == "HG-3002"
        created = await admin.post("/api/v1/users", json={"name": "ada", "password": "ada-password-1"})
        assert created.status_code == 201
        assert created.json() == {"name": "ada", "roles": ["user"], "profiles": []}
        assert "ada" in [u.name for u in member.service.users()]
        status = (await operator.get("/api/v1/cluster")).json()
        assert status["answered_by"] == "m1" and status["quorum"] is True
        bad = await admin.put("/api/v1/cluster/name", json={"name": "a..b"})
        assert bad.status_code == 400 and bad.json()["code"] == "HG-1011"
        wrong_type = await admin.put("/api/v1/cluster/name", json={"name": 5})
        # A wrong-typed field is a field error (HG-1011 naming it); a body that is not JSON stays HG-1003.
        assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "HG-1011"
        assert "name" in wrong_type.json()["message"]
        not_json = await admin.put(
            "/api/v1/cluster/name", content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400 and not_json.json()["code"].startswith("HG-")
    assert member.service.cluster_info().name == CLUSTER_NAME
