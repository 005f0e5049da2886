"""Session-server liveness (soft state) and "connect via domain" routing.

Heartbeats stay out of the store (ARCHITECTURE.md "Soft state stays out of Raft"): every session server sends
one to every management member, which keeps it in this object's memory only. A server is *live* on this member
while its last heartbeat is younger than ``miss_factor`` heartbeat intervals and no client has reported it as
refusing since then.

Routing (VHI 7.x): among the live servers of the domain, take the lowest priority number that has any live
server, then choose at random weighted by weight. A client that could not reach the chosen server asks again
with it excluded, and the report marks it suspect here until its next heartbeat.

Routing for a pool (issue #18, ``pick_pool``): each heartbeat also carries the server's pool figures; among the
live servers of the domain that run the pool, those with an idle session of it come first, then those with room
to make one, then any running it; priority tiers and weights apply within that class. A server that does not
run the pool is never chosen.

Weights are 1-1000 and priorities 1-100; the API and the CLI refuse anything else (weight 0 would mean "never",
which is what removing the server from the domain says). Routing still reads every stored record it meets
without failing: a weight or priority outside those ranges (a record written by hand, or by an older version
that accepted weight 0) counts as the nearest bound, and one that is not a whole number as weight 1 or as the
last tier, so one odd member can never make ``random.choices`` raise for the whole domain.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import NoServerAvailable, PoolNotInDomain
from hostgate.management.records import DomainMember, DomainRecord, SessionServerRecord
from hostgate.messages import PoolLoad

__all__ = [
    "MAX_PRIORITY",
    "MAX_WEIGHT",
    "MIN_PRIORITY",
    "MIN_WEIGHT",
    "NO_POOLS",
    "Heartbeat",
    "PoolFigures",
    "Router",
    "ServerState",
    "pool_figures",
]

log = logging.getLogger("hostgate.management.routing")

MIN_WEIGHT, MAX_WEIGHT = 1, 1000
MIN_PRIORITY, MAX_PRIORITY = 1, 100
_PLANS_KEPT = 10_000


def _bounded(value: object, low: int, high: int, otherwise: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return otherwise
    return min(max(value, low), high)


def _weight(member: DomainMember) -> int:
    return _bounded(member.weight, MIN_WEIGHT, MAX_WEIGHT, MIN_WEIGHT)


def _priority(member: DomainMember) -> int:
    return _bounded(member.priority, MIN_PRIORITY, MAX_PRIORITY, MAX_PRIORITY)


# One priority tier of a domain: its members in stored order, their bounded weights, and the running sums of
# those weights (what random.choices works out from the weights on every call).
_Tier = tuple[tuple[DomainMember, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """One pool of a session server as its last heartbeat told (issue #18; soft state like the load)."""

    model: str
    idle: int
    busy: int
    pending: int
    max_concurrent: int


NO_POOLS: Mapping[str, PoolFigures] = MappingProxyType({})


def pool_figures(loads: Iterable[PoolLoad]) -> Mapping[str, PoolFigures]:
    """A heartbeat report's pools, by name."""
    return {p.name: PoolFigures(p.model, p.idle, p.busy, p.pending, p.max_concurrent) for p in loads}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    server: str
    active_sessions: int
    capacity: int
    interval: float
    pools: Mapping[str, PoolFigures] = field(default_factory=lambda: NO_POOLS)


@dataclass(slots=True)
class ServerState:
    last_seen: float = 0.0
    interval: float = 5.0
    active_sessions: int = 0
    capacity: int = 0
    suspect_since: float | None = None
    routed_since_heartbeat: int = 0
    pools: Mapping[str, PoolFigures] = field(default_factory=lambda: NO_POOLS)
    # pool -> clients routed to it since the heartbeat: they take idle sessions the figures still count.
    pool_routed: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Router:
    """Liveness and load of session servers as this member heard them, and the routing choice (VHI 7.x).

    Soft state only: filled by heartbeats and client reports, never stored or replicated, so each member
    decides from what it heard itself and a restarted member starts with every server not live until its next
    heartbeat. Time comes from ``clock`` (monotonic; a :class:`~hostgate._clock.Clock`), chance from ``rng``,
    so tests drive both. ``pick`` raises only ``NoServerAvailable`` (HG-4101), whatever odd weights or
    priorities a stored record holds (see the module docstring). Never reads the store, never blocks; not
    thread-safe (the server's event loop).
    """

    clock: Clock = SYSTEM_CLOCK
    miss_factor: float = 1.5
    rng: random.Random = field(default_factory=random.Random)
    _states: dict[str, ServerState] = field(default_factory=dict)
    _last_decision: str = ""
    # domain name -> (the record the plan was made from, the plan): see _plan.
    _plans: dict[str, tuple[DomainRecord, list[_Tier]]] = field(default_factory=dict)

    def heartbeat(self, beat: Heartbeat) -> None:
        state = self._states.setdefault(beat.server, ServerState())
        state.last_seen = self.clock.monotonic()
        state.interval = beat.interval
        state.active_sessions = beat.active_sessions
        state.capacity = beat.capacity
        state.suspect_since = None
        state.routed_since_heartbeat = 0
        if beat.pools or state.pools:
            state.pools = beat.pools
            state.pool_routed.clear()

    def forget(self, server: str) -> None:
        self._states.pop(server, None)

    def report_unreachable(self, server: str) -> None:
        state = self._states.get(server)
        if state is not None and state.suspect_since is None:
            state.suspect_since = self.clock.monotonic()
            log.info(
                "a client could not reach session server %s; skipping it until its next heartbeat", server
            )

    def state(self, server: str) -> ServerState | None:
        return self._states.get(server)

    def is_live(self, server: str) -> bool:
        state = self._states.get(server)
        if state is None or state.suspect_since is not None:
            return False
        return self.clock.monotonic() - state.last_seen <= state.interval * self.miss_factor

    def pick(
        self,
        domain: DomainRecord,
        servers: dict[str, SessionServerRecord],
        exclude: Iterable[str] = (),
    ) -> SessionServerRecord:
        excluded = set(exclude) if exclude else frozenset()
        states = self._states
        now = self.clock.monotonic()
        miss_factor = self.miss_factor
        # Tiers in priority order: the first with a live candidate is the lowest tier of the candidates.
        for members, weights, cum_weights in self._plan(domain):
            # is_live, inlined into one comprehension: this runs for every route call (issue #16).
            live = [
                i
                for i, m in enumerate(members)
                if m.server in servers
                and m.server not in excluded
                and (state := states.get(m.server)) is not None
                and state.suspect_since is None
                and now - state.last_seen <= state.interval * miss_factor
            ]
            if live:
                # The tier whole (the usual case): its running sums are worked out already (Router._plan).
                if len(live) == len(members):
                    cum = cum_weights
                else:
                    members = tuple(members[i] for i in live)
                    cum = tuple(itertools.accumulate(weights[i] for i in live))
                # random.choices(members, cum_weights=cum)[0], inlined: the same draw from the same rng call,
                # so a seeded rng picks as before, without the function's checks per route call.
                chosen = members[bisect.bisect(cum, self.rng.random() * cum[-1], 0, len(members) - 1)]
                states[chosen.server].routed_since_heartbeat += 1
                return servers[chosen.server]
        known = ", ".join(sorted(str(m.server) for m in domain.members)) or "none"
        raise NoServerAvailable(
            f"domain {domain.name!r} has no live session server (members: {known}"
            + (f"; excluded: {', '.join(sorted(excluded))}" if excluded else "")
            + ")"
        )

    def _plan(self, domain: DomainRecord) -> list[_Tier]:
        """The domain's members grouped by (bounded) priority, lowest first, with their bounded weights, in
        stored order. Worked out once per stored record (records are frozen; the config cache hands out the
        same object until the record changes): bounding every weight and priority on every route call was a
        third of ``pick`` (issue #16)."""
        memo = self._plans.get(domain.name)
        if memo is not None and memo[0] is domain:
            return memo[1]
        tiers: dict[int, list[DomainMember]] = {}
        for m in domain.members:
            if isinstance(m.server, str):
                tiers.setdefault(_priority(m), []).append(m)
        plan: list[_Tier] = []
        for _, members in sorted(tiers.items()):
            weights = tuple(_weight(m) for m in members)
            plan.append((tuple(members), weights, tuple(itertools.accumulate(weights))))
        if len(self._plans) > _PLANS_KEPT:
            self._plans.clear()  # deleted domains' plans; the live ones are rebuilt on their next call
        self._plans[domain.name] = (domain, plan)
        return plan

    def run_cycle(self, domains: Sequence[DomainRecord], servers: dict[str, SessionServerRecord]) -> str:
        """One line on what routing would do now; logged when it changes (STYLE: loops explain themselves)."""
        parts: list[str] = []
        dead = sorted(name for name in servers if not self.is_live(name))
        if dead:
            parts.append(f"session servers not live: {', '.join(dead)}")
        for domain in domains:
            live = [
                m
                for m in domain.members
                if isinstance(m.server, str) and m.server in servers and self.is_live(m.server)
            ]
            if not live:
                parts.append(f"domain {domain.name} has no live server")
                continue
            tier = min(_priority(m) for m in live)
            names = ", ".join(sorted(m.server for m in live if _priority(m) == tier))
            parts.append(f"routing domain {domain.name} to {names}")
        decision = "; ".join(parts) or "no domains"
        if decision != self._last_decision:
            log.info(decision)
            self._last_decision = decision
        return decision

    def pool_model(self, domain: DomainRecord, pool: str) -> str:
        """The model of ``pool`` as the domain's live servers report it ("" when none runs it): a User grant
        on the pool's model allows routing to the pool (the grant check comes before the choice)."""
        for member in domain.members:
            state = self._states.get(member.server) if isinstance(member.server, str) else None
            figures = state.pools.get(pool) if state is not None else None
            if figures is not None and self.is_live(member.server):
                return figures.model
        return ""

    def pick_pool(
        self,
        domain: DomainRecord,
        servers: dict[str, SessionServerRecord],
        pool: str,
        exclude: Iterable[str] = (),
    ) -> SessionServerRecord:
        """A live server of the domain that runs ``pool`` (issue #18): first those with an idle session of it,
        then those with room to make one (below max concurrent), then any running it (the client waits in
        its queue); within the best of these classes the lowest priority tier, weighted by weight as
        :meth:`pick`. A server that does not run the pool is never chosen. The figures are the last
        heartbeat's, less the clients routed there since (each takes an idle session or a free slot), so a
        burst of clients spreads instead of all landing on the one server that had idle sessions.

        Raises ``NoServerAvailable`` (HG-4101) when no live server is left (after exclusions), and
        ``PoolNotInDomain`` (HG-4360) when live servers exist but none of them runs the pool."""
        excluded = set(exclude)
        now = self.clock.monotonic()
        best: tuple[int, int] | None = None
        chosen: list[DomainMember] = []
        chosen_weights: list[int] = []
        live_without: list[str] = []
        runs_but_excluded = False
        for tier, planned in enumerate(self._plan(domain)):
            # planned[0], planned[1]: the tier's members and weights (a tier may carry more, see _plan).
            for member, weight in zip(planned[0], planned[1], strict=True):
                name = member.server
                state = self._states.get(name)
                if (
                    name not in servers
                    or state is None
                    or state.suspect_since is not None
                    or now - state.last_seen > state.interval * self.miss_factor
                ):
                    continue
                figures = state.pools.get(pool)
                if figures is None:
                    live_without.append(name)
                    continue
                if name in excluded:
                    runs_but_excluded = True
                    continue
                routed = state.pool_routed.get(pool, 0)
                if figures.idle - routed > 0:
                    rank = (0, tier)
                elif figures.idle + figures.busy + figures.pending + routed < figures.max_concurrent:
                    rank = (1, tier)
                else:
                    rank = (2, tier)
                if best is None or rank < best:
                    best, chosen, chosen_weights = rank, [member], [weight]
                elif rank == best:
                    chosen.append(member)
                    chosen_weights.append(weight)
        if chosen:
            picked = self.rng.choices(chosen, weights=chosen_weights)[0]
            state = self._states[picked.server]
            state.routed_since_heartbeat += 1
            state.pool_routed[pool] = state.pool_routed.get(pool, 0) + 1
            return servers[picked.server]
        if live_without and not runs_but_excluded:
            raise PoolNotInDomain(
                f"no live session server of domain {domain.name!r} runs pool {pool!r} (live: "
                f"{', '.join(sorted(live_without))})"
            )
        known = ", ".join(sorted(str(m.server) for m in domain.members)) or "none"
        raise NoServerAvailable(
            f"domain {domain.name!r} has no live session server running pool {pool!r} (members: {known}"
            + (f"; excluded: {', '.join(sorted(excluded))}" if excluded else "")
            + ")"
        )
