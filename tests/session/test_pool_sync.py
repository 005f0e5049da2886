"""Cluster pool definitions applied to a session server's running pools (session/pool_sync.py), on the 3270 host.

Schedules are evaluated at each tick with a manual clock: a period boundary changes the running pool's sizes at
the first tick past it. Delivered definitions start, change and drain pools; a cluster definition wins over the
pools file's of the same name, and the file's runs again once the cluster's is deleted; a changed definition
replaces the pool while the old one drains (a held session keeps working, then is signed off).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hostgate import tokens
from hostgate.errors import PoolDrained
from hostgate.messages.pools import ScheduleRuleView, ServerPool, ServerPoolsAnswer, ServerVariableList
from hostgate.models.library import ModelLibrary, deploy_model
from hostgate.session.pool_config import PoolSettings, PoolSizes
from hostgate.session.pool_service import PoolService
from hostgate.session.pool_sync import PoolSync
from hostgate.session.registry import SessionRegistry
from hostgate.tokens import TokenClaims
from tests.helpers._clock import ManualClock
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import write_model

__all__ = ["host_3270"]

PARIS = ZoneInfo("Europe/Paris")
WITHIN = 60.0
CLAIMS = TokenClaims(kind="session", cluster_id="c1", server="s1", user="ada", pool="orders")


async def until(what: str, check: Callable[[], bool], within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # poll interval


def pool(**changes: object) -> ServerPool:
    base: dict[str, object] = {
        "name": "orders",
        "model": "demo3270",
        "startup_entity": "Menu",
        "domain": "prod",
        "server": "",
        "max_concurrent": 3,
        "initial_idle": 0,
        "min_idle": 0,
        "max_idle": 3,
        "max_pending": 4,
        "max_wait": 10.0,
        "idle_timeout": 600.0,
        "health_check_interval": 600.0,
        "recycle_uses": 0,
        "recycle_after": 0.0,
        "lease": 300.0,
        "variable_lists": (
            ServerVariableList("creds", columns=("userid", "password"), entries=(("ADA", "LOVELACE"),) * 3),
        ),
    }
    return ServerPool(**{**base, **changes})  # type: ignore[arg-type]


@dataclass
class Lab:
    clock: ManualClock
    service: PoolService
    sync: PoolSync


@pytest.fixture
async def lab(host_3270: HostProcess, tmp_path: Path) -> AsyncIterator[Lab]:
    models = tmp_path / "models"
    models.mkdir()
    deploy_model(write_model(tmp_path, "demo3270", host_3270.port), models)
    registry = SessionRegistry("s1", "c1", tokens.KeySet([]), 20, ModelLibrary(models))
    clock = ManualClock(datetime(2026, 3, 27, 17, 59, 0, tzinfo=PARIS).timestamp())  # a Friday
    file_pool = PoolSettings("orders", "demo3270", "Menu", PoolSizes(1, 0, 1), max_wait=10.0)
    service = PoolService(registry, [file_pool], clock=clock)
    service.start()
    try:
        yield Lab(clock, service, PoolSync(service, [file_pool], tmp_path, clock=clock))
    finally:
        await service.close()
        await registry.close_all()


async def test_a_period_boundary_changes_the_running_pool_at_the_first_tick_past_it(lab: Lab) -> None:
    office = ScheduleRuleView("mon-fri 08:00-18:00", min_idle=2, max_idle=2)
    note = lab.sync.apply(ServerPoolsAnswer("v1", (pool(schedule_zone="Europe/Paris", schedule=(office,)),)))
    assert "pool orders: replaced" in note and lab.sync.version == "v1"
    running = lab.service.pools["orders"]
    assert running.sizes == PoolSizes(3, 2, 2)  # 17:59: the office window is in force
    await until("two idle sessions", lambda: running.status().idle == 2)
    lab.clock.advance(59)
    assert lab.sync.tick() == ""  # 17:59:59: nothing changes
    lab.clock.advance(1)
    assert "min_idle 0, max_idle 3" in lab.sync.tick()  # 18:00:00 Paris
    assert running.sizes == PoolSizes(3, 0, 3)
    assert lab.sync.tick() == ""  # applied once
    # Monday 08:00 CEST (after the spring-forward change of Sunday 29 March).
    lab.clock.now = datetime(2026, 3, 30, 7, 59, 59, tzinfo=PARIS).timestamp()
    assert lab.sync.tick() == "" and running.sizes == PoolSizes(3, 0, 3)
    lab.clock.advance(1)
    assert lab.sync.tick() and running.sizes == PoolSizes(3, 2, 2)
    # A wall clock set back (NTP) is evaluated again at once, not after the change it had computed.
    lab.clock.now = datetime(2026, 3, 27, 18, 30, tzinfo=PARIS).timestamp()
    assert lab.sync.tick() and running.sizes == PoolSizes(3, 0, 3)


async def test_the_cluster_definition_wins_and_the_file_pool_returns_when_it_is_deleted(lab: Lab) -> None:
    from_file = lab.service.pools["orders"]
    assert from_file.sizes == PoolSizes(1, 0, 1)
    lab.sync.apply(ServerPoolsAnswer("v1", (pool(min_idle=1),)))
    cluster = lab.service.pools["orders"]
    assert (
        cluster is not from_file
        and from_file.draining
        and cluster.settings.variable_lists[0].source == ("stored in the cluster")
    )
    await until("the cluster pool warms", lambda: cluster.status().idle == 1)
    lab.sync.apply(ServerPoolsAnswer("v2", (pool(min_idle=1, max_concurrent=2, max_idle=2),)))
    assert lab.service.pools["orders"] is cluster and cluster.sizes == PoolSizes(2, 1, 2)  # sizes: in place
    note = lab.sync.apply(ServerPoolsAnswer("", ()))
    assert "from the pools file again" in note
    assert lab.service.pools["orders"].settings.sizes == PoolSizes(1, 0, 1) and cluster.draining


async def test_drained_and_changed_definitions_drain_and_a_held_session_lives_until_given_back(
    lab: Lab,
) -> None:
    lab.sync.apply(ServerPoolsAnswer("v1", (pool(min_idle=1),)))
    first = lab.service.pools["orders"]
    await until("an idle session", lambda: first.status().idle == 1)
    held = await lab.service.acquire(CLAIMS, "orders")
    lab.sync.apply(ServerPoolsAnswer("v2", (pool(min_idle=1, drained=True),)))
    with pytest.raises(PoolDrained) as caught:
        await lab.service.acquire(CLAIMS, "orders")
    assert caught.value.code == "HG-4333"
    lab.sync.apply(ServerPoolsAnswer("v3", (pool(min_idle=1, startup_entity="CustomerList"),)))
    second = lab.service.pools["orders"]
    assert second is not first and first in lab.service.retiring
    assert (await held.runtime.current_entity()).name == "Menu"  # the holder keeps its session
    await lab.service.registry.close(CLAIMS, held.id)
    await until("the old pool's last session signed off", lambda: first.finished)
    lines = await lab.service.run_cycle()
    assert any("its last session is signed off" in line for line in lines) and lab.service.retiring == []
    await until("the new pool warms at its startup entity", lambda: second.status().idle == 1)


async def test_a_deleted_pool_is_finished_once_its_last_sign_off_is_done_and_close_waits_for_it(
    lab: Lab,
) -> None:
    # CI (fresh-clone run 4): a drained pool whose last idle session was still signing off counted as finished
    # at once, so the service let go of it; the sign-off then ran on in the background past the test's end,
    # was cancelled when its event loop shut down, and the garbage collector found the session's tnz loop and
    # host connection at the next test's setup.
    lab.sync.apply(ServerPoolsAnswer("v1", (pool(min_idle=1),)))
    cluster = lab.service.pools["orders"]
    await until("an idle session", lambda: cluster.status().idle == 1)
    host = cluster.sessions()[0].runtime.host
    thread = getattr(host, "_thread", None)
    assert thread is not None and thread.loop is not None
    loop = thread.loop
    lab.sync.apply(ServerPoolsAnswer("", ()))  # deleted: it drains, its idle session is signed off
    assert cluster.draining and not cluster.finished and cluster in lab.service.retiring
    await lab.service.close()
    assert loop.is_closed() and thread.loop is None, "close() returned before the sign-off had ended"
    assert cluster.finished
