"""The routing share each domain server gets, as the console shows it: the router's rule (lowest priority tier
with a live server, weighted within it; the rest standby)."""

from __future__ import annotations

from hostgate.console.shares import shares
from hostgate.management.records import DomainMember, DomainRecord


def _domain(*members: tuple[str, int, int]) -> DomainRecord:
    return DomainRecord("prod", tuple(DomainMember(s, w, p) for s, w, p in members))


def test_weights_share_the_lowest_live_tier() -> None:
    d = _domain(("s1", 300, 1), ("s2", 100, 1), ("s3", 100, 2))
    got = {s.server: (s.share, s.note) for s in shares(d, {"s1", "s2", "s3"}, lambda _: True)}
    assert got == {"s1": (0.75, "active"), "s2": (0.25, "active"), "s3": (0.0, "standby (priority 2)")}


def test_a_dead_tier_hands_over_to_the_next() -> None:
    d = _domain(("s1", 300, 1), ("s3", 100, 2), ("s4", 100, 2))
    got = {s.server: (s.share, s.note) for s in shares(d, {"s1", "s3", "s4"}, lambda name: name != "s1")}
    assert got == {"s1": (0.0, "not live"), "s3": (0.5, "active"), "s4": (0.5, "active")}


def test_unregistered_and_empty() -> None:
    d = _domain(("gone", 100, 1))
    assert [(s.share, s.note) for s in shares(d, set(), lambda _: True)] == [(0.0, "not registered")]
    assert shares(_domain(), set(), lambda _: True) == []
