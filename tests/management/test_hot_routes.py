"""The hot paths dispatched before Starlette's router (api/_hot.py) answer exactly as through the route table.

In process: the real app over a real SQLite member. Route and heartbeat calls keep every check (credentials,
certificate, body cap, coded errors, request id, identity headers); other methods and near-miss paths still reach
Starlette and get its coded 404/405.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hostgate import pki
from hostgate.management.routing import Heartbeat
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, InProcessMember, start_member


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
