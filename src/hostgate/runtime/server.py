"""``hostgate server``: run everything a data directory configures, until SIGTERM or Ctrl-C.

Start order: the data directory's lock (one server per data directory), this host's etcd member (for etcd
clusters, supervised: restarted on crash, stopped last), the HTTPS API behind its gate (answering "not ready"
with what the member waits for), then, without a deadline, the store (a majority of members, runtime/
membership.py), learner promotion, seeding from ``bootstrap.json`` on the very first start, the in-memory
configuration copy; then the gate opens. Stop order is the reverse. A member that notices its removal from
the cluster closes the gate, stops its etcd member and exits with ``MemberRemoved``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import ssl
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import uvicorn

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.config.datadir import DataDirLock, check_not_removed, mark_removed
from hostgate.config.settings import Settings, StoreBackend, load_settings
from hostgate.connector.cluster import ADAPTIVE_DELAY
from hostgate.console import mount_console
from hostgate.errors import HostgateError, MemberNotReady, MemberRemoved, StoreUnavailable
from hostgate.management.cache import ConfigCache
from hostgate.management.grant_admin import ensure_grants
from hostgate.management.records import PREFIX
from hostgate.management.service import ManagementService, seed_store
from hostgate.management.token_keys import ensure_token_keys
from hostgate.metrics import ServerMetrics, SessionsCollector
from hostgate.runtime.gate import ApiGate
from hostgate.runtime.limits import connection_cap
from hostgate.runtime.logs import configure_logging
from hostgate.runtime.metrics_face import MetricsFace, ensure_token
from hostgate.runtime.tls_scope import hardened_protocol
from hostgate.store import open_store
from hostgate.store.base import Store, StoreStatus
from hostgate.webservices.member import member_webservices

if TYPE_CHECKING:
    from hostgate.store.etcd_member import EtcdMember

__all__ = ["run_loop", "run_server", "serve"]

T = TypeVar("T")

log = logging.getLogger("hostgate.server")


class _Server(uvicorn.Server):
    """uvicorn's server, minus its own signal handling: hostgate stops the etcd member after the API."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def request_exit(self, sig: int) -> None:
        if not self.should_exit:
            log.info("received %s; stopping", signal.Signals(sig).name)
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


async def _wait_loaded(cache: ConfigCache, member: EtcdMember | None) -> None:
    """Load the configuration copy; no deadline (the store answered already), one log line every 10 s."""
    loop = asyncio.get_running_loop()
    last_logged = 0.0
    while True:
        if member is not None and member.removed.is_set():
            raise member.removed_error()
        try:
            await cache.start()
            return
        except HostgateError as exc:
            if loop.time() - last_logged >= 10.0:
                log.warning("waiting for the store to load the configuration: %s", exc)
                last_logged = loop.time()
            await asyncio.sleep(0.2)  # retry back-off


def _uvicorn(
    settings: Settings,
    app: object,
    port: int,
    identity: dict[str, str],
    cert_file: str = "",
    key_file: str = "",
    *,
    lean: bool = False,
) -> _Server:

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.server.address,
        port=port,
        # The client certificate reaches the app (heartbeats are authenticated by it); slow headers are cut
        # off and connections capped (issue #15, finding 8), answered with the face's identity headers.
        http=hardened_protocol(
            header_timeout=settings.security.header_timeout,
            max_connections=settings.security.max_connections,
            identity=identity,
            http="lean" if lean else "h11" if settings.server.http == "h11" else "httptools",
        ),
        ssl_certfile=str(settings.path(cert_file or settings.tls.cert_file)),
        ssl_keyfile=str(settings.path(key_file or settings.tls.key_file)),
        ssl_ca_certs=str(settings.path(settings.tls.ca_file)),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        log_config=None,
        access_log=False,
        # No proxy stands in front of a face: X-Forwarded-For from a client on 127.0.0.1 (uvicorn's default
        # trusted proxy) must not choose the source address the login throttle counts, and the middleware
        # costs every request.
        proxy_headers=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        # Longer than a heartbeat interval, so session servers keep their connections (no TLS per beat).
        timeout_keep_alive=15,
    )
    return _Server(config)


