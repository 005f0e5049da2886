"""Conditional heartbeats end to end (issue #16), with a real member and a session server's real identity.

Given a lone SQLite member and session server session01 (processes; its own heartbeats every 30 s), the test
drives a ``Heartbeater`` of its own with session01's registered certificate, over TLS, through the alias:

- a beat stating what the server holds is answered 204, and ``broadcast`` reads it as that member naming those
  versions; one stating anything else, or nothing (a server of an earlier version), gets the full 200 answer;
- a Heartbeater beating over 204s changes nothing, keeps one connection, and still follows a security switch
  and a key rotation at the next beat (the full answer comes back for exactly that beat).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import pytest

from hostgate import tokens
from hostgate.config.settings import load_settings
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError
from hostgate.messages import (
    API,
    HEARTBEAT_HOLDS,
    HeartbeatAnswer,
    HeartbeatReport,
    TokenKeysAnswer,
    heartbeat_holds,
)
from hostgate.models.library import ModelLibrary
from hostgate.session.pool_service import PoolService
from hostgate.session.pool_sync import PoolSync
from hostgate.session.registration import Heartbeater
from hostgate.session.registry import SessionRegistry
from tests.helpers.lone_member import LoneMember, lone_member

pytestmark = [pytest.mark.slow]

SERVER = "session01"
C = TypeVar("C", bound=ClusterClient)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoneMember]:
    with lone_member(tmp_path_factory.mktemp("hb"), heartbeat_interval=30.0) as lab:
        yield lab


class _Noting(ClusterClient):
    """The real client; notes the status of every answer its broadcasts get."""

    @property
    def statuses(self) -> list[int]:
        noted: list[int] = self.__dict__.setdefault("statuses", [])
        return noted

    async def broadcast(self, *args: Any, **kwargs: Any) -> Any:
        results = await super().broadcast(*args, **kwargs)
        self.statuses.extend(r.status for r in results.values() if not isinstance(r, HostgateError))
        return results


def _client(lab: LoneMember, cls: type[C]) -> C:
    """A management client built as session01's own heartbeats build it (session/role.py)."""
    settings = load_settings(lab.session.data_dir)
    return cls(
        settings.session.management,
        ca_file=settings.path(settings.tls.ca_file),
        hosts_file=settings.path(settings.naming.hosts_file),
        cert_file=settings.path(settings.session.cert_file or settings.tls.cert_file),
        key_file=settings.path(settings.session.key_file or settings.tls.key_file),
        keep_alive=True,
        deadline=10.0,
    )


def _admin(lab: LoneMember) -> httpx.Client:
    return httpx.Client(
        base_url=lab.member.url, verify=lab.ctx, auth=("admin", lab.inst.password), timeout=30.0
    )


def _current(lab: LoneMember) -> HeartbeatAnswer:
    """What the member answers session01 now (a beat with its certificate and no holds header)."""
    settings = load_settings(lab.session.data_dir)
    ctx = ssl.create_default_context(cafile=str(lab.inst.ca_file))
    ctx.load_cert_chain(
        settings.path(settings.session.cert_file or settings.tls.cert_file),
        settings.path(settings.session.key_file or settings.tls.key_file),
    )
    with httpx.Client(base_url=lab.member.url, verify=ctx, timeout=30.0) as server:
        resp = server.post(
            f"/api/v1/session-servers/{SERVER}/heartbeat",
            json={"active_sessions": 0, "capacity": 5, "interval": 30.0},
        )
    assert resp.status_code == 200, resp.text
    return msgspec.json.decode(resp.content, type=HeartbeatAnswer)


def _holds(a: HeartbeatAnswer) -> str:
    assert a.security is not None and a.pools is not None
    return heartbeat_holds(a.token_keys, a.security, a.pools)


def test_a_beat_holding_every_version_is_read_as_unchanged(lab: LoneMember) -> None:
    current = _current(lab)
    stale = HeartbeatAnswer("0123456789abcdef", True, "")
    report = HeartbeatReport(0, 5, 30.0)

    async def go() -> list[tuple[int, HeartbeatAnswer]]:
        client = _client(lab, ClusterClient)
        got = []
        try:
            for headers, unchanged in (
                ({HEARTBEAT_HOLDS: _holds(current)}, current),
                ({HEARTBEAT_HOLDS: _holds(stale)}, stale),
                (None, None),
            ):
                results = await client.broadcast(
                    API.heartbeat, report, headers=headers, unchanged=unchanged, name=SERVER
                )
                (answer,) = results.values()
                assert not isinstance(answer, HostgateError), answer
                got.append((answer.status, answer.payload))
        finally:
            await client.aclose()
        return got

    assert asyncio.run(go()) == [(204, current), (200, current), (200, current)]


def test_a_heartbeater_over_204s_follows_a_switch_and_a_rotation_at_the_next_beat(
    lab: LoneMember, tmp_path: Path
) -> None:
    current = _current(lab)
    with httpx.Client(base_url=lab.member.url, verify=lab.ctx, timeout=30.0) as plain:
        resp = plain.get("/api/v1/token-keys", auth=("admin", lab.inst.password))
        keys = msgspec.json.decode(resp.content, type=TokenKeysAnswer).keys
    assert tokens.key_set_version(keys) == current.token_keys
    switched: list[bool] = []
    fetched: list[tuple[tokens.PublicKey, ...]] = []

    async def go() -> None:
        client = _client(lab, _Noting)
        statuses = client.statuses
        (tmp_path / "models").mkdir()
        registry = SessionRegistry(
            SERVER, client.cluster_id, tokens.KeySet([]), 5, ModelLibrary(tmp_path / "models")
        )
        pools = PoolService(registry, [])
        hb = Heartbeater(
            client, SERVER, 30.0, 5, lambda: 0,
            token_keys=keys, on_token_keys=fetched.append, security=True, on_security=switched.append,
            pool_sync=PoolSync(pools, [], tmp_path), pools=pools.loads,
        )  # fmt: skip
        try:
            for _ in range(3):
                assert "registered with 1 of 1" in await hb.run_cycle()
            assert statuses == [204, 204, 204]
            assert (switched, fetched, hb.security, hb.keys_version) == ([], [], True, current.token_keys)
            # One kept connection to the member, beat after beat (a TLS handshake per beat would cost the member
            # more than the beat).
            assert len(client._kept) == 1
            kept = next(iter(client._kept.values()))

            with _admin(lab) as admin:
                resp = admin.put(f"/api/v1/session-servers/{SERVER}/security", json={"security": "off"})
                assert resp.status_code == 200, resp.text
            await hb.run_cycle()
            assert statuses[3:] == [200] and switched == [False] and hb.security is False
            await hb.run_cycle()
            assert statuses[4:] == [204]

            with _admin(lab) as admin:
                resp = admin.post("/api/v1/token-keys/rotate")
                assert resp.status_code == 200, resp.text
            text = await hb.run_cycle()
            assert statuses[5:] == [200] and "token keys refreshed" in text and len(fetched) == 1
            assert hb.keys_version != current.token_keys
            await hb.run_cycle()
            assert statuses[6:] == [204]
            assert list(client._kept.values()) == [kept]
        finally:
            with _admin(lab) as admin:
                admin.put(f"/api/v1/session-servers/{SERVER}/security", json={"security": "on"})
            await client.aclose()
            await pools.close()
            await registry.close_all()

    asyncio.run(go())
