"""The hot paths dispatched before Starlette's router (api/_hot.py) answer exactly as through the route table.

In process: the real app over a real SQLite member. Route and heartbeat calls keep every check (credentials,
certificate, body cap, coded errors, request id, identity headers); other methods and near-miss paths still reach
Starlette and get its coded 404/405.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate import pki
from hostgate.api._hot import HotStarlette
from hostgate.api.app import create_app
from hostgate.management.routing import Heartbeat
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, PASSWORD, InProcessMember, start_member


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[tuple[InProcessMember, str]]:
    m = await start_member(tmp_path / "m1")
    csr, _ = pki.make_csr("s1")
    grant = await m.service.domains.register_server(
        ADMIN, name="s1", address="127.0.0.1", port=9000, advertised_address="", advertised_port=0,
        csr_pem=csr.decode(),
    )  # fmt: skip
    await m.service.domains.create_domain(ADMIN, "prod")
    await m.service.domains.add_server(ADMIN, "prod", "s1", 1, 1)
    m.service.domains.heartbeat("s1", grant.cert_pem, Heartbeat("s1", 0, 10, 3600.0))
    await m.grant("user", "operator", "domain", "prod")  # routing needs the User profile (issue #17)
    try:
        yield m, grant.cert_pem
    finally:
        await m.close()


def _stamped(resp: httpx.Response) -> None:
    assert resp.headers["x-hostgate-cluster-id"] == CLUSTER_ID
    assert resp.headers["x-hostgate-member"] == "m1"
    # 48 random bits per process, then a hex counter (hostgate._http._RequestIds): the length grows with the
    # number of requests this process answered before, so the shape is checked, never the length.
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", resp.headers["x-request-id"])


def _code(resp: httpx.Response) -> str:
    body = resp.json()
    assert body["request_id"] == resp.headers["x-request-id"]
    return str(body["code"])


async def test_a_route_call_is_answered_and_stamped(member: tuple[InProcessMember, str]) -> None:
    m, _ = member
    async with m.http("operator") as api:
        resp = await api.post("/api/v1/route", json={"domain": "prod", "model": "x"})
    assert resp.status_code == 200, resp.text
    _stamped(resp)
    assert resp.json()["server"] == "s1"


async def test_a_cli_login_token_routes_on_the_hot_path(member: tuple[InProcessMember, str]) -> None:
    """The hot paths run the app's own middleware (api/_hot.py), so the login gate's Bearer branch for
    `hostgate login` tokens applies there too (merge of the speed and login work)."""
    m, _ = member
    async with m.http("operator") as api:
        login = await api.post("/api/v1/login", json={})
    assert login.status_code == 200, login.text
    async with m.http("") as bare:
        bare.headers["Authorization"] = f"Bearer {login.json()['token']}"
        resp = await bare.post("/api/v1/route", json={"domain": "prod", "model": "x"})
        forged = await bare.post(
            "/api/v1/route",
            json={"domain": "prod", "model": "x"},
            headers={"Authorization": "Bearer hgcli_not-a-token"},
        )
    assert resp.status_code == 200, resp.text
    assert resp.json()["server"] == "s1"
    _stamped(resp)
    assert (forged.status_code, forged.json()["code"]) == (401, "HG-3241"), forged.text


async def test_the_hot_paths_keep_their_checks(member: tuple[InProcessMember, str]) -> None:
    m, _ = member
    async with m.http("") as anonymous, m.http("operator", "wrong") as wrong, m.http("operator") as api:
        no_credentials = await anonymous.post("/api/v1/route", json={"domain": "prod", "model": "x"})
        bad_password = await wrong.post("/api/v1/route", json={"domain": "prod", "model": "x"})
        bad_field = await api.post("/api/v1/route", json={"domain": 5, "model": "x"})
        no_cert = await api.post("/api/v1/session-servers/s1/heartbeat", json={"capacity": 1})
        too_big = await api.post("/api/v1/route", content=b"{" + b" " * 2_000_000 + b"}")
    for resp, status, code in (
        (no_credentials, 401, "HG-3001"),
        (bad_password, 401, "HG-3001"),
        (bad_field, 400, "HG-1011"),
        (no_cert, 401, "HG-3001"),
        (too_big, 413, "HG-1010"),
    ):
        assert resp.status_code == status, resp.text
        _stamped(resp)
        assert _code(resp) == code


async def test_other_methods_and_near_miss_paths_still_reach_the_router(
    member: tuple[InProcessMember, str],
) -> None:
    m, _ = member
    async with m.http() as api:
        get_route = await api.get("/api/v1/route")
        get_beat = await api.get("/api/v1/session-servers/s1/heartbeat")
        two_segments = await api.post("/api/v1/session-servers/a/b/heartbeat", json={})
        no_name = await api.post("/api/v1/session-servers//heartbeat", json={})
        trailing = await api.post("/api/v1/route/", json={})
    assert (get_route.status_code, _code(get_route)) == (405, "HG-1041")
    assert (get_beat.status_code, _code(get_beat)) == (405, "HG-1041")
    for resp in (two_segments, no_name):
        assert (resp.status_code, _code(resp)) == (404, "HG-1040"), resp.text
    assert trailing.status_code in (307, 404)  # Starlette's own slash redirect or a coded 404, as before
    for resp in (get_route, get_beat, two_segments, no_name, trailing):
        _stamped(resp)


# --- the hot paths and the route table answer alike; credentials and certificate come before the body -----------

_ROUTE = "/api/v1/route"
_BEAT = "/api/v1/session-servers/s1/heartbeat"


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def _scope(path: str, body: bytes, auth: bytes | None, cert: str | None) -> dict[str, Any]:
    headers = [(b"host", b"m1"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    if auth is not None:
        headers.append((b"authorization", auth))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9443),
        # What hostgate's uvicorn protocol puts in the scope of a TLS connection (runtime/tls_scope.py).
        "extensions": {"tls": {"client_cert_chain": [cert] if cert else []}},
    }
    return scope


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, dict[bytes, bytes], Any, bool]:
    """(status, headers, JSON body, whether the app read the body) of one ASGI request."""
    read = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, answer = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), json.loads(answer), read


def _cases(cert: str) -> list[tuple[str, str, bytes, bytes | None, str | None, int, str | None, bool]]:
    """(what, path, body, Authorization, client certificate, status, code, body read) of each request."""
    ok = _basic("operator", PASSWORD)
    wrong = _basic("operator", "wrong")
    route, beat = (
        b'{"domain": "prod", "model": "x"}',
        b'{"active_sessions": 0, "capacity": 5, "interval": 5.0}',
    )
    other = pki.issue_member_cert(pki.create_ca("elsewhere"), "s1", ["127.0.0.1"]).cert_pem.decode()
    return [
        ("route", _ROUTE, route, ok, None, 200, None, True),
        ("route, no credentials", _ROUTE, route, None, None, 401, "HG-3001", False),
        ("route, wrong password", _ROUTE, route, wrong, None, 401, "HG-3001", False),
        ("route, malformed credentials", _ROUTE, route, b"Basic !!", None, 401, "HG-3001", False),
        ("route, wrong field type", _ROUTE, b'{"domain": 5, "model": "x"}', ok, None, 400, "HG-1011", True),
        ("route, not JSON", _ROUTE, b"{", ok, None, 400, "HG-1003", True),
        ("route, unknown domain", _ROUTE, b'{"domain": "nope", "model": "x"}', ok, None, 404, None, True),
        ("heartbeat", _BEAT, beat, None, cert, 200, None, True),
        ("heartbeat, no certificate", _BEAT, beat, None, None, 401, "HG-3001", False),
        ("heartbeat, another certificate", _BEAT, beat, None, other, 403, None, False),
        (
            "heartbeat, unknown server",
            "/api/v1/session-servers/s9/heartbeat",
            beat,
            None,
            cert,
            404,
            None,
            False,
        ),
        ("heartbeat, out of range", _BEAT, beat.replace(b"5.0", b"0.0"), None, cert, 400, "HG-1011", True),
    ]


async def test_the_hot_paths_answer_as_the_route_table_does(member: tuple[InProcessMember, str]) -> None:
    """Each request through the hot path (api/_hot.py) and through Starlette's router (the same app with its hot
    paths switched off): the same status, code, answer fields and stamped headers."""
    m, cert = member
    hot = create_app(m.service)
    assert isinstance(hot, HotStarlette)
    table = create_app(m.service)
    table._hot = None  # type: ignore[attr-defined]  # every request through Starlette's router
    for what, path, body, auth, client_cert, status, code, _ in _cases(cert):
        answers = [await _call(app, _scope(path, body, auth, client_cert), body) for app in (hot, table)]
        for got_status, headers, answer, _read in answers:
            assert got_status == status, (what, answer)
            assert headers[b"x-hostgate-cluster-id"] == CLUSTER_ID.encode(), what
            assert headers[b"content-type"] == b"application/json", what
            if status >= 400:
                assert answer["request_id"] == headers[b"x-request-id"].decode(), what
                if code is not None:
                    assert answer["code"] == code, (what, answer)
        (_, hot_headers, hot_answer, _), (_, table_headers, table_answer, _) = answers
        assert set(hot_headers) == set(table_headers), what
        assert set(hot_answer) == set(table_answer), what
        if status >= 400:
            assert hot_answer["code"] == table_answer["code"], what


async def test_the_hot_paths_check_credentials_and_certificate_before_the_body(
    member: tuple[InProcessMember, str],
) -> None:
    """A request refused for its credentials or certificate is answered without its body being read."""
    m, cert = member
    app = create_app(m.service)
    for what, path, body, auth, client_cert, status, _, body_read in _cases(cert):
        got, _, answer, read = await _call(app, _scope(path, body, auth, client_cert), body)
        assert got == status, (what, answer)
        assert read == body_read, what


async def test_the_hot_paths_refuse_an_oversized_body_before_reading_it(
    member: tuple[InProcessMember, str],
) -> None:
    m, cert = member
    app = create_app(m.service)
    route = _scope(_ROUTE, b"{}", _basic("operator", PASSWORD), None)
    route["headers"] = [(k, b"2000000" if k == b"content-length" else v) for k, v in route["headers"]]
    beat = _scope(_BEAT, b"{}", None, cert)
    beat["headers"] = [(k, b"20000" if k == b"content-length" else v) for k, v in beat["headers"]]
    for scope in (route, beat):
        status, _, answer, read = await _call(app, scope, b"{}")
        assert (status, answer["code"], read) == (413, "HG-1010", False)
