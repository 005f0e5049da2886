"""Heartbeats from a session server to every management member, through the cluster alias.

Each cycle re-resolves the alias (no caching, KB 7021563) and sends the server's load to every address at
once; a member that does not answer is simply tried again next cycle, so when every member was down the
server re-registers by itself as soon as one returns. Nothing here stops sessions: they do not depend on
the management cluster once opened.

Heartbeats are authenticated by the server's own TLS client certificate. Each answer names the version of the
cluster's public token-key set; when it differs from the one this server holds (a rotation, or a data
directory of an earlier version), the server fetches the set (``GET /api/v1/token-keys``) and hands it to
``on_token_keys``, which installs it and writes it to disk for restarts while every member is down. Each answer
also carries the server's security switch as stored in the cluster; when every answering member that states
one agrees on a value other than the one in force, ``on_security`` gets it (and keeps it on disk the same
way). Members whose copy lags behind a change simply delay it by a beat; they never make it flap.

Each answer also names the version of this server's cluster-stored pool definitions: a server holding another
one fetches them (session/pool_sync.py); every cycle first applies the pools' schedules.

Each beat states what the server holds (``X-Hostgate-Heartbeat-Holds``: its token-key version, the security in
force, its applied pool version), and a member whose answer would name exactly that answers ``204 No Content``
(issue #16: most beats bring no news, and an empty answer costs the member less): a 204 is read as that member
naming those very versions. A member of an earlier version ignores the header and answers 200 as before. Without
pool definitions to follow (no ``pool_sync``) nothing is stated and every answer is full.

Every answered cycle tells ``contact`` (session/offline.py) that management was heard from: the offline bound
counts the silence from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hostgate import tokens
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError
from hostgate.messages import (
    API,
    HEARTBEAT_HOLDS,
    HeartbeatAnswer,
    HeartbeatReport,
    PoolLoad,
    heartbeat_holds,
)
from hostgate.session.offline import ManagementContact
from hostgate.session.pool_sync import PoolSync

__all__ = ["Heartbeater"]

log = logging.getLogger("hostgate.session.registration")


class Heartbeater:
    def __init__(
        self,
        client: ClusterClient,
        server: str,
        interval: float,
        capacity: int,
        active_sessions: Callable[[], int],
        *,
        token_keys: tuple[tokens.PublicKey, ...] = (),
        on_token_keys: Callable[[tuple[tokens.PublicKey, ...]], None] | None = None,
        security: bool = True,
        on_security: Callable[[bool], None] | None = None,
        contact: ManagementContact | None = None,
        pool_sync: PoolSync | None = None,
        pools: Callable[[], tuple[PoolLoad, ...]] | None = None,
    ) -> None:
        self._client = client
        self._server = server
        self._interval = interval
        self._capacity = capacity
        self._active = active_sessions
        self._last_decision = ""
        self.answering: set[str] = set()
        self.keys_version = tokens.key_set_version(token_keys)
        self._on_token_keys = on_token_keys
        self.security = security
        self._on_security = on_security
        self.contact = contact or ManagementContact(interval)
        self.pool_sync = pool_sync
        self._pools = pools
        # Metrics hook (hostgate/metrics.py): (outcome, count) per beat, outcome "answered" or "failed".
        self.sent: Callable[[str, int], None] | None = None

    async def run_cycle(self) -> str:
        # Schedules first, from the definitions held: a period boundary takes effect this beat even while no
        # member answers (issue #18).
        scheduled = self.pool_sync.tick() if self.pool_sync is not None else ""
        text = await self._beat()
        return f"{text}; {scheduled}" if scheduled else text

    async def _beat(self) -> str:
        # Each pool's figures ride along (issue #18): routing via a domain prefers servers with idle sessions.
        pools = self._pools() if self._pools is not None else ()
        body = HeartbeatReport(self._active(), self._capacity, float(self._interval), pools)
        held: HeartbeatAnswer | None = None
        headers: dict[str, str] | None = None
        if self.pool_sync is not None:
            held = HeartbeatAnswer(self.keys_version, self.security, self.pool_sync.version)
            headers = {
                HEARTBEAT_HOLDS: heartbeat_holds(self.keys_version, self.security, self.pool_sync.version)
            }
        try:
            results = await self._client.broadcast(
                API.heartbeat, body, headers=headers, unchanged=held, name=self._server
            )
        except HostgateError as exc:  # the alias itself did not resolve
            self.answering = set()
            return f"heartbeat: cannot resolve the management alias ({exc})"
        ok = {addr for addr, result in results.items() if not isinstance(result, HostgateError)}
        failed = {addr: result for addr, result in results.items() if isinstance(result, HostgateError)}
        self.answering = ok
        if self.sent is not None:
            self.sent("answered", len(ok))
            self.sent("failed", len(failed))
        if not ok:
            return "heartbeat: no management member answered; sessions keep running, retrying each interval"
        self.contact.heard()
        text = f"heartbeat: registered with {len(ok)} of {len(results)} management members"
        if failed:
            text += " (no answer from " + ", ".join(sorted(failed)) + ")"
        answers = [a.payload for a in results.values() if not isinstance(a, HostgateError)]
        switch = {a.security for a in answers if a.security is not None}
        if len(switch) == 1 and (on := switch.pop()) != self.security:
            self.security = on
            if self._on_security is not None:
                self._on_security(on)
        if not self.security:
            text += "; security off"
        versions = {a.token_keys for a in answers}
        if versions and self.keys_version not in versions:
            text += "; " + await self._refresh_token_keys()
        pool_versions = {a.pools for a in answers if a.pools is not None}
        if self.pool_sync is not None and self.pool_sync.stale(pool_versions):
            text += "; " + await self.pool_sync.refresh(self._client, self._server)
        return text

    async def _refresh_token_keys(self) -> str:
        try:
            answer = await self._client.call(API.token_keys, None)
            keys, version = answer.payload.keys, answer.payload.version
            if self._on_token_keys is not None:
                self._on_token_keys(keys)
        except HostgateError as exc:
            return f"token keys not refreshed ({exc}); retrying next beat"
        self.keys_version = version
        return f"token keys refreshed from {answer.member}: {', '.join(k.kid for k in keys)}"

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                decision = await self.run_cycle()
                if decision != self._last_decision:
                    log.info(decision)
                    self._last_decision = decision
                # The heartbeat period, not synchronisation.
                await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))
        finally:
            await self._client.aclose()
