"""What the route call remembers between calls (issue #16), and that every change ends it at once.

In process: the real app over a real SQLite member. The fast path recognises a password argon2 verified
recently (a keyed digest, never the password), keeps the principal the grants made of it, and keeps per domain
the records routing reads and per user, model and domain the grant check's answer. Each test changes what one
of those rests on (the password, the grants, the domain, a lockout) and the very next call must see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hostgate import pki
from hostgate.management.records import GrantRecord
from hostgate.management.routing import Heartbeat
from tests.helpers.inprocess import ADMIN, PASSWORD, InProcessMember, start_member

ROUTE = {"domain": "prod", "model": "m"}
NEW_PASSWORD = "another-password-2"


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    domains = m.service.domains
    await domains.create_domain(ADMIN, "prod")
    for name in ("s1", "s2"):
        csr, _ = pki.make_csr(name)
        grant = await domains.register_server(
            ADMIN, name=name, address="127.0.0.1", port=9000, advertised_address="", advertised_port=0,
            csr_pem=csr.decode(),
        )  # fmt: skip
        await domains.add_server(ADMIN, "prod", name, 1, 1)
        domains.heartbeat(name, grant.cert_pem, Heartbeat(name, 0, 10, 3600.0))
    await m.grant("user", "operator", "domain", "prod")
    try:
        yield m
    finally:
        await m.close()


async def _routes(api: httpx.AsyncClient) -> str:
    """The server a route call chose; fails with the answer when it was refused."""
    resp = await api.post("/api/v1/route", json=ROUTE)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["server"])


async def test_a_changed_password_ends_the_remembered_one_at_once(member: InProcessMember) -> None:
    async with member.http("operator") as api:
        await _routes(api)  # argon2 once; remembered from here
        await _routes(api)
        resp = await api.put(
            "/api/v1/users/operator/password",
            json={"new_password": NEW_PASSWORD, "current_password": PASSWORD},
        )
        assert resp.status_code == 200, resp.text
        refused = await api.post("/api/v1/route", json=ROUTE)
        assert refused.status_code == 401, refused.text
    async with member.http("operator", NEW_PASSWORD) as api:
        await _routes(api)


async def test_a_removed_grant_ends_the_remembered_principal_and_the_route_check(
    member: InProcessMember,
) -> None:
    async with member.http("operator") as api:
        await member.grant("administrator", "operator")
        who = await api.get("/api/v1/whoami")
        assert who.status_code == 200 and who.json()["roles"] == ["admin"], who.text
        await _routes(api)
        await _routes(api)  # the principal and the route check both remembered now
        await member.service.grant_admin.remove(
            ADMIN, GrantRecord("administrator", "user", "operator", "cluster", "")
        )
        who = await api.get("/api/v1/whoami")
        assert who.json()["roles"] == ["user"], who.text  # the remembered principal was rebuilt
        await _routes(api)  # the domain grant still lets it route
        await member.service.grant_admin.remove(
            ADMIN, GrantRecord("user", "user", "operator", "domain", "prod")
        )
        refused = await api.post("/api/v1/route", json=ROUTE)
        assert refused.status_code == 403 and refused.json()["code"] == "HG-3002", refused.text


async def test_a_domain_change_is_routed_by_the_next_call(member: InProcessMember) -> None:
    async with member.http("operator") as api:
        assert {await _routes(api) for _ in range(40)} == {"s1", "s2"}
        await member.service.domains.remove_server_from_domain(ADMIN, "prod", "s1")
        assert {await _routes(api) for _ in range(20)} == {"s2"}
        await member.service.domains.delete_domain(ADMIN, "prod")
        gone = await api.post("/api/v1/route", json=ROUTE)
        assert gone.status_code == 404 and gone.json()["code"] == "HG-4102", gone.text
