"""Heartbeats from a session server to every management member, through the cluster alias.

Each cycle re-resolves the alias (no caching, KB 7021563) and sends the server's load to every address at
once; a member that does not answer is simply tried again next cycle, so when every member was down the
server re-registers by itself as soon as one returns. Nothing here stops sessions: they do not depend on
the management cluster once opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError

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
    ) -> None:
        self._client = client
        self._server = server
        self._interval = interval
        self._capacity = capacity
        self._active = active_sessions
        self._last_decision = ""
        self.answering: set[str] = set()

    async def run_cycle(self) -> str:
        body = {"active_sessions": self._active(), "capacity": self._capacity, "interval": self._interval}
        try:
            results = await self._client.broadcast(
                "POST", f"/api/v1/session-servers/{self._server}/heartbeat", body
            )
        except HostgateError as exc:  # the alias itself did not resolve
            self.answering = set()
            return f"heartbeat: cannot resolve the management alias ({exc})"
        ok = {addr for addr, result in results.items() if not isinstance(result, HostgateError)}
        failed = {addr: result for addr, result in results.items() if isinstance(result, HostgateError)}
        self.answering = ok
        if not ok:
            return "heartbeat: no management member answered; sessions keep running, retrying each interval"
        text = f"heartbeat: registered with {len(ok)} of {len(results)} management members"
        if failed:
            text += " (no answer from " + ", ".join(sorted(failed)) + ")"
        return text

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
