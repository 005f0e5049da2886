"""The session registry's figures (docs/metrics.md): opens and host calls per model and outcome, and the
sessions open per model, read through a server's own metrics registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostgate.errors import HostUnreachable, NoPathToEntity
from hostgate.metrics import ServerMetrics, SessionsCollector
from hostgate.session.model_session import ModelSession
from tests.session.test_registry import _lab


async def test_opens_calls_and_open_sessions_are_counted_per_model(tmp_path: Path) -> None:
    lab = _lab(tmp_path, capacity=4)
    metrics = ServerMetrics("s1", ("session",))
    lab.registry.opened = metrics.session_open
    lab.registry.called = metrics.host_operation
    metrics.register(SessionsCollector(lab.registry.open_by_model))
    value = metrics.registry.get_sample_value
    try:
        ada = lab.claims("ada")
        session = await lab.registry.open(ada, "mini")
        await lab.registry.open(ada, "mini")
        lab.hosts.refuse = True
        with pytest.raises(HostUnreachable):
            await lab.registry.open(ada, "mini")

        async def entity(s: ModelSession) -> str:
            return (await s.current_entity()).name

        async def lost(s: ModelSession) -> str:
            raise NoPathToEntity("no way there")

        await lab.registry.call(ada, session.id, entity)
        with pytest.raises(NoPathToEntity):
            await lab.registry.call(ada, session.id, lost)

        opens = "hostgate_session_open_duration_seconds_count"
        assert value(opens, {"model": "mini", "outcome": "ok"}) == 2
        assert value(opens, {"model": "mini", "outcome": "HG-7001"}) == 1
        calls = "hostgate_host_operation_duration_seconds_count"
        assert value(calls, {"model": "mini", "outcome": "ok"}) == 1
        assert value(calls, {"model": "mini", "outcome": "HG-6103"}) == 1
        assert value("hostgate_sessions_open", {"model": "mini"}) == 2
        await lab.registry.close(ada, session.id)
        assert value("hostgate_sessions_open", {"model": "mini"}) == 1
    finally:
        await lab.registry.close_all()
