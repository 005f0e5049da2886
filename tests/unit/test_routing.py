"""Routing rules (VHI 7.x): lowest live priority tier, then weighted random; liveness from heartbeats."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hostgate.errors import NoServerAvailable
from hostgate.management.records import DomainMember, DomainRecord, SessionServerRecord
from hostgate.management.routing import Heartbeat, Router
from tests.helpers._clock import ManualClock


def _servers(*names: str) -> dict[str, SessionServerRecord]:
    return {n: SessionServerRecord(n, "127.0.0.1", 1, "127.0.0.1", 1, "", 0.0) for n in names}


def _router() -> tuple[Router, ManualClock]:
    clock = ManualClock()
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
    clock.advance(2.9)  # within 1.5 intervals
    assert router.is_live("a")
    clock.advance(0.2)
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
    clock.advance(10)
    _beat(router, "c")
    line = router.run_cycle([DOMAIN], _servers("a", "b", "c"))
    assert line == "session servers not live: a, b; routing domain prod to c"


def test_a_tier_whose_stored_weights_are_all_zero_still_routes() -> None:
    """#14.7: weight 0 was accepted and made ``random.choices`` raise ValueError (an uncoded 500)."""
    router, _ = _router()
    _beat(router, "a", "b")
    zero = DomainRecord("z", (DomainMember("a", 0, 1), DomainMember("b", 0, 1)))
    assert {router.pick(zero, _servers("a", "b")).name for _ in range(200)} == {"a", "b"}


@pytest.mark.parametrize(
    "members",
    [
        (DomainMember("a", -5, 1), DomainMember("b", 0, 1)),
        (DomainMember("a", "heavy", 1), DomainMember("b", None, 1)),  # type: ignore[arg-type]
        (DomainMember("a", True, 1), DomainMember("b", 10**30, 1)),
        (DomainMember("a", 1, "first"), DomainMember("b", 1, -3)),  # type: ignore[arg-type]
        (DomainMember("a", 1, None), DomainMember("b", 1.5, 10**9)),  # type: ignore[arg-type]
    ],
)
def test_any_stored_weight_or_priority_routes_without_an_exception(members: tuple[DomainMember, ...]) -> None:
    router, _ = _router()
    _beat(router, "a", "b")
    odd = DomainRecord("odd", (*members, DomainMember(["not", "a", "name"], 1, 1)))  # type: ignore[arg-type]
    picked = {router.pick(odd, _servers("a", "b")).name for _ in range(200)}
    assert picked <= {"a", "b"} and picked
    assert "routing domain odd to" in router.run_cycle([odd], _servers("a", "b"))


def test_out_of_range_stored_values_count_as_the_nearest_bound() -> None:
    router, _ = _router()
    _beat(router, "a", "b", "c")
    # b's priority -3 counts as tier 1 (with a); c's 10**9 as tier 100; a's weight 0 as 1, b's 5000 as 1000.
    rec = DomainRecord(
        "r", (DomainMember("a", 0, 1), DomainMember("b", 5000, -3), DomainMember("c", 1, 10**9))
    )
    counts = Counter(router.pick(rec, _servers("a", "b", "c")).name for _ in range(3000))
    assert set(counts) == {"a", "b"}
    assert counts["a"] < 30  # 1 in 1001


def test_a_changed_domain_record_is_routed_by_its_new_tiers_and_weights() -> None:
    # pick keeps a per-record plan of tiers and weights (issue #16): a new record of the same domain must
    # replace it, or routing would follow the old priorities until the member restarts.
    router, _ = _router()
    _beat(router, "a", "b", "c")
    servers = _servers("a", "b", "c")
    assert {router.pick(DOMAIN, servers).name for _ in range(50)} <= {"a", "b"}
    changed = DomainRecord(
        "prod", (DomainMember("a", 1, 3), DomainMember("b", 3, 2), DomainMember("c", 1, 1))
    )
    assert {router.pick(changed, servers).name for _ in range(50)} == {"c"}
    dropped = DomainRecord("prod", (DomainMember("a", 1, 1),))
    assert {router.pick(dropped, servers).name for _ in range(50)} == {"a"}
