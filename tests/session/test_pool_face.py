"""The session server's pool endpoints, in process over the real 3270 test host: acquire gives a session id the
session endpoints take, DELETE gives it back, the figures are JSON, and tokens are checked (a pool's endpoints
take only a token naming that pool, and such a token opens no session of its own)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hostgate import tokens
from hostgate.models import ModelLibrary, deploy_model
from hostgate.session.pool_config import PoolSettings, PoolSizes
from hostgate.session.pool_service import PoolService
from hostgate.session.registry import SessionRegistry
from hostgate.session.server import create_session_app
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import write_model

__all__ = ["host_3270"]

_KID, _PRIVATE_PEM, _PUBLIC_B64 = tokens.generate_key()
SIGNER = tokens.Signer(_KID, _PRIVATE_PEM)
KEYS = tokens.KeySet([tokens.PublicKey(_KID, _PUBLIC_B64)])
CLUSTER = "c-test"
WITHIN = 60.0


def token(user: str = "alice", *, pool: str = "orders", model: str = "") -> dict[str, str]:
    claims = tokens.TokenClaims(
        "session", CLUSTER, "s1", user=user, model=model, pool=pool, expires_at=time.time() + 60
    )
    return {"Authorization": f"Bearer {SIGNER.mint(claims)}"}


@dataclass
class Face:
    http: httpx.AsyncClient
    service: PoolService

    async def figures(self) -> dict[str, object]:
        resp = await self.http.get("/api/v1/pools/orders", headers=token())
        assert resp.status_code == 200, resp.text
        body: dict[str, object] = resp.json()
        return body

    async def until_idle(self, idle: int) -> None:
        deadline = time.monotonic() + WITHIN
        while (await self.figures())["idle"] != idle:
            assert time.monotonic() < deadline, f"the pool never had {idle} idle"
            await asyncio.sleep(0.02)  # poll interval


@pytest.fixture
async def face(tmp_path: Path, host_3270: HostProcess) -> AsyncIterator[Face]:
    models = tmp_path / "models"
    models.mkdir()
    deploy_model(write_model(tmp_path, "demo3270", host_3270.port), models)
    registry = SessionRegistry("s1", CLUSTER, KEYS, 10, ModelLibrary(models))
    pool = PoolSettings(
        "orders", "demo3270", "Menu", PoolSizes(2, 1, 2), initial_idle=1, max_pending=1, max_wait=0.4
    )
    service = PoolService(registry, [pool])
    service.start()
    app = create_session_app(registry, pools=service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://s1") as http:
        made = Face(http, service)
        await made.until_idle(1)
        try:
            yield made
        finally:
            await service.close()
            await registry.close_all()


async def test_acquire_use_and_give_back_over_http(face: Face) -> None:
    resp = await face.http.post("/api/v1/pools/orders/sessions", headers=token())
    assert resp.status_code == 201, resp.text
    info = resp.json()
    assert info["pool"] == "orders" and info["model"] == "demo3270" and info["user"] == "alice"
    sid = info["id"]
    moved = await face.http.put(
        f"/api/v1/sessions/{sid}/entity", json={"entity": "CustomerList"}, headers=token()
    )
    assert moved.json() == {"entity": "CustomerList"}
    other = await face.http.get(f"/api/v1/sessions/{sid}/entity", headers=token("mallory"))
    assert other.status_code == 403  # the session belongs to its holder
    closed = await face.http.delete(f"/api/v1/sessions/{sid}", headers=token())
    assert closed.status_code == 200 and closed.json() == {"closed": sid}
    await face.until_idle(2)  # back in the pool (navigated to Menu), plus the one grown to min idle
    gone = await face.http.get(f"/api/v1/sessions/{sid}/entity", headers=token())
    assert gone.status_code == 404 and gone.json()["code"] == "HG-4202"

    again = (await face.http.post("/api/v1/pools/orders/sessions", headers=token())).json()
    entity = await face.http.get(f"/api/v1/sessions/{again['id']}/entity", headers=token())
    assert entity.json() == {"entity": "Menu"}
    wrong_pool = await face.http.delete(f"/api/v1/pools/other/sessions/{again['id']}", headers=token())
    assert wrong_pool.status_code == 404 and wrong_pool.json()["code"] == "HG-4202"
    back = await face.http.delete(f"/api/v1/pools/orders/sessions/{again['id']}", headers=token())
    assert back.status_code == 200
    figures = await face.figures()
    assert figures["acquired"] == 2 and figures["busy"] == 0
    listing = (await face.http.get("/api/v1/pools", headers=token())).json()
    assert [p["name"] for p in listing] == ["orders"]
    assert listing[0]["wait_histogram"]["+Inf"] == 2
    health = (await face.http.get("/api/v1/health", headers=token())).json()
    assert health["pools"][0]["name"] == "orders" and health["pools"][0]["acquired"] == 2
    assert "pools" not in (await face.http.get("/api/v1/health")).json()  # not without a token


async def test_a_full_pool_queues_then_answers_with_coded_errors(face: Face) -> None:
    held = [(await face.http.post("/api/v1/pools/orders/sessions", headers=token())).json() for _ in range(2)]
    assert all("id" in h for h in held)
    waiting = asyncio.create_task(face.http.post("/api/v1/pools/orders/sessions", headers=token()))
    deadline = time.monotonic() + WITHIN
    while (await face.figures())["pending"] != 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)  # poll interval
    full = await face.http.post("/api/v1/pools/orders/sessions", headers=token())
    assert full.status_code == 503 and full.json()["code"] == "HG-4302"
    late = await waiting
    assert late.status_code == 503 and late.json()["code"] == "HG-4303"


async def test_tokens_name_the_pool(face: Face) -> None:
    model_token = token(pool="", model="demo3270")
    refused = await face.http.post("/api/v1/pools/orders/sessions", headers=model_token)
    assert refused.status_code == 403 and refused.json()["code"] == "HG-3002"
    other = await face.http.post("/api/v1/pools/orders/sessions", headers=token(pool="billing"))
    assert other.status_code == 403 and "billing" in other.json()["message"]
    unknown = await face.http.post("/api/v1/pools/billing/sessions", headers=token(pool="billing"))
    assert unknown.status_code == 404 and unknown.json()["code"] == "HG-4301"
    own = await face.http.post("/api/v1/sessions", json={"model": "demo3270"}, headers=token())
    assert own.status_code == 403 and "pool" in own.json()["message"]
    anonymous = await face.http.post("/api/v1/pools/orders/sessions")
    assert anonymous.status_code == 401


async def test_the_raw_acquire_checks_the_header_and_token_before_the_pool(face: Face) -> None:
    # The acquire and the give-backs answer without Starlette's Request (issue #18): the same refusals.
    before = (await face.figures())["acquired"]
    for header in ("Basic YWxpY2U6cHc=", "Bearer", "bearer ", "Token x"):
        resp = await face.http.post("/api/v1/pools/orders/sessions", headers={"Authorization": header})
        assert resp.status_code == 401 and resp.json()["code"] == "HG-3001", header
        assert resp.json()["request_id"] == resp.headers["x-request-id"]
    claims = tokens.TokenClaims(
        "session", CLUSTER, "s2", user="alice", pool="orders", expires_at=time.time() + 60
    )
    elsewhere = {"Authorization": f"Bearer {SIGNER.mint(claims)}"}
    resp = await face.http.post("/api/v1/pools/orders/sessions", headers=elsewhere)
    assert resp.status_code == 403 and resp.json()["code"] == "HG-3852"
    assert (await face.figures())["acquired"] == before  # nothing handed out
    got = await face.http.post(
        "/api/v1/pools/orders/sessions", headers={"authorization": token()["Authorization"]}
    )
    sid = got.json()["id"]
    assert len(sid) == 32 and int(sid, 16) >= 0
    for path in (f"/api/v1/sessions/{sid}", f"/api/v1/pools/orders/sessions/{sid}"):
        refused = await face.http.delete(path, headers=elsewhere)
        assert refused.status_code == 403 and refused.json()["code"] == "HG-3852"
        mine = await face.http.delete(path, headers=token("mallory"))
        assert mine.status_code == 403 and mine.json()["code"] == "HG-3002"
    back = await face.http.delete(f"/api/v1/sessions/{sid}", headers=token())
    assert back.status_code == 200 and back.json() == {"closed": sid}
