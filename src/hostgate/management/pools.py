"""Pool definitions stored in the cluster, their schedules, and their delivery to the owning session servers.

``PoolAdmin`` is what the API (api/pool_routes.py) calls; records and their check are management/pool_records.py.

- **Who may change a pool**: the Developer profile on the pool or on its domain (for a pool of one server: on a
  domain of that server), or cluster Administrator (``Access.require(..., pool=)``). A change that moves a pool
  needs it on both places. Reads (list, show, schedule) are for any account; stored secrets are never shown.
- **Validated whole**: a bad definition is refused with every problem named by its field (HG-4331); nothing is
  stored. Writes are compare-and-set on the pool's one key (a concurrent change is re-read, never overwritten).
- **Delivery**: each heartbeat answer carries :meth:`version_for` the server: a digest of the stored records of
  the pools that concern it (its domains' and its own; "" when none). A server whose version differs fetches
  them (:meth:`for_server`, authenticated by its certificate) and applies them live. The digests are computed
  once per revision of this member's copy, so the heartbeat pays a dictionary lookup.
- **Sessions of a pool** (``hostgate pool sessions``): :meth:`inspect` answers, for each owning server, its
  address and a short token of kind ``pool-admin`` bound to that server and pool, for a caller holding
  Developer; the CLI asks each server with it (why there: docs/architecture.md, "Pools stored in the cluster").
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable

import msgspec

from hostgate import tokens
from hostgate.errors import (
    CompareFailed,
    DomainNotFound,
    InvalidPoolDefinition,
    PoolAlreadyDefined,
    PoolDefinitionNotFound,
)
from hostgate.management.access import Access, Profile
from hostgate.management.cache import ConfigCache
from hostgate.management.domains import DomainService
from hostgate.management.pool_records import (
    POOLS_PREFIX,
    PoolRecord,
    ScheduleRuleRecord,
    VariableListRecord,
    check_pool,
    pool_key,
)
from hostgate.management.records import SESSION_SERVERS_PREFIX, session_server_key
from hostgate.management.security import Principal
from hostgate.messages import RouteAnswer
from hostgate.messages.pools import (
    PoolDefinition,
    PoolUpdate,
    PoolView,
    ScheduleAnswer,
    ScheduleChange,
    ScheduleRuleView,
    ScheduleSpec,
    ServerPool,
    ServerPoolsAnswer,
    VariableListSpec,
    VariableListView,
)
from hostgate.pool_schedule import Sizes, changes, effective, local_text
from hostgate.store.base import Store
from hostgate.store.guard import note_unseen

__all__ = ["INSPECT_TOKEN_TTL", "PoolAdmin"]

log = logging.getLogger("hostgate.management.pools")
# A pool-admin token lists one pool's sessions on one server: a minute is plenty for the CLI to ask.
INSPECT_TOKEN_TTL = 60.0
MAX_CHANGES = 100


def _lists(specs: tuple[VariableListSpec, ...]) -> tuple[VariableListRecord, ...]:
    return tuple(VariableListRecord(s.name, s.file, s.columns, s.secret_entries) for s in specs)


def _rules(spec: ScheduleSpec | None) -> tuple[str, tuple[ScheduleRuleRecord, ...]]:
    if spec is None:
        return "UTC", ()
    return spec.zone, tuple(
        ScheduleRuleRecord(r.when, r.minutes, r.max_concurrent, r.min_idle, r.max_idle) for r in spec.rules
    )


def _rule_views(rec: PoolRecord) -> tuple[ScheduleRuleView, ...]:
    return tuple(
        ScheduleRuleView(r.when, r.minutes, r.max_concurrent, r.min_idle, r.max_idle) for r in rec.schedule
    )


class PoolAdmin:
    """Pool definitions, schedules and their delivery, for the API face (event-loop thread only)."""

    def __init__(
        self,
        store: Store,
        cache: ConfigCache,
        domains: DomainService,
        access: Access,
        *,
        visibility_timeout: float = 5.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cache = cache
        self.domains = domains
        self.access = access
        self._visibility_timeout = visibility_timeout
        self._wall = wall
        self._versions: tuple[int, dict[str, str]] = (-1, {})

    # --- reads (memory) ------------------------------------------------------------------------------------

    def records(self) -> list[PoolRecord]:
        found = (self.cache.decode(k, PoolRecord.decode) for k, _ in self.cache.items(POOLS_PREFIX))
        return [r for r in found if r is not None]

    def get(self, name: str) -> PoolRecord:
        rec = self.cache.decode(pool_key(name), PoolRecord.decode) if name else None
        if rec is None:
            raise PoolDefinitionNotFound(f"no pool named {name[:64]!r} is defined in this cluster")
        return rec

    def owners(self, rec: PoolRecord) -> tuple[str, ...]:
        """The session servers that run ``rec`` now (its domain's members, or its one registered server)."""
        if rec.server:
            registered = self.cache.get(session_server_key(rec.server)) is not None
            return (rec.server,) if registered else ()
        try:
            return tuple(sorted(m.server for m in self.domains.domain(rec.domain).members))
        except DomainNotFound:  # the domain was deleted after the pool was defined: nobody runs it
            return ()

    def view(self, rec: PoolRecord) -> PoolView:
        lists = tuple(VariableListView(v.name, v.file, v.columns, len(v.entries)) for v in rec.variable_lists)
        return PoolView(
            rec.name,
            rec.model,
            rec.startup_entity,
            rec.domain,
            rec.server,
            rec.max_concurrent,
            rec.initial_idle,
            rec.min_idle,
            rec.max_idle,
            rec.max_pending,
            rec.max_wait,
            rec.idle_timeout,
            rec.health_check_interval,
            rec.recycle_uses,
            rec.recycle_after,
            rec.lease,
            dict(rec.variables),
            lists,
            rec.schedule_zone,
            _rule_views(rec),
            rec.drained,
            self.owners(rec),
            rec.updated_by,
            rec.updated_at,
        )

    def schedule(self, name: str, count: int, at: float | None = None) -> ScheduleAnswer:
        """The sizes in force at ``at`` (now) and the next ``count`` changes: what every owning server applies."""
        rec = self.get(name)
        now = self._wall() if at is None else at
        count = max(0, min(count, MAX_CHANGES))
        sizes, rule = effective(rec.sizes, rec.schedule_value, now)

        def change(when: float, s: Sizes, r: int | None) -> ScheduleChange:
            return ScheduleChange(
                when, local_text(when, rec.schedule_zone), s.max_concurrent, s.min_idle, s.max_idle, r
            )

        upcoming = changes(rec.sizes, rec.schedule_value, now, count)
        return ScheduleAnswer(
            rec.name,
            rec.schedule_zone,
            change(now, sizes, rule),
            tuple(change(c.at, c.sizes, c.rule) for c in upcoming),
            _rule_views(rec),
        )

    # --- delivery to session servers -------------------------------------------------------------------------

    def _concern(self) -> dict[str, list[tuple[str, bytes]]]:
        """server -> the (key, stored bytes) of every pool it runs."""
        members = {d.name: {m.server for m in d.members} for d in self.domains.domains()}
        out: dict[str, list[tuple[str, bytes]]] = {}
        for key, raw in self.cache.items(POOLS_PREFIX):
            rec = self.cache.decode(key, PoolRecord.decode)
            if rec is None:
                continue
            for server in members.get(rec.domain, set()) if rec.domain else {rec.server}:
                out.setdefault(server, []).append((key, raw))
        return out

    def version_for(self, server: str) -> str:
        """A digest of the pool records that concern ``server`` ("" none); once per revision of the copy."""
        revision, versions = self._versions
        if revision != self.cache.revision:
            versions = {
                name: hashlib.sha256(b"\0".join(k.encode() + b"\0" + v for k, v in found)).hexdigest()[:16]
                for name, found in self._concern().items()
            }
            self._versions = (self.cache.revision, versions)
        return versions.get(server, "")

    def for_server(self, server: str) -> ServerPoolsAnswer:
        """The pools ``server`` runs, stored secrets included (the caller checked its certificate)."""
        found = self._concern().get(server, [])
        pools = tuple(
            msgspec.convert(dataclasses.asdict(PoolRecord.decode(key, raw)), ServerPool) for key, raw in found
        )
        return ServerPoolsAnswer(self.version_for(server), pools)

    # --- access --------------------------------------------------------------------------------------------

    def _require(self, principal: Principal, rec: PoolRecord) -> None:
        """Developer on the pool, on its domain (or a domain of its server), or cluster Administrator."""
        self.access.require(
            principal,
            Profile.DEVELOPER,
            pool=rec.name or None,
            domain=rec.domain or None,
            server=rec.server or None,
        )

    def inspect(self, principal: Principal, name: str) -> tuple[RouteAnswer, ...]:
        """For each server running pool ``name``: where it is and a pool-admin token for listing its sessions."""
        rec = self.get(name)
        self._require(principal, rec)
        cluster_id = self.domains._cluster().id
        signer = self.domains.token_keys.signer()
        expires = self._wall() + INSPECT_TOKEN_TTL
        answers = []
        servers = self.domains.servers()
        for server in self.owners(rec):
            found = servers.get(server)
            if found is None:
                continue
            token = signer.mint(
                tokens.TokenClaims(
                    kind="pool-admin",
                    cluster_id=cluster_id,
                    server=server,
                    user=principal.name,
                    pool=name,
                    expires_at=expires,
                )
            )
            answers.append(
                RouteAnswer(
                    server, found.url, found.advertised_address, found.advertised_port, token, expires
                )
            )
        return tuple(answers)

    # --- changes -------------------------------------------------------------------------------------------

    def _checked(self, rec: PoolRecord) -> PoolRecord:
        servers = {
            k.removeprefix(SESSION_SERVERS_PREFIX) for k, _ in self.cache.items(SESSION_SERVERS_PREFIX)
        }
        domains = {d.name for d in self.domains.domains()}
        problems = check_pool(rec, servers=servers, domains=domains)
        if problems:
            listing = "; ".join(f"field {where!r}: {why}" for where, why in problems)
            count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
            raise InvalidPoolDefinition(
                f"pool {rec.name[:64]!r} has {count}, nothing was stored: {listing}", problems=tuple(problems)
            )
        return rec

    async def _deleted(self, key: str, revision: int) -> None:
        if not await self.cache.wait_until(lambda: self.cache.get(key) is None, self._visibility_timeout):
            note_unseen(revision)

    async def _seen(self, revision: int) -> None:
        if not await self.cache.wait_for_revision(revision, self._visibility_timeout):
            note_unseen(revision)

    async def create(self, principal: Principal, d: PoolDefinition) -> PoolRecord:
        zone, rules = _rules(d.schedule)
        rec = PoolRecord(
            d.name,
            d.model,
            d.startup_entity,
            d.domain,
            d.server,
            d.max_concurrent,
            d.initial_idle,
            d.min_idle,
            d.max_concurrent if d.max_idle is None else d.max_idle,
            d.max_pending,
            d.max_wait,
            d.idle_timeout,
            d.health_check_interval,
            d.recycle_uses,
            d.recycle_after,
            d.lease,
            dict(d.variables),
            _lists(d.variable_lists),
            zone,
            rules,
            False,
            principal.name,
            self._wall(),
        )
        self._require(principal, rec)
        self._checked(rec)
        try:
            revision = await self.store.compare_and_set(pool_key(rec.name), rec.encode(), 0)
        except CompareFailed:
            raise PoolAlreadyDefined(
                f"a pool named {rec.name!r} is already defined in this cluster"
            ) from None
        await self._seen(revision)
        log.info("pool %s defined on %s by %s", rec.name, _where(rec), principal.name)
        return rec

    async def _change(
        self, principal: Principal, name: str, change: Callable[[PoolRecord], PoolRecord], what: str
    ) -> PoolRecord:
        for _ in range(5):
            kv = await self.store.get(pool_key(name)) if name else None
            if kv is None:
                raise PoolDefinitionNotFound(f"no pool named {name[:64]!r} is defined in this cluster")
            current = PoolRecord.decode(kv.key, kv.value)
            self._require(principal, current)
            updated = dataclasses.replace(change(current), updated_by=principal.name, updated_at=self._wall())
            if (updated.domain, updated.server) != (current.domain, current.server):
                self._require(principal, updated)  # moving a pool needs the profile where it goes too
            self._checked(updated)
            try:
                revision = await self.store.compare_and_set(pool_key(name), updated.encode(), kv.mod_revision)
            except CompareFailed:
                continue
            await self._seen(revision)
            log.info("pool %s %s by %s", name, what, principal.name)
            return updated
        raise CompareFailed(f"pool {name!r} kept changing; try again")

    async def update(self, principal: Principal, name: str, u: PoolUpdate) -> PoolRecord:
        given = {f: getattr(u, f) for f in u.__struct_fields__ if getattr(u, f) is not None}
        if "variable_lists" in given:
            given["variable_lists"] = _lists(given["variable_lists"])
        if "variables" in given:
            given["variables"] = dict(given["variables"])
        if "domain" in given and given["domain"] and "server" not in given:
            given["server"] = ""  # moving to a domain leaves the server
        if "server" in given and given["server"] and "domain" not in given:
            given["domain"] = ""
        return await self._change(principal, name, lambda rec: dataclasses.replace(rec, **given), "updated")

    async def set_schedule(self, principal: Principal, name: str, spec: ScheduleSpec | None) -> PoolRecord:
        zone, rules = _rules(spec)
        return await self._change(
            principal,
            name,
            lambda rec: dataclasses.replace(rec, schedule_zone=zone, schedule=rules),
            "schedule set" if spec is not None and spec.rules else "schedule cleared",
        )

    async def set_drained(self, principal: Principal, name: str, drained: bool) -> PoolRecord:
        return await self._change(
            principal,
            name,
            lambda rec: dataclasses.replace(rec, drained=drained),
            "drained" if drained else "resumed",
        )

    async def delete(self, principal: Principal, name: str) -> None:
        for _ in range(5):
            kv = await self.store.get(pool_key(name)) if name else None
            if kv is None:
                raise PoolDefinitionNotFound(f"no pool named {name[:64]!r} is defined in this cluster")
            self._require(principal, PoolRecord.decode(kv.key, kv.value))
            try:
                await self.store.compare_and_delete(pool_key(name), kv.mod_revision)
            except CompareFailed:
                continue
            await self._deleted(pool_key(name), kv.mod_revision + 1)
            log.info("pool %s deleted by %s (its servers drain it)", name, principal.name)
            return
        raise CompareFailed(f"pool {name!r} kept changing; try again")


def _where(rec: PoolRecord) -> str:
    return f"domain {rec.domain}" if rec.domain else f"session server {rec.server}"
