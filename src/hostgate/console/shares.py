"""The share of new sessions each server of a domain gets now, as the router decides it (management/routing.py).

The router picks from the lowest priority tier that has a live server, weighted random within that tier; the
other tiers are standby. So a live server of the active tier gets ``weight / sum(weights of the live servers of
that tier)``; everything else gets 0, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from hostgate.management.records import DomainRecord

__all__ = ["ServerShare", "shares"]


@dataclass(frozen=True, slots=True)
class ServerShare:
    server: str
    weight: int
    priority: int
    live: bool
    share: float  # 0.0 .. 1.0 of new sessions routed through this domain
    note: str  # "active", "standby (priority 2)", "not live", "not registered"


def shares(
    domain: DomainRecord, registered: Collection[str], is_live: Callable[[str], bool]
) -> list[ServerShare]:
    live = {m.server for m in domain.members if m.server in registered and is_live(m.server)}
    tier = min((m.priority for m in domain.members if m.server in live), default=None)
    total = sum(max(m.weight, 0) for m in domain.members if m.server in live and m.priority == tier)
    out: list[ServerShare] = []
    for m in domain.members:
        if m.server not in registered:
            share, note = 0.0, "not registered"
        elif m.server not in live:
            share, note = 0.0, "not live"
        elif m.priority != tier:
            share, note = 0.0, f"standby (priority {m.priority})"
        else:
            share, note = (m.weight / total if total else 0.0), "active"
        out.append(ServerShare(m.server, m.weight, m.priority, m.server in live, round(share, 4), note))
    return sorted(out, key=lambda s: (s.priority, s.server))
