"""The cluster's catalog of deployed models (#19): read as the caller, cached by digest, errors listed.

Real processes (tests/helpers/ws_lab.py): a lone management member behind the alias, two session servers, a
mock 3270 host; models activated with ``hostgate activatemodel``. The catalog source and the ``/ws/v1``
routes run in this process, reaching the cluster through the alias like any client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.connector import ClusterClient, ClusterLocation
from hostgate.errors import AuthenticationFailed, ModelNotDeployed
from hostgate.messages import API
from hostgate.webservices.catalog import ClusterCatalog
from hostgate.webservices.catalog_routes import catalog_routes
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.ws_lab import WsLab, ws_lab

__all__ = ["host_3270"]

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[WsLab]:
    with ws_lab(tmp_path_factory.mktemp("wscatalog"), host_3270) as found:
        found.activate("orders", found.s1, found.s2)
        yield found


def _records(lab: WsLab) -> dict[str, str]:
    client = ClusterClient.at(lab.location, user="admin", password=lab.inst.password)
    return {d.model: d.digest for d in client.call_sync(API.deployments, None).payload}


def test_the_catalog_lists_each_deployed_model_with_its_procedures_at_its_digest(lab: WsLab) -> None:
    source = ClusterCatalog(lab.location)
    [orders] = [c for c in asyncio.run(source.models(lab.basic())) if c.model == "orders"]
    assert orders.error == "" and orders.digest == _records(lab)["orders"]
    add = orders.procedure("add_customer")
    assert add is not None and [(i.column, i.required) for i in add.inputs] == [
        ("number", True),
        ("name", True),
        ("city", False),
    ]
    assert [t.name for t in orders.tables] == ["customers"]
    assert asyncio.run(source.model("orders", lab.basic())) == orders


def test_a_model_whose_servers_are_all_down_is_listed_with_its_error(lab: WsLab) -> None:
    lab.activate("ledger", lab.s2)
    source = ClusterCatalog(lab.location, server_timeout=1.0)
    asyncio.run(source.models(lab.basic()))  # orders and ledger now cached at their digests
    lab.activate("stock", lab.s2)
    lab.s2.stop()  # SIGSTOP: accepts connections, answers nothing
    try:
        found = {c.model: c for c in asyncio.run(source.models(lab.basic()))}
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
    before = asyncio.run(source.model("orders", lab.basic()))
    lab.activate("orders", lab.s1, lab.s2, marker="v2")
    after = asyncio.run(source.model("orders", lab.basic()))
    assert after.digest != before.digest and after.digest == _records(lab)["orders"]


def test_no_credentials_or_an_unknown_model_are_coded(lab: WsLab) -> None:
    source = ClusterCatalog(lab.location)
    with pytest.raises(AuthenticationFailed):
        asyncio.run(source.models(None))
    with pytest.raises(ModelNotDeployed):
        asyncio.run(source.model("nothing-here", lab.basic()))


async def test_the_ws_routes_answer_json_and_coded_errors(lab: WsLab) -> None:
    app = Starlette(
        routes=catalog_routes(ClusterCatalog(lab.location)),
        exception_handlers=coded_http_exceptions(),
        middleware=[error_boundary(logging.getLogger("test"), {}, "web services")],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ws") as http:
        listing = await http.get("/ws/v1/models", headers={"Authorization": lab.basic()})
        one = await http.get("/ws/v1/models/orders", headers={"Authorization": lab.basic()})
        anonymous = await http.get("/ws/v1/models")
        wrong = await http.get("/ws/v1/models", headers={"Authorization": lab.basic(password="wrong")})
        missing = await http.get("/ws/v1/models/nothing-here", headers={"Authorization": lab.basic()})
    assert listing.status_code == 200 and "orders" in [c["model"] for c in listing.json()]
    assert listing.headers["cache-control"] == "no-store"
    assert one.status_code == 200 and one.json()["procedures"][0]["name"] == "list_customers"
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "HG-3001")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "HG-3001")
    assert (missing.status_code, missing.json()["code"]) == (404, "HG-4551")
