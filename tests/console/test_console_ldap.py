"""A directory (LDAP) user logs in to the console: a real slapd, the member in process. The session keeps the
user's directory groups, so a grant to a group applies on every request (and its removal too) without the
directory being asked again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.management.records import GrantRecord
from tests.console.test_console_http import client, log_in
from tests.helpers.inprocess import ADMIN, PASSWORD, InProcessMember, start_member
from tests.helpers.slapd import Slapd, slapd_binary
from tests.integration.test_ldap import CORP
from tests.integration.test_ldap_login import settings_body

pytestmark = pytest.mark.skipif(
    slapd_binary() is None, reason="slapd/ldap-utils not installed (make sysdeps)"
)


@pytest.fixture(scope="module")
def corp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("corp"), pki.create_ca("console-ldap"), CORP) as server:
        yield server


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    yield m
    await m.close()


async def test_a_directory_user_logs_in_and_group_grants_apply_per_request(
    member: InProcessMember, corp: Slapd, tmp_path: Path
) -> None:
    async with member.http("admin", PASSWORD) as api:
        assert (
            await api.put("/api/v1/ldap", json=settings_body(corp, tmp_path / "svc.pw"))
        ).status_code == 200
    async with client(member.service) as alice:
        await log_in(alice, "alice", "alice-pass-1")
        status = (await alice.get("/console/status.json")).json()["status_bar"]
        assert status["user"] == "alice" and status["profile"] == "no cluster-wide profile"
        grant = GrantRecord("administrator", "group", "devs", "cluster")
        await member.service.grant_admin.add(ADMIN, grant)
        assert (await alice.get("/console/status.json")).json()["status_bar"]["profile"] == "Administrator"
        assert "/console/domains/create" in (await alice.get("/console/domains")).text
        await member.service.grant_admin.remove(ADMIN, grant)
        assert (await alice.get("/console/status.json")).json()["status_bar"][
            "profile"
        ] == "no cluster-wide profile"
    async with client(member.service) as wrong:
        form = await wrong.get("/console/login")
        assert form.status_code == 200
        token = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        refused = await wrong.post(
            "/console/login", data={"user": "alice", "password": "nope-nope", "csrf": token}
        )
        assert refused.status_code == 401 and "HG-3001" in refused.text
