"""Profiles and grants on a member in process (real SqliteStore and ConfigCache, the JSON API over ASGI).

What it guarantees (issue #17): routing and direct tokens need the User profile on the model, on the domain or
cluster-wide; a refusal names the user, the model/domain and the command that grants it; only an
Administrator changes grants; no change leaves the cluster without a local account holding cluster-wide
Administrator, and the built-in admin is never removed; a store made before grants keeps its administrators.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostgate import pki, tokens
from hostgate.errors import (
    BuiltinAdminProtected,
    GrantNotFound,
    InvalidField,
    LastAdministrator,
    NotAuthorized,
)
from hostgate.management.access import Profile
from hostgate.management.grant_admin import ensure_grants
from hostgate.management.records import GRANTS_KEY, PREFIX, GrantRecord, GrantSet
from hostgate.management.routing import Heartbeat
from hostgate.management.security import Principal
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, OPERATOR, PASSWORD, InProcessMember, start_member


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    try:
        for name in ("s1", "s2"):
            csr, _ = pki.make_csr(name)
            grant = await m.service.domains.register_server(
                ADMIN, name=name, address="127.0.0.1", port=9000, advertised_address="", advertised_port=0,
                csr_pem=csr.decode(),
            )  # fmt: skip
            m.service.domains.heartbeat(name, grant.cert_pem, Heartbeat(name, 0, 10, 30.0))
        await m.service.domains.create_domain(ADMIN, "prod")
        await m.service.domains.add_server(ADMIN, "prod", "s1", 1, 1)
        await m.service.domains.create_domain(ADMIN, "test")
        await m.service.domains.add_server(ADMIN, "test", "s2", 1, 1)
        yield m
    finally:
        await m.close()


async def test_a_user_without_a_grant_gets_no_token_and_is_told_how_to_get_one(
    member: InProcessMember,
) -> None:
    """The defect of issue #17: any account could route to any model. Fails on the code before grants."""
    async with member.http("operator", PASSWORD) as api:
        routed = await api.post("/api/v1/route", json={"domain": "prod", "model": "orders"})
        direct = await api.post("/api/v1/tokens", json={"server": "s1", "model": "orders"})
    assert routed.status_code == 403, routed.text
    body = routed.json()
    assert body["code"] == "HG-3002"
    assert "'operator'" in body["message"] and "'orders'" in body["message"] and "'prod'" in body["message"]
    assert "hostgate grant add user --user operator --model orders" in body["hint"]
    assert "--domain prod" in body["hint"]
    assert direct.status_code == 403 and direct.json()["code"] == "HG-3002"
    assert "'orders'" in direct.json()["message"] and "'s1'" in direct.json()["message"]


async def test_user_on_the_model_the_domain_or_the_cluster_lets_a_user_connect(
    member: InProcessMember,
) -> None:
    domains = member.service.domains
    with pytest.raises(NotAuthorized):
        domains.route(OPERATOR, "prod", "orders", [], [])

    await member.grant("user", "operator", "model", "orders")
    answer = domains.route(OPERATOR, "prod", "orders", [], [])
    keys = tokens.KeySet(list(domains.token_keys.public()))
    claims = keys.verify(answer.token, kind="session", cluster_id=CLUSTER_ID, server="s1")
    assert (claims.user, claims.model, claims.domain) == ("operator", "orders", "prod")
    assert domains.grant_direct(OPERATOR, "s2", "orders").server == "s2"  # a model grant: on any server
    with pytest.raises(NotAuthorized, match="'billing'"):
        domains.route(OPERATOR, "prod", "billing", [], [])

    # A domain grant covers every model routed through the domain, and its servers for direct tokens.
    await member.grant("user", "operator", "domain", "prod")
    assert domains.route(OPERATOR, "prod", "billing", [], []).server == "s1"
    assert domains.grant_direct(OPERATOR, "s1", "billing").server == "s1"
    with pytest.raises(NotAuthorized):
        domains.route(OPERATOR, "test", "billing", [], [])  # not another domain
    with pytest.raises(NotAuthorized):
        domains.grant_direct(OPERATOR, "s2", "billing")  # s2 is not in prod

    await member.grant("user", "operator")  # cluster-wide
    assert domains.route(OPERATOR, "test", "anything", [], []).server == "s2"
    assert domains.route(OPERATOR, "test", "", [], []).server == "s2"


