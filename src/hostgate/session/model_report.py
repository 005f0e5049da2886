"""The models this session server holds, reported to its management cluster (offline deployments recorded).

``hostgate model deploy FILE --data-dir DIR`` puts a model straight into a session server's models directory and
contacts no server: that is its point (a session server needs no management member to serve its models, as in
VHI). The cluster's deployment records, which the web services' catalog, routing by model and the console's
Models and Web services pages read, then did not know the model. So the server reports what it holds: at its
start, and whenever its models directory serves something else (checked every ``interval``, one ``stat`` per
model file when nothing changed), it sends every model it serves with its digest
(``PUT /api/v1/session-servers/{name}/deployments``, its certificate only). The member records the models it
has no record of as deployed offline and removes the records of models the server no longer holds
(management/deployments.py ``reconcile``); records of deployments made through the cluster stay as they are.

A report runs only while no deployment runs on this server (``DeployGate``): read-then-send around a deployment
being recorded would put back what the directory held before it. A report the cluster did not take is sent
again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError, ModelNotFound
from hostgate.messages import API, HeldModel, HeldModels
from hostgate.models.library import ModelLibrary
from hostgate.session.deployer import DeployGate

__all__ = ["ModelReporter"]

log = logging.getLogger("hostgate.session.models")


class ModelReporter:
    """Reports the models of ``library`` to the cluster when they change (``client_for()``: a client of the
    management cluster presenting this server's certificate, closed after each report)."""

    def __init__(
        self,
        library: ModelLibrary,
        server: str,
        client_for: Callable[[], ClusterClient],
        gate: DeployGate,
        interval: float,
    ) -> None:
        self._library = library
        self._server = server
        self._client_for = client_for
        self._gate = gate
        self._interval = interval
        self._reported: dict[str, str] | None = None  # model -> digest the cluster took last
        self._last_decision = ""

    async def held(self) -> dict[str, HeldModel]:
        """Every model this server serves now (a file that does not validate is not served, unless an earlier
        good version of it still is: then that version)."""
        found: dict[str, HeldModel] = {}
        for name in self._library.names():
            try:
                deployed = await self._library.get_async(name)
            except ModelNotFound:
                continue
            try:
                modified = deployed.path.stat().st_mtime
            except OSError:
                continue  # removed just now: the next check reports it gone
            found[name] = HeldModel(name, deployed.digest, modified)
        return found

    async def run_cycle(self) -> str:
        """One check: the decision to log, or "" when the cluster already has what this server holds."""
        async with self._gate.reporting():
            held = await self.held()
            digests = {name: h.digest for name, h in held.items()}
            if digests == self._reported:
                return ""  # nothing changed since the cluster took the last report
            client = self._client_for()
            try:
                answer = await client.call(
                    API.deployments_held, HeldModels(tuple(held[n] for n in sorted(held))), name=self._server
                )
            except HostgateError as exc:
                return (
                    f"models: not reported to the management cluster ({exc}); again in {self._interval:g} s"
                )
            finally:
                await client.aclose()
            self._reported = digests
        done = answer.payload
        return (
            f"models: {len(held)} held, reported to {answer.member}; recorded as deployed offline: "
            f"{', '.join(done.recorded) or 'none'}; records removed: {', '.join(done.removed) or 'none'}"
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            decision = await self.run_cycle()
            if decision and decision != self._last_decision:
                log.info(decision)
                self._last_decision = decision
            # The check's period, not synchronisation.
            await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))
