"""A host killed (SIGKILL) under an open session: the session server's next call on that session answers
HostDisconnected (HG-7002) within a second, instead of answering from the last screen, and the session is
closed (later calls: SessionNotFound HG-4202). Real hosts, the real registry and model runtime, no HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostgate import tokens
from hostgate.errors import HostDisconnected, SessionNotFound
from hostgate.models.library import ModelLibrary, deploy_model
from hostgate.session.model_session import ModelSession
from hostgate.session.registry import ServedSession, SessionRegistry
from hostgate.tokens import TokenClaims
from tests.helpers.hosts import HostProcess, MainframeHost, VtHost
from tests.helpers.models import write_model

KINDS = ["3270", "5250", "vt"]
NOTICE_WITHIN = 1.0
CALLS: dict[str, Callable[[ModelSession], Awaitable[object]]] = {
    "current_entity": lambda runtime: runtime.current_entity(),
    "get_attributes": lambda runtime: runtime.get_attributes(),
}


@dataclass
class Served:
    host: HostProcess
    registry: SessionRegistry
    claims: TokenClaims
    session: ServedSession


@pytest.fixture(params=KINDS)
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    kind = request.param
    host: HostProcess = MainframeHost(kind).start() if kind != "vt" else VtHost().start()
    with host:
        models = tmp_path / "models"
        models.mkdir()
        deploy_model(write_model(tmp_path, f"demo{kind}", host.port), models)
        registry = SessionRegistry("s1", "c1", tokens.KeySet([]), 4, ModelLibrary(models))
        claims = TokenClaims(kind="session", cluster_id="c1", server="s1", user="ada", model=f"demo{kind}")
        session = await registry.open(claims, f"demo{kind}")
        try:
            yield Served(host, registry, claims, session)
        finally:
            await registry.close_all()


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_a_call_after_the_host_died_is_host_disconnected_and_closes_the_session(
    served: Served, call: str
) -> None:
    registry, claims, session = served.registry, served.claims, served.session
    action = CALLS[call]
    assert (await registry.call(claims, session.id, lambda rt: rt.current_entity())).name == "Menu"
    served.host.kill()
    started = time.monotonic()
    with pytest.raises(HostDisconnected) as caught:
        while time.monotonic() - started < NOTICE_WITHIN:
            await registry.call(claims, session.id, action)
            await asyncio.sleep(0.01)  # poll interval
    noticed = time.monotonic() - started
    assert noticed < NOTICE_WITHIN, f"noticed after {noticed:.2f} s"
    assert caught.value.code == "HG-7002"
    assert session.id not in registry.sessions
    assert not session.runtime.connected
    with pytest.raises(SessionNotFound) as later:
        await registry.call(claims, session.id, action)
    assert later.value.code == "HG-4202"


async def test_the_session_info_says_disconnected_within_a_second(served: Served) -> None:
    session = served.session
    assert session.info().connected is True
    served.host.kill()
    started = time.monotonic()
    while session.info().connected and time.monotonic() - started < NOTICE_WITHIN:
        await asyncio.sleep(0.01)  # poll interval
    assert session.info().connected is False, "still connected a second after the host died"
    with pytest.raises(HostDisconnected):
        await served.registry.call(served.claims, session.id, lambda rt: rt.current_entity())
    assert session.id not in served.registry.sessions