async def test_a_profile_includes_the_ones_below_and_the_highest_grant_counts(
    member: InProcessMember,
) -> None:
    access = member.service.access
    await member.grant("developer", "operator", "model", "orders")
    access.require(OPERATOR, Profile.USER, model="orders")
    access.require(OPERATOR, Profile.DEVELOPER, model="orders")
    with pytest.raises(NotAuthorized, match="Administrator profile for model 'orders'"):
        access.require(OPERATOR, Profile.ADMINISTRATOR, model="orders")
    with pytest.raises(NotAuthorized):
        access.require(OPERATOR, Profile.USER, model="billing")
    await member.grant("user", "operator")  # a lower grant cluster-wide does not lower the model's
    access.require(OPERATOR, Profile.DEVELOPER, model="orders")
    with pytest.raises(NotAuthorized):
        access.require(OPERATOR, Profile.DEVELOPER, model="billing")
    # server=: a grant on a domain of the server counts (deployment to one server, issue #17).
    await member.grant("developer", "operator", "domain", "test")
    access.require(OPERATOR, Profile.DEVELOPER, server="s2")
    with pytest.raises(NotAuthorized, match="a domain of session server 's1'"):
        access.require(OPERATOR, Profile.DEVELOPER, server="s1")


async def test_only_an_administrator_changes_grants_and_bad_ones_are_refused_whole(
    member: InProcessMember,
) -> None:
    await member.grant("developer", "operator")
    before = await member.store.get(GRANTS_KEY)
    async with member.http("operator", PASSWORD) as operator, member.http() as admin:
        body = {"profile": "user", "subject_kind": "user", "subject": "eve"}
        refused = await operator.post("/api/v1/grants", json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "HG-3002"
        removal = await operator.request(
            "DELETE",
            "/api/v1/grants",
            json={"profile": "administrator", "subject_kind": "user", "subject": "admin"},
        )
        assert removal.status_code == 403
        for bad, field in (
            ({**body, "profile": "root"}, "profile"),
            ({**body, "scope_kind": "server", "scope": "s1"}, "scope_kind"),
            ({**body, "scope_kind": "model"}, "scope"),
            ({**body, "scope": "prod"}, "scope"),
            ({**body, "subject": ""}, "subject"),
            ({**body, "subject": "a\nb"}, "subject"),
        ):
            answer = await admin.post("/api/v1/grants", json=bad)
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["code"] == "HG-1011" and field in answer.json()["message"]
        # A User reads only the grants that apply to it, never another's.
        mine = (await operator.get("/api/v1/grants")).json()
        assert [(g["profile"], g["subject"]) for g in mine] == [("developer", "operator")]
    assert await member.store.get(GRANTS_KEY) == before  # nothing written by any refusal
    with pytest.raises(NotAuthorized):
        member.service.grant_admin.list_grants(OPERATOR, "admin")
    with pytest.raises(InvalidField):
        await member.service.grant_admin.add(ADMIN, GrantRecord("user", "robot", "x", "cluster"))


async def test_grants_are_added_once_listed_and_removed_by_the_api(member: InProcessMember) -> None:
    body = {"profile": "User", "subject_kind": "group", "subject": "CN=Ops, OU=Groups,DC=example,DC=test"}
    async with member.http() as admin:
        assert (
            await admin.post("/api/v1/grants", json=body)
        ).status_code == 400  # "User": not a profile name
        body["profile"] = "user"
        first = await admin.post("/api/v1/grants", json={**body, "scope_kind": "domain", "scope": "prod"})
        again = await admin.post(
            "/api/v1/grants", json={**body, "subject": "cn=ops,ou=groups,dc=example,dc=test", "scope_kind": "domain",
                                    "scope": "prod"},
        )  # fmt: skip
        assert first.status_code == 201 and again.status_code == 201
        assert first.json()["granted_by"] == "admin"
        listed = (await admin.get("/api/v1/grants")).json()
        assert [(g["profile"], g["subject_kind"], g["scope_kind"]) for g in listed] == [
            ("administrator", "user", "cluster"),
            ("user", "group", "domain"),
        ]
        gone = await admin.request(
            "DELETE", "/api/v1/grants", json={**body, "scope_kind": "domain", "scope": "prod"}
        )
        assert gone.status_code == 200, gone.text
        missing = await admin.request(
            "DELETE", "/api/v1/grants", json={**body, "scope_kind": "domain", "scope": "prod"}
        )
        assert missing.status_code == 404 and missing.json()["code"] == GrantNotFound.code


async def test_the_last_local_administrator_and_the_builtin_admin_stay(member: InProcessMember) -> None:
    admin_grant = GrantRecord("administrator", "user", "admin", "cluster")
    grants = member.service.grant_admin
    with pytest.raises(LastAdministrator, match="held now by admin"):
        await grants.remove(ADMIN, admin_grant)
    # A group's Administrator grant does not count: a directory can be down.
    await grants.add(ADMIN, GrantRecord("administrator", "group", "admins", "cluster"))
    with pytest.raises(LastAdministrator):
        await grants.remove(ADMIN, admin_grant)

    await member.service.add_user(ADMIN, "ada", "ada-password-1", admin=True)
    ada = member.service.authenticate("ada", "ada-password-1")
    assert ada.is_admin
    await grants.remove(ada, admin_grant)  # ada still holds one
    assert not member.service.authenticate("admin", PASSWORD).is_admin  # the grants decide is_admin
    with pytest.raises(LastAdministrator, match="removing user 'ada'"):
        await member.service.remove_user(ADMIN, "ada")
    with pytest.raises(BuiltinAdminProtected):
        await member.service.remove_user(ada, "admin")
    async with member.http("ada", "ada-password-1") as api:
        refused = await api.delete("/api/v1/users/admin")
    assert refused.status_code == 409 and refused.json()["code"] == "HG-3201"

    await grants.add(ada, admin_grant)
    await member.service.remove_user(ADMIN, "ada")  # admin holds one again: allowed, and ada's grants go
    assert [g.subject for g in grants.list_grants(ADMIN)] == ["admins", "admin"]


async def test_two_administrators_removing_each_others_grant_at_once_leave_one(
    member: InProcessMember,
) -> None:
    await member.service.add_user(ADMIN, "ada", "ada-password-1", admin=True)
    ada = Principal("ada", ("admin",))
    grants = member.service.grant_admin
    outcomes = await asyncio.gather(
        grants.remove(ADMIN, GrantRecord("administrator", "user", "ada", "cluster")),
        grants.remove(ada, GrantRecord("administrator", "user", "admin", "cluster")),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["GrantRecord", "LastAdministrator"], outcomes
    stored = GrantSet.decode(GRANTS_KEY, (await member.store.get(GRANTS_KEY)).value)  # type: ignore[union-attr]
    assert len([g for g in stored.grants if g.profile == "administrator"]) == 1


async def test_a_store_made_before_grants_keeps_its_administrators(member: InProcessMember) -> None:
    """Upgrade: records with the admin role and no grant record. Nobody is locked out before or after the
    migration a member's start makes, and plain accounts hold no profile until granted."""
    await member.service.add_user(ADMIN, "old-admin", "old-password-1", admin=True)
    await member.store.delete(GRANTS_KEY)  # as an earlier version left it
    assert await member.cache.wait_until(lambda: member.cache.get(GRANTS_KEY) is None)
    assert member.service.authenticate("old-admin", "old-password-1").is_admin
    assert not member.service.authenticate("operator", PASSWORD).is_admin
    assert [g.subject for g in member.service.grant_admin.list_grants(ADMIN)] == ["admin", "old-admin"]

    decision = await ensure_grants(member.store, member.cache)
    assert "admin, old-admin" in decision
    assert await ensure_grants(member.store, member.cache) == "grants present"
    assert member.service.authenticate("admin", PASSWORD).is_admin
    kvs, _ = await member.store.get_prefix(PREFIX)
    assert GRANTS_KEY in {kv.key for kv in kvs}


async def test_whoami_shows_the_profiles_that_apply(member: InProcessMember) -> None:
    await member.grant("developer", "operator", "domain", "prod")
    async with member.http("operator", PASSWORD) as api, member.http() as admin:
        me = (await api.get("/api/v1/whoami")).json()
        users = {u["name"]: u["roles"] for u in (await admin.get("/api/v1/users")).json()}
    assert me["name"] == "operator" and me["roles"] == ["user"]
    assert [(p["profile"], p["scope_kind"], p["scope"]) for p in me["profiles"]] == [
        ("developer", "domain", "prod")
    ]
    assert users == {"admin": ["admin"], "operator": ["user"]}
