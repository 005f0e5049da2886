"""The web-service layer's pieces without sockets: plugin-cfg.xml, input typing, generated WSDL/OpenAPI, SOAP
parsing, kept-session rules."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hostgate.config.plugin_cfg import PluginConfigFile, parse_plugin_cfg
from hostgate.connector import ClusterLocation
from hostgate.errors import (
    InvalidField,
    KeptSessionNotFound,
    KeptSessionNotYours,
    KeptSessionsFull,
    PluginConfigInvalid,
    ServerNameUnknown,
    SoapRequestInvalid,
)
from hostgate.messages.catalog import ProcedureInfo
from hostgate.models import load_model
from hostgate.models.describe import describe
from hostgate.webservices.invoke import Caller, ClusterTrust, Invoker, Target, _Kept
from hostgate.webservices.openapi import openapi_document
from hostgate.webservices.soap import _operation, _parse
from hostgate.webservices.types import check_inputs, check_text_inputs
from hostgate.webservices.wsdl import namespace, wsdl_document
from tests.helpers.hosts import SAMPLES

CATALOG = describe(load_model(SAMPLES / "demo3270.yaml"))
ADD = CATALOG.procedure("add_customer")
assert ADD is not None


def _cfg(tmp_path: Path) -> PluginConfigFile:
    return PluginConfigFile(tmp_path / "webservices" / "plugin-cfg.xml")


def test_plugin_cfg_is_written_with_the_localhost_default(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert cfg.current().server_name == "localhost"
    assert '<entry key="serverName">localhost</entry>' in cfg.path.read_text()


def test_plugin_cfg_is_read_again_when_it_changes(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cfg.ensure()
    cfg.path.write_text('<plugin-cfg><entry key="serverName">vhi-a:9440</entry></plugin-cfg>')
    assert cfg.current().server_name == "vhi-a:9440"
    text = '<plugin-cfg><entry key="serverName">vhi-b</entry><entry key="pool.orders">p1</entry></plugin-cfg>'
    cfg.path.write_text(text)
    st = cfg.path.stat()
    os.utime(cfg.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new mtime even on coarse clocks
    found = cfg.current()
    assert (found.server_name, found.pool_for("orders"), found.pool_for("other")) == ("vhi-b", "p1", "")


@pytest.mark.parametrize(
    "text",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><plugin-cfg><entry key="serverName">&a;</entry></plugin-cfg>',
        b'<!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd"><plugin-cfg/>',
        b"<plugin-cfg><entry>x</entry></plugin-cfg>",
        b'<plugin-cfg><entry key="serverName">two words</entry></plugin-cfg>',
        b"<plugin-cfg>",
    ],
)
def test_a_bad_plugin_cfg_is_refused_naming_the_file(text: bytes) -> None:
    with pytest.raises(PluginConfigInvalid, match="the-file"):
        parse_plugin_cfg(text, "the-file")


def test_inputs_are_typed_from_the_catalog() -> None:
    assert check_inputs(ADD, {"number": 42, "name": "HOPPER"}) == {"number": 42, "name": "HOPPER"}
    assert check_text_inputs(ADD, {"number": " 42 ", "name": "HOPPER"}) == {"number": 42, "name": "HOPPER"}
    for bad in (
        {"number": "42", "name": "X"},
        {"number": True, "name": "X"},
        {"name": "X"},
        {"number": 1, "name": "X", "colour": "red"},
        {"number": 1, "name": 5},
        {"number": 10**19, "name": "X"},
    ):
        with pytest.raises(InvalidField):
            check_inputs(ADD, bad)
    with pytest.raises(InvalidField, match="number"):
        check_text_inputs(ADD, {"number": "4x2", "name": "X"})


def test_the_openapi_document_types_inputs_and_outputs() -> None:
    doc = openapi_document(CATALOG, pools=False)
    assert doc["openapi"] == "3.1.0"
    op = doc["paths"]["/ws/v1/models/demo3270/procedures/add_customer"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["number", "name"] and body["additionalProperties"] is False
    assert body["properties"]["number"]["type"] == "integer"
    row = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["rows"]["items"]
    assert set(row["properties"]) == {"result"}
    assert "application/problem+json" in op["responses"]["400"]["content"]
    names = {p["name"] for p in op["parameters"]}
    assert {"X-Hostgate-Pool", "pool"}.isdisjoint(names)  # not offered: not documented
    assert {"X-Hostgate-Session", "session", "ServerName", "X-Hostgate-ServerName"} <= names
    jsonschema.validate({"number": 1, "name": "X"}, body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"number": "1", "name": "X"}, body)


def test_the_wsdl_has_one_operation_per_procedure_and_the_header_elements() -> None:
    text = wsdl_document(CATALOG, "https://127.0.0.1:1/ws/soap/demo3270")
    for p in CATALOG.procedures:
        assert f'<wsdl:operation name="{p.name}">' in text
    assert '<xsd:element name="ServerName" type="xsd:string"/>' in text
    assert 'soapAction="urn:hostgate:ws:demo3270#add_customer"' in text


def _envelope(inner: str, header: str = "") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:x="{namespace("demo3270")}"><s:Header>{header}</s:Header><s:Body>{inner}</s:Body></s:Envelope>'
    ).encode()


def test_soap_requests_are_parsed_safely() -> None:
    env = _parse(_envelope("<x:add_customerRequest><x:number>1</x:number></x:add_customerRequest>"))
    assert _operation(env, namespace("demo3270")) == ("add_customer", {"number": "1"})
    bomb = b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;</r>'
    for bad in (bomb, b"<r>", b"<r/>", b""):
        with pytest.raises(SoapRequestInvalid):
            _parse(bad)
    with pytest.raises(SoapRequestInvalid):
        _operation(_parse(_envelope("<y:other xmlns:y='urn:else'/>")), namespace("demo3270"))


class _FakeSession:
    """Stands in for a connector session in the kept-session bookkeeping (no host involved)."""

    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def _invoker(tmp_path: Path, now: list[float]) -> Invoker:
    trust = ClusterTrust(ca_file=tmp_path / "ca.pem", sources=("hosts_file",), hosts_file=tmp_path / "hosts")
    (tmp_path / "hosts").write_text("127.0.0.1 m1 vhi-a\n")
    return Invoker(_cfg(tmp_path), trust, idle_timeout=10, clock=lambda: now[0])


def test_kept_sessions_belong_to_their_caller_and_end_when_idle(tmp_path: Path) -> None:
    now = [100.0]
    invoker = _invoker(tmp_path, now)
    owner = Caller("ada", "secret")
    fake: Any = _FakeSession()
    invoker._kept["s1"] = _Kept(fake, owner.fingerprint(invoker._key), now[0])
    proc = ProcedureInfo("p", "t", "select")
    location = ClusterLocation("vhi-a:1", tmp_path / "ca.pem")

    async def run() -> None:
        with pytest.raises(KeptSessionNotYours):
            await invoker.call(Caller("ada", "other"), location, "m", proc, {}, Target(session_id="s1"))
        now[0] += 11  # idle past the timeout
        with pytest.raises(KeptSessionNotFound):
            await invoker.call(owner, location, "m", proc, {}, Target(session_id="s1"))
        await asyncio.sleep(0)  # the close runs as a task

    asyncio.run(run())
    assert fake.closed and invoker.kept_count == 0


def test_an_unknown_alias_names_itself_and_each_source(tmp_path: Path) -> None:
    invoker = _invoker(tmp_path, [0.0])
    with pytest.raises(ServerNameUnknown) as err:
        asyncio.run(invoker.location(Target()))  # plugin-cfg.xml's default: localhost is not in that file
    assert (
        err.value.http_status == 502
        and "localhost" in err.value.message
        and "hosts_file" in err.value.message
    )
    with pytest.raises(ServerNameUnknown) as err:
        asyncio.run(invoker.location(Target(server_name="nope", server_name_source="the header")))
    assert err.value.http_status == 400 and "the header" in err.value.message


def test_keeping_past_the_cap_is_refused_before_connecting(tmp_path: Path) -> None:
    trust = ClusterTrust(ca_file=tmp_path / "ca.pem", sources=("hosts_file",), hosts_file=tmp_path / "hosts")
    invoker = Invoker(_cfg(tmp_path), trust, max_kept=0)
    location = ClusterLocation("vhi-a:1", tmp_path / "ca.pem")  # nothing listens there: never reached
    proc = ProcedureInfo("p", "t", "select")
    with pytest.raises(KeptSessionsFull):
        asyncio.run(invoker.call(Caller("ada", "x"), location, "m", proc, {}, Target(keep=True)))


def test_a_resumed_call_needs_no_cluster_round_trip(tmp_path: Path) -> None:
    """A kept session is resumed on the credentials that kept it: no alias resolution, no credential check
    with the cluster (plugin-cfg.xml names an alias no source knows, and the call still runs)."""
    from hostgate.messages import Records
    from hostgate.webservices.app import build_app, web_services
    from hostgate.webservices.service import StaticCatalog

    class Kept:
        calls = 0

        async def perform_table_procedure(self, table: str, name: str, inputs: object) -> Records[Any]:
            Kept.calls += 1
            return Records(("result",), ({"result": "kept"},))

        async def close(self) -> None:
            pass

    trust = ClusterTrust(ca_file=tmp_path / "ca.pem", sources=("hosts_file",), hosts_file=tmp_path / "hosts")
    (tmp_path / "hosts").write_text("127.0.0.1 m1 other\n")
    ws = web_services(tmp_path, StaticCatalog([CATALOG]), trust)
    owner = Caller("admin", "pw")
    session: Any = Kept()
    ws.invoker._kept["k1"] = _Kept(session, owner.fingerprint(ws.invoker._key), 0.0)
    ws.invoker._clock = lambda: 1.0
    app = build_app(ws)
    sent: list[dict[str, Any]] = []

    async def call(headers: list[tuple[bytes, bytes]]) -> int:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/ws/v1/models/demo3270/procedures/list_customers",
            "raw_path": b"/ws/v1/models/demo3270/procedures/list_customers",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), *headers],
            "http_version": "1.1",
            "scheme": "https",
            "server": ("127.0.0.1", 1),
            "client": ("127.0.0.1", 2),
            "root_path": "",
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        sent.clear()
        await app(scope, receive, send)
        return int(sent[0]["status"])

    basic = b"Basic " + base64.b64encode(b"admin:pw")
    keep = [(b"authorization", basic), (b"x-hostgate-session", b"k1"), (b"x-hostgate-keep", b"true")]
    assert asyncio.run(call(keep)) == 200 and Kept.calls == 1
    assert b'"session":"k1"' in sent[1]["body"]
    # Without a session the same request needs the cluster: the unknown alias is the answer (502, the file's).
    assert asyncio.run(call([(b"authorization", basic)])) == 502


def test_the_named_location_follows_plugin_cfg_and_the_ca_dir_without_resolving(tmp_path: Path) -> None:
    """Issue #19: a catalog read finds its kept client by the cluster's name alone (no alias resolution per
    call); the parsed alias and location are remembered, but a changed serverName or a CA file added to the
    CA directory still applies at the next call."""
    trust = ClusterTrust(
        ca_file=tmp_path / "ca.pem",
        ca_dir=tmp_path / "ca",
        sources=("hosts_file",),
        hosts_file=tmp_path / "hosts",
        default_port=9440,
    )
    (tmp_path / "hosts").write_text("127.0.0.1 m1\n")  # knows neither alias: location() would refuse both
    (tmp_path / "ca").mkdir()
    cfg = _cfg(tmp_path)
    invoker = Invoker(cfg, trust)
    first = invoker.named_location(Target())
    assert (first.alias, first.ca_file) == ("localhost:9440", tmp_path / "ca.pem")
    assert invoker.named_location(Target()) is first
    (tmp_path / "ca" / "localhost.pem").write_text("a CA")
    assert invoker.named_location(Target()).ca_file == tmp_path / "ca" / "localhost.pem"
    text = cfg.path.read_text().replace(">localhost<", ">vhi-b:9550<")
    cfg.path.write_text(text + "\n")  # another size: read again at the next call
    assert invoker.named_location(Target()).alias == "vhi-b:9550"
    assert invoker.named_location(Target(server_name="vhi-c")).alias == "vhi-c:9440"
    with pytest.raises(ServerNameUnknown):
        asyncio.run(invoker.location(Target()))


def _prefix_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from hostgate.webservices.member import PrefixRoutes

    async def show(request: Request) -> PlainTextResponse:
        route = request.scope["route"]
        return PlainTextResponse(f"{route.path} {dict(request.path_params)}")

    inner = [Route("/ws/v1/{model}", show, methods=["POST"], name="call"), Route("/ws/x", show)]
    return Starlette(routes=[PrefixRoutes("/ws", inner), Route("/api/{rest}", show), Route("/wsx", show)])


def test_prefix_routes_match_their_own_paths_and_leave_others_to_the_router() -> None:
    """The member's /ws routes sit first in its table behind one prefix test (issue #19: ~50 failed regular
    expressions per web-service call before). Paths, methods, 404/405 and the route seen by the request
    metrics (``scope["route"]``: the inner route, with its template) are as with the routes listed plainly."""
    import httpx

    async def run() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(_prefix_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answers = [
                await http.post("/ws/v1/orders"),
                await http.get("/ws/v1/orders"),  # the path matches with another method: 405
                await http.get("/ws/x"),
                await http.get("/ws/nothing"),
                await http.get("/api/v1"),
                await http.get("/wsx"),  # not under the prefix "/ws/"
            ]
        return [(a.status_code, a.text) for a in answers]

    assert asyncio.run(run()) == [
        (200, "/ws/v1/{model} {'model': 'orders'}"),
        (405, "Method Not Allowed"),
        (200, "/ws/x {}"),
        (404, "Not Found"),
        (200, "/api/{rest} {'rest': 'v1'}"),
        (200, "/wsx {}"),
    ]
    assert _prefix_app().url_path_for("call", model="m") == "/ws/v1/m"
