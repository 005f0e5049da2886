"""Every request body is decoded once, typed (hostgate.messages): a wrong type, a missing or an unknown field is
refused whole with HG-1011 naming the field, before anything changes (issue #16, "Typed messages").

Given one management member (its etcd member beside it) and one session server, as real processes over HTTPS.
Before typed messages the API checked some fields by hand and not others: ``admin: "yes"`` added a user (as a
non-administrator), a misspelt field was ignored (``{"name": "z", "nmae": ...}`` created ``z``), the route's
``exclude`` list was refused as HG-1003 without saying which element, and the CLI and the connector re-read
answers as dicts. These tests fail on that code.
"""

from __future__ import annotations

import base64
import shutil
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from hostgate.cli.lab import Installation, Member, installation
from hostgate.config.settings import load_settings
from hostgate.connector.cluster import ClusterClient
from hostgate.messages import (
    API,
    ClusterStatus,
    DomainCreate,
    DomainServerSettings,
    DomainView,
    RouteAnswer,
    RouteRequest,
    ServerView,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]

CSR = "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Installation, Member, Member]]:
    with installation(tmp_path_factory.mktemp("typed-bodies")) as inst:
        member = inst.install_first()
        member.start()
        member.wait_healthy()
        inst.write_hosts_file()
        session = inst.add_session_server(1, interval=1.0)
        yield inst, member, session


def _tls(inst: Installation) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(inst.ca_file))


def _admin(inst: Installation, url: str) -> httpx.Client:
    token = base64.b64encode(f"admin:{inst.password}".encode()).decode()
    return httpx.Client(
        base_url=url, verify=_tls(inst), headers={"Authorization": f"Basic {token}"}, timeout=30
    )


def _refused(resp: httpx.Response, field: str) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.text[:400])
    body = resp.json()
    assert body["code"] == "HG-1011", body
    assert f"field {field!r}" in body["message"], body


MANAGEMENT_BODIES = [
    ("PUT", "/api/v1/cluster/name", {"name": 5}, "name"),
    (
        "POST",
        "/api/v1/cluster/members",
        {
            "name": "m9",
            "address": "127.0.0.9",
            "port": "9440",
            "etcd_client_port": 1,
            "etcd_peer_port": 2,
            "csr_pem": CSR,
        },
        "port",
    ),
    ("POST", "/api/v1/users", {"name": "typed-u", "password": "a-long-password-1", "admin": "yes"}, "admin"),
    (
        "POST",
        "/api/v1/session-servers",
        {
            "name": "s9",
            "address": "127.0.0.19",
            "port": 9450,
            "advertised_address": "",
            "advertised_port": "0",
            "csr_pem": CSR,
        },
        "advertised_port",
    ),
    ("POST", "/api/v1/domains", {"name": "typed-z", "nmae": "typed-z"}, "nmae"),
    ("POST", "/api/v1/domains", {}, "name"),
    ("PUT", "/api/v1/domains/typed-w/servers/session01", {"weight": "1", "priority": 1}, "weight"),
    ("POST", "/api/v1/route", {"domain": "typed-w", "exclude": ["s1", 3]}, "exclude[1]"),
    ("POST", "/api/v1/route", {"domain": "typed-w", "model": None}, "model"),
    ("POST", "/api/v1/tokens", {"server": "session01", "model": 7}, "model"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), MANAGEMENT_BODIES)
def test_the_management_api_refuses_a_mistyped_body_naming_the_field_and_changes_nothing(
    lab: tuple[Installation, Member, Member], method: str, path: str, body: dict[str, Any], field: str
) -> None:
    inst, member, _ = lab
    with _admin(inst, member.url) as api:
        if api.get("/api/v1/domains/typed-w").status_code == 404:
            assert api.post("/api/v1/domains", json={"name": "typed-w"}).status_code == 201
        before = (
            api.get("/api/v1/users").json(),
            api.get("/api/v1/domains").json(),
            api.get("/api/v1/cluster"),
        )
        _refused(api.request(method, path, json=body), field)
        after = (
            api.get("/api/v1/users").json(),
            api.get("/api/v1/domains").json(),
            api.get("/api/v1/cluster"),
        )
    assert before[0] == after[0] and before[1] == after[1], "a refused body must change nothing"
    assert before[2].json()["name"] == after[2].json()["name"]