async def _management(
    settings: Settings, stack: contextlib.AsyncExitStack, metrics: ServerMetrics | None, token: bytes | None
) -> tuple[_Server, _Lifecycle]:
    """Start this host's etcd member (supervised) and the API behind its gate; the rest comes up in the
    returned lifecycle task, so the API can say what the member waits for (a majority, its promotion)."""
    check_not_removed(settings)
    member: EtcdMember | None = None
    if settings.store is StoreBackend.ETCD and not settings.etcd.endpoints:
        from hostgate.store.etcd_member import EtcdMember  # grpc is loaded only by servers that use etcd

        member = EtcdMember(settings)
        await member.start()
        stack.push_async_callback(member.stop)
        supervisor = asyncio.create_task(member.run(), name="etcd-supervisor")
        stack.push_async_callback(_cancel, supervisor)
    gate = ApiGate(settings.server.cluster_id, settings.server.member_name)
    log.info(
        "management member %s listening on %s (store %s); it serves once its store is ready",
        settings.server.member_name,
        settings.url,
        settings.store,
    )
    lifecycle = _Lifecycle(settings, member, gate, stack, metrics)
    identity = {
        "X-Hostgate-Cluster-Id": settings.server.cluster_id,
        "X-Hostgate-Member": settings.server.member_name,
    }
    # Outside the gate: a member waiting for its majority is measured and scraped too.
    face = gate if metrics is None else MetricsFace(gate, metrics, "management", token)
    return _uvicorn(settings, face, settings.server.port, identity), lifecycle


class _Lifecycle:
    """Bring the member up behind its gate, then watch for its removal (etcd members)."""

    def __init__(
        self,
        settings: Settings,
        member: EtcdMember | None,
        gate: ApiGate,
        stack: contextlib.AsyncExitStack,
        metrics: ServerMetrics | None,
    ) -> None:
        self.settings = settings
        self.member = member
        self.gate = gate
        self.stack = stack
        self.metrics = metrics

    async def run(self) -> None:
        """Returns when the member serves without an etcd member to watch; raises ``MemberRemoved``."""
        try:
            await self._run()
        except MemberRemoved as exc:
            # Also when it learns only now (removed while it was down: etcd exits "permanently removed").
            self.gate.refuse(exc, state="removed")
            mark_removed(self.settings, exc.message)
            raise

    async def _run(self) -> None:
        settings, member, gate, stack = self.settings, self.member, self.gate, self.stack
        status: StoreStatus | None = None
        store = open_store(settings)
        if self.metrics is not None:
            store.time_requests(self.metrics.store_timer(str(settings.store)))
        stack.push_async_callback(store.close)
        if member is not None:
            from hostgate.runtime.membership import promote_self, wait_for_store

            status = await wait_for_store(settings, member, gate)
            if status.is_learner:
                await promote_self(settings, store, status, gate)
            gate.refuse(MemberNotReady(f"member {settings.server.member_name} is loading its configuration"))
        cache = ConfigCache(store, PREFIX)
        if await seed_store(store, settings.data_dir):
            log.info("new cluster %s seeded into the store", settings.server.cluster_id)
        await _wait_loaded(cache, member)
        stack.push_async_callback(cache.close)

        log.info("%s", await ensure_token_keys(store, cache))
        log.info("%s", await ensure_grants(store, cache))
        service = ManagementService(settings, store, cache)
        service.audit.start()  # the audit writer and the periodic prune (management/audit.py)
        stack.push_async_callback(service.audit.close)
        info = service.cluster_info()
        if info.id != settings.server.cluster_id:
            raise StoreUnavailable(
                f"the store holds cluster {info.id} but this server belongs to {settings.server.cluster_id}"
            )

        routing = asyncio.create_task(_routing_loop(service), name="routing-loop")
        stack.push_async_callback(_cancel, routing)
        app = create_app(service, self.metrics)
        # The web console at /console (issue #20), behind the same error boundary and login guard as the API.
        captures = mount_console(app, service, app.state.login_guard)
        # Live console captures (issue #22) end at the stop: their host sockets and the reaper task with them.
        stack.push_async_callback(captures.close)
        # The web services (#19) in every member: /ws routes beside the API's, a client of this cluster.
        # Their catalog reads the deployment records from this member's copy (issue #19: no round trip a call).
        ws_routes, ws = member_webservices(
            settings, deployments=lambda: [r.view() for r in service.deployments.list()]
        )
        app.router.routes[:0] = ws_routes  # first, behind one prefix test (webservices/member.py)
        stack.push_async_callback(ws.aclose)
        # Unwound before service.audit.close (pushed earlier): the guard's counts of failed logins still in their
        # window become audit entries the writer stores on its way out, instead of being lost at a stop.
        stack.callback(app.state.login_guard.close)
        gate.open(app)
        log.info(
            "management member %s of cluster %r (%s) serving on %s, store %s",
            settings.server.member_name,
            info.name,
            info.id,
            settings.url,
            settings.store,
        )
        if settings.store is StoreBackend.ETCD and self.metrics is not None:
            sampler = asyncio.create_task(
                _sample_leader(store, self.metrics, settings.metrics.leader_interval), name="leader-sampler"
            )
            stack.push_async_callback(_cancel, sampler)
        if member is not None and status is not None:
            from hostgate.runtime.membership import watch_removal

            raise await watch_removal(settings, member, store, cache, gate, status.member_id)


