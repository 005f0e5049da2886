"""hostgate.messages: one typed definition per wire message (issue #16).

Decoding is one pass and refuses a wrong type, a missing or an unknown field whole with HG-1011 naming the field
by its path; the endpoint table covers every route of both faces and the OpenAPI document is generated from
it; the connector loads no server code or server library; an answer round-trips through the same definitions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from starlette.routing import Route

from hostgate.api.app import create_app
from hostgate.config.settings import SecuritySettings
from hostgate.errors import InvalidField, MalformedAnswer, UsageError
from hostgate.messages import (
    API,
    ENDPOINTS,
    Cell,
    ClusterStatus,
    HeartbeatReport,
    JoinGrant,
    MemberStatus,
    Message,
    OpenSession,
    Records,
    RouteAnswer,
    RouteRequest,
    ServerRegistration,
    SessionGrant,
    decode_answer,
    decode_request,
    encode,
    openapi,
)
from hostgate.session.server import create_session_app


class Batch(Message, frozen=True):
    """A nested message, to show the path of a field deep inside a body."""

    servers: tuple[ServerRegistration, ...]


def _server(**change: Any) -> dict[str, Any]:
    return {
        "name": "s1",
        "address": "127.0.0.1",
        "port": 9450,
        "advertised_address": "",
        "advertised_port": 0,
        "csr_pem": "x",
    } | change


@pytest.mark.parametrize(
    ("body", "kind", "path"),
    [
        ({"servers": [_server(), _server(), _server(port="9450")]}, Batch, "servers[2].port"),
        (
            {"servers": [_server(), {k: v for k, v in _server().items() if k != "csr_pem"}]},
            Batch,
            "servers[1].csr_pem",
        ),
        ({"servers": [_server(extra=1)]}, Batch, "servers[0].extra"),
        ({"domain": "d", "exclude": ["a", 3]}, RouteRequest, "exclude[1]"),
        ({"domain": 1}, RouteRequest, "domain"),
        ({"model": "m"}, RouteRequest, "domain"),
        ({"domain": "d", "unreachble": []}, RouteRequest, "unreachble"),
        ({"active_sessions": True, "capacity": 1, "interval": 1}, HeartbeatReport, "active_sessions"),
        ({"active_sessions": 1, "capacity": 1.5, "interval": 1}, HeartbeatReport, "capacity"),
        ({"model": "m", "variables": {"a": {"b": 1}}}, OpenSession, "variables[...]"),
    ],
)
def test_a_bad_field_is_refused_with_hg_1011_naming_its_path(
    body: dict[str, Any], kind: type, path: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        decode_request(json.dumps(body).encode(), kind)
    assert caught.value.code == "HG-1011"
    assert caught.value.message.startswith(f"field {path!r}: "), caught.value.message


def test_a_body_that_is_no_object_or_no_json_keeps_hg_1003() -> None:
    for raw in (b"[]", b"3", b"not json", b"[" * 100_000):
        with pytest.raises(UsageError):
            decode_request(raw, RouteRequest)


def test_numbers_python_json_read_still_reach_the_range_checks() -> None:
    # NaN is not RFC 8259 JSON, but hostgate's decoder always read it: the heartbeat range check answers it
    # with HG-1011 naming the field (tests/integration/test_hardening_http.py), not "not JSON".
    beat = decode_request(b'{"active_sessions": 1, "capacity": 5, "interval": NaN}', HeartbeatReport)
    assert beat.interval != beat.interval


def test_a_good_body_decodes_to_its_message_with_defaults() -> None:
    assert decode_request(b'{"domain": "prod"}', RouteRequest) == RouteRequest("prod", "", (), ())
    assert decode_request(b"", OpenSession) == OpenSession()  # an empty body is {}


def test_a_huge_field_name_is_not_echoed_whole() -> None:
    with pytest.raises(InvalidField) as caught:
        decode_request(json.dumps({"domain": "d", "x" * 100_000: 1}).encode(), RouteRequest)
    assert len(caught.value.message) < 300 and "(100000 characters)" in caught.value.message


def test_answers_round_trip_through_the_same_definitions() -> None:
    status = ClusterStatus(
        "c", "id", "m1", "etcd", True, (MemberStatus("m1", "127.0.0.1", 9440, True, True, True, ""),)
    )
    assert decode_answer(encode(status), ClusterStatus, "m1") == status
    route = RouteAnswer("s1", "https://127.0.0.1:9450", "127.0.0.1", 9450, "tok", 1.0)
    assert decode_answer(encode(route), RouteAnswer, "m1") == route
    grant = JoinGrant("id", "c", "cert", "ca", "m1=https://127.0.0.1:2380", "etcd")
    assert decode_answer(encode(grant), JoinGrant, "m1") == grant
    # Decimals travel as strings: the server's Records[Value] is the connector's Records[Cell].
    rows = Records[object](("n", "amount"), ({"n": 1, "amount": Decimal("10.50")},))
    back = decode_answer(encode(rows), Records[Cell], "s1")
    assert back.columns == ("n", "amount") and back[0] == {"n": 1, "amount": "10.50"} and len(back) == 1
    # A newer server may add fields; a client ignores them (rolling upgrades).
    newer = json.dumps({**msgspec.to_builtins(route), "zone": "a"}).encode()
    assert decode_answer(newer, RouteAnswer, "m1") == route


def test_a_malformed_answer_is_a_coded_error_naming_the_field() -> None:
    with pytest.raises(MalformedAnswer) as caught:
        decode_answer(b'{"cluster_id": "x", "cluster_name": 3}', SessionGrant, "member m1")
    assert caught.value.code == "HG-1050" and "cluster_name" in caught.value.message


def _routes(app: Any) -> set[tuple[str, str]]:
    return {(m, r.path) for r in app.routes if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}


def _faces() -> dict[str, set[tuple[str, str]]]:
    service = SimpleNamespace(
        settings=SimpleNamespace(security=SecuritySettings(), server=SimpleNamespace(cluster_id="c")),
        # Routes are only listed, never called: the LDAP routes' admin needs these attributes to exist.
        auth=SimpleNamespace(directories=None),
        store=None,
        cache=None,
        member_name="m",
        deployments=None,  # the deployment routes only keep a reference to it
    )
    return {
        "management": _routes(create_app(service)),  # type: ignore[arg-type]
        "session": _routes(create_session_app(SimpleNamespace(server="s", cluster_id="c"))),  # type: ignore[arg-type]
    }


def test_every_route_of_both_faces_is_an_endpoint_and_the_other_way_round() -> None:
    for face, routes in _faces().items():
        table = {(e.method, e.path) for e in ENDPOINTS if e.face == face}
        assert routes == table, (face, routes ^ table)


def test_the_openapi_document_has_every_route_with_its_schemas() -> None:
    doc = openapi()
    schemas = doc["components"]["schemas"]
    for routes in _faces().values():
        for method, path in routes:
            op = doc["paths"][path][method.lower()]
            endpoint = next(e for e in ENDPOINTS if (e.method, e.path) == (method, path))
            ok = op["responses"][str(endpoint.status)]["content"]
            assert ok, (method, path)
            if endpoint.request is not None:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                schema = schemas[ref.rsplit("/", 1)[1]]
                assert schema["type"] == "object" and schema["properties"], (method, path)
    route = schemas["RouteRequest"]
    assert route["required"] == ["domain"] and route["properties"]["exclude"]["type"] == "array"
    assert "HeartbeatReport" in schemas and "ErrorBody" in schemas
    ldap = schemas["LdapDirectory"]  # types only: the config's defaults apply to a field left out
    assert ldap["required"] == ["name", "urls", "user_base"] and ldap["properties"]["urls"]["type"] == "array"
    assert "LdapSettingsView" in schemas and "LdapTestAnswer" in schemas
    assert doc["paths"][API.openapi.path]["get"]["security"] == [{"basic": []}]


def test_the_connector_loads_no_server_code_and_no_server_library() -> None:
    code = (
        "import sys, hostgate.connector, hostgate.messages\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'starlette', 'uvicorn', 'aetcd', 'grpc', 'tnz',"
        " 'ibm5250', 'pyte', 'argon2', 'yaml', 'pydantic'} or m.startswith(('hostgate.management',"
        " 'hostgate.api', 'hostgate.session', 'hostgate.store', 'hostgate.runtime')))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
