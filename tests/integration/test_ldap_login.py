"""Directory users log in through the management API (a real slapd, a SQLite member in process over ASGI):
settings replicated in the store and validated whole, local accounts first, the directories after, the same
identity type with the groups, and ``/api/v1/ldap/test`` showing what a directory returns, never a secret.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.config.settings import SecuritySettings, ServerSettings, Settings, StoreBackend
from hostgate.management.cache import ConfigCache
from hostgate.management.ldap.config import LDAP_KEY
from hostgate.management.login_guard import LoginGuard
from hostgate.management.records import CLUSTER_KEY, PREFIX, ClusterInfo, UserRecord, user_key
from hostgate.management.security import ADMIN_ROLE, hash_password
from hostgate.management.service import ManagementService
from hostgate.store.sqlite import SqliteStore
from tests.helpers.etcd import write_member_files
from tests.helpers.ports import free_port
from tests.helpers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, Slapd, slapd_binary
from tests.integration.test_ldap import CORP, GROUPS

pytestmark = pytest.mark.skipif(
    slapd_binary() is None, reason="slapd/ldap-utils not installed (make sysdeps)"
)

ADMIN_PW = "correct-horse-battery"


@dataclass
class Member:
    service: ManagementService
    store: SqliteStore
    cache: ConfigCache

    def api(self, user: str, password: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.service)),
            base_url="https://m1",
            auth=(user, password),
        )


@pytest.fixture(scope="module")
def corp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("corp"), pki.create_ca("ldap-login"), CORP) as server:
        yield server


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[Member]:
    data_dir = tmp_path / "m1"
    write_member_files(data_dir, pki.create_ca("test-cluster"), "m1", "127.0.0.1")
    settings = Settings(
        data_dir=data_dir,
        server=ServerSettings(member_name="m1", address="127.0.0.1", cluster_id="test-cluster"),
        store=StoreBackend.SQLITE,
        security=SecuritySettings(login_fail_delay=0.0),
    )
    store = SqliteStore(data_dir / "store.sqlite3", member_name="m1")
    await store.put(CLUSTER_KEY, ClusterInfo("test-cluster", "vhi-prod-sea", time.time()).encode())
    await store.put(user_key("admin"), UserRecord("admin", hash_password(ADMIN_PW), (ADMIN_ROLE,)).encode())
    cache = ConfigCache(store, PREFIX)
    await cache.start()
    try:
        yield Member(ManagementService(settings, store, cache), store, cache)
    finally:
        await cache.close()
        await store.close()


def settings_body(corp: Slapd, secret_file: Path) -> dict[str, object]:
    secret_file.write_text(SERVICE_PW)
    corp_directory = {
        "name": "corp",
        "urls": [corp.url],
        "user_base": BASE_DN,
        "bind_dn": SERVICE_DN,
        "bind_password_ref": f"file:{secret_file}",
        "group_base": GROUPS,
        "ca_file": str(corp.ca_file),
        "connect_timeout": 2.0,
        "timeout": 2,
    }
    nothing_listening = {**corp_directory, "name": "old-dc", "urls": [f"ldap://127.0.0.1:{free_port()}"]}
    return {"directories": [nothing_listening, corp_directory]}


async def test_directory_users_log_in_after_local_accounts_with_their_groups(
    member: Member, corp: Slapd, tmp_path: Path
) -> None:
    body = settings_body(corp, tmp_path / "svc.pw")
    async with member.api("admin", ADMIN_PW) as admin:
        bad = {"directories": [{**body["directories"][1], "user_filter": "(uid=alice)"}]}  # type: ignore[index]
        refused = await admin.put("/api/v1/ldap", json=bad)
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "HG-3100"
        assert "ldap.directories[0].user_filter" in refused.json()["message"]
        assert member.cache.get(LDAP_KEY) is None  # refused whole: nothing stored
        assert (await admin.put("/api/v1/ldap", json=body)).status_code == 200

    async with member.api("alice", "alice-pass-1") as alice:
        who = await alice.get("/api/v1/whoami")
        assert who.status_code == 200, who.text
        assert who.json() == {"name": "alice", "roles": ["user"], "profiles": []}
        # A directory user is a User, not an Administrator (profiles and grants come later).
        denied = await alice.post("/api/v1/users", json={"name": "x", "password": "12345678", "admin": True})
        assert denied.status_code == 403 and denied.json()["code"] == "HG-3002"

    # Recognised again without the directory (ldap.cache_seconds): even while it is stopped.
    corp.pause()
    try:
        async with member.api("alice", "alice-pass-1") as alice:
            assert (await alice.get("/api/v1/whoami")).status_code == 200
    finally:
        corp.resume()

    async with member.api("alice", "wrong-password") as wrong:
        answer = await wrong.get("/api/v1/whoami")
        assert answer.status_code == 401 and answer.json()["code"] == "HG-3001"

    async with member.api("admin", ADMIN_PW) as admin:  # the local account still comes first
        assert (await admin.get("/api/v1/whoami")).json()["name"] == "admin"

    guard = LoginGuard(member.service.auth, SecuritySettings(login_fail_delay=0.0))
    try:
        principal = await guard.authenticate("alice", "alice-pass-1", "127.0.0.1")
    finally:
        guard.close()
    assert principal.groups == ("devs", "engineering", "loop-a", "loop-b", "staff")


async def test_ldap_test_shows_what_each_directory_returns_and_no_secret(
    member: Member, corp: Slapd, tmp_path: Path
) -> None:
    async with member.api("admin", ADMIN_PW) as admin:
        assert (
            await admin.put("/api/v1/ldap", json=settings_body(corp, tmp_path / "svc.pw"))
        ).status_code == 200
        shown = await admin.get("/api/v1/ldap")
        report = await admin.post("/api/v1/ldap/test", json={"user": "alice"})
    assert report.status_code == 200, report.text
    down, found = report.json()["directories"]
    assert (down["directory"], down["outcome"]) == ("old-dc", "down")
    assert (found["directory"], found["outcome"], found["dn"]) == (
        "corp",
        "found",
        f"uid=alice,ou=people,{BASE_DN}",
    )
    assert "staff" in found["groups"]
    for text in (shown.text, report.text, member.cache.get(LDAP_KEY) or b""):
        assert SERVICE_PW not in (text.decode() if isinstance(text, bytes) else text)
    async with member.api("alice", "alice-pass-1") as alice:
        assert (await alice.post("/api/v1/ldap/test", json={"user": "bob"})).status_code == 403


async def test_all_directories_down_is_503_not_a_wrong_password(
    member: Member, corp: Slapd, tmp_path: Path
) -> None:
    body = settings_body(corp, tmp_path / "svc.pw")
    body["directories"] = body["directories"][:1]  # type: ignore[index]
    async with member.api("admin", ADMIN_PW) as admin:
        assert (await admin.put("/api/v1/ldap", json=body)).status_code == 200
    async with member.api("alice", "alice-pass-1") as alice:
        answer = await alice.get("/api/v1/whoami")
    assert answer.status_code == 503 and answer.json()["code"] == "HG-3101"
    assert "old-dc" in answer.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cache_seconds": "60"}, "cache_seconds"),
        ({"directories": [{"urls": "ldap://127.0.0.1:389"}]}, "directories[0].urls"),  # a string, not a list
        ({"directories": [{"max_depth": True}]}, "directories[0].max_depth"),
        ({"directories": [{"timeout": "5"}]}, "directories[0].timeout"),
        ({"directories": [{"bind_dn": 7}]}, "directories[0].bind_dn"),
        ({"directories": [{"nmae": "x"}]}, "directories[0].nmae"),  # unknown: refused, not ignored
        ({"cache_secnods": 5}, "cache_secnods"),
    ],
)
async def test_a_wrong_typed_ldap_field_is_refused_with_hg_1011_naming_it_and_changes_nothing(
    member: Member, change: dict[str, object], field: str
) -> None:
    # Before typed messages, "urls" as a string was stored as one URL and the rest were HG-3100 from the config.
    good = {"name": "loop", "urls": [f"ldap://127.0.0.1:{free_port()}"], "user_base": BASE_DN, "tls": "none"}
    async with member.api("admin", ADMIN_PW) as admin:
        assert (await admin.put("/api/v1/ldap", json={"directories": [good]})).status_code == 200
        stored = member.cache.get(LDAP_KEY)
        shown = (await admin.get("/api/v1/ldap")).json()
        bad: dict[str, object] = {"directories": [good], "cache_seconds": 30}
        for key, value in change.items():
            bad[key] = [{**good, **value[0]}] if key == "directories" else value  # type: ignore[index]
        refused = await admin.put("/api/v1/ldap", json=bad)
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "HG-1011", refused.json()
        assert f"field {field!r}" in refused.json()["message"]
        assert member.cache.get(LDAP_KEY) == stored  # refused whole: nothing changed
        assert (await admin.get("/api/v1/ldap")).json() == shown