async def _sample_leader(store: Store, metrics: ServerMetrics, interval: float) -> None:
    """``hostgate_store_has_leader`` and ``hostgate_store_leader_changes_total``: the leader this member's etcd
    names, sampled (etcd's own ``etcd_server_leader_changes_seen_total`` needs access to etcd's port)."""
    last = 0
    while True:
        try:
            leader = (await store.status()).leader_id
        except HostgateError:
            leader = 0
        metrics.leader_seen(leader)
        if leader and last and leader != last:
            metrics.leader_changed()
            log.info("the store's leader changed (etcd member %x, was %x)", leader, last)
        last = leader or last
        await asyncio.sleep(interval)  # the sampling period


async def _routing_loop(service: ManagementService) -> None:
    while True:
        with contextlib.suppress(HostgateError):
            service.router.run_cycle(service.domains.domains(), service.domains.servers())
        await asyncio.sleep(1.0)  # the decision log's period


async def _session(
    settings: Settings, stack: contextlib.AsyncExitStack, metrics: ServerMetrics | None, token: bytes | None
) -> _Server:
    """The session-server role: local token checks, sessions, heartbeats to every management member."""
    from hostgate.session.role import start_session_role

    role = start_session_role(settings)
    # The role's figures (docs/metrics.md), its pools' among them.
    if metrics is not None:
        role.registry.opened = metrics.session_open
        role.registry.called = metrics.host_operation
        role.heartbeat.sent = metrics.heartbeat_sent
        metrics.register(SessionsCollector(role.registry.open_by_model))
        for collector in role.collectors():
            metrics.register(collector)
    # Registered first, so it runs last: sessions sign off after the HTTP face has stopped taking calls.
    stack.push_async_callback(role.registry.close_all)
    # Pools stop before the registry's sessions close (the stack runs callbacks last-in first-out).
    stack.push_async_callback(role.pools.close)
    role.pools.start()
    upkeep = asyncio.create_task(role.pools.run(), name="pool-upkeep")
    stack.push_async_callback(_cancel, upkeep)
    task = asyncio.create_task(role.heartbeat.run(), name="heartbeats")
    stack.push_async_callback(_cancel, task)
    models = asyncio.create_task(role.models.run(), name="models-report")
    stack.push_async_callback(_cancel, models)
    log.info(
        "session server %s serving on port %d, models from %s",
        settings.server.member_name,
        settings.session.port,
        settings.path(settings.session.models_dir),
    )
    identity = {
        "X-Hostgate-Cluster-Id": settings.server.cluster_id,
        "X-Hostgate-Session-Server": settings.server.member_name,
    }
    return _uvicorn(
        settings,
        role.app if metrics is None else MetricsFace(role.app, metrics, "session", token),
        settings.session.port,
        identity,
        settings.session.cert_file,
        settings.session.key_file,
        lean=settings.session.http == "lean",
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _with_connection_cap(settings: Settings) -> Settings:
    """``settings`` with the connection cap the open-file limit allows (raised first; runtime/limits.py)."""
    faces = int(settings.is_management) + int(settings.is_session)
    cap = connection_cap(settings.security.max_connections, faces)
    if cap.effective == settings.security.max_connections:
        return settings
    security = dataclasses.replace(settings.security, max_connections=cap.effective)
    return dataclasses.replace(settings, security=security)


def configure_naming(settings: Settings) -> None:
    """Apply ``[naming] connect_delay`` to the stagger every cluster client of this process shares (heartbeats,
    deployments, web services, the console's checks): the most the dialer waits for a pending member before it
    tries the next address, and its delay while it has no answer times to learn from (RFC 8305 section 8)."""
    ADAPTIVE_DELAY.set_cap(settings.naming.connect_delay)


async def serve(
    settings: Settings, *, ready: asyncio.Event | None = None, metrics: ServerMetrics | None = None
) -> None:
    """Run the server until SIGTERM/SIGINT. ``metrics``: its registry (docs/metrics.md), made when not given;
    with ``[metrics] token_file = ""`` (no /metrics) nothing is measured at all, unless ``metrics`` is given."""
    settings = _with_connection_cap(settings)
    configure_naming(settings)
    token = ensure_token(settings)
    if metrics is None and token is not None:
        metrics = ServerMetrics(settings.server.member_name, settings.server.roles)
    async with contextlib.AsyncExitStack() as stack:
        servers: list[_Server] = []
        lifecycles: list[asyncio.Task[None]] = []
        if settings.is_management:
            server, lifecycle = await _management(settings, stack, metrics, token)
            servers.append(server)
            lifecycles.append(asyncio.create_task(lifecycle.run(), name="management-lifecycle"))
        if settings.is_session:
            servers.append(await _session(settings, stack, metrics, token))
        loop = asyncio.get_running_loop()

        def stop(sig: int) -> None:
            for server in servers:
                server.request_exit(sig)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig)
        if ready is not None:
            loop.call_soon(ready.set)
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        failed: BaseException | None = None
        try:
            # One face stopping (its port taken, say) stops the process: a half-running server helps no one.
            # So does the member's lifecycle failing (removed from the cluster, another cluster's store).
            pending: set[asyncio.Task[None]] = {*tasks, *lifecycles}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                errors = [t.exception() for t in done if t in lifecycles and not t.cancelled()]
                failed = next((e for e in errors if e is not None), None)
                if failed is not None or any(t in tasks for t in done):
                    break
                # else: a lifecycle brought its member up and has nothing more to watch; keep serving
        finally:
            for server in servers:
                server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in lifecycles:
                await _cancel(task)
    log.info("server %s stopped", settings.server.member_name)
    if isinstance(failed, HostgateError):
        log.error("%s", failed)
        raise failed
    if failed is not None:
        raise failed


def run_loop(settings: Settings, main: Coroutine[object, object, T]) -> T:
    """``asyncio.run`` on the event loop ``[server] loop`` names: uvloop (libuv) by default (issue #16), which
    runs the etcd member's child process (``preexec_fn`` with PR_SET_PDEATHSIG; ``start_new_session``, as uvloop
    refuses ``process_group``), signal handlers and grpc.aio (aetcd) as asyncio's own loop does."""
    if settings.server.loop == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    else:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def run_server(data_dir: Path, *, log_level: str | None = None, log_format: str | None = None) -> None:
    # Every file this server creates (store.sqlite3 and its WAL, logs, etcd data) is its own only (issue #15,
    # finding 8: they were 0644).
    os.umask(0o077)
    settings = load_settings(data_dir)
    lock = DataDirLock(settings.data_dir)
    lock.acquire()  # before anything else starts: one server per data directory
    try:
        pki.check_tls_files(
            settings.path(settings.tls.cert_file),
            settings.path(settings.tls.key_file),
            settings.path(settings.tls.ca_file),
        )
        configure_logging(settings, level=log_level, fmt=log_format)
        run_loop(settings, serve(settings))
    finally:
        lock.release()
