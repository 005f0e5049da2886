"""Session pools against the real 3270, 5250 and VT test hosts (session/pools.py, session/pool_service.py).

The pool warms to initial idle, grows to min idle, caps at max concurrent, queues to max pending and times
the rest out with coded errors; a host that drops idle sessions is healed without the client seeing it; a
client that stops calling gets its session reclaimed; the queue is FIFO. Idle timeouts, health-check intervals,
recycling and leases run on a manual clock; max wait is a real timeout (it bounds a real caller's wait).
No HTTP here: tests/session/test_pool_face.py drives the same through the session server's face.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostgate import tokens
from hostgate.errors import (
    PoolClosed,
    PoolQueueFull,
    PoolVariablesExhausted,
    PoolWaitTimeout,
    SessionNotFound,
    SignOnFailed,
)
from hostgate.models.library import ModelLibrary, deploy_model
from hostgate.session.pool_config import PoolSettings, PoolSizes, VariableList
from hostgate.session.pool_service import PoolService
from hostgate.session.pools import Pool
from hostgate.session.registry import SessionRegistry
from hostgate.tokens import TokenClaims
from tests.helpers._clock import ManualClock
from tests.helpers.hosts import HostProcess, host_3270, host_5250, host_vt
from tests.helpers.models import write_model
from tests.helpers.proxy import TcpRelay

__all__ = ["host_3270", "host_5250", "host_vt"]

KINDS = ["3270", "5250", "vt"]
WITHIN = 60.0  # sign-ons of several sessions on a loaded 2-core machine
LATE = 2.0  # how much later than max_wait a timed-out waiter may hear (event loop under load)


async def until(what: str, check: Callable[[], bool], within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # poll interval


def settings(kind: str, **changes: object) -> PoolSettings:
    base = PoolSettings(
        name="orders",
        model=f"demo{kind}",
        startup_entity="Menu",
        sizes=PoolSizes(max_concurrent=3, min_idle=1, max_idle=3),
        initial_idle=2,
        max_pending=1,
        max_wait=WITHIN,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class Lab:
    kind: str
    registry: SessionRegistry
    clock: ManualClock
    claims: TokenClaims
    service: PoolService | None = None

    def start(self, pool_settings: PoolSettings) -> Pool:
        self.service = PoolService(self.registry, [pool_settings], clock=self.clock)
        self.service.start()
        return self.service.pools[pool_settings.name]


@pytest.fixture(params=KINDS)
def host(
    request: pytest.FixtureRequest, host_3270: HostProcess, host_5250: HostProcess, host_vt: HostProcess
) -> Iterator[tuple[str, HostProcess]]:
    yield request.param, {"3270": host_3270, "5250": host_5250, "vt": host_vt}[request.param]


def _lab(kind: str, port: int, tmp_path: Path) -> Lab:
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    deploy_model(write_model(tmp_path, f"demo{kind}", port), models)
    registry = SessionRegistry("s1", "c1", tokens.KeySet([]), 20, ModelLibrary(models))
    claims = TokenClaims(kind="session", cluster_id="c1", server="s1", user="ada", pool="orders")
    return Lab(kind, registry, ManualClock(time.time()), claims)


@pytest.fixture
async def lab(host: tuple[str, HostProcess], tmp_path: Path) -> AsyncIterator[Lab]:
    kind, process = host
    made = _lab(kind, process.port, tmp_path)
    try:
        yield made
    finally:
        if made.service is not None:
            await made.service.close()
        await made.registry.close_all()


async def test_warms_to_initial_idle_grows_to_min_idle_caps_at_max_concurrent_and_queues(lab: Lab) -> None:
    pool = lab.start(settings(lab.kind, max_wait=0.5))
    await until("initial idle", lambda: pool.status().idle == 2)
    assert pool.status().created == 2
    a = await pool.acquire("ada")
    assert pool.status().idle == 1 and pool.status().warming == 0  # 1 idle is min idle: no growth
    assert (await a.runtime.current_entity()).name == "Menu"
    b = await pool.acquire("ada")
    await until("growth back to min idle", lambda: pool.status().idle == 1)
    c = await pool.acquire("ada")
    assert (await c.runtime.current_entity()).name == "Menu"
    assert pool.total == 3 and pool.status().warming == 0  # capped: no fourth session although 0 idle

    started = time.monotonic()
    waiting = asyncio.create_task(pool.acquire("bob"))
    await until("a queued client", lambda: pool.pending == 1)
    with pytest.raises(PoolQueueFull) as full:
        await pool.acquire("carol")  # max_pending 1: refused at once
    assert full.value.code == "HG-4302"
    with pytest.raises(PoolWaitTimeout) as late:
        await waiting
    waited = time.monotonic() - started
    assert late.value.code == "HG-4303" and "0.5 s" in late.value.message
    assert 0.5 <= waited < 0.5 + LATE, waited
    figures = pool.status()
    assert (figures.busy, figures.idle, figures.created, figures.timed_out, figures.refused) == (
        3,
        0,
        3,
        1,
        1,
    )
    assert figures.acquired == 3 and figures.pending == 0

    pool.release(a)
    await until("the released session parked", lambda: pool.status().idle == 1)
    assert pool.status().created == 3
    for s in (b, c):
        pool.release(s)
    await until("all parked (max idle 3)", lambda: pool.status().idle == 3)


async def test_a_released_session_is_brought_back_to_the_startup_entity(lab: Lab) -> None:
    pool = lab.start(settings(lab.kind, initial_idle=1, sizes=PoolSizes(1, 0, 1)))
    assert lab.service is not None
    served = await lab.service.acquire(lab.claims, "orders")
    assert lab.registry.get(lab.claims, served.id).pool == "orders"
    await lab.registry.call(lab.claims, served.id, lambda s: s.set_current_entity("CustomerForm"))
    await lab.registry.close(lab.claims, served.id)  # DELETE /sessions/{id}: back to the pool
    assert served.id not in lab.registry.sessions
    await until("parked again", lambda: pool.status().idle == 1)
    again = await lab.service.acquire(lab.claims, "orders")
    assert again.id != served.id  # one id per hand-out: the former holder's id leads nowhere
    assert again.runtime is served.runtime  # the same host session, signed on once
    assert (await again.runtime.current_entity()).name == "Menu"
    with pytest.raises(SessionNotFound):
        lab.registry.get(lab.claims, served.id)
    assert pool.status().created == 1


async def test_fair_queue_serves_waiters_in_arrival_order(lab: Lab) -> None:
    pool = lab.start(settings(lab.kind, initial_idle=1, sizes=PoolSizes(1, 0, 1), max_pending=6, max_wait=60))
    await until("initial idle", lambda: pool.status().idle == 1)
    held = await pool.acquire("first")
    order: list[str] = []

    async def client(name: str) -> None:
        session = await pool.acquire(name)
        order.append(name)
        pool.release(session)

    names = [f"c{i}" for i in range(5)]
    tasks = []
    for i, name in enumerate(names):
        tasks.append(asyncio.create_task(client(name)))
        await until(f"{name} queued", lambda i=i: pool.pending == i + 1)  # type: ignore[misc]
    pool.release(held)
    # A newcomer while others wait queues behind them, even at a moment a session is idle.
    late = asyncio.create_task(client("late"))
    await asyncio.gather(*tasks, late)
    assert order == [*names, "late"]
    assert pool.status().waited == 6 and pool.status().created == 1


async def test_a_host_that_drops_idle_sessions_is_healed_unseen(
    host: tuple[str, HostProcess], tmp_path: Path
) -> None:
    kind, process = host
    with TcpRelay(process.port) as relay:
        lab = _lab(kind, relay.port, tmp_path)
        pool = lab.start(settings(kind, sizes=PoolSizes(3, 2, 3), max_wait=WITHIN))
        try:
            await until("initial idle", lambda: pool.status().idle == 2)
            relay.end_all(reset=False)  # the host closes both idle sessions; the host process lives on
            await until("the drop seen", lambda: all(not s.runtime.connected for s in pool._idle))
            # Found at hand-out: the client gets a fresh session, never the dropped one.
            session = await pool.acquire("ada")
            assert session.runtime.connected
            assert (await session.runtime.current_entity()).name == "Menu"
            assert pool.status().replaced >= 1
            pool.release(session)
            await until("back to min idle", lambda: pool.status().idle >= 2)
            # Found at the health check: upkeep replaces them before anyone asks.
            relay.end_all(reset=True)
            await until("the drop seen", lambda: all(not s.runtime.connected for s in pool._idle))
            line = await pool.run_cycle()
            assert "dropped by the host" in line
            await until("healed to min idle", lambda: pool.status().idle >= 2)
            assert all(s.runtime.connected for s in pool._idle)
        finally:
            assert lab.service is not None
            await lab.service.close()


async def test_a_client_that_stops_calling_gets_its_session_reclaimed(lab: Lab) -> None:
    pool = lab.start(settings(lab.kind, initial_idle=2, sizes=PoolSizes(2, 0, 2), lease=30.0))
    assert lab.service is not None
    gone = await lab.service.acquire(lab.claims, "orders")
    alive = await lab.service.acquire(lab.claims, "orders")
    lab.clock.advance(20)
    lab.service.touch(alive.id)  # a ping
    assert lab.service.reclaim() == 0
    lab.clock.advance(15)  # 35 s after the hand-out, 15 s after the ping
    assert lab.service.reclaim() == 1
    with pytest.raises(SessionNotFound):
        await lab.registry.call(lab.claims, gone.id, lambda s: s.current_entity())
    assert (await lab.registry.call(lab.claims, alive.id, lambda s: s.current_entity())).name == "Menu"
    await until("the reclaimed session parked", lambda: pool.status().idle == 1)
    assert pool.status().reclaimed == 1
    again = await lab.service.acquire(lab.claims, "orders")
    assert again.runtime is gone.runtime


async def test_a_held_session_in_a_call_is_not_reclaimed(lab: Lab) -> None:
    lab.start(settings(lab.kind, initial_idle=1, sizes=PoolSizes(1, 0, 1), lease=30.0))
    assert lab.service is not None
    served = await lab.service.acquire(lab.claims, "orders")
    lab.clock.advance(31)
    async with served.lock:  # a long call in progress
        assert lab.service.reclaim() == 0
    assert lab.service.reclaim() == 1


async def test_a_lease_is_timed_on_the_service_clock_from_the_hand_out(lab: Lab) -> None:
    # Regression: a handed-out session's last use was stamped with time.time() while its lease ran on the
    # service clock, so a sign-on that took over a second (a loaded machine, a VT host) pushed the lease's
    # end past where the clock said; a clock far from real time never reclaimed at all.
    lab.clock = ManualClock(1000.0)
    lab.start(settings(lab.kind, initial_idle=1, sizes=PoolSizes(1, 0, 1), lease=30.0))
    assert lab.service is not None
    await lab.service.acquire(lab.claims, "orders")
    lab.clock.advance(29)
    assert lab.service.reclaim() == 0
    lab.clock.advance(1)
    assert lab.service.reclaim() == 1


async def test_variable_list_entries_one_per_session_and_exhaustion_names_the_list(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    entries = ({"userid": "ADA", "password": "LOVELACE"},) * 2
    creds = VariableList("credentials", "creds.csv", entries)
    caplog.set_level(logging.DEBUG)
    pool = lab.start(
        settings(lab.kind, initial_idle=2, sizes=PoolSizes(3, 0, 3), variable_lists=(creds,), max_wait=0.3)
    )
    await until("initial idle", lambda: pool.status().idle == 2)
    a = await pool.acquire("ada")
    b = await pool.acquire("ada")
    assert pool.status().variable_lists_free == {"credentials": 0}
    with pytest.raises(PoolVariablesExhausted) as caught:
        await pool.acquire("ada")
    assert caught.value.code == "HG-4304"
    assert "'credentials'" in caught.value.message and "creds.csv" in caught.value.message
    pool.release(a)
    pool.release(b)
    await until("both parked", lambda: pool.status().idle == 2)
    assert "LOVELACE" not in caplog.text


async def test_an_exhausted_variable_list_fails_at_once_not_after_max_wait(lab: Lab) -> None:
    # Regression: the client waited out the whole max_wait before hearing HG-4304, although no session could
    # come for it (the pool is below max concurrent; the list, not the queue, is the limit).
    creds = VariableList("credentials", "creds.csv", ({"userid": "ADA", "password": "LOVELACE"},))
    pool = lab.start(
        settings(lab.kind, initial_idle=1, sizes=PoolSizes(3, 0, 3), variable_lists=(creds,), max_pending=4)
    )
    await until("initial idle", lambda: pool.status().idle == 1)
    held = await pool.acquire("ada")
    started = time.monotonic()
    with pytest.raises(PoolVariablesExhausted) as caught:
        async with asyncio.timeout(WITHIN / 4):  # max_wait is WITHIN: the old code waited all of it
            await pool.acquire("ada")
    assert time.monotonic() - started < LATE
    assert "'credentials'" in caught.value.message and "creds.csv" in caught.value.message
    assert pool.status().pending == 0
    # A session on its way back still serves a waiter: released, it returns and is handed out again.
    pool.release(held)
    again = await pool.acquire("ada")
    assert again is held
    pool.release(again)


async def test_a_refused_sign_on_reaches_the_waiter_not_a_timeout_and_no_secret_is_logged(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = VariableList("credentials", "creds.csv", ({"userid": "ADA", "password": "WRONGPW"},))
    pool = lab.start(
        settings(lab.kind, initial_idle=0, sizes=PoolSizes(1, 0, 1), variable_lists=(bad,), max_wait=WITHIN)
    )
    started = time.monotonic()
    with pytest.raises(SignOnFailed):
        await pool.acquire("ada")
    assert time.monotonic() - started < WITHIN / 2
    assert pool.status().failed == 1 and pool.status().variable_lists_free == {"credentials": 1}
    assert "WRONGPW" not in caplog.text


async def test_recycling_idle_timeout_health_check_and_live_sizes(lab: Lab) -> None:
    pool = lab.start(
        settings(
            lab.kind,
            initial_idle=2,
            sizes=PoolSizes(3, 0, 3),
            recycle_uses=2,
            idle_timeout=60.0,
            health_check_interval=30.0,
        )
    )
    await until("initial idle", lambda: pool.status().idle == 2)
    first = await pool.acquire("ada")
    pool.release(first)
    await until("parked", lambda: pool.status().idle == 2)
    again = await pool.acquire("ada")
    assert again is first and again.uses == 2
    pool.release(again)  # second use: recycled, not parked
    await until("recycled", lambda: pool.status().recycled == 1 and pool.status().returning == 0)
    assert first.id not in pool._sessions

    lab.clock.advance(31)
    line = await pool.run_cycle()
    assert "passed the health check" in line, line
    lab.clock.advance(30)  # idle 61 s: above min idle 0, signed off
    line = await pool.run_cycle()
    assert "idle past idle_timeout" in line, line
    assert pool.status().idle == 0

    pool.apply(PoolSizes(max_concurrent=2, min_idle=2, max_idle=2))  # a schedule's new period
    await until("grown to the new min idle", lambda: pool.status().idle == 2)
    pool.apply(PoolSizes(max_concurrent=1, min_idle=0, max_idle=0))
    assert pool.status().idle == 0


async def test_closing_the_pool_answers_waiters_with_pool_closed(lab: Lab) -> None:
    pool = lab.start(settings(lab.kind, initial_idle=1, sizes=PoolSizes(1, 0, 1), max_wait=WITHIN))
    held = await pool.acquire("ada")
    waiting = asyncio.create_task(pool.acquire("bob"))
    await until("queued", lambda: pool.pending == 1)
    await pool.close()
    with pytest.raises(PoolClosed):
        await waiting
    assert not held.runtime.connected
