"""Cluster-stored pool definitions and schedules, applied live to this session server's pools (issue #18).

Driven by the heartbeat (session/registration.py), so no second loop talks to management:

- **Each tick** (:meth:`PoolSync.tick`, before the heartbeat is sent): the sizes in force of every cluster pool
  are evaluated from its schedule with the injected clock (hostgate/pool_schedule.py, the very function
  ``hostgate pool schedule show`` prints) and applied when they differ. A period boundary therefore takes
  effect within one heartbeat interval, even while no management member answers.
- **Each answer** names the version of this server's pool definitions (``HeartbeatAnswer.pools``). When the
  answering members name a version other than the one applied, :meth:`refresh` fetches them (``GET
  /api/v1/session-servers/{name}/pools``, this server's certificate) and :meth:`apply` reconciles: new pools
  start, changed ones are changed (sizes at once; anything else by a new pool while the old one drains),
  deleted ones drain, ``drained`` ones hand out nothing. A stored change so reaches the server within one
  heartbeat. A member whose copy lags may answer an older version: it is fetched again next beat.

**Precedence with the pools file** (``[session] pools_file``): a cluster definition of a name wins over the
file's; the file's pool of that name runs again when the cluster definition is deleted; file pools without a
cluster definition run as before. Variable lists of a cluster pool come from a CSV file relative to this
server's data directory, or are stored in the cluster (their values are never logged).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError
from hostgate.messages import API
from hostgate.messages.pools import ServerPool, ServerPoolsAnswer
from hostgate.pool_schedule import Rule, Schedule, Sizes, changes, effective
from hostgate.session.pool_config import PoolSettings, PoolSizes, VariableList, read_variable_list
from hostgate.session.pool_service import PoolService

__all__ = ["PoolSync", "settings_of"]

log = logging.getLogger("hostgate.session.pool_sync")


@dataclass(frozen=True, slots=True)
class _Running:
    base: PoolSettings  # the definition's own sizes
    schedule: Schedule


def schedule_of(pool: ServerPool) -> Schedule:
    return Schedule(
        pool.schedule_zone,
        tuple(Rule(r.when, r.minutes, r.max_concurrent, r.min_idle, r.max_idle) for r in pool.schedule),
    )


def settings_of(pool: ServerPool, data_dir: Path) -> PoolSettings:
    """The engine's settings of a delivered definition; HostgateError naming the pool and list (no value)."""
    lists: list[VariableList] = []
    for listed in pool.variable_lists:
        if listed.file:
            problem, made = read_variable_list(listed.name, data_dir / listed.file, listed.file)
            if problem is not None or made is None:
                raise HostgateError(f"pool {pool.name}: variable list {listed.name!r}: {problem}")
            lists.append(made)
        else:
            entries = tuple(dict(zip(listed.columns, row, strict=True)) for row in listed.entries)
            lists.append(VariableList(listed.name, "stored in the cluster", entries))
    return PoolSettings(
        pool.name,
        pool.model,
        pool.startup_entity,
        PoolSizes(pool.max_concurrent, pool.min_idle, pool.max_idle),
        pool.initial_idle,
        pool.max_pending,
        pool.max_wait,
        pool.idle_timeout,
        pool.health_check_interval,
        pool.recycle_uses,
        pool.recycle_after,
        pool.lease,
        dict(pool.variables),
        tuple(lists),
    )


class PoolSync:
    """Keeps :class:`PoolService` in step with the cluster's definitions and schedules (module docstring)."""

    def __init__(
        self,
        service: PoolService,
        file_pools: Sequence[PoolSettings],
        data_dir: Path,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.service = service
        self._file = {p.name: p for p in file_pools}
        self._data_dir = data_dir
        self._clock = clock
        self.version = ""  # the version of the cluster definitions applied ("": none)
        self._running: dict[str, _Running] = {}  # cluster pools only
        # name -> (when evaluated, its schedule's next change): the sizes in force hold in between, so a tick
        # there evaluates nothing (croniter costs about 0.1 ms a match). A wall clock set back re-evaluates.
        self._until: dict[str, tuple[float, float]] = {}

    def stale(self, versions: set[str]) -> bool:
        """Whether the answering members name a version other than the one applied."""
        return bool(versions) and self.version not in versions

    async def refresh(self, client: ClusterClient, server: str) -> str:
        try:
            answer = await client.call(API.server_pools, None, name=server)
        except HostgateError as exc:
            return f"pool definitions not fetched ({exc.code}: {exc.message}); retrying next beat"
        return self.apply(answer.payload)

    def apply(self, answer: ServerPoolsAnswer) -> str:
        """Reconcile the running pools with the delivered definitions; a one-line account."""
        notes: list[str] = []
        delivered = {p.name: p for p in answer.pools}
        for name in sorted(set(self._running) - set(delivered)):
            del self._running[name]
            self._until.pop(name, None)
            fallback = self._file.get(name)
            if fallback is not None:
                notes.append(self.service.define(fallback) + " (from the pools file again)")
            else:
                notes.append(self.service.undefine(name))
        for name, pool in sorted(delivered.items()):
            try:
                base = settings_of(pool, self._data_dir)
            except HostgateError as exc:
                notes.append(f"pool {name}: not applied: {exc.message}")
                continue
            running = _Running(base, schedule_of(pool))
            self._running[name] = running
            self._until.pop(name, None)
            notes.append(self.service.define(self._scheduled(running), drained=pool.drained))
        self.version = answer.version
        done = "; ".join(n for n in notes if n)
        return f"pool definitions {answer.version or '(none)'} applied" + (f": {done}" if done else "")

    def _scheduled(self, running: _Running) -> PoolSettings:
        base = running.base.sizes
        sizes, _ = effective(
            Sizes(base.max_concurrent, base.min_idle, base.max_idle), running.schedule, self._clock.wall()
        )
        wanted = PoolSizes(sizes.max_concurrent, sizes.min_idle, sizes.max_idle)
        if wanted == base:
            return running.base
        return dataclasses.replace(running.base, sizes=wanted)

    @staticmethod
    def _next_change(running: _Running, now: float) -> float:
        """When the sizes in force may next change (at the latest an hour on: a cheap re-check)."""
        if not running.schedule.rules:
            return now + 3600.0
        base = running.base.sizes
        found = changes(Sizes(base.max_concurrent, base.min_idle, base.max_idle), running.schedule, now, 1)
        return min(found[0].at, now + 3600.0) if found else now + 3600.0

    def tick(self) -> str:
        """Apply each cluster pool's sizes in force now (schedules); what changed, or ""."""
        notes = []
        now = self._clock.wall()
        for name, running in self._running.items():
            pool = self.service.pools.get(name)
            since, until = self._until.get(name, (0.0, 0.0))
            if pool is None or since <= now < until:
                continue
            wanted = self._scheduled(running).sizes
            self._until[name] = (now, self._next_change(running, now))
            if pool.sizes != wanted:
                try:
                    pool.apply(wanted)
                except HostgateError as exc:  # validated by the cluster; never expected
                    notes.append(f"pool {name}: schedule not applied: {exc.message}")
                    continue
                notes.append(
                    f"pool {name}: schedule now max_concurrent {wanted.max_concurrent}, min_idle "
                    f"{wanted.min_idle}, max_idle {wanted.max_idle}"
                )
        return "; ".join(notes)
