"""Acceptance (#19): a model's procedures as REST/JSON and SOAP 1.1 services, through the cluster's alias.

Given two lone clusters (SQLite members behind the aliases ``vhi-a`` and ``vhi-b``, each with a session server
in domain ``prod`` running the demo3270 model against the real 3270 mock host; cluster B has another admin
password, so an answer proves which cluster served it) and ``hostgate webservices`` as its own process:

- zeep (a SOAP client hostgate did not write) calls from the generated WSDL and gets the host's rows; httpx
  calls REST; both give the same rows;
- a kept session is resumed by id and sees the screen the previous call left (the form's result line);
- plugin-cfg.xml's serverName is used; rewriting it switches clusters with no restart; a request's
  ServerName wins (SOAP header, REST header and query parameter); the localhost default works;
- bad input is refused with a coded error (unknown procedure, wrong-typed input, malformed XML, an XML bomb,
  an unknown alias naming every source consulted).
"""

from __future__ import annotations

import base64
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
import zeep.exceptions
from requests import Session as RequestsSession
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.webservices.wsdl import SOAP_ENV
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.lone_member import read_response
from tests.helpers.models import write_model
from tests.helpers.webservices import WsProcess

__all__ = ["host_3270"]

pytestmark = [pytest.mark.slow]

MODEL = "demo3270"
PASSWORD_B = "another-horse-battery"
OTHER_PASSWORD = "grace-hopper-cobol"


def _stateful(doc: dict[str, Any]) -> None:
    """Two procedures that leave the host where they are: save a customer and stay on the form, and read the
    form's result line (a fresh session's form has none)."""
    procs = doc["tables"]["customers"]["procedures"]
    procs["save_and_stay"] = {
        "type": "insert",
        "inputs": {"number": {"required": True}, "name": {"required": True}, "city": None},
        "outputs": ["result"],
        "steps": [
            {"entity": "Menu", "operation": "open_form"},
            {"entity": "CustomerForm", "operation": "save"},
            {"entity": "CustomerForm", "outputs": {"result": "result"}},
        ],
    }
    procs["read_form"] = {
        "type": "select",
        "outputs": ["result"],
        "steps": [
            {"entity": "Menu", "operation": "open_form"},
            {"entity": "CustomerForm", "outputs": {"result": "result"}},
        ],
    }
    procs["read_menu"] = {
        "type": "select",
        "outputs": ["result"],
        "steps": [{"entity": "Menu", "outputs": {"result": "message"}}],
    }


@dataclass
class Cluster:
    inst: Installation
    alias: str
    server: Member

    @property
    def target(self) -> str:
        return f"{self.alias}:{self.inst.api_port}"


@dataclass
class Lab:
    a: Cluster
    b: Cluster
    ws: WsProcess
    model_file: Path

    def rest(
        self,
        procedure: str,
        inputs: dict[str, Any] | None = None,
        *,
        password: str | None = None,
        user: str = "admin",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        return httpx.post(
            f"{self.ws.url}/ws/v1/models/{MODEL}/procedures/{procedure}",
            json=inputs or {},
            auth=(user, password or self.a.inst.password),
            headers=headers,
            params=params,
            verify=self.ws.ctx,
            timeout=60,
        )

    def soap(self, password: str | None = None, *, basic: bool = False) -> zeep.Client:
        session = RequestsSession()
        session.trust_env = False  # requests lets REQUESTS_CA_BUNDLE override session.verify
        session.verify = str(self.ws.ca_file)
        creds = ("admin", password or self.a.inst.password)
        if basic:
            session.auth = creds
        wsse = None if basic else UsernameToken(*creds)
        return zeep.Client(
            f"{self.ws.url}/ws/soap/{MODEL}?wsdl", transport=Transport(session=session, timeout=60), wsse=wsse
        )


def _cluster(root: Path, alias: str, model_file: Path, password: str | None = None) -> Iterator[Cluster]:
    with installation(root) as inst:
        if password is not None:
            inst.password = password
        member = inst.install_first(store="sqlite", cluster_name=alias)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(alias)
        server = inst.add_session_server(1, alias, interval=1.0)
        args = inst.client_args()
        inst.hostgate("domain", "create", "prod", *args)
        inst.hostgate("domain", "add-server", "prod", server.name, *args)
        inst.deploy_model(server, model_file)
        (root / "other.pw").write_text(OTHER_PASSWORD + "\n")
        inst.hostgate(
            "user", "add", "hopper", "--admin", "--new-password-file", str(root / "other.pw"), *args
        )
        yield Cluster(inst, alias, server)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("webservices")
    (root / "models").mkdir()
    model_file = write_model(root / "models", "demo3270", host_3270.port, extra=_stateful)
    clusters_a = _cluster(root / "a", "vhi-a", model_file)
    a = next(clusters_a)
    clusters_b = _cluster(root / "b", "vhi-b", model_file, PASSWORD_B)
    b = next(clusters_b)
    try:
        hosts = root / "hosts"
        hosts.write_text(
            f"{a.inst.members[0].address} a-workhorse01 vhi-a\n{b.inst.members[0].address} b-workhorse01 vhi-b\n"
        )
        (root / "ws").mkdir()
        ws = WsProcess(
            root / "ws", hosts_file=hosts, model_files=[model_file], management_port=a.inst.api_port
        )
        ws.trust("vhi-a", a.inst.ca_file)
        ws.trust("vhi-b", b.inst.ca_file)
        ws.trust("localhost", a.inst.ca_file)
        ws.write_plugin_cfg(a.target)
        ws.start()
        found = Lab(a, b, ws, model_file)
        yield found
        ws.stop()
    finally:
        for gen in (clusters_b, clusters_a):
            for _ in gen:
                pass


def _numbers(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["number"]) for r in rows]


