"""``hostgate server``: run everything a data directory configures, until SIGTERM or Ctrl-C.

Start order: this host's etcd member (for etcd clusters, supervised: restarted on crash, stopped last), the
store client, seeding from ``bootstrap.json`` on the very first start, the in-memory configuration copy, then
the HTTPS API. Stop order is the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
from collections.abc import Generator
from pathlib import Path

import uvicorn

from hostgate import pki
from hostgate.config.settings import Settings, StoreBackend, load_settings
from hostgate.errors import HostgateError, StoreUnavailable
from hostgate.management.cache import ConfigCache
from hostgate.management.records import PREFIX
from hostgate.management.service import ManagementService, seed_store
from hostgate.store import open_store
from hostgate.store.base import Store

__all__ = ["run_server", "serve"]

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


def _configure_logging(settings: Settings) -> None:
    logs = settings.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    fmt = logging.Formatter(f"%(asctime)s {settings.server.member_name} %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.StreamHandler(), logging.FileHandler(logs / "hostgate.log")):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _wait_loaded(cache: ConfigCache, store: Store, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    while True:
        try:
            await cache.start()
            return
        except HostgateError as exc:
            if loop.time() >= stop_at:
                raise StoreUnavailable(f"the store did not answer within {deadline:.0f} s: {exc}") from exc
            log.info("waiting for the store: %s", exc)
            await asyncio.sleep(0.2)  # retry back-off


def _uvicorn(settings: Settings, app: object, port: int) -> _Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.server.address,
        port=port,
        ssl_certfile=str(settings.path(settings.tls.cert_file)),
        ssl_keyfile=str(settings.path(settings.tls.key_file)),
        ssl_ca_certs=str(settings.path(settings.tls.ca_file)),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        # Longer than a heartbeat interval, so session servers keep their connections (no TLS per beat).
        timeout_keep_alive=15,
    )
    return _Server(config)


async def _management(settings: Settings, stack: contextlib.AsyncExitStack) -> _Server:
    """Start this host's etcd member (supervised), the store, the config copy; return the API server."""
    if settings.store is StoreBackend.ETCD and not settings.etcd.endpoints:
        from hostgate.store.etcd_member import EtcdMember

        member = EtcdMember(settings)
        await member.start()
        stack.push_async_callback(member.stop)
        supervisor = asyncio.create_task(member.run(), name="etcd-supervisor")
        stack.push_async_callback(_cancel, supervisor)
        await member.wait_ready(60.0)
    store = open_store(settings)
    stack.push_async_callback(store.close)
    cache = ConfigCache(store, PREFIX)
    if await seed_store(store, settings.data_dir):
        log.info("new cluster %s seeded into the store", settings.server.cluster_id)
    await _wait_loaded(cache, store, 60.0)
    stack.push_async_callback(cache.close)
    service = ManagementService(settings, store, cache)
    info = service.cluster_info()
    if info.id != settings.server.cluster_id:
        raise StoreUnavailable(
            f"the store holds cluster {info.id} but this server belongs to {settings.server.cluster_id}"
        )
    from hostgate.api.app import create_app

    routing = asyncio.create_task(_routing_loop(service), name="routing-loop")
    stack.push_async_callback(_cancel, routing)
    log.info(
        "management member %s of cluster %r (%s) serving on %s, store %s",
        settings.server.member_name,
        info.name,
        info.id,
        settings.url,
        settings.store,
    )
    return _uvicorn(settings, create_app(service), settings.server.port)


async def _routing_loop(service: ManagementService) -> None:
    while True:
        with contextlib.suppress(HostgateError):
            service.router.run_cycle(service.domains.domains(), service.domains.servers())
        await asyncio.sleep(1.0)  # the decision log's period


async def _session(settings: Settings, stack: contextlib.AsyncExitStack) -> _Server:
    """The session-server role: local token checks, sessions, heartbeats to every management member."""
    from hostgate.session.runtime import start_session_role

    role = start_session_role(settings)
    # Registered first, so it runs last: sessions sign off after the HTTP face has stopped taking calls.
    stack.push_async_callback(role.registry.close_all)
    task = asyncio.create_task(role.heartbeat.run(), name="heartbeats")
    stack.push_async_callback(_cancel, task)
    log.info(
        "session server %s serving on port %d, models from %s",
        settings.server.member_name,
        settings.session.port,
        settings.path(settings.session.models_dir),
    )
    return _uvicorn(settings, role.app, settings.session.port)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    async with contextlib.AsyncExitStack() as stack:
        servers: list[_Server] = []
        if settings.is_management:
            servers.append(await _management(settings, stack))
        if settings.is_session:
            servers.append(await _session(settings, stack))
        loop = asyncio.get_running_loop()

        def stop(sig: int) -> None:
            for server in servers:
                server.request_exit(sig)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig)
        if ready is not None:
            loop.call_soon(ready.set)
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        try:
            # One face stopping (its port taken, say) stops the process: a half-running server helps no one.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for server in servers:
                server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
    log.info("server %s stopped", settings.server.member_name)


def run_server(data_dir: Path) -> None:
    # Every file this server creates (store.sqlite3 and its WAL, logs, etcd data) is its own only (issue #15,
    # finding 8: they were 0644).
    os.umask(0o077)
    settings = load_settings(data_dir)
    pki.check_tls_files(
        settings.path(settings.tls.cert_file),
        settings.path(settings.tls.key_file),
        settings.path(settings.tls.ca_file),
    )
    _configure_logging(settings)
    asyncio.run(serve(settings))
