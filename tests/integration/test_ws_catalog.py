"""The cluster's catalog of deployed models (#19): read as the caller, cached by digest, errors listed.

Real processes (tests/helpers/ws_lab.py): a lone management member behind the alias, two session servers, a
mock 3270 host; models activated with ``hostgate activatemodel``. The catalog source and the ``/ws/v1``
routes run in this process, reaching the cluster through the alias like any client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import ssl
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette

from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.config.plugin_cfg import PLUGIN_CFG, PluginConfigFile
from hostgate.connector import ClusterClient, ClusterLocation
from hostgate.errors import AuthenticationFailed, ModelNotDeployed, ServerNameUnknown
from hostgate.messages import API
from hostgate.webservices.catalog import ClusterCatalog
from hostgate.webservices.catalog_routes import catalog_routes
from hostgate.webservices.invoke import ClusterTrust
from hostgate.webservices.wiring import assemble
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.webservices import plugin_cfg_text
from tests.helpers.ws_lab import WsLab, ws_lab

__all__ = ["host_3270"]

pytestmark = [pytest.mark.slow]

T = TypeVar("T")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[WsLab]:
    with ws_lab(tmp_path_factory.mktemp("wscatalog"), host_3270) as found:
        found.activate("orders", found.s1, found.s2)
        yield found


def _run(source: ClusterCatalog, call: Coroutine[Any, Any, T]) -> T:
    """``call`` on a new event loop, then the source's kept connections closed (they belong to that loop)."""

    async def run() -> T:
        try:
            return await call
        finally:
            await source.aclose()

    return asyncio.run(run())


def _records(lab: WsLab) -> dict[str, str]:
    client = ClusterClient.at(lab.location, user="admin", password=lab.inst.password)
    return {d.model: d.digest for d in client.call_sync(API.deployments, None).payload}


def test_the_catalog_lists_each_deployed_model_with_its_procedures_at_its_digest(lab: WsLab) -> None:
    source = ClusterCatalog(lab.location)
    [orders] = [c for c in _run(source, source.models(lab.basic())) if c.model == "orders"]
    assert orders.error == "" and orders.digest == _records(lab)["orders"]
    add = orders.procedure("add_customer")
    assert add is not None and [(i.column, i.required) for i in add.inputs] == [
        ("number", True),
        ("name", True),
        ("city", False),
    ]
    assert [t.name for t in orders.tables] == ["customers"]
    assert _run(source, source.model("orders", lab.basic())) == orders


def test_a_model_whose_servers_are_all_down_is_listed_with_its_error(lab: WsLab) -> None:
    lab.activate("ledger", lab.s2)
    source = ClusterCatalog(lab.location, server_timeout=1.0)
    _run(source, source.models(lab.basic()))  # orders and ledger now cached at their digests
    lab.activate("stock", lab.s2)
    lab.s2.stop()  # SIGSTOP: accepts connections, answers nothing
    try:
        found = {c.model: c for c in _run(source, source.models(lab.basic()))}
    finally:
        lab.s2.cont()
    stock = found["stock"]
    assert stock.procedures == () and stock.digest == _records(lab)["stock"]
    assert stock.error.startswith("[HG-4550] no session server serving model 'stock' answered")
    assert "session02" in stock.error
    # Cached by digest: a catalog already fetched is served while its servers are away.
    assert found["ledger"].error == "" and found["ledger"].procedure("list_customers") is not None
    # s1 still serves orders: its catalog would have come from there anyway.
    assert found["orders"].error == ""


def test_a_redeployed_model_is_fetched_again_at_its_new_digest(lab: WsLab) -> None:
    async def where() -> ClusterLocation:  # found at each call (plugin-cfg.xml's serverName may change)
        return lab.location

    source = ClusterCatalog(where)
    before = _run(source, source.model("orders", lab.basic()))
    lab.activate("orders", lab.s1, lab.s2, marker="v2")
    after = _run(source, source.model("orders", lab.basic()))
    assert after.digest != before.digest and after.digest == _records(lab)["orders"]


def test_no_credentials_or_an_unknown_model_are_coded(lab: WsLab) -> None:
    source = ClusterCatalog(lab.location)
    with pytest.raises(AuthenticationFailed):
        _run(source, source.models(None))
    with pytest.raises(ModelNotDeployed):
        _run(source, source.model("nothing-here", lab.basic()))


async def test_the_ws_routes_answer_json_and_coded_errors(lab: WsLab) -> None:
    source = ClusterCatalog(lab.location)
    app = Starlette(
        routes=catalog_routes(source),
        exception_handlers=coded_http_exceptions(),
        middleware=[error_boundary(logging.getLogger("test"), {}, "web services")],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ws") as http:
        listing = await http.get("/ws/v1/models", headers={"Authorization": lab.basic()})
        one = await http.get("/ws/v1/models/orders", headers={"Authorization": lab.basic()})
        anonymous = await http.get("/ws/v1/models")
        wrong = await http.get("/ws/v1/models", headers={"Authorization": lab.basic(password="wrong")})
        missing = await http.get("/ws/v1/models/nothing-here", headers={"Authorization": lab.basic()})
    await source.aclose()
    assert listing.status_code == 200 and "orders" in [c["model"] for c in listing.json()]
    assert listing.headers["cache-control"] == "no-store"
    assert one.status_code == 200 and one.json()["procedures"][0]["name"] == "list_customers"
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "HG-3001")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "HG-3001")
    assert (missing.status_code, missing.json()["code"]) == (404, "HG-4551")