def test_a_mistyped_heartbeat_is_refused_naming_the_field(lab: tuple[Installation, Member, Member]) -> None:
    inst, member, session = lab
    ctx = _tls(inst)
    ctx.load_cert_chain(session.data_dir / "member.pem", session.data_dir / "member-key.pem")
    with httpx.Client(base_url=member.url, verify=ctx, timeout=30) as c:
        for body, field in (
            ({"active_sessions": "1", "capacity": 5, "interval": 2.0}, "active_sessions"),
            ({"active_sessions": 1, "capacity": True, "interval": 2.0}, "capacity"),
            ({"active_sessions": 1, "capacity": 5, "interval": 2.0, "load": 1}, "load"),
        ):
            _refused(c.post("/api/v1/session-servers/session01/heartbeat", json=body), field)


def _token(inst: Installation, member: Member) -> str:
    with _admin(inst, member.url) as api:
        resp = api.post("/api/v1/tokens", json={"server": "session01"})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


SESSION_BODIES = [
    ("POST", "/api/v1/sessions", {"model": "m", "variables": {"user": ["a"]}}, "variables[...]"),
    ("POST", "/api/v1/sessions", {"model": 1}, "model"),
    ("PUT", "/api/v1/sessions/x/entity", {"entity": 3}, "entity"),
    ("PUT", "/api/v1/sessions/x/attributes", {"attributes": ["a"]}, "attributes"),
    ("POST", "/api/v1/sessions/x/operations/go", {"parameters": "p"}, "parameters"),
    ("POST", "/api/v1/sessions/x/procedures", {"table": "t", "procedure": 1}, "procedure"),
    ("POST", "/api/v1/sessions/x/query", {"sql": None}, "sql"),
    ("POST", "/api/v1/sessions/x/query", {"sql": "SELECT a FROM t", "limit": 5}, "limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), SESSION_BODIES)
def test_the_session_server_refuses_a_mistyped_body_naming_the_field(
    lab: tuple[Installation, Member, Member], method: str, path: str, body: dict[str, Any], field: str
) -> None:
    inst, member, session = lab
    headers = {"Authorization": f"Bearer {_token(inst, member)}"}
    with httpx.Client(base_url=session.url, verify=_tls(inst), headers=headers, timeout=30) as c:
        _refused(c.request(method, path, json=body), field)
        health = c.get("/api/v1/health").json()
    assert health["active_sessions"] == 0, "a refused open must open nothing"


async def test_the_connector_and_the_cli_read_answers_as_the_typed_messages(
    lab: tuple[Installation, Member, Member],
) -> None:
    inst, member, _ = lab
    cluster_id = load_settings(member.data_dir).server.cluster_id
    client = ClusterClient(member.target, ca_file=inst.ca_file, user="admin", password=inst.password)
    status = (await client.call(API.cluster, None)).payload
    assert isinstance(status, ClusterStatus) and status.id == cluster_id and status.members
    servers = (await client.call(API.servers, None)).payload
    assert all(isinstance(s, ServerView) for s in servers) and [s.name for s in servers] == ["session01"]
    made = (await client.call(API.create_domain, DomainCreate("typed-rt"))).payload
    assert made == DomainView("typed-rt", ())
    await client.call(API.add_domain_server, DomainServerSettings(1, 1), name="typed-rt", server="session01")
    route = (await client.call(API.route, RouteRequest("typed-rt"))).payload
    assert isinstance(route, RouteAnswer) and route.server == "session01" and route.token
    assert route.url.startswith("https://")
    # The CLI's --json is the same message, not a hand-made copy of it.
    done = inst.hostgate("cluster", "status", "--json", *inst.client_args(), check=False)
    assert done.returncode in (0, 1), done.stderr
    assert msgspec.json.decode(done.stdout, type=ClusterStatus).id == cluster_id


def test_the_openapi_document_is_served_behind_the_same_credentials(
    lab: tuple[Installation, Member, Member],
) -> None:
    inst, member, _ = lab
    with httpx.Client(base_url=member.url, verify=_tls(inst), timeout=30) as anonymous:
        refused = anonymous.get("/api/v1/openapi.json")
    assert refused.status_code == 401 and refused.json()["code"] == "HG-3001", refused.text
    with _admin(inst, member.url) as api:
        doc = api.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and "/api/v1/route" in doc["paths"]
    assert "/api/v1/sessions/{id}/query" in doc["paths"] and "RouteRequest" in doc["components"]["schemas"]
