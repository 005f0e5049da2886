"""Grants to directory users and groups, with a real slapd (a SQLite member in process over ASGI).

Directory users get the profiles granted to their name and to their groups, nested ones included (alice is in
devs, devs in engineering, engineering in staff); a group is named by its DN or its bare name, in any case. A
directory Administrator (bob, through the admins group) may change grants, a directory User may not, and a
group's Administrator grant never stands in for the last local one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.errors import NotAuthorized
from hostgate.management.access import Profile
from hostgate.management.login_guard import LoginGuard
from hostgate.management.service import ManagementService
from tests.helpers.inprocess import PASSWORD, InProcessMember, start_member
from tests.helpers.slapd import Slapd, slapd_binary
from tests.integration.test_ldap import CORP, GROUPS
from tests.integration.test_ldap_login import settings_body

pytestmark = pytest.mark.skipif(
    slapd_binary() is None, reason="slapd/ldap-utils not installed (make sysdeps)"
)

ADMINS_DN = f"CN=Admins,{GROUPS.upper()}"  # the DN in another case than the directory spells it


@pytest.fixture(scope="module")
def corp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("corp"), pki.create_ca("ldap-grants"), CORP) as server:
        yield server


@pytest.fixture
async def member(tmp_path: Path, corp: Slapd) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    try:
        async with m.http() as admin:
            answer = await admin.put("/api/v1/ldap", json=settings_body(corp, tmp_path / "svc.pw"))
            assert answer.status_code == 200, answer.text
            for body in (
                {"profile": "administrator", "subject_kind": "group", "subject": ADMINS_DN},
                {"profile": "user", "subject_kind": "group", "subject": "staff", "scope_kind": "domain",
                 "scope": "prod"},
                {"profile": "developer", "subject_kind": "group", "subject": "ENGINEERING", "scope_kind": "model",
                 "scope": "orders"},
                {"profile": "developer", "subject_kind": "user", "subject": "Alice", "scope_kind": "model",
                 "scope": "billing"},
            ):  # fmt: skip
                added = await admin.post("/api/v1/grants", json=body)
                assert added.status_code == 201, added.text
        yield m
    finally:
        await m.close()


def api(service: ManagementService, user: str, password: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service)), base_url="https://m1", auth=(user, password)
    )


async def test_directory_users_get_the_profiles_of_their_name_and_nested_groups(
    member: InProcessMember,
) -> None:
    guard = LoginGuard(member.service.auth, member.settings.security)
    try:
        alice = await guard.authenticate("alice", "alice-pass-1", "127.0.0.1")
        bob = await guard.authenticate("bob", "bob-pass-1", "127.0.0.1")
    finally:
        guard.close()
    assert f"cn=staff,{GROUPS}" in alice.group_dns  # nested twice: devs -> engineering -> staff
    access = member.service.access
    assert not alice.is_admin and bob.is_admin
    access.require(alice, Profile.USER, model="anything", domain="prod")  # staff (nested), by bare name
    access.require(alice, Profile.DEVELOPER, model="orders")  # engineering (nested), any case
    access.require(alice, Profile.DEVELOPER, model="billing")  # her own name's grant
    with pytest.raises(
        NotAuthorized, match="'alice' does not hold the Developer profile for model 'payroll'"
    ):
        access.require(alice, Profile.DEVELOPER, model="payroll", domain="prod")
    with pytest.raises(NotAuthorized):
        access.require(alice, Profile.USER, domain="test")
    access.require(bob, Profile.ADMINISTRATOR, model="payroll")  # admins, by DN in another case

    async with api(member.service, "alice", "alice-pass-1") as client:
        me = (await client.get("/api/v1/whoami")).json()
    assert me["roles"] == ["user"]
    assert sorted((p["profile"], p["subject"], p["scope"]) for p in me["profiles"]) == [
        ("developer", "Alice", "billing"),
        ("developer", "ENGINEERING", "orders"),
        ("user", "staff", "prod"),
    ]


async def test_a_directory_user_cannot_change_grants_and_a_directory_administrator_can(
    member: InProcessMember,
) -> None:
    body = {
        "profile": "user",
        "subject_kind": "user",
        "subject": "carol",
        "scope_kind": "model",
        "scope": "m",
    }
    async with api(member.service, "alice", "alice-pass-1") as alice:
        refused = await alice.post("/api/v1/grants", json=body)
        users = await alice.get("/api/v1/users")
    assert refused.status_code == 403 and refused.json()["code"] == "HG-3002"
    assert users.status_code == 403
    async with api(member.service, "bob", "bob-pass-1") as bob:
        added = await bob.post("/api/v1/grants", json=body)
        assert added.status_code == 201 and added.json()["granted_by"] == "bob"
        # The group grant that makes bob an Administrator does not replace the local one: refused.
        last = await bob.request(
            "DELETE",
            "/api/v1/grants",
            json={"profile": "administrator", "subject_kind": "user", "subject": "admin"},
        )
    assert last.status_code == 409 and last.json()["code"] == "HG-3200"
    assert "held now by admin" in last.json()["message"]
    async with member.http("admin", PASSWORD) as admin:
        kept = (await admin.get("/api/v1/grants")).json()
    assert ("administrator", "admin") in {(g["profile"], g["subject"]) for g in kept}
