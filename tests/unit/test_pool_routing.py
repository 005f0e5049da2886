"""Routing via a domain for a pool (issue #18): idle sessions of the pool first, then room, never a server that
does not run it; priority tiers and weights as for models; figures are the last heartbeat's."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hostgate.errors import InvalidField, NoServerAvailable, PoolNotInDomain
from hostgate.management.domains import _check_heartbeat
from hostgate.management.records import DomainMember, DomainRecord, SessionServerRecord
from hostgate.management.routing import Heartbeat, PoolFigures, Router, pool_figures
from hostgate.messages import HeartbeatReport, PoolLoad, decode_request, encode
from tests.helpers._clock import ManualClock

NAMES = ("a", "b", "c", "d")
DOMAIN = DomainRecord(
    "prod",
    (DomainMember("a", 1, 1), DomainMember("b", 3, 1), DomainMember("c", 1, 1), DomainMember("d", 1, 2)),
)


def _servers() -> dict[str, SessionServerRecord]:
    return {n: SessionServerRecord(n, "127.0.0.1", 1, "127.0.0.1", 1, "", 0.0) for n in NAMES}


def _router() -> Router:
    return Router(clock=ManualClock(), rng=random.Random(7))


def _beat(router: Router, name: str, **pools: PoolFigures) -> None:
    router.heartbeat(Heartbeat(name, 0, 10, 2.0, pools))


def _fig(idle: int, busy: int = 0, pending: int = 0, max_concurrent: int = 4) -> PoolFigures:
    return PoolFigures("demo3270", idle, busy, pending, max_concurrent)


def _picks(router: Router, n: int = 200, pool: str = "orders") -> Counter[str]:
    # Heartbeats between picks would reset the routed counts; here the figures stay those of one beat.
    return Counter(router.pick_pool(DOMAIN, _servers(), pool).name for _ in range(n))


def test_servers_with_idle_sessions_come_first_and_a_server_without_the_pool_never() -> None:
    router = _router()
    _beat(router, "a", orders=_fig(idle=0, busy=1))  # room
    _beat(router, "b")  # does not run the pool (and has the highest weight)
    _beat(router, "c", orders=_fig(idle=2, busy=2))
    _beat(router, "d", orders=_fig(idle=0))  # room too, but tier 2
    first = [router.pick_pool(DOMAIN, _servers(), "orders").name for _ in range(2)]
    assert first == ["c", "c"]  # its two idle sessions
    assert router.pick_pool(DOMAIN, _servers(), "orders").name == "a"  # then room, lowest tier first
    assert "b" not in _picks(router)
    # Idle sessions win over tiers: an idle session in tier 2 beats making one in tier 1.
    _beat(router, "d", orders=_fig(idle=1))
    assert router.pick_pool(DOMAIN, _servers(), "orders").name == "d"


def test_idle_servers_share_by_weight_within_the_lowest_tier() -> None:
    router = _router()
    _beat(router, "a", orders=_fig(idle=100_000, max_concurrent=200_000))
    _beat(router, "b", orders=_fig(idle=100_000, max_concurrent=200_000))
    _beat(router, "c", orders=_fig(idle=0, max_concurrent=200_000))
    _beat(router, "d", orders=_fig(idle=100_000, max_concurrent=200_000))
    counts = _picks(router, 2000)
    assert set(counts) == {"a", "b"}  # c has no idle session, d is tier 2
    assert 2.5 < counts["b"] / counts["a"] < 3.5


def test_full_servers_still_serve_when_none_has_room_and_a_heartbeat_resets_the_count() -> None:
    router = _router()
    _beat(router, "c", orders=_fig(idle=0, busy=4, pending=3))
    _beat(router, "d", orders=_fig(idle=1, max_concurrent=1))
    # Tier 2 has an idle session: better than queueing on a full tier-1 server.
    assert router.pick_pool(DOMAIN, _servers(), "orders").name == "d"
    assert router.pick_pool(DOMAIN, _servers(), "orders").name == "c"  # d's idle one is taken: all full
    _beat(router, "d", orders=_fig(idle=1, max_concurrent=1))
    assert router.pick_pool(DOMAIN, _servers(), "orders").name == "d"


def test_no_live_server_running_the_pool_is_a_coded_error_naming_domain_and_pool() -> None:
    router = _router()
    _beat(router, "a", other=_fig(idle=1))
    _beat(router, "b")
    with pytest.raises(PoolNotInDomain) as caught:
        router.pick_pool(DOMAIN, _servers(), "orders")
    assert caught.value.code == "HG-4360"
    assert "'prod'" in caught.value.message and "'orders'" in caught.value.message
    assert "a, b" in caught.value.message
    with pytest.raises(NoServerAvailable):
        _router().pick_pool(DOMAIN, _servers(), "orders")  # nobody live at all
    _beat(router, "c", orders=_fig(idle=1))
    with pytest.raises(NoServerAvailable):  # the one running it was tried already
        router.pick_pool(DOMAIN, _servers(), "orders", exclude=["c"])


def test_pool_model_comes_from_the_live_servers_figures() -> None:
    router = _router()
    assert router.pool_model(DOMAIN, "orders") == ""
    _beat(router, "c", orders=_fig(idle=1))
    assert router.pool_model(DOMAIN, "orders") == "demo3270"


def test_the_report_carries_pools_and_stays_as_before_without_them() -> None:
    # An earlier member refuses unknown fields: a server without pools sends exactly the old body.
    assert encode(HeartbeatReport(1, 10, 5.0)) == b'{"active_sessions":1,"capacity":10,"interval":5.0}'
    report = HeartbeatReport(1, 10, 5.0, (PoolLoad("orders", "demo3270", 2, 1, 0, 4),))
    again = decode_request(encode(report), HeartbeatReport)
    assert pool_figures(again.pools) == {"orders": PoolFigures("demo3270", 2, 1, 0, 4)}
    # The model path is untouched by pools: a plain route still goes to any live server.
    router = _router()
    _beat(router, "b")
    assert router.pick(DOMAIN, _servers()).name == "b"


def test_a_heartbeat_with_bad_pool_figures_is_refused_whole() -> None:
    ok = {"orders": _fig(idle=1)}
    _check_heartbeat(Heartbeat("a", 0, 10, 2.0, ok))
    with pytest.raises(InvalidField, match=r"pools\.orders\.idle"):
        _check_heartbeat(Heartbeat("a", 0, 10, 2.0, {"orders": _fig(idle=-1)}))
    with pytest.raises(InvalidField, match="not a pool name"):
        _check_heartbeat(Heartbeat("a", 0, 10, 2.0, {"../x": _fig(idle=1)}))
    with pytest.raises(InvalidField, match="at most"):
        _check_heartbeat(Heartbeat("a", 0, 10, 2.0, {f"p{i}": _fig(idle=1) for i in range(300)}))