def test_soap_with_zeep_and_rest_with_httpx_give_the_host_rows(lab: Lab) -> None:
    rest = lab.rest("list_customers")
    assert rest.status_code == 200, rest.text
    rows = rest.json()["rows"]
    assert _numbers(rows) == list(range(1, 41))
    assert rows[39] == {"number": 40, "name": "CUSTOMER 40", "city": "CITY0"}

    answer = lab.soap().service.list_customers()
    soap_rows = [{"number": r.number, "name": r.name, "city": r.city} for r in answer.row]
    assert soap_rows == rows  # the same procedure through both faces: the same answer

    added = lab.soap(basic=True).service.add_customer(number=42, name="HOPPER", city="NEW YORK")
    assert added.row[0].result == "SAVED 42 HOPPER OF NEW YORK"
    assert lab.rest("add_customer", {"number": 42, "name": "HOPPER", "city": "NEW YORK"}).json()["rows"] == [
        {"result": "SAVED 42 HOPPER OF NEW YORK"}
    ]


def test_a_resumed_session_sees_the_screen_the_previous_call_left(lab: Lab) -> None:
    # A new session reads the menu the sign-on led to: its message line greets the user.
    fresh = lab.rest("read_menu")
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["rows"][0]["result"] == "HGT0100I WELCOME ADA"

    kept = lab.rest("save_and_stay", {"number": 7, "name": "LOVELACE"}, headers={"X-Hostgate-Keep": "true"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["rows"][0]["result"].startswith("SAVED 7 LOVELACE")
    session = kept.json()["session"]
    assert kept.headers["x-hostgate-session"] == session

    # Resumed, the same host session is where the last call left it (on the form): back on the menu (PF3) its
    # message line is empty, not the greeting of a new sign-on.
    resumed = lab.rest("read_menu", headers={"X-Hostgate-Session": session, "X-Hostgate-Keep": "true"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["rows"][0]["result"] == ""
    assert resumed.json()["session"] == session
    # Resumed without keep: the session ends with that call.
    last = lab.rest("read_menu", headers={"X-Hostgate-Session": session})
    assert last.status_code == 200 and "session" not in last.json()
    gone = lab.rest("read_menu", headers={"X-Hostgate-Session": session})
    assert gone.status_code == 404 and gone.json()["code"] == "HG-4505"

    # SOAP keeps and resumes the same way (header elements); only the caller who kept it may resume it.
    client = lab.soap()
    answer = client.service.save_and_stay(number=8, name="BABBAGE", _soapheaders={"Keep": True})
    assert answer.row[0].result.startswith("SAVED 8 BABBAGE") and answer.session
    # Resuming is checked against the credentials that kept the session (no cluster round trip): a wrong
    # password is not its caller.
    wrong = lab.rest("read_menu", password="not-the-password", headers={"X-Hostgate-Session": answer.session})
    assert wrong.status_code == 403 and wrong.json()["code"] == "HG-4506"
    other = lab.rest(
        "read_menu", user="hopper", password=OTHER_PASSWORD, headers={"X-Hostgate-Session": answer.session}
    )
    assert other.status_code == 403 and other.json()["code"] == "HG-4506"
    resumed_soap = client.service.read_menu(_soapheaders={"Session": answer.session})
    assert resumed_soap.row[0].result in ("", None)
    assert resumed_soap.session is None


def test_server_name_from_plugin_cfg_switches_without_restart_and_the_request_wins(lab: Lab) -> None:
    pid = lab.ws.proc.pid if lab.ws.proc else 0
    assert lab.rest("list_customers").status_code == 200  # plugin-cfg.xml names cluster A
    assert lab.rest("list_customers", password=PASSWORD_B).status_code == 401  # B's password: not B

    lab.ws.write_plugin_cfg(lab.b.target)
    try:
        on_b = lab.rest("list_customers", password=PASSWORD_B)
        assert on_b.status_code == 200, on_b.text
        assert _numbers(on_b.json()["rows"]) == list(range(1, 41))
        assert lab.rest("list_customers").status_code == 401  # A's password is not B's
        # The request's ServerName wins over the file: REST header, then query parameter; SOAP header.
        assert lab.rest("list_customers", headers={"X-Hostgate-ServerName": lab.a.target}).status_code == 200
        assert lab.rest("list_customers", params={"ServerName": lab.a.target}).status_code == 200
        both = lab.rest(
            "list_customers",
            headers={"X-Hostgate-ServerName": lab.a.target},
            params={"ServerName": lab.b.target},
        )
        assert both.status_code == 200  # the header wins over the query parameter (A's password)
        found = lab.soap().service.list_customers(_soapheaders={"ServerName": lab.a.target})
        assert len(found.row) == 40
    finally:
        lab.ws.write_plugin_cfg(lab.a.target)
    assert lab.ws.proc is not None and lab.ws.proc.pid == pid and lab.ws.proc.poll() is None  # no restart


def test_the_localhost_default_reaches_a_lone_server(lab: Lab, tmp_path: Path) -> None:
    ws = WsProcess(
        tmp_path, hosts_file=None, model_files=[lab.model_file], management_port=lab.a.inst.api_port
    )
    ws.trust("localhost", lab.a.inst.ca_file)
    ws.start()  # no plugin-cfg.xml: written with serverName localhost
    try:
        assert '<entry key="serverName">localhost</entry>' in ws.plugin_cfg.read_text()
        resp = httpx.post(
            f"{ws.url}/ws/v1/models/{MODEL}/procedures/list_customers",
            json={},
            auth=("admin", lab.a.inst.password),
            headers={"X-Hostgate-Domain": "prod"},
            verify=ws.ctx,
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert len(resp.json()["rows"]) == 40
    finally:
        ws.stop()


def test_an_unknown_alias_is_a_coded_fault_naming_it_and_every_source(lab: Lab) -> None:
    # The request's own ServerName: the caller's mistake, 400 (schemathesis found it answered 502 first).
    resp = lab.rest("list_customers", headers={"X-Hostgate-ServerName": "no-such-cluster.invalid"})
    assert resp.status_code == 400
    body = resp.json()
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert body["code"] == "HG-4501"
    assert "no-such-cluster.invalid" in body["detail"] and "X-Hostgate-ServerName" in body["detail"]
    assert "hosts_file" in body["detail"] and "system_hosts" in body["detail"]

    with pytest.raises(zeep.exceptions.Fault) as fault:
        lab.soap().service.list_customers(_soapheaders={"ServerName": "no-such-cluster.invalid"})
    assert fault.value.message.startswith("[HG-4501]") and "SOAP header" in fault.value.message

    # plugin-cfg.xml's serverName: this gateway's configuration is wrong, 502, and the file is named.
    lab.ws.write_plugin_cfg("gone-cluster.invalid")
    try:
        resp = lab.rest("list_customers")
    finally:
        lab.ws.write_plugin_cfg(lab.a.target)
    assert resp.status_code == 502 and resp.json()["code"] == "HG-4501"
    assert "gone-cluster.invalid" in resp.json()["detail"] and "plugin-cfg.xml" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("procedure", "inputs", "status", "code"),
    [
        ("no_such_procedure", {}, 404, "HG-4503"),
        ("add_customer", {"number": "forty-two", "name": "X"}, 400, "HG-1011"),
        ("add_customer", {"name": "X"}, 400, "HG-1011"),
        ("add_customer", {"number": 1, "name": "X", "colour": "red"}, 400, "HG-1011"),
    ],
)
def test_bad_rest_input_is_refused_with_a_code(
    lab: Lab, procedure: str, inputs: dict[str, Any], status: int, code: str
) -> None:
    resp = lab.rest(procedure, inputs)
    assert (resp.status_code, resp.json()["code"]) == (status, code)


def test_a_body_over_the_cap_is_refused_before_it_is_read(lab: Lab) -> None:
    # Declared 2 MiB, never sent: the answer comes from the declared length alone (the cap is 1 MiB).
    ctx = lab.ws.ctx
    raw = socket.create_connection(("127.0.0.1", lab.ws.port), timeout=30)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(
            f"POST /ws/v1/models/{MODEL}/procedures/add_customer HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {_basic(lab)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode()
        )
        status, _, body = read_response(sock)
    assert status == 413 and body["code"] == "HG-1010"


def _basic(lab: Lab) -> str:
    return "Basic " + base64.b64encode(f"admin:{lab.a.inst.password}".encode()).decode()


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<x:list_customersRequest xmlns:x="urn:hostgate:ws:demo3270">&lol3;</x:list_customersRequest></soap:Body></soap:Envelope>"""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>", "HG-4504"),
        (BOMB, "HG-4504"),
        (b"<notsoap/>", "HG-4504"),
        (
            b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>"
            b"<x:add_customerRequest xmlns:x='urn:hostgate:ws:demo3270'><x:number>abc</x:number>"
            b"<x:name>X</x:name></x:add_customerRequest></soap:Body></soap:Envelope>",
            "HG-1011",
        ),
        (
            b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>"
            b"<x:nopeRequest xmlns:x='urn:hostgate:ws:demo3270'/></soap:Body></soap:Envelope>",
            "HG-4503",
        ),
    ],
)
def test_bad_soap_is_a_coded_fault(lab: Lab, body: bytes, code: str) -> None:
    resp = httpx.post(
        f"{lab.ws.url}/ws/soap/{MODEL}",
        content=body,
        headers={"Authorization": _basic(lab), "Content-Type": "text/xml"},
        verify=lab.ws.ctx,
        timeout=30,
    )
    assert resp.status_code == 500  # SOAP 1.1 section 6.2: a fault travels with HTTP 500
    fault = ET.fromstring(resp.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    assert (fault.findtext("faultstring") or "").startswith(f"[{code}]")
    assert fault.findtext("detail/{urn:hostgate:ws}error/{urn:hostgate:ws}code") == code


def test_a_member_serves_the_ws_routes(lab: Lab) -> None:
    member = lab.a.inst.members[0]

    def get(model: str) -> httpx.Response:
        return httpx.get(
            f"{member.url}/ws/v1/models/{model}/openapi.json",
            verify=ssl.create_default_context(cafile=str(lab.a.inst.ca_file)),
            auth=("admin", lab.a.inst.password),
            timeout=30,
        )

    # The member publishes the cluster's deployed models (webservices/wiring.py). This lab's model was put on its
    # session server with `model deploy --data-dir`; the server reports the models it holds, so the cluster
    # records it (session/model_report.py) and the member publishes it.
    published = poll(
        "the offline model published", lambda: (r := get(MODEL)).status_code == 200 and r.text, 60
    )
    assert MODEL in published
    # A model no server holds: a coded 404 naming the model, not Starlette's.
    resp = get("nowhere")
    assert resp.status_code == 404, resp.text
    assert resp.json()["code"] == "HG-4551" and "nowhere" in resp.json()["message"]


def test_schemathesis_over_the_generated_openapi(lab: Lab) -> None:
    """Every operation of the generated document, fuzzed a little (make test's budget): no 5xx, and every
    answer matches the document (status, content type, body schema)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(
        f"{lab.ws.url}/ws/v1/models/{MODEL}/openapi.json", verify=str(lab.ws.ca_file)
    )
    session = RequestsSession()
    session.trust_env = False
    session.verify = str(lab.ws.ca_file)
    session.auth = ("admin", lab.a.inst.password)
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.response_schema_conformance,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
    ]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5  # one per procedure of the model
    for operation in operations:

        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(operation.as_strategy())
        def fuzz(case: Any) -> None:
            case.call_and_validate(session=session, checks=checks, timeout=60, verify=str(lab.ws.ca_file))

        try:
            fuzz()
        except Exception as exc:  # collected, so that every operation is tried before the test fails
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n".join(failures)
