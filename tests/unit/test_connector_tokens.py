"""A connector's kept direct tokens (``connector/session.py``, ``_Kit.grant``, issue #18): used again for the same
server and model or pool for at most TOKEN_REUSE seconds after the grant, and only while the token has more than
TOKEN_MARGIN seconds to live; a fresh grant when asked for, and nothing kept by a connect function's kit. And an
AsyncConnector serves one event loop (its kept connections belong to it), and nothing once closed.

The cluster here is a stand-in that counts grants (the behaviour over real servers, a refused kept token asked
for again included, is in tests/integration/test_pools_e2e.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hostgate.connector import AsyncConnector, ClusterLocation
from hostgate.connector.session import TOKEN_MARGIN, TOKEN_REUSE, _Kit
from hostgate.errors import UsageError
from hostgate.messages import RouteAnswer
from tests.helpers.tls import loopback_tls


@dataclass
class _Answer:
    payload: RouteAnswer


@dataclass
class _Cluster:
    now: list[float]
    ttl: float = 900.0
    cluster_id: str = "c1"
    granted: list[Any] = field(default_factory=list)

    async def call(self, endpoint: Any, body: Any) -> _Answer:
        self.granted.append(body)
        n = len(self.granted)
        return _Answer(
            RouteAnswer("s1", "https://127.0.0.1:1", "127.0.0.1", 1, f"t{n}", self.now[0] + self.ttl)
        )

    async def aclose(self) -> None:
        return None


def _kit(tmp_path: Path, *, keep: bool, ttl: float = 900.0) -> tuple[_Kit, _Cluster, list[float]]:
    ca = loopback_tls(tmp_path).ca_file
    kit = _Kit(ClusterLocation("alias", ca), user="u", password="p", keep=keep, timeout=5.0)
    now = [1_000_000.0]
    cluster = _Cluster(now, ttl)
    kit.cluster = cluster  # type: ignore[assignment]
    kit.clock = lambda: now[0]
    return kit, cluster, now


def _token(kit: _Kit, pool: str = "p", *, fresh: bool = False) -> tuple[str, bool]:
    route, reused = asyncio.run(kit.grant("s1", "s1", "", pool, fresh=fresh))
    return route.token, reused


def test_a_kept_token_is_used_again_until_the_reuse_window_ends(tmp_path: Path) -> None:
    kit, cluster, now = _kit(tmp_path, keep=True)
    assert _token(kit) == ("t1", False)
    now[0] += TOKEN_REUSE - 1
    assert _token(kit) == ("t1", True)
    assert _token(kit, "other") == ("t2", False)  # another pool: its own grant
    now[0] += 2  # past the window since t1 was granted
    assert _token(kit) == ("t3", False)
    assert len(cluster.granted) == 3


def test_a_token_near_its_expiry_is_not_used_again(tmp_path: Path) -> None:
    kit, _, now = _kit(tmp_path, keep=True, ttl=TOKEN_MARGIN + 5)
    assert _token(kit) == ("t1", False)
    now[0] += 4
    assert _token(kit) == ("t1", True)
    now[0] += 2  # less than TOKEN_MARGIN left
    assert _token(kit) == ("t2", False)


def test_fresh_asks_the_cluster_and_a_one_connect_kit_keeps_nothing(tmp_path: Path) -> None:
    kit, _, _ = _kit(tmp_path, keep=True)
    assert _token(kit) == ("t1", False)
    assert _token(kit, fresh=True) == ("t2", False)
    assert _token(kit) == ("t2", True)
    once, cluster, _ = _kit(tmp_path, keep=False)
    assert [_token(once), _token(once)] == [("t1", False), ("t2", False)]
    assert len(cluster.granted) == 2


def test_an_async_connector_serves_the_loop_it_first_connected_on(tmp_path: Path) -> None:
    hg = AsyncConnector(ClusterLocation("alias", loopback_tls(tmp_path).ca_file), user="u", password="p")

    async def connect() -> None:
        hg._open()

    asyncio.run(connect())
    with pytest.raises(UsageError, match="another event loop"):
        asyncio.run(connect())
    asyncio.run(hg.aclose())
    with pytest.raises(UsageError, match="closed"):
        asyncio.run(connect())