def _tokens_granted(lab: WsLab) -> float:
    """How many token requests the member has answered 200 (its /metrics, scraped with its metrics token)."""
    member = lab.inst.members[0]
    token = (member.data_dir / "metrics-token").read_text().strip()
    answer = httpx.get(
        member.url + "/metrics",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(lab.inst.ca_file)),
        timeout=30,
    )
    answer.raise_for_status()
    sample = re.search(
        r'^hostgate_http_request_duration_seconds_count\{face="management",method="POST",'
        r'route="/api/v1/tokens",status="200"\} (\S+)$',
        answer.text,
        re.MULTILINE,
    )
    return float(sample.group(1)) if sample else 0.0


def test_a_grant_is_reused_while_young_and_renewed_near_its_expiry(lab: WsLab) -> None:
    """Issue #19: a catalog read asked the cluster for a token on every call. A caller's grant is now reused
    for at most 60 s and never within 60 s of its expiry; the cluster is asked again after either."""
    now = [1_000.0]
    source = ClusterCatalog(lab.location, clock=lambda: now[0])
    # One token granted (orders has two servers: the first that is granted answers).
    asked = _tokens_granted(lab)
    catalog = _run(source, source.model("orders", lab.basic()))
    assert _tokens_granted(lab) == asked + 1
    for _ in range(3):  # young: reused, the cluster is not asked
        assert _run(source, source.model("orders", lab.basic())) == catalog
    assert _tokens_granted(lab) == asked + 1
    now[0] += 61.0  # older than the reuse window: asked again
    _run(source, source.model("orders", lab.basic()))
    assert _tokens_granted(lab) == asked + 2
    # Another caller's credentials never use this caller's grant; a wrong password is refused by the cluster.
    with pytest.raises(AuthenticationFailed):
        _run(source, source.model("orders", lab.basic(password="wrong")))
    # A token 30 s from its expiry (a clock far ahead of the 15-minute lifetime's end) is renewed first.
    now[0] = 10**10
    _run(source, source.model("orders", lab.basic()))
    _run(source, source.model("orders", lab.basic()))
    assert _tokens_granted(lab) == asked + 4


def test_a_member_serves_a_redeploy_and_a_withdrawal_at_the_next_call(lab: WsLab) -> None:
    """Issue #19: a member's web services read the deployment records from its own copy (no round trip) and
    keep clients and grants between calls; a redeployed model is served at its new digest, and a withdrawn one
    refused, at the very next call."""
    member = lab.inst.members[0]
    verify = ssl.create_default_context(cafile=str(lab.inst.ca_file))
    url = member.url + "/ws/v1/models/invoices/openapi.json"
    with httpx.Client(verify=verify, timeout=30, headers={"Authorization": lab.basic()}) as http:
        lab.activate("invoices", lab.s1)
        first = http.get(url)
        assert first.status_code == 200, first.text
        assert first.json()["info"]["version"] == _records(lab)["invoices"]
        lab.activate("invoices", lab.s1, marker="v2")
        second = http.get(url)
        assert second.status_code == 200, second.text
        assert (
            second.json()["info"]["version"] == _records(lab)["invoices"] != first.json()["info"]["version"]
        )
        lab.inst.hostgate(
            "deactivatemodel", "invoices", "--server", lab.s1.target, "--ca-file", str(lab.inst.ca_file),
            "--user", "admin", "--password-file", str(lab.inst.password_file), timeout=120,
        )  # fmt: skip
        assert "invoices" not in _records(lab)
        gone = http.get(url)
        assert (gone.status_code, gone.json()["code"]) == (404, "HG-4551"), gone.text


def test_a_kept_catalog_client_resolves_the_alias_when_made_not_at_every_call(
    lab: WsLab, tmp_path: Path
) -> None:
    """Issue #19: each catalog read of a member's web services resolved plugin-cfg.xml's alias (read and parsed
    the hosts file), a quarter of the member's CPU per REST call. The alias is now resolved when a kept client
    is made (and by that client whenever it talks to the cluster): with the member's own deployment records
    and a young grant, a catalog read does no naming at all. Another serverName that no source knows is still
    refused (HG-4501, naming the alias) at the next call."""
    hosts = tmp_path / "hosts"
    shutil.copy(lab.hosts_file, hosts)
    trust = ClusterTrust(
        ca_file=lab.inst.ca_file, sources=("hosts_file",), hosts_file=hosts, default_port=lab.inst.api_port
    )
    client = ClusterClient.at(lab.location, user="admin", password=lab.inst.password)
    records = client.call_sync(API.deployments, None).payload
    ws, _ = assemble(tmp_path, trust, deployments=lambda: records)  # a member's own copy of the records
    config = PluginConfigFile(tmp_path / PLUGIN_CFG)
    config.path.write_text(plugin_cfg_text(lab.alias))

    async def run() -> None:
        try:
            first = await ws.catalogs.model("orders", lab.basic())
            hosts.write_text("127.0.0.1 somewhere-else\n")  # the alias is gone from the service's naming
            again = await ws.catalogs.model("orders", lab.basic())  # its kept client: not resolved again
            assert again == first
            config.path.write_text(plugin_cfg_text("vhi-nowhere") + "\n")  # another cluster: a new client
            with pytest.raises(ServerNameUnknown) as err:
                await ws.catalogs.model("orders", lab.basic())
            assert "vhi-nowhere" in err.value.message
        finally:
            await ws.aclose()

    asyncio.run(run())
