"""Routing rules (VHI 7.x): lowest live priority tier, then weighted random; liveness from heartbeats."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hostgate.errors import NoServerAvailable
from hostgate.management.records import DomainMember, DomainRecord, SessionServerRecord
from hostgate.management.routing import Heartbeat, Router


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now


def _servers(*names: str) -> dict[str, SessionServerRecord]:
    return {n: SessionServerRecord(n, "127.0.0.1", 1, "127.0.0.1", 1, "", 0.0) for n in names}


def _router() -> tuple[Router, FakeClock]:
    clock = FakeClock()
    return Router(clock=clock, rng=random.Random(7)), clock


def _beat(router: Router, *names: str, interval: float = 2.0) -> None:
    for n in names:
        router.heartbeat(Heartbeat(n, 0, 10, interval))


DOMAIN = DomainRecord("prod", (DomainMember("a", 1, 1), DomainMember("b", 3, 1), DomainMember("c", 1, 2)))


def test_lowest_tier_with_a_live_server_is_used_weighted() -> None:
    router, _ = _router()
    _beat(router, "a", "b", "c")
    counts = Counter(router.pick(DOMAIN, _servers("a", "b", "c")).name for _ in range(4000))
    assert set(counts) == {"a", "b"}
    assert 2.6 < counts["b"] / counts["a"] < 3.4


def test_missed_heartbeats_make_a_server_not_live() -> None:
    router, clock = _router()
    _beat(router, "a", "b", "c", interval=2.0)
    clock.now += 2.9  # within 1.5 intervals
    assert router.is_live("a")
    clock.now += 0.2
    assert not router.is_live("a")
    _beat(router, "c")
    assert router.pick(DOMAIN, _servers("a", "b", "c")).name == "c"


def test_tier_two_only_when_tier_one_is_wholly_down() -> None:
    router, _ = _router()
    _beat(router, "b", "c")
    assert {router.pick(DOMAIN, _servers("a", "b", "c")).name for _ in range(50)} == {"b"}
    router.report_unreachable("b")
    assert {router.pick(DOMAIN, _servers("a", "b", "c")).name for _ in range(50)} == {"c"}
    _beat(router, "b")  # its next heartbeat clears the report
    assert router.is_live("b")


def test_exclusions_and_empty_domain_give_coded_error() -> None:
    router, _ = _router()
    _beat(router, "a", "b", "c")
    with pytest.raises(NoServerAvailable, match="excluded: a, b, c"):
        router.pick(DOMAIN, _servers("a", "b", "c"), exclude=["a", "b", "c"])
    with pytest.raises(NoServerAvailable):
        router.pick(DomainRecord("empty"), _servers("a"))


def test_unregistered_member_is_never_picked() -> None:
    router, _ = _router()
    _beat(router, "a", "b", "c")
    assert {router.pick(DOMAIN, _servers("a")).name for _ in range(20)} == {"a"}


def test_run_cycle_explains_the_decision() -> None:
    router, clock = _router()
    _beat(router, "a", "b", "c")
    assert router.run_cycle([DOMAIN], _servers("a", "b", "c")) == "routing domain prod to a, b"
    clock.now += 10
    _beat(router, "c")
    line = router.run_cycle([DOMAIN], _servers("a", "b", "c"))
    assert line == "session servers not live: a, b; routing domain prod to c"
