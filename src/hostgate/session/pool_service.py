"""The pools of one session server, joined to its sessions: what the pool endpoints of session/server.py call.

A session acquired from a pool becomes a session of the registry under a new id (one per hand-out, so a former
holder's id never reaches the next holder's session) owned by the acquiring user: every session endpoint works
on it as on an opened one. ``DELETE /api/v1/sessions/{id}`` (or the pool's own DELETE) gives it back to the pool
instead of signing off; a call after which its host is gone gives it back as unhealthy, and the pool replaces it.

**A client that dies holding a session** is found by its lease: a handed-out session that has had no call
(and no ping) for the pool's ``lease`` seconds, and is not in a call, is taken from its holder (later calls:
SessionNotFound HG-4202) and returned to the pool. Leases, not connections: the connector's calls may travel
over new connections (and a proxy may pool them), so a closed connection says nothing about the client,
while a silence longer than any real call does. A client that keeps a session unused longer pings it
(``POST /api/v1/sessions/{id}/ping``).

Tokens: a pool's endpoints take a session token whose ``pool`` claim names that pool (tokens.py); such a token
opens no session of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Mapping, Sequence

from hostgate import tokens
from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import NotAuthorized, PoolNotFound, SessionNotFound, UsageError
from hostgate.hosts import open_session
from hostgate.messages import PoolLoad, PoolStatus
from hostgate.messages.pools import PoolSessionView
from hostgate.session.model_session import ModelSession
from hostgate.session.pool_config import PoolSettings
from hostgate.session.pools import Opener, Pool, PooledSession
from hostgate.session.registry import HostFactory, ServedSession, SessionRegistry

__all__ = ["PoolService"]

log = logging.getLogger("hostgate.session.pools")
TICK = 1.0


class PoolService:
    """Every pool of a session server (event-loop thread only)."""

    def __init__(
        self,
        registry: SessionRegistry,
        pools: Sequence[PoolSettings],
        *,
        host_factory: HostFactory | None = None,
        clock: Clock = SYSTEM_CLOCK,
        tick: float = TICK,
    ) -> None:
        self.registry = registry
        self._host_factory = host_factory or open_session
        self._clock = clock
        self.tick = tick
        self.pools = {s.name: Pool(s, self._opener(s), clock=clock) for s in pools}
        # Pools taken out of service (deleted, or replaced by a changed definition) until their last session
        # is signed off: their holders keep their sessions until they give them back (issue #18).
        self.retiring: list[Pool] = []
        self._started = False
        # lease id -> (pool, pooled session, wall time of the hand-out or the last ping)
        self._out: dict[str, tuple[Pool, PooledSession, float]] = {}

    def _opener(self, settings: PoolSettings) -> Opener:
        async def open_one(variables: Mapping[str, str]) -> tuple[ModelSession, str]:
            # The session being warmed is already counted in ``active`` (held_elsewhere).
            if self.registry.active > self.registry.capacity:
                raise UsageError(
                    f"pool {settings.name}: session server {self.registry.server} is at its capacity of "
                    f"{self.registry.capacity} sessions"
                )
            deployed = await self.registry.models.get_async(settings.model)
            runtime = ModelSession(deployed.model, self._host_factory(deployed.model.host), variables)
            return runtime, deployed.digest

        return open_one

    def start(self) -> None:
        self.registry.held_elsewhere = self.held_elsewhere
        self._started = True
        for pool in self.pools.values():
            pool.start()

    def held_elsewhere(self) -> int:
        """Host sessions of the pools that are not handed out (warming, idle, returning, checking)."""
        return sum(p.total for p in (*self.pools.values(), *self.retiring)) - len(self._out)

    # -- live changes (cluster-stored definitions, session/pool_sync.py) ----------------------------------
    def define(self, settings: PoolSettings, *, drained: bool = False) -> str:
        """Run pool ``settings.name`` with these settings from now on; a one-line account of what changed.

        Only the sizes differ: applied to the running pool. Anything else (model, startup entity, variables,
        timeouts): a new pool replaces it, and the old one drains (its busy sessions stay with their holders
        until given back)."""
        current = self.pools.get(settings.name)
        name = settings.name
        if (
            current is not None
            and dataclasses.replace(settings, sizes=current.settings.sizes) == current.settings
        ):
            notes = []
            if current.settings.sizes != settings.sizes:
                current.settings = settings
                current.apply(settings.sizes)
                notes.append("sizes changed")
            if drained != current.draining:
                (current.drain if drained else current.resume)()
                notes.append("drained" if drained else "resumed")
            return f"pool {name}: " + ", ".join(notes) if notes else ""
        pool = Pool(settings, self._opener(settings), clock=self._clock)
        self.pools[name] = pool
        if current is not None:
            self._retire_pool(current, "replaced by a changed definition")
        if drained:
            pool.drain()
        elif self._started:
            pool.start()
        verb = "replaced (the old one drains)" if current is not None else "started"
        return f"pool {name}: {verb}" + (" drained" if drained else "")

    def undefine(self, name: str) -> str:
        """Stop running pool ``name``: it drains (waiting clients get PoolDrained, busy sessions stay with their
        holders until given back); it is gone once its last session is signed off."""
        current = self.pools.pop(name, None)
        if current is None:
            return ""
        self._retire_pool(current, "deleted")
        return f"pool {name}: deleted, draining"

    def _retire_pool(self, pool: Pool, why: str) -> None:
        pool.drain(why)
        if not pool.finished:
            self.retiring.append(pool)

    def sessions(self, claims: tokens.TokenClaims, name: str) -> tuple[PoolSessionView, ...]:
        """Each session of pool ``name`` (a pool-admin token for it): state, holder, since when (Unix time)."""
        self._allowed(claims, name)
        pool = self.pool(name)
        mono, wall = self._clock.monotonic(), self._clock.wall()
        return tuple(
            PoolSessionView(
                self.registry.server,
                s.id,
                str(s.state),
                s.holder,
                round(wall - (mono - s.since), 3),
                s.uses,
                round(wall - (mono - s.created), 3),
            )
            for s in sorted(pool.sessions(), key=lambda x: x.created)
        )

    def pool(self, name: str) -> Pool:
        found = self.pools.get(name)
        if found is None:
            raise PoolNotFound(f"session server {self.registry.server} runs no pool named {name!r}")
        return found

    @staticmethod
    def _allowed(claims: tokens.TokenClaims, name: str) -> None:
        if claims.pool != name:
            held = f"pool {claims.pool!r}" if claims.pool else "no pool"
            raise NotAuthorized(f"the token is for {held}, not pool {name!r}")

    def status(self, claims: tokens.TokenClaims, name: str | None = None) -> tuple[PoolStatus, ...]:
        if name is not None:
            self._allowed(claims, name)
            return (self.pool(name).status(),)
        return tuple(p.status() for _, p in sorted(self.pools.items()))

    def loads(self) -> tuple[PoolLoad, ...]:
        """Each pool's figures for the heartbeat report (routing via a domain prefers idle sessions)."""
        # busy: every session not idle (warming and returning too), so idle + busy is what max_concurrent caps.
        return tuple(
            PoolLoad(name, p.settings.model, p.idle, p.total - p.idle, p.pending, p.sizes.max_concurrent)
            for name, p in sorted(self.pools.items())
            # A drained pool hands out nothing: reported, routing via a domain would pick a server that refuses.
            if not p.draining
        )

    async def acquire(self, claims: tokens.TokenClaims, name: str) -> ServedSession:
        """A session of pool ``name`` at its startup entity, owned by the token's user until released."""
        self._allowed(claims, name)
        pool = self.pool(name)
        pooled = await pool.acquire(claims.user)
        # The lease's clock, not time.time(): reclaim() compares last_used with the service clock's wall time,
        # and a sign-on that took seconds must not count against the lease it has not started yet.
        now = self._clock.wall()
        # 128 random bits as 32 hex digits, as uuid4().hex gives (minus its fixed version bits) at a tenth of
        # its cost (issue #18: uuid4 was a tenth of a pooled acquire in the app).
        lease = secrets.token_hex(16)
        served = ServedSession(
            lease,
            claims.user,
            pool.settings.model,
            pooled.model_digest,
            claims.domain,
            now,
            pooled.runtime,
            now,
            pool=name,
        )

        async def give_back(healthy: bool) -> None:
            if self._out.pop(lease, None) is not None:
                pool.release(pooled, healthy=healthy)

        served.release = give_back
        self._out[lease] = (pool, pooled, self._clock.wall())
        self.registry.sessions[lease] = served
        return served

    async def release(self, claims: tokens.TokenClaims, name: str, session_id: str) -> None:
        served = self.registry.get(claims, session_id)
        if served.pool != name:
            raise SessionNotFound(f"session {session_id} is not a session of pool {name!r}")
        await self.registry.close(claims, session_id)

    def touch(self, session_id: str) -> None:
        """The holder is alive (a ping): its lease starts again."""
        held = self._out.get(session_id)
        if held is not None:
            self._out[session_id] = (held[0], held[1], self._clock.wall())

    def reclaim(self) -> int:
        """Take back handed-out sessions whose lease ran out (no call, no ping, not in a call)."""
        now = self._clock.wall()
        taken = 0
        for lease, (pool, pooled, renewed) in list(self._out.items()):
            served = self.registry.sessions.get(lease)
            if served is None:
                self._out.pop(lease, None)
                pool.release(pooled, healthy=False)
                continue
            last = max(renewed, served.last_used)
            if served.lock.locked() or now - last < pool.settings.lease:
                continue
            # No await between the check and the removal: a call that starts now finds the session gone.
            self.registry.sessions.pop(lease, None)
            self._out.pop(lease, None)
            pool.release(pooled, reclaimed=True)
            log.warning(
                "pool %s: session %s reclaimed from %s (no call for %g s)",
                pool.settings.name,
                lease,
                served.user,
                pool.settings.lease,
            )
            taken += 1
        return taken

    async def run_cycle(self) -> list[str]:
        """Lease reclaims, then each pool's upkeep; one line per pool."""
        taken = self.reclaim()
        lines = [await pool.run_cycle() for pool in self.pools.values()]
        for pool in list(self.retiring):
            if pool.finished:
                self.retiring.remove(pool)
                lines.append(f"pool {pool.settings.name}: drained; its last session is signed off")
        if taken:
            lines.append(f"reclaimed {taken} session(s) whose holder stopped calling")
        return lines

    async def run(self) -> None:
        """The upkeep loop (a task of the server): a line that reports a decision is logged at INFO, the
        plain state of each pool at DEBUG."""
        while True:
            try:
                for line in await self.run_cycle():
                    log.log(
                        logging.INFO if ";" in line or line.startswith("reclaimed") else logging.DEBUG,
                        "%s",
                        line,
                    )
            except Exception:
                log.exception("pool upkeep failed; trying again in %g s", self.tick)
            await asyncio.sleep(self.tick)

    async def close(self) -> None:
        """Take every handed-out session from its holder, then stop every pool (signs all off)."""
        for lease in list(self._out):
            self.registry.sessions.pop(lease, None)
        self._out.clear()
        await asyncio.gather(
            *(p.close() for p in (*self.pools.values(), *self.retiring)), return_exceptions=True
        )
