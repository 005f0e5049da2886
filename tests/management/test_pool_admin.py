"""PoolAdmin in process over a real SqliteStore and ConfigCache (management/pools.py, pool_records.py).

Bad input is refused whole with every field named, and changes nothing; the Developer profile on the pool or its
domain (or Administrator) is needed to change a pool; the version each heartbeat answer carries changes for the
servers a pool concerns and for no other; stored secrets reach only the owning servers, over the API too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from hostgate import pki
from hostgate.errors import InvalidPoolDefinition, NotAuthorized, PoolAlreadyDefined, PoolDefinitionNotFound
from hostgate.management.pool_records import POOLS_PREFIX
from hostgate.management.pools import PoolAdmin
from hostgate.management.security import Principal
from hostgate.messages.pools import (
    PoolDefinition,
    PoolUpdate,
    ScheduleRuleSpec,
    ScheduleSpec,
    VariableListSpec,
)
from tests.helpers.inprocess import ADMIN, OPERATOR, InProcessMember, start_member

DEVELOPER = Principal("dev", ("user",))
SECRET = "s3cr3t-pw"


@dataclass
class Lab:
    member: InProcessMember
    pools: PoolAdmin
    certs: dict[str, str]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    member = await start_member(tmp_path)
    certs = {}
    for name in ("s1", "s2", "s3"):
        csr, _key = pki.make_csr(name)
        grant = await member.service.domains.register_server(
            ADMIN, name=name, address="127.0.0.1", port=9000, advertised_address="", advertised_port=0,
            csr_pem=csr.decode(),
        )  # fmt: skip
        certs[name] = grant.cert_pem
    await member.service.domains.create_domain(ADMIN, "prod")
    for name in ("s1", "s2"):
        await member.service.domains.add_server(ADMIN, "prod", name, 1, 1)
    await member.grant("developer", "dev", "domain", "prod")
    try:
        yield Lab(member, member.service.pools, certs)
    finally:
        await member.close()


def definition(**changes: object) -> PoolDefinition:
    base: dict[str, object] = {
        "name": "orders",
        "model": "demo3270",
        "startup_entity": "CustomerList",
        "max_concurrent": 4,
        "domain": "prod",
        "variable_lists": (VariableListSpec("creds", "", ("userid", "password"), (("ADA", SECRET),)),),
    }
    return PoolDefinition(**{**base, **changes})  # type: ignore[arg-type]


async def test_a_developer_of_the_domain_defines_a_pool_and_its_servers_versions_change(lab: Lab) -> None:
    before = {s: lab.pools.version_for(s) for s in ("s1", "s2", "s3")}
    assert before == {"s1": "", "s2": "", "s3": ""}
    rec = await lab.pools.create(DEVELOPER, definition())
    assert lab.pools.owners(rec) == ("s1", "s2") and rec.max_idle == 4
    after = {s: lab.pools.version_for(s) for s in ("s1", "s2", "s3")}
    assert after["s1"] and after["s1"] == after["s2"] and after["s3"] == ""
    delivered = lab.pools.for_server("s1")
    assert delivered.version == after["s1"]
    assert delivered.pools[0].variable_lists[0].entries == (("ADA", SECRET),)
    assert lab.pools.for_server("s3").pools == ()
    view = lab.pools.view(rec)
    assert SECRET not in repr(view) and SECRET not in repr(rec)
    assert view.variable_lists[0].stored_entries == 1
    with pytest.raises(PoolAlreadyDefined):
        await lab.pools.create(ADMIN, definition(domain="", server="s3"))


async def test_a_schedule_change_changes_only_the_owning_servers_versions(lab: Lab) -> None:
    await lab.pools.create(ADMIN, definition())
    await lab.pools.create(ADMIN, definition(name="solo", domain="", server="s3", variable_lists=()))
    before = {s: lab.pools.version_for(s) for s in ("s1", "s2", "s3")}
    spec = ScheduleSpec("Europe/Paris", (ScheduleRuleSpec("mon-fri 08:00-18:00", min_idle=2, max_idle=3),))
    await lab.pools.set_schedule(DEVELOPER, "orders", spec)
    after = {s: lab.pools.version_for(s) for s in ("s1", "s2", "s3")}
    assert after["s1"] != before["s1"] and after["s2"] != before["s2"] and after["s3"] == before["s3"]
    monday_9 = datetime(2026, 3, 30, 7, 0, tzinfo=UTC).timestamp()  # 09:00 CEST
    answer = lab.pools.schedule("orders", 3, at=monday_9)
    assert (answer.now.min_idle, answer.now.max_idle, answer.now.rule) == (2, 3, 0)
    assert [c.local for c in answer.changes] == [
        "2026-03-30 18:00 CEST +02:00",
        "2026-03-31 08:00 CEST +02:00",
        "2026-03-31 18:00 CEST +02:00",
    ]


async def test_bad_input_is_refused_whole_naming_every_field_and_nothing_is_stored(lab: Lab) -> None:
    bad = definition(
        name="9lives",
        max_concurrent=0,
        domain="nosuch",
        max_wait=-1.0,
        variable_lists=(VariableListSpec("creds", "", ("userid",), ((SECRET, "extra"),)),),
    )
    with pytest.raises(InvalidPoolDefinition) as caught:
        await lab.pools.create(ADMIN, bad)
    message = caught.value.message
    for field in (
        "'name'",
        "'max_concurrent'",
        "'domain'",
        "'max_wait'",
        "'variable_lists[0].secret_entries[0]'",
    ):
        assert field in message, (field, message)
    assert SECRET not in message and caught.value.code == "HG-4331"
    assert lab.member.cache.items(POOLS_PREFIX) == []

    rec = await lab.pools.create(ADMIN, definition())
    schedule = ScheduleSpec("Mars/Olympus", (ScheduleRuleSpec("mon-fri 08:00-18:00", max_concurrent=1),))
    with pytest.raises(InvalidPoolDefinition, match=r"'schedule\.zone'"):
        await lab.pools.set_schedule(ADMIN, "orders", schedule)
    with pytest.raises(InvalidPoolDefinition, match="'min_idle'"):
        await lab.pools.update(ADMIN, "orders", PoolUpdate(min_idle=5))
    assert lab.pools.get("orders") == rec  # unchanged


async def test_changing_a_pool_needs_developer_on_the_pool_or_its_domain(lab: Lab) -> None:
    with pytest.raises(NotAuthorized, match="Developer"):
        await lab.pools.create(OPERATOR, definition())
    with pytest.raises(NotAuthorized):  # dev holds Developer on domain prod, not on server s3's domains
        await lab.pools.create(DEVELOPER, definition(domain="", server="s3"))
    await lab.pools.create(DEVELOPER, definition())
    with pytest.raises(NotAuthorized):  # moving it needs the profile where it goes too
        await lab.pools.update(DEVELOPER, "orders", PoolUpdate(server="s3"))
    with pytest.raises(NotAuthorized):
        await lab.pools.set_drained(OPERATOR, "orders", True)
    assert (await lab.pools.set_drained(DEVELOPER, "orders", True)).drained
    await lab.member.grant("developer", "operator", "pool", "orders")
    await lab.pools.update(OPERATOR, "orders", PoolUpdate(max_concurrent=6))
    assert lab.pools.get("orders").max_concurrent == 6
    await lab.pools.delete(OPERATOR, "orders")
    with pytest.raises(PoolDefinitionNotFound):
        lab.pools.get("orders")


async def test_the_api_hides_secrets_and_serves_definitions_only_to_the_servers_certificate(lab: Lab) -> None:
    await lab.pools.create(ADMIN, definition())
    async with lab.member.http() as http:
        shown = await http.get("/api/v1/cluster/pools/orders")
        assert shown.status_code == 200 and SECRET not in shown.text
        listed = await http.get("/api/v1/cluster/pools")
        assert SECRET not in listed.text and listed.json()[0]["name"] == "orders"
        refused = await http.get("/api/v1/session-servers/s1/pools")  # an account, no certificate
        assert refused.status_code == 401 and SECRET not in refused.text
        bad = await http.post("/api/v1/cluster/pools", json={"name": "x", "model": "m"})
        assert bad.status_code == 400 and bad.json()["code"] == "HG-1011"
        schedule = await http.get("/api/v1/cluster/pools/orders/schedule?changes=abc")
        assert schedule.status_code == 400


async def test_stored_entries_sent_to_the_api_never_reach_the_audit_trail(lab: Lab) -> None:
    # Regression: the audit hook keeps the request body, scrubbing only fields named like a secret; the stored
    # variable-list values travelled as "entries" and were kept in the audit entry of the pool's creation.
    body = msgspec.to_builtins(definition())
    async with lab.member.http() as http:
        created = await http.post("/api/v1/cluster/pools", json=body)
        assert created.status_code == 201, created.text
        assert await lab.member.service.audit.flush(10.0)
        trail = await http.get("/api/v1/audit")
    assert trail.status_code == 200 and "orders" in trail.text, trail.text
    assert SECRET not in trail.text
    assert lab.pools.for_server("s1").pools[0].variable_lists[0].entries == (("ADA", SECRET),)
