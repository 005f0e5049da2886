"""The Session pools and Web services pages over HTTP, in process (the real service over SQLite, the console
mounted as members mount it): their JSON twins, the week view against the schedule function the servers
apply, the per-server figures from heartbeats, changes with field-level refusals that store nothing, a User
login that sees no forms and whose forged POSTs are refused, and the plugin-cfg.xml download.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hostgate import pki
from hostgate.config.plugin_cfg import PLUGIN_CFG
from hostgate.console.services_page import PLUGIN_CFG as CONSOLE_PLUGIN_CFG
from hostgate.management.deployments import DeploymentRecord, deployment_key
from hostgate.management.pool_records import POOLS_PREFIX
from hostgate.management.routing import Heartbeat, PoolFigures
from hostgate.pool_schedule import Rule, Schedule, Sizes, effective
from hostgate.webservices import WS_PREFIX
from tests.console.test_console_http import client, log_in
from tests.helpers.inprocess import ADMIN, PASSWORD, InProcessMember, start_member


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path)
    await m.grant("user", "operator")
    for name in ("s1", "s2"):
        csr, _key = pki.make_csr(name)
        await m.service.domains.register_server(
            ADMIN, name=name, address="127.0.0.1", port=9000, advertised_address="", advertised_port=0,
            csr_pem=csr.decode(),
        )  # fmt: skip
    await m.service.domains.create_domain(ADMIN, "prod")
    await m.service.domains.add_server(ADMIN, "prod", "s1", 1, 1)
    yield m
    await m.close()


POOL = {
    "name": "orders",
    "model": "demo3270",
    "startup_entity": "CustomerList",
    "domain": "prod",
    "server": "",
    "max_concurrent": "4",
    "min_idle": "1",
    "max_idle": "",
    "initial_idle": "0",
}


def stored_pools(member: InProcessMember) -> list[str]:
    return [k.removeprefix(POOLS_PREFIX) for k, _ in member.cache.items(POOLS_PREFIX)]


async def test_pools_page_week_view_is_the_servers_schedule_function(member: InProcessMember) -> None:
    async with client(member.service) as c:
        csrf = await log_in(c)
        empty = await c.get("/console/pools")
        assert empty.status_code == 200 and "No pools yet" in empty.text
        made = await c.post("/console/pools/create", data={**POOL, "csrf": csrf})
        assert made.status_code == 303 and "done=" in made.headers["location"], made.text
        rules = "mon-fri 08:00-18:00 min_idle=2 max_idle=3\n\n30 12 * * * minutes=30 max_concurrent=6"
        scheduled = await c.post(
            "/console/pools/schedule",
            data={"pool": "orders", "zone": "Europe/Paris", "rules": rules, "csrf": csrf},
        )
        assert scheduled.status_code == 303, scheduled.text
        # s1 runs it: its heartbeat's figures are what the page shows (soft state of this member).
        member.service.router.heartbeat(
            Heartbeat("s1", 3, 10, 5.0, {"orders": PoolFigures("demo3270", 2, 1, 0, 4)})
        )
        twin = (await c.get("/console/pools.json")).json()
        assert twin["title"] == "Session pools"
        [pool] = twin["page"]["pools"]
        assert pool["pool"]["name"] == "orders" and pool["where"] == "domain prod"
        assert pool["servers"] == [
            {
                "server": "s1",
                "live": True,
                "reported": True,
                "idle": 2,
                "busy": 1,
                "pending": 0,
                "max_concurrent": 4,
            }
        ]
        assert (
            pool["rules_text"]
            == "mon-fri 08:00-18:00 min_idle=2 max_idle=3\n30 12 * * * minutes=30 max_concurrent=6"
        )
        week = pool["week"]
        assert week["zone"] == "Europe/Paris" and len(week["days"]) == 7 and len(week["hours"]) == 24
        schedule = Schedule(
            "Europe/Paris",
            (Rule("mon-fri 08:00-18:00", min_idle=2, max_idle=3), Rule("30 12 * * *", 30, max_concurrent=6)),
        )
        zone = ZoneInfo("Europe/Paris")
        first = datetime.now(zone).date()
        seen_rules = set()
        for h, row in enumerate(week["hours"]):
            assert row["hour"] == f"{h:02d}:00"
            for d, cell in enumerate(row["cells"]):
                at = datetime.combine(first + timedelta(days=d), clock_time(h), tzinfo=zone).timestamp()
                sizes, rule = effective(Sizes(4, 1, 4), schedule, at)
                assert (cell["max_concurrent"], cell["min_idle"], cell["max_idle"]) == (
                    sizes.max_concurrent,
                    sizes.min_idle,
                    sizes.max_idle,
                )
                assert cell["rule"] == (0 if rule is None else rule + 1)
                seen_rules.add(cell["rule"])
                # The cron rule starts at 12:30, inside the hour: the 12:00 cell names it, on the days it
                # wins (at the weekend: on weekdays rule 1 is in force then, and the first rule in force wins).
                weekend = (first + timedelta(days=d)).weekday() >= 5
                assert ("from 12:30: rule 2" in cell["note"]) == (h == 12 and weekend), (d, h, cell)
        assert seen_rules == {0, 1}  # weekdays 08-18 by rule 1; rule 2 only inside the 12:00 hour
        html = (await c.get("/console/pools")).text
        assert "<caption>Sizes in force for pool orders at each hour of the coming week" in html
        assert '<th scope="row">08:00</th>' in html and "rule 1" in html


async def test_bad_input_is_shown_next_to_its_field_and_nothing_changes(member: InProcessMember) -> None:
    async with client(member.service) as c:
        csrf = await log_in(c)
        bad = {**POOL, "name": "9lives", "max_concurrent": "many", "csrf": csrf}
        refused = await c.post("/console/pools/create", data=bad)
        assert refused.status_code == 400 and "HG-4331" in refused.text
        assert re.search(r'id="new-max_concurrent"[^>]*aria-invalid="true"', refused.text)
        assert 'id="new-max_concurrent-error"' in refused.text and "is not a whole number" in refused.text
        assert 'value="9lives"' in refused.text  # the typed values come back for correction
        refused = await c.post("/console/pools/create", data={**bad, "max_concurrent": "4"})
        assert refused.status_code == 400
        assert re.search(r'id="new-name"[^>]*aria-invalid="true"', refused.text)
        assert 'id="new-name-error"' in refused.text and "identifiers" in refused.text
        assert stored_pools(member) == []
        assert (await c.post("/console/pools/create", data={**POOL, "csrf": csrf})).status_code == 303
        before = member.cache.get(POOLS_PREFIX + "orders")
        rules = "mon-fri 08:00-18:00 min_idle=2\nevery day at noon max_idle=2\nsat 10:00-12:00 min_idle=x"
        refused = await c.post(
            "/console/pools/schedule",
            data={"pool": "orders", "zone": "Mars/Olympus", "rules": rules, "csrf": csrf},
        )
        assert refused.status_code == 400 and "line 3" in refused.text  # our own parse first
        refused = await c.post(
            "/console/pools/schedule",
            data={
                "pool": "orders",
                "zone": "Mars/Olympus",
                "rules": rules[: rules.rindex("\n")],
                "csrf": csrf,
            },
        )
        assert refused.status_code == 400
        assert re.search(r'id="z-orders"[^>]*aria-invalid="true"', refused.text)
        assert re.search(r'id="r-orders-error"><strong>HG-4331</strong> line 2: ', refused.text)
        assert member.cache.get(POOLS_PREFIX + "orders") == before
        json_refusal = await c.post(
            "/console/pools/update",
            json={"pool": "orders", "max_concurrent": "2", "min_idle": "3"},
            headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
        )
        assert json_refusal.status_code == 400 and json_refusal.json()["code"] == "HG-4331"
        assert member.cache.get(POOLS_PREFIX + "orders") == before
        changed = await c.post(
            "/console/pools/update", data={"pool": "orders", "max_concurrent": "8", "csrf": csrf}
        )
        assert changed.status_code == 303
        twin = (await c.get("/console/pools.json")).json()["page"]["pools"][0]["pool"]
        assert twin["max_concurrent"] == 8
        gone = await c.post("/console/pools/delete", data={"pool": "orders", "csrf": csrf})
        assert gone.status_code == 303
        assert await member.cache.wait_until(lambda: stored_pools(member) == [], 5.0)


async def test_a_user_login_reads_both_pages_and_cannot_change_a_pool(member: InProcessMember) -> None:
    async with client(member.service) as admin:
        csrf = await log_in(admin)
        assert (await admin.post("/console/pools/create", data={**POOL, "csrf": csrf})).status_code == 303
    before = member.cache.get(POOLS_PREFIX + "orders")
    async with client(member.service) as c:
        csrf = await log_in(c, "operator", PASSWORD)
        for path in ("/console/pools", "/console/webservices"):
            page = await c.get(path)
            assert page.status_code == 200
            assert 'method="post"' not in page.text.split("<main", 1)[1], path  # no change forms
        assert "Pool orders" in (await c.get("/console/pools")).text
        for form, data in [
            ("create", {**POOL, "name": "sneaky"}),
            ("update", {"pool": "orders", "max_concurrent": "9"}),
            ("schedule", {"pool": "orders", "rules": "daily 00:00-24:00 min_idle=0"}),
            ("drain", {"pool": "orders"}),
            ("delete", {"pool": "orders"}),
        ]:
            refused = await c.post(
                f"/console/pools/{form}", data={**data, "csrf": csrf}, headers={"Accept": "application/json"}
            )
            assert refused.status_code == 403 and refused.json()["code"] == "HG-3002", form
        assert member.cache.get(POOLS_PREFIX + "orders") == before and stored_pools(member) == ["orders"]


async def test_web_services_page_lists_deployed_models_with_their_links(member: InProcessMember) -> None:
    assert WS_PREFIX == "/ws"  # the console names the layout again (it may not import webservices)
    record = DeploymentRecord("s1", "orders", "d1", "admin", 1.0, "m1")
    await member.store.put(deployment_key("s1", "orders"), record.encode())
    assert await member.cache.wait_until(lambda: bool(member.service.deployments.list()), 5.0)
    async with client(member.service) as c:
        await log_in(c)
        twin = (await c.get("/console/webservices.json")).json()["page"]
        assert twin["source"] == "cluster" and twin["explorer"] == "/ws/explorer"
        assert twin["services"] == [
            {
                "model": "orders",
                "servers": ["s1"],
                "domains": ["prod"],
                "redeploying": False,
                "catalog": "/ws/v1/models/orders",
                "openapi": "/ws/v1/models/orders/openapi.json",
                "wsdl": "/ws/soap/orders?wsdl",
                "rest": "/ws/v1/models/orders/procedures/",
            }
        ]
        assert twin["plugin_cfg"]["download"] == ""
        html = (await c.get("/console/webservices")).text
        assert 'href="/ws/explorer"' in html and 'href="/ws/soap/orders?wsdl"' in html
        assert "Download this member" not in html
        assert (await c.get("/console/webservices/plugin-cfg.xml")).json()["code"] == "HG-3361"
        assert CONSOLE_PLUGIN_CFG == PLUGIN_CFG  # named again in the console (it may not import config)
        cfg = member.settings.data_dir / PLUGIN_CFG
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text('<plugin-cfg><entry key="serverName">vhi-prod-sea:9440</entry></plugin-cfg>')
        twin = (await c.get("/console/webservices.json")).json()["page"]
        assert twin["plugin_cfg"]["download"] == "/console/webservices/plugin-cfg.xml"
        got = await c.get("/console/webservices/plugin-cfg.xml")
        assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
        assert got.headers["content-disposition"] == 'attachment; filename="plugin-cfg.xml"'
        assert b"vhi-prod-sea:9440" in got.content
        # A member with model files publishes those instead of the deployed models (webservices/wiring.py).
        files = member.settings.data_dir / "webservices" / "models"
        files.mkdir(parents=True)
        (files / "ledger.yaml").write_text("name: ledger\n")
        twin = (await c.get("/console/webservices.json")).json()["page"]
        assert twin["source"] == "model files"
        assert [(s["model"], s["wsdl"]) for s in twin["services"]] == [("ledger", "/ws/soap/ledger?wsdl")]
    async with client(member.service) as anonymous:
        assert (await anonymous.get("/console/webservices/plugin-cfg.xml")).status_code == 401
        page = await anonymous.get("/console/webservices")
        assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
