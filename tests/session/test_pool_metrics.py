"""The pools' Prometheus collector (session/pool_metrics.py), read back through prometheus_client's own text
exposition and parser, on a real pool of the 3270 test host."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hostgate import tokens
from hostgate.errors import PoolQueueFull
from hostgate.models.library import ModelLibrary, deploy_model
from hostgate.session.pool_config import PoolSettings, PoolSizes
from hostgate.session.pool_metrics import PoolCollector
from hostgate.session.pool_service import PoolService
from hostgate.session.registry import SessionRegistry
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import write_model

__all__ = ["host_3270"]

WITHIN = 60.0


async def until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # poll interval


@pytest.fixture
async def service(host_3270: HostProcess, tmp_path: Path) -> AsyncIterator[PoolService]:
    models = tmp_path / "models"
    models.mkdir()
    deploy_model(write_model(tmp_path, "demo3270", host_3270.port), models)
    registry = SessionRegistry("s1", "c1", tokens.KeySet([]), 20, ModelLibrary(models))
    settings = PoolSettings(
        name="orders",
        model="demo3270",
        startup_entity="Menu",
        sizes=PoolSizes(max_concurrent=1, min_idle=1, max_idle=1),
        initial_idle=1,
        max_pending=1,
        max_wait=WITHIN,
    )
    pools = PoolService(registry, [settings])
    pools.start()
    try:
        yield pools
    finally:
        await pools.close()
        await registry.close_all()


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_the_collector_exposes_each_pools_figures(service: PoolService) -> None:
    registry = CollectorRegistry()
    registry.register(PoolCollector(service))  # describe() must not need a running pool
    pool = service.pools["orders"]
    await until("initial idle", lambda: pool.idle == 1)
    first = await pool.acquire("ada")  # at once: no wait
    waiter = asyncio.create_task(pool.acquire("bob"))  # queues behind it
    await until("bob waiting", lambda: pool.pending == 1)
    with pytest.raises(PoolQueueFull):
        await pool.acquire("eve")  # max_pending 1: refused at once
    seen = scrape(registry)
    p = (("pool", "orders"),)
    assert seen[("hostgate_pool_sessions", (("pool", "orders"), ("state", "busy")))] == 1
    assert seen[("hostgate_pool_sessions", (("pool", "orders"), ("state", "idle")))] == 0
    assert seen[("hostgate_pool_pending", p)] == 1
    assert seen[("hostgate_pool_max_concurrent", p)] == 1
    assert seen[("hostgate_pool_sessions_created_total", p)] == 1
    assert seen[("hostgate_pool_refused_total", p)] == 1
    pool.release(first)
    second = await waiter
    seen = scrape(registry)
    assert seen[("hostgate_pool_acquired_total", p)] == 2
    assert seen[("hostgate_pool_waited_total", p)] == 1
    assert seen[("hostgate_pool_sessions_failed_total", p)] == 0
    assert seen[("hostgate_pool_pending", p)] == 0
    # The histogram: both hand-outs counted, the first (no wait) in the smallest bucket, bob's later.
    assert seen[("hostgate_pool_wait_seconds_count", p)] == 2
    assert seen[("hostgate_pool_wait_seconds_bucket", (("le", "+Inf"), ("pool", "orders")))] == 2
    assert seen[("hostgate_pool_wait_seconds_bucket", (("le", "0.001"), ("pool", "orders")))] >= 1
    assert seen[("hostgate_pool_wait_seconds_sum", p)] > 0
    pool.release(second)
