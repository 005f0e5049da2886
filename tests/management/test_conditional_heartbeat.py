"""Conditional heartbeats (issue #16): a member answers ``204 No Content`` when the session server already holds
every version the answer would name (``X-Hostgate-Heartbeat-Holds``), the full answer otherwise.

In process: the real app over a real SQLite member, each request both through the hot path (api/_hot.py) and
through Starlette's route table. The report is recorded whatever the answer: liveness and figures are the beat.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hostgate import pki
from hostgate.api._hot import HotStarlette
from hostgate.api.app import create_app
from hostgate.messages import HEARTBEAT_HOLDS, heartbeat_holds
from hostgate.messages.pools import PoolDefinition
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, InProcessMember, start_member

BEAT = "/api/v1/session-servers/s1/heartbeat"


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
    try:
        yield m, grant.cert_pem
    finally:
        await m.close()


def _apps(m: InProcessMember) -> list[Any]:
    """The member's app twice: hot paths on, and every request through Starlette's route table."""
    hot = create_app(m.service)
    assert isinstance(hot, HotStarlette)
    table = create_app(m.service)
    table._hot = None  # type: ignore[attr-defined]
    return [hot, table]


async def _beat(
    app: Any,
    cert: str,
    holds: str | None,
    body: bytes = b'{"active_sessions": 3, "capacity": 7, "interval": 9.0}',
) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [(b"host", b"m1"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    if holds is not None:
        headers.append((HEARTBEAT_HOLDS.lower().encode(), holds.encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
        "path": BEAT, "raw_path": BEAT.encode(), "root_path": "", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 9443),
        "extensions": {"tls": {"client_cert_chain": [cert]}},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def _current(m: InProcessMember) -> dict[str, Any]:
    """The answer a member gives today: token-key version, the server's security, its pools' version."""
    record = m.service.domains.servers()["s1"]
    return {
        "token_keys": m.service.domains.token_keys.version(),
        "security": record.security,
        "pools": m.service.pools.version_for("s1"),
    }


def _holds(answer: dict[str, Any]) -> str:
    return heartbeat_holds(answer["token_keys"], answer["security"], answer["pools"])


async def test_a_beat_that_holds_every_version_gets_204_and_is_recorded(
    member: tuple[InProcessMember, str],
) -> None:
    m, cert = member
    holds = _holds(_current(m))
    for app in _apps(m):
        m.service.router.forget("s1")
        assert not m.service.router.is_live("s1")
        status, headers, body = await _beat(app, cert, holds)
        assert (status, body) == (204, b"")
        # Stamped like every answer: the connector refuses one without its cluster's id (HG-5102).
        assert headers[b"x-hostgate-cluster-id"] == CLUSTER_ID.encode()
        assert b"content-type" not in headers and headers.get(b"content-length", b"0") == b"0"
        # The report is the beat: liveness and figures are recorded exactly as for a full answer.
        state = m.service.router.state("s1")
        assert state is not None and m.service.router.is_live("s1")
        assert (state.active_sessions, state.capacity, state.interval) == (3, 7, 9.0)


@pytest.mark.parametrize(
    "differs",
    [
        pytest.param({"token_keys": "0123456789abcdef"}, id="token-keys"),
        pytest.param({"security": False}, id="security"),
        pytest.param({"pools": "0123456789abcdef"}, id="pools"),
    ],
)
async def test_a_beat_that_holds_another_version_gets_the_full_answer(
    member: tuple[InProcessMember, str], differs: dict[str, Any]
) -> None:
    m, cert = member
    current = _current(m)
    for app in _apps(m):
        status, _, body = await _beat(app, cert, _holds({**current, **differs}))
        assert status == 200
        assert json.loads(body) == current


@pytest.mark.parametrize(
    "holds", [None, "", "garbage", "a;on;b;c"], ids=["no-header", "empty", "garbage", "four"]
)
async def test_a_beat_without_a_matching_header_gets_the_full_answer(
    member: tuple[InProcessMember, str], holds: str | None
) -> None:
    """A session server of an earlier version sends no header: it gets the 200 answer it always got."""
    m, cert = member
    for app in _apps(m):
        m.service.router.forget("s1")
        status, _, body = await _beat(app, cert, holds)
        assert status == 200
        assert json.loads(body) == _current(m)
        assert m.service.router.is_live("s1")


async def test_each_change_in_the_cluster_gets_the_full_answer_at_the_next_beat(
    member: tuple[InProcessMember, str],
) -> None:
    """A key rotation, a security switch, a pool defined for the server: the beat after each one, stating what
    the server held before, gets the full answer naming the new versions; stating those, 204 again."""
    m, cert = member
    app = create_app(m.service)
    held = _current(m)
    assert (await _beat(app, cert, _holds(held)))[0] == 204

    async def rotate() -> None:
        await m.service.domains.token_keys.rotate(ADMIN)

    async def switch_off() -> None:
        await m.service.domains.set_security(ADMIN, "s1", False)

    async def define_pool() -> None:
        await m.service.pools.create(
            ADMIN,
            PoolDefinition("orders", "demo3270", "CustomerList", max_concurrent=2, domain="prod"),
        )

    for change, field in ((rotate, "token_keys"), (switch_off, "security"), (define_pool, "pools")):
        await change()
        status, _, body = await _beat(app, cert, _holds(held))
        assert status == 200, field
        answer = json.loads(body)
        assert answer == _current(m) and answer[field] != held[field], field
        held = answer
        assert (await _beat(app, cert, _holds(held)))[0] == 204, field


async def test_a_refused_beat_is_refused_whatever_it_holds(member: tuple[InProcessMember, str]) -> None:
    """The holds header changes only the answer of an accepted beat: a bad report is still HG-1011."""
    m, cert = member
    for app in _apps(m):
        status, _, body = await _beat(
            app, cert, _holds(_current(m)), b'{"active_sessions": 0, "capacity": 1}'
        )
        assert status == 400 and json.loads(body)["code"] == "HG-1011"
