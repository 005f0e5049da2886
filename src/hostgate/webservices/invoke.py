"""A web-service call: a model's procedure run via domain through the cluster's alias, with the connector.

The alias is plugin-cfg.xml's ``serverName`` unless the request names one (``ServerName``); it is resolved
first with this service's own naming sources, so an alias nobody knows is refused with ``ServerNameUnknown``
(HG-4501) naming the alias, where it came from and what each source said, before anything is sent. The
caller's credentials go through to the cluster (which checks them and routes); they are never logged.

Stateful use: a call with ``keep`` keeps its session open under a random id; a later call with that id runs on
the same session (same host screen), and keeps it again only if it asks to (a resume without ``keep`` ends the
session after its call). Kept sessions end after ``idle_timeout`` seconds unused; at most ``max_kept`` are
held; only the caller who kept one (same user and password) may resume it. Stateless calls with a pool take a
pooled session through ``connect_session_via_domain`` (wt-poolroute) behind :class:`PooledConnect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hostgate.config.plugin_cfg import PluginConfigFile
from hostgate.connector import AsyncSession, ClusterLocation, Records, connect_via_domain
from hostgate.errors import (
    FeatureNotAvailable,
    KeptSessionNotFound,
    KeptSessionNotYours,
    KeptSessionsFull,
    ResolutionFailed,
    ServerNameUnknown,
)
from hostgate.messages import Cell
from hostgate.messages.catalog import ProcedureInfo
from hostgate.naming.resolver import SYSTEM_HOSTS, AliasResolver
from hostgate.naming.target import parse_target

__all__ = [
    "CallResult",
    "Caller",
    "ClusterTrust",
    "Invoker",
    "PooledConnect",
    "Target",
]

log = logging.getLogger("hostgate.webservices")

DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_KEPT = 100
# Aliases a request may name are the caller's choice: the memos of their parsed forms stay bounded.
_MEMO = 64


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller's credentials as received (HTTP Basic, or WS-Security UsernameToken); never logged."""

    user: str
    password: str = field(repr=False)

    def fingerprint(self, key: bytes) -> bytes:
        """Who kept a session, without keeping the password: HMAC-SHA256 under a per-process key."""
        return hmac.new(key, f"{self.user}\0{self.password}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Target:
    """What the request asked for beyond the procedure: each ``None`` falls back to the service's default.
    ``server_name_source`` says where a request's ServerName came from (named in ``ServerNameUnknown``)."""

    server_name: str | None = None
    server_name_source: str = ""
    domain: str | None = None
    pool: str | None = None
    keep: bool = False
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    rows: tuple[dict[str, Cell], ...]
    columns: tuple[str, ...]
    session_id: str = ""  # set when the session was kept


@dataclass(frozen=True, slots=True)
class ClusterTrust:
    """How this service reaches a cluster named by an alias: the CA its members must chain to (``ca_dir/ALIAS.pem``
    when present, so one service can serve several clusters, else ``ca_file``), the naming sources, and the
    API port of an alias given without one."""

    ca_file: Path
    ca_dir: Path | None = None
    hosts_file: Path | None = None
    dns_servers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ("hosts_file", "system_hosts", "dns", "system")
    system_hosts: Path | None = None
    default_port: int = 9440
    deadline: float = 10.0

    def ca_for(self, host: str) -> Path:
        if self.ca_dir is not None:
            own = self.ca_dir / f"{host}.pem"
            if own.is_file():
                return own
        return self.ca_file


class PooledConnect(Protocol):
    """``connect_session_via_domain`` of the connector (issue #18, wt-poolroute): a pooled session of ``pool``
    on a server of ``domain``, through the cluster at ``location``."""

    def __call__(
        self, location: ClusterLocation, domain: str, pool: str, /, *, user: str, password: str
    ) -> Awaitable[AsyncSession]: ...


@dataclass(slots=True)
class _Kept:
    session: AsyncSession
    owner: bytes
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Invoker:
    """Runs procedures for the REST and SOAP faces (one per process, shared by both)."""

    def __init__(
        self,
        config: PluginConfigFile,
        trust: ClusterTrust,
        *,
        pooled: PooledConnect | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_kept: int = DEFAULT_MAX_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.trust = trust
        self.pooled = pooled
        self.idle_timeout = idle_timeout
        self.max_kept = max_kept
        self._clock = clock
        self._kept: dict[str, _Kept] = {}
        self._key = secrets.token_bytes(32)
        # Parsed aliases and the locations built from them (values of their text: nothing resolved is kept).
        self._parsed: dict[str, tuple[str, int]] = {}
        self._locations: dict[tuple[str, int, Path], ClusterLocation] = {}
        self._resolver = AliasResolver(
            hosts_file=trust.hosts_file,
            system_hosts=trust.system_hosts or SYSTEM_HOSTS,
            dns_servers=trust.dns_servers,
            sources=trust.sources,
        )

    async def location(self, target: Target) -> ClusterLocation:
        """The cluster to call: the request's ServerName, else plugin-cfg.xml's serverName; resolved here with
        this service's sources first (ServerNameUnknown when none knows it)."""
        host, port, source = self._named(target)
        try:
            await self._resolver.resolve(host)
        except ResolutionFailed as exc:
            raise ServerNameUnknown(
                f"the management cluster alias {host!r} (from {source}): {exc.message}",
                from_request=bool(target.server_name),
            ) from exc
        return self._location(host, port)

    def named_location(self, target: Target) -> ClusterLocation:
        """The cluster :meth:`location` would answer, without resolving the alias (so without its check):
        what finds a kept client of that cluster (webservices/catalog.py), which resolves the alias itself
        whenever it connects. Issue #19: resolving it (reading and parsing the hosts file) at every catalog
        read was a quarter of a member's CPU per REST call."""
        host, port, _ = self._named(target)
        return self._location(host, port)

    def _named(self, target: Target) -> tuple[str, int, str]:
        if target.server_name:
            alias, source = target.server_name, target.server_name_source or "the request's ServerName"
        else:
            cfg = self.config.current()
            alias, source = cfg.server_name, f"serverName in {cfg.source}"
        parsed = self._parsed.get(alias)
        if parsed is None:
            parsed = parse_target(alias, self.trust.default_port)  # UsageError for a malformed one
            if len(self._parsed) >= _MEMO:
                self._parsed.clear()
            self._parsed[alias] = parsed
        return parsed[0], parsed[1], source

    def _location(self, host: str, port: int) -> ClusterLocation:
        # The CA is looked up at every call (a CA file added to ca_dir applies at the next one); the location,
        # a frozen value of the text and the CA, is built once for each.
        ca = self.trust.ca_for(host)
        key = (host, port, ca)
        found = self._locations.get(key)
        if found is None:
            found = ClusterLocation(
                f"{host}:{port}" if ":" not in host else f"[{host}]:{port}",
                ca,
                hosts_file=self.trust.hosts_file,
                dns_servers=self.trust.dns_servers,
                system_hosts=self.trust.system_hosts,
                deadline=self.trust.deadline,
            )
            if len(self._locations) >= _MEMO:
                self._locations.clear()
            self._locations[key] = found
        return found

    def owner_check(self, caller: Caller, session_id: str) -> None:
        """The caller may resume ``session_id``: the same user and password as the caller who kept it (which
        the cluster accepted then). No cluster round trip: a resumed call costs no alias resolution."""
        kept = self._kept.get(session_id)
        if kept is None or self._idle(kept):
            raise KeptSessionNotFound(f"no kept session {session_id[:40]!r}")
        if not hmac.compare_digest(kept.owner, caller.fingerprint(self._key)):
            raise KeptSessionNotYours(f"kept session {session_id[:40]!r} was kept by another caller")

    def _idle(self, kept: _Kept) -> bool:
        return self._clock() - kept.last_used > self.idle_timeout

    async def call(
        self,
        caller: Caller,
        location: ClusterLocation | None,
        model: str,
        procedure: ProcedureInfo,
        inputs: Mapping[str, Cell],
        target: Target,
    ) -> CallResult:
        """Run ``procedure`` of ``model`` with ``inputs`` (already checked against the catalog) through the
        cluster at ``location`` (:meth:`location`'s answer; None: looked up here; a resumed session stays
        where it is)."""
        self._sweep()
        if target.session_id:
            return await self._resumed(caller, procedure, inputs, target)
        if location is None:
            location = await self.location(target)
        cfg = self.config.current()
        domain = target.domain or cfg.domain
        pool = "" if target.keep else (target.pool if target.pool is not None else cfg.pool_for(model))
        if target.keep and len(self._kept) >= self.max_kept:
            raise KeptSessionsFull(f"{len(self._kept)} kept sessions are open, the most this service keeps")
        if pool:
            if self.pooled is None:
                raise FeatureNotAvailable(
                    f"pool {pool!r}: pooled sessions via a domain are not available in this build",
                    hint="Call without a pool (name none in the request, and no pool.MODEL in plugin-cfg.xml).",
                )
            session = await self.pooled(location, domain, pool, user=caller.user, password=caller.password)
        else:
            session = await connect_via_domain(
                location, domain, model, user=caller.user, password=caller.password
            )
        try:
            rows = await session.perform_table_procedure(procedure.table, procedure.name, dict(inputs))
        except BaseException:
            await session.close()
            raise
        if not target.keep:
            await session.close()
            return _result(rows, "")
        if len(self._kept) >= self.max_kept:  # others were kept while this call ran
            await session.close()
            raise KeptSessionsFull(f"{len(self._kept)} kept sessions are open, the most this service keeps")
        session_id = secrets.token_urlsafe(18)
        self._kept[session_id] = _Kept(session, caller.fingerprint(self._key), self._clock())
        return _result(rows, session_id)

    async def _resumed(
        self, caller: Caller, procedure: ProcedureInfo, inputs: Mapping[str, Cell], target: Target
    ) -> CallResult:
        session_id = target.session_id or ""
        kept = self._kept.get(session_id)
        if kept is None:
            raise KeptSessionNotFound(f"no kept session {session_id[:40]!r}")
        if not hmac.compare_digest(kept.owner, caller.fingerprint(self._key)):
            raise KeptSessionNotYours(f"kept session {session_id[:40]!r} was kept by another caller")
        async with kept.lock:  # one call at a time on a host screen
            if self._kept.get(session_id) is not kept:
                raise KeptSessionNotFound(f"kept session {session_id[:40]!r} ended")
            try:
                rows = await kept.session.perform_table_procedure(
                    procedure.table, procedure.name, dict(inputs)
                )
            except BaseException:
                self._kept.pop(session_id, None)
                await kept.session.close()
                raise
            kept.last_used = self._clock()
            if target.keep:
                return _result(rows, session_id)
            self._kept.pop(session_id, None)
        await kept.session.close()
        return _result(rows, "")

    def _sweep(self) -> None:
        """End kept sessions idle past the timeout (checked at each call: no timer task to own)."""
        now = self._clock()
        for session_id, kept in list(self._kept.items()):
            if self._idle(kept) and not kept.lock.locked():
                del self._kept[session_id]
                log.info("kept web-service session ended after %.0f s idle", now - kept.last_used)
                task = asyncio.get_running_loop().create_task(kept.session.close())
                task.add_done_callback(_ignore)

    @property
    def kept_count(self) -> int:
        return len(self._kept)

    async def aclose(self) -> None:
        """End every kept session (the process stops)."""
        kept, self._kept = self._kept, {}
        for k in kept.values():
            with contextlib.suppress(Exception):
                await k.session.close()


def _ignore(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a close of a session whose server is gone is no error


def _result(rows: Records[Cell], session_id: str) -> CallResult:
    return CallResult(tuple(dict(r) for r in rows), tuple(rows.columns), session_id)
