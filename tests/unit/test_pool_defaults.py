"""Pool defaults are written once (messages/pools.py ``POOL_DEFAULTS``): the cluster's definitions on the wire
(``PoolDefinition``) and the session server's pools file and engine (session/pool_config.py) take them from
there. Before, each wrote its own numbers, so changing one left pools of the other kind behaving differently."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec

from hostgate.messages import pools as wire
from hostgate.session import pool_config
from hostgate.session.pool_config import PoolSettings, PoolSizes, load_pools


def _setting(settings: PoolSettings, name: str) -> object:
    return getattr(settings.sizes, name) if hasattr(settings.sizes, name) else getattr(settings, name)


def test_the_wire_and_the_server_take_their_pool_defaults_from_one_place(tmp_path: Path) -> None:
    assert pool_config.POOL_DEFAULTS is wire.POOL_DEFAULTS
    names = [f.name for f in dataclasses.fields(wire.PoolDefaults)]
    # Every number the definition defaults is one of them (a default added on the wire alone would fail here).
    numbers = {
        f.name
        for f in msgspec.structs.fields(wire.PoolDefinition)
        if isinstance(f.default, int | float) and not isinstance(f.default, bool)
    }
    assert numbers == set(names)
    definition = wire.PoolDefinition("orders", "demo3270", "Menu", 4)
    settings = PoolSettings("orders", "demo3270", "Menu", PoolSizes(4, 0, 4))
    doc = "pools:\n  orders:\n    model: demo3270\n    startup_entity: Menu\n    max_concurrent: 4\n"
    [parsed] = load_pools(doc, "pools.yaml", base=tmp_path)
    for name in names:
        expected = getattr(wire.POOL_DEFAULTS, name)
        got = (getattr(definition, name), _setting(settings, name), _setting(parsed, name))
        assert got == (expected, expected, expected), name
    assert parsed.sizes.max_idle == 4 and definition.max_idle is None  # max_idle: max_concurrent in both
