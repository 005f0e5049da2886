"""Sessions on session servers, reached through the management cluster (async core of the connector).

``connect_via_domain`` asks the cluster (through its alias, with failover between members) for a session server
of the domain and a token bound to it, then opens a session there. When the chosen server cannot be reached,
it asks again with that server excluded and reported, within the same overall deadline (session-server
failover). ``connect_direct`` asks the cluster for a token for one named server (VHI ``ConnectToModel``).
Opening a session connects the session server to the model's host and signs on; a host that cannot be reached
or a refused sign-on is raised as its coded error (HG-7001, HG-6109, ...), not retried elsewhere.

A session whose server goes away raises ``SessionLost``; connecting via the domain again lands on another
server. The session calls mirror VHI's: entities, attributes, operations, recordsets, procedures, SQL.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlencode

import httpx

from hostgate.connector._last_answers import LAST_ANSWERS
from hostgate.connector._wire import Wire, WireError
from hostgate.connector.cluster import ClusterClient
from hostgate.connector.location import ClusterLocation
from hostgate.errors import (
    AuthenticationFailed,
    HostgateError,
    NoMemberAnswered,
    NoServerAvailable,
    PoolClosed,
    PoolDrained,
    PoolNotFound,
    SecurityError,
    SessionLost,
    UnsafeAddress,
    UsageError,
    WrongCluster,
    error_from_answer,
)
from hostgate.messages import (
    API,
    SESSION,
    AttributesWrite,
    Cell,
    Endpoint,
    EntityMove,
    OpenSession,
    OperationCall,
    Ping,
    ProcedureCall,
    Query,
    Records,
    RouteAnswer,
    RouteRequest,
    SessionHealth,
    SessionInfo,
    TokenRequest,
    decode_answer,
    encode,
)

__all__ = [
    "AsyncConnector",
    "AsyncSession",
    "Records",
    "connect_direct",
    "connect_session_direct",
    "connect_session_via_domain",
    "connect_via_domain",
]

Req = TypeVar("Req")
Rep = TypeVar("Rep")

DEFAULT_CALL_TIMEOUT = 60.0


@dataclass(slots=True, weakref_slot=True)
class AsyncSession:
    """An open session on a session server: a host connection driven through a model.

    >>> async with await connect_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                     ca_file=Path("ca.pem")) as session:
    ...     await session.set_current_entity("CustomerList")
    ...     customers = await session.fetch_records("customers", max_records=50)

    Each call waits for the host (up to ``timeout`` seconds for the HTTP answer); calls on one session are
    carried out one at a time by the server.
    """

    id: str
    server: str
    url: str
    token: str
    model: str
    # Every call, the open or acquire included, goes over ``connector/_wire.py`` (issue #16: httpx, httpcore and
    # h11 cost the client about 1.2 ms of CPU per call, more than the session server spent on the same call).
    # The wire is the session's own (a connect function's) or shared with the other sessions of an
    # :class:`AsyncConnector` to the same server (``_owns_wire`` False: closing the session leaves it open).
    _wire: Wire = field(repr=False)
    closed: bool = False
    timeout: float = DEFAULT_CALL_TIMEOUT
    pool: str = ""  # a session from this pool: close() gives it back instead of signing off
    _owns_wire: bool = field(default=True, repr=False)
    _head: bytes = field(init=False, repr=False)
    _prefix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._prefix, self._head = _addressing(self.url, self.token)

    async def _call(
        self,
        endpoint: Endpoint[Req, Rep],
        body: Req,
        query: Mapping[str, str] | None = None,
        **params: str,
    ) -> Rep:
        if self.closed:
            raise SessionLost(f"session {self.id} is closed")
        target = self._prefix + endpoint.url_path(id=self.id, **params)
        if query:
            target += "?" + urlencode(query)
        content = b"" if body is None else encode(body)
        try:
            answer = await self._wire.request(endpoint.method, target, self._head, content)
        except WireError as exc:
            raise SessionLost(
                f"session {self.id} on session server {self.server} is lost ({exc.kind})"
            ) from exc
        return _answer(answer.status, answer.content, endpoint, self.server)

    async def ping(self) -> Ping:
        """A round trip to the session (proves the session and its server are alive; no host call)."""
        return await self._call(SESSION.ping, None)

    async def info(self) -> SessionInfo:
        """The session as the server sees it: model, user, last entity, number of calls."""
        return await self._call(SESSION.show, None)

    async def current_entity(self) -> str:
        """The name of the entity (screen) the host shows now."""
        return (await self._call(SESSION.entity, None)).entity

    async def set_current_entity(self, entity: str) -> str:
        """Navigate to ``entity`` through the model's operations; returns it."""
        return (await self._call(SESSION.move, EntityMove(entity))).entity

    async def get_attributes(self, names: Sequence[str] | None = None) -> dict[str, Cell]:
        """Attributes of the current entity (all readable ones, or ``names``); hidden ones read as
        ``"********"``."""
        query = {"names": ",".join(names)} if names is not None else None
        return (await self._call(SESSION.attributes, None, query)).attributes

    async def set_attributes(self, values: Mapping[str, Cell]) -> str:
        """Write attributes of the current entity; returns the entity."""
        return (await self._call(SESSION.set_attributes, AttributesWrite(dict(values)))).entity

    async def perform_entity_operation(self, name: str, parameters: Mapping[str, Cell] | None = None) -> str:
        """Run an operation of the current entity; returns the entity it led to."""
        body = OperationCall(dict(parameters or {}))
        return (await self._call(SESSION.operation, body, name=name)).entity

    async def fetch_records(
        self, recordset: str, max_records: int | None = None, filters: Mapping[str, Cell] | None = None
    ) -> Records[Cell]:
        """Records of a recordset of the current entity, paging forward from the page shown."""
        query: dict[str, str] = {f"filter.{k}": str(v) for k, v in (filters or {}).items()}
        if max_records is not None:
            query["max"] = str(max_records)
        return await self._call(SESSION.recordset, None, query, name=recordset)

    async def perform_table_procedure(
        self,
        table: str,
        procedure: str,
        inputs: Mapping[str, Cell] | None = None,
        filters: Mapping[str, Cell] | None = None,
    ) -> Records[Cell]:
        """Run a procedure of a model table with ``inputs`` (sent to the host) and ``filters`` (applied to
        the rows it returns)."""
        body = ProcedureCall(table, procedure, dict(inputs or {}), dict(filters or {}))
        return await self._call(SESSION.procedure, body)

    async def query(self, sql: str) -> Records[Cell]:
        """``SELECT cols FROM table [WHERE col = value [AND ...]]`` over the model's tables."""
        return await self._call(SESSION.query, Query(sql))

    async def close(self) -> None:
        """Sign off and disconnect, or give a pooled session back to its pool (idempotent; a session whose
        server is gone closes quietly)."""
        if self.closed:
            return
        try:
            await self._call(SESSION.close, None)
        except HostgateError:
            pass  # closing a session whose server is gone is not an error for the caller
        finally:
            self.closed = True
            if self._owns_wire:
                await self._wire.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _answer(status: int, content: bytes, endpoint: Endpoint[Any, Rep], server: str) -> Rep:
    """The session server's answer as the endpoint's message, or its coded error raised."""
    if status >= 400:
        raise error_from_answer(content, status)
    reply: Rep = decode_answer(content, endpoint.reply, f"session server {server} ({endpoint.path})")
    return reply


@functools.lru_cache(maxsize=128)  # a connector's connects ask for the same few (server, token) pairs
def _addressing(url: str, token: str) -> tuple[str, bytes]:
    """The path prefix of a session server's ``url``, and the header lines of every request to it with ``token``
    (none: a server whose security is off, VHI's switch)."""
    parsed = httpx.URL(url)
    auth = b"Authorization: Bearer %s\r\n" % token.encode("latin-1") if token else b""
    head = b"Host: %s\r\n%sContent-Type: application/json\r\nAccept: application/json\r\n" % (
        parsed.netloc,
        auth,
    )
    return parsed.raw_path.decode("ascii").rstrip("/"), head


# A token an AsyncConnector was granted for a direct connect is used again for later connects to the same server,
# model or pool: for at most TOKEN_REUSE seconds after it was granted, and only while it has more than
# TOKEN_MARGIN seconds to live. The session server checks it every time as before; what the cluster would refuse
# meanwhile (a grant taken away, an account disabled) is refused again by the next grant, within TOKEN_REUSE.
TOKEN_REUSE = 60.0
TOKEN_MARGIN = 30.0
_TOKENS_KEPT = 256


class _Kit:
    """What a connect needs: a client of the cluster, the session servers' TLS context, connections to session
    servers (a :class:`Wire` each), and, kept by an :class:`AsyncConnector`, direct grants.

    ``keep`` False (the connect functions): made for one connect; the session takes the wire it was opened on,
    everything else closes with the kit. ``keep`` True (an :class:`AsyncConnector`): the cluster client keeps its
    connections to members, sessions to one server share one wire, and granted tokens are used again.
    """

    def __init__(
        self, location: ClusterLocation, *, user: str | None, password: str | None, keep: bool, timeout: float
    ) -> None:
        self.location = location
        self.user = user
        self.password = password
        self.keep = keep
        self.timeout = timeout
        self.cluster = ClusterClient.at(location, user=user, password=password, keep_alive=keep, wire=keep)
        self.tls = location.shared_server_tls()
        self.sessions: weakref.WeakValueDictionary[tuple[str, str], AsyncSession] = (
            weakref.WeakValueDictionary()
        )
        self._wires: dict[tuple[str, int], Wire] = {}
        self._tokens: dict[tuple[str, str, str], tuple[RouteAnswer, float]] = {}
        self._names: dict[str, str] = {}  # a server URL -> the name its health answer gave (kept kits)
        self.clock: Callable[[], float] = time.time  # wall time, as tokens' expiry is

    def wire(self, url: str) -> Wire:
        parsed = httpx.URL(url)
        key = (parsed.host, parsed.port or 443)
        wire = self._wires.get(key)
        if wire is None:
            # Later calls that must reconnect (the server closed an idle connection) allow 5 s, as always.
            connect = min(self.timeout, 5.0)
            wire = Wire(key[0], key[1], self.tls, connect_timeout=connect, timeout=self.timeout)
            self._wires[key] = wire
        return wire

    def session(
        self, session_id: str, route: RouteAnswer, url: str, model: str, wire: Wire, pool: str = ""
    ) -> AsyncSession:
        if not self.keep:  # the session takes the wire: it closes it
            self._wires = {key: kept for key, kept in self._wires.items() if kept is not wire}
        session = AsyncSession(
            session_id,
            route.server,
            url,
            route.token,
            model,
            wire,
            timeout=self.timeout,
            pool=pool,
            _owns_wire=not self.keep,
        )
        if self.keep:
            self.sessions[(route.server, session_id)] = session
        return session

    async def grant(
        self, name: str, server: str, model: str, pool: str, *, fresh: bool
    ) -> tuple[RouteAnswer, bool]:
        """A token for ``model`` or ``pool`` on server ``name`` (``server``: as the caller gave it), and whether
        it is one granted before (kept kits only, see TOKEN_REUSE)."""
        key = (name, model, pool)
        if self.keep and not fresh:
            held = self._tokens.get(key)
            now = self.clock()
            if held is not None and now - held[1] < TOKEN_REUSE and held[0].expires_at - now > TOKEN_MARGIN:
                return held[0], True
        if pool:
            route = (await self.cluster.call(API.grant_direct, TokenRequest(name, "", pool))).payload
        else:
            remembered = LAST_ANSWERS.key(
                self.cluster.cluster_id, self.user or "", self.password or "", "direct", server, model
            )
            try:
                route = (await self.cluster.call(API.grant_direct, TokenRequest(name, model))).payload
                LAST_ANSWERS.remember(remembered, route)
            except NoMemberAnswered:
                kept = LAST_ANSWERS.last(remembered)
                if kept is None:
                    raise
                return kept, False  # every member is down: the server may accept it (session/offline.py)
        if self.keep:
            if len(self._tokens) >= _TOKENS_KEPT:
                self._tokens.clear()
            self._tokens[key] = (route, self.clock())
        return route, False

    def forget(self, name: str, model: str, pool: str) -> None:
        self._tokens.pop((name, model, pool), None)

    async def server_name(self, url: str, cluster_id: str, *, timeout: float, connect_timeout: float) -> str:
        name = self._names.get(url)
        if name is None:
            name = (
                await _health(self, url, cluster_id, timeout=timeout, connect_timeout=connect_timeout)
            ).server
            if self.keep:
                self._names[url] = name
        return name

    async def aclose(self) -> None:
        """Close what the kit still holds: its open sessions (a kept kit's), its wires, the cluster client's
        connections."""
        for session in list(self.sessions.values()):
            await session.close()
        wires, self._wires = self._wires, {}
        for wire in wires.values():
            await wire.aclose()
        await self.cluster.aclose()


async def _open(
    kit: _Kit,
    route: RouteAnswer,
    url: str,
    model: str,
    variables: Mapping[str, Cell] | None,
    *,
    timeout: float,
    connect_timeout: float,
) -> AsyncSession:
    """POST the session open to ``url``; raises WireError (the caller decides about failover) and the server's
    coded errors."""
    wire = kit.wire(url)
    prefix, head = _addressing(url, route.token)
    body = encode(OpenSession(model, dict(variables or {})))
    answer = await wire.request(
        "POST", prefix + SESSION.open.path, head, body, timeout=timeout, connect_timeout=connect_timeout
    )
    session = _answer(answer.status, answer.content, SESSION.open, route.server)
    return kit.session(session.id, route, url, model, wire)


async def _acquire(
    kit: _Kit, route: RouteAnswer, url: str, pool: str, *, connect_timeout: float
) -> AsyncSession:
    """POST the acquire of a session of ``pool`` to ``url``; raises as :func:`_open`. The pool's own max wait
    bounds the wait (no read timeout here)."""
    wire = kit.wire(url)
    prefix, head = _addressing(url, route.token)
    target = prefix + SESSION.acquire.url_path(name=pool)
    answer = await wire.request("POST", target, head, b"", timeout=None, connect_timeout=connect_timeout)
    info = _answer(answer.status, answer.content, SESSION.acquire, route.server)
    return kit.session(info.id, route, url, info.model, wire, pool)


async def _health(
    kit: _Kit, url: str, cluster_id: str, *, timeout: float, connect_timeout: float
) -> SessionHealth:
    """The health answer of a session server at ``url`` (its name and security), once it proved it belongs to
    our cluster (TLS verified against the cluster CA, and the cluster id it answers for)."""
    prefix, head = _addressing(url, "")
    answer = await kit.wire(url).request(
        "GET", prefix + SESSION.health.path, head, b"", timeout=timeout, connect_timeout=connect_timeout
    )
    answered_for = answer.header("x-hostgate-cluster-id")
    if answered_for != cluster_id:
        raise WrongCluster(f"{url} answered for cluster {answered_for or '(none)'}")
    return _answer(answer.status, answer.content, SESSION.health, url)


async def _granted(
    kit: _Kit,
    name: str,
    server: str,
    model: str,
    pool: str,
    attempt: Callable[[RouteAnswer], Awaitable[AsyncSession]],
) -> AsyncSession:
    """``attempt`` with a token for ``name``; one refused that was granted before is asked for again, once."""
    route, reused = await kit.grant(name, server, model, pool, fresh=False)
    try:
        return await attempt(route)
    except SecurityError:
        if not reused:
            raise
        kit.forget(name, model, pool)  # a key rotated, the server removed and back, ...: the cluster decides
    route, _ = await kit.grant(name, server, model, pool, fresh=True)
    return await attempt(route)


async def _routed(
    kit: _Kit,
    domain: str,
    model: str,
    pool: str,
    attempt: Callable[[RouteAnswer, float], Awaitable[AsyncSession]],
    *,
    deadline: float,
) -> AsyncSession:
    """Ask the cluster for a server of ``domain`` (for ``model``, or a session of ``pool``) and ``attempt`` it
    (with the seconds left); one that cannot be reached, or no longer runs the pool, is excluded and the
    cluster asked again, until ``deadline`` (session-server failover). When no member answers, the last route
    answer for the same caller and target is tried once."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    tried: list[str] = []
    unreachable: list[str] = []
    last_error: HostgateError | None = None
    kind, target = ("pool-domain", pool) if pool else ("domain", model)
    remembered = LAST_ANSWERS.key(
        kit.cluster.cluster_id, kit.user or "", kit.password or "", kind, domain, target
    )
    while loop.time() < give_up:
        request = RouteRequest(domain, model, tuple(tried), tuple(unreachable), pool)
        try:
            route = (await kit.cluster.call(API.route, request)).payload
            LAST_ANSWERS.remember(remembered, route)
        except NoMemberAnswered:
            kept = LAST_ANSWERS.last(remembered)
            if kept is None or kept.server in tried:
                raise
            route = kept  # every member is down: the last answer, once
        try:
            return await attempt(route, give_up - loop.time())
        except WireError as exc:
            tried.append(route.server)
            unreachable = [route.server]
            last_error = SessionLost(f"session server {route.server} did not answer ({exc.kind})")
        except (PoolNotFound, PoolClosed, PoolDrained) as exc:
            # Its last heartbeat still showed the pool, but it no longer runs it (stopping, or changed): the
            # next server; not reported as unreachable, it answered.
            tried.append(route.server)
            unreachable = []
            last_error = exc
    running = f" running pool {pool!r}" if pool else ""
    raise NoServerAvailable(
        f"no session server of domain {domain!r}{running} could be reached before the deadline"
        + (f" (last: {last_error.message})" if last_error else ""),
    )


async def _via_domain(
    kit: _Kit,
    domain: str,
    model: str,
    variables: Mapping[str, Any] | None,
    *,
    deadline: float,
    server_connect_timeout: float,
) -> AsyncSession:
    async def attempt(route: RouteAnswer, left: float) -> AsyncSession:
        timeout = max(0.1, left)
        return await _open(
            kit, route, route.url, model, variables, timeout=timeout, connect_timeout=server_connect_timeout
        )

    return await _routed(kit, domain, model, "", attempt, deadline=deadline)


async def _direct(
    kit: _Kit,
    server: str,
    model: str,
    variables: Mapping[str, Any] | None,
    *,
    deadline: float,
    anonymous: bool,
) -> AsyncSession:
    connect = min(deadline, 2.0)
    try:
        url: str | None = None
        name = server
        if server.lower().startswith("https://"):
            url = server.rstrip("/")
            if anonymous:
                health = await _health(
                    kit, url, kit.cluster.cluster_id, timeout=deadline, connect_timeout=connect
                )
                if health.security != "off":
                    raise AuthenticationFailed(
                        f"session server {health.server} ({url}) has its security on: it needs a token from the "
                        "cluster",
                        hint="Pass user and password (the management cluster checks them and gives a token).",
                    )
                route = RouteAnswer(health.server, url, "", 0, "", 0.0)
                return await _open(
                    kit, route, url, model, variables, timeout=deadline, connect_timeout=connect
                )
            name = await kit.server_name(
                url, kit.cluster.cluster_id, timeout=deadline, connect_timeout=connect
            )

        async def attempt(route: RouteAnswer) -> AsyncSession:
            target = url or route.url
            return await _open(
                kit, route, target, model, variables, timeout=deadline, connect_timeout=connect
            )

        return await _granted(kit, name, server, model, "", attempt)
    except WireError as exc:
        raise SessionLost(f"session server {server} did not answer ({exc.kind})") from exc


async def _session_direct(kit: _Kit, server: str, pool: str, *, deadline: float) -> AsyncSession:
    connect = min(deadline, 2.0)
    try:
        url: str | None = None
        name = server
        if server.lower().startswith("https://"):
            url = server.rstrip("/")
            name = await kit.server_name(
                url, kit.cluster.cluster_id, timeout=deadline, connect_timeout=connect
            )

        async def attempt(route: RouteAnswer) -> AsyncSession:
            return await _acquire(kit, route, url or route.url, pool, connect_timeout=connect)

        return await _granted(kit, name, server, "", pool, attempt)
    except WireError as exc:
        raise SessionLost(f"session server {server} did not answer ({exc.kind})") from exc


async def _session_via_domain(
    kit: _Kit, domain: str, pool: str, *, deadline: float, server_connect_timeout: float
) -> AsyncSession:
    async def attempt(route: RouteAnswer, left: float) -> AsyncSession:
        # The pool's own max wait bounds the acquire (no read timeout); reaching the server is bounded.
        connect = min(server_connect_timeout, max(0.1, left))
        return await _acquire(kit, route, route.url, pool, connect_timeout=connect)

    return await _routed(kit, domain, "", pool, attempt, deadline=deadline)


def _unsafe(server: str) -> None:
    if "://" in server and not server.lower().startswith("https://"):
        # A session token travels in every request: never over plain HTTP (issue #15, finding 8).
        raise UnsafeAddress(f"{server!r}: a session server is reached over https:// only")


async def _once(kit: _Kit, connect: Awaitable[AsyncSession]) -> AsyncSession:
    """A connect function's one connect: what the session did not take closes with the kit, whatever happened."""
    try:
        return await connect
    finally:
        await kit.aclose()


async def connect_via_domain(
    alias: str | ClusterLocation,
    domain: str,
    model: str,
    *,
    user: str,
    password: str,
    ca_file: Path | None = None,
    hosts_file: Path | None = None,
    dns_servers: Sequence[str] = (),
    variables: Mapping[str, Any] | None = None,
    deadline: float = 10.0,
    server_connect_timeout: float = 2.0,
    timeout: float = DEFAULT_CALL_TIMEOUT,
) -> AsyncSession:
    """Open a session on ``model`` on a session server of ``domain`` (VHI ``ConnectToModelViaDomain``).

    ``alias`` is the cluster's alias with ``ca_file`` (its CA), ``hosts_file`` and ``dns_servers``, or a
    :class:`ClusterLocation` holding them (then those three are ignored). ``variables`` override the model's
    variables for this session (user id, password of the host). ``deadline`` bounds finding a server and
    signing on (a location's own deadline wins); ``timeout`` each later call.

    When no management member answers, the last route answer this process got for the same cluster, user,
    domain and model (memory only) is tried once: its server may accept the token while it has not expired, or
    within the server's offline bound (docs/architecture.md, "The security switch and the offline bound").

    Each call connects anew (cluster, token, TLS); an application that connects often keeps an
    :class:`AsyncConnector` instead.
    """
    location = ClusterLocation.of(
        alias, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    kit = _Kit(location, user=user, password=password, keep=False, timeout=timeout)
    connect = _via_domain(
        kit,
        domain,
        model,
        variables,
        deadline=location.deadline,
        server_connect_timeout=server_connect_timeout,
    )
    return await _once(kit, connect)


async def connect_direct(
    server: str,
    model: str,
    *,
    management: str | ClusterLocation,
    user: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
    hosts_file: Path | None = None,
    dns_servers: Sequence[str] = (),
    variables: Mapping[str, Any] | None = None,
    deadline: float = 10.0,
    timeout: float = DEFAULT_CALL_TIMEOUT,
) -> AsyncSession:
    """Open a session on ``model`` on one session server (VHI ``ConnectToModel``), no domain involved.

    ``server`` is the session server's registered name (``session01``) or its URL
    (``https://10.0.1.1:9450``, for an address the cluster does not know, behind NAT say). The token still
    comes from the management cluster at ``management`` (its alias, or a :class:`ClusterLocation`), which
    checks the user.

    Without ``user`` and ``password``, ``server`` must be a URL: the session opens without a token, as the user
    ``anonymous``, if the server's health answer says its security is off (VHI's switch); otherwise
    ``AuthenticationFailed``. The cluster CA still verifies the server. When no management member answers, the
    last token this process got for the same cluster, user, server and model (memory only) is used again.
    """
    _unsafe(server)
    location = ClusterLocation.of(
        management, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    anonymous = user is None and password is None
    if anonymous and "://" not in server:
        raise UsageError(
            f"without user and password, name session server {server!r} by its URL (https://host:port)",
            hint="Only a server whose security is off accepts a client without credentials; the cluster, which "
            "knows the names, needs a user.",
        )
    kit = _Kit(location, user=user, password=password, keep=False, timeout=timeout)
    connect = _direct(kit, server, model, variables, deadline=location.deadline, anonymous=anonymous)
    return await _once(kit, connect)


async def connect_session_direct(
    server: str,
    pool: str,
    *,
    management: str | ClusterLocation,
    user: str,
    password: str,
    ca_file: Path | None = None,
    hosts_file: Path | None = None,
    dns_servers: Sequence[str] = (),
    deadline: float = 10.0,
    timeout: float = DEFAULT_CALL_TIMEOUT,
) -> AsyncSession:
    """A ready session from pool ``pool`` on one session server (VHI ``ConnectToSession``): already signed on
    and at the pool's startup entity. Closing it gives it back to the pool (navigated back to the startup
    entity there), it does not sign off.

    ``server`` is the session server's registered name or its URL, as for :func:`connect_direct`; the
    management cluster at ``management`` checks the user and issues a token for that pool on that server.
    When every session of the pool is busy the call waits up to the pool's max wait (PoolWaitTimeout
    HG-4303; PoolQueueFull HG-4302 when too many already wait). A session unused for longer than the pool's
    lease is taken back: call :meth:`AsyncSession.ping` to keep one you hold idle.

    Each call connects anew (cluster, token, TLS): about 10 ms, more than the hand-out itself. An application
    that takes pooled sessions often keeps an :class:`AsyncConnector`, whose connects reuse all three.

    >>> async with await connect_session_direct("session01", "orders", management="vhi-prod-sea",
    ...                                         user="u", password="p", ca_file=Path("ca.pem")) as s:
    ...     await s.fetch_records("customers", max_records=10)
    """
    _unsafe(server)
    location = ClusterLocation.of(
        management, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    kit = _Kit(location, user=user, password=password, keep=False, timeout=timeout)
    return await _once(kit, _session_direct(kit, server, pool, deadline=location.deadline))


async def connect_session_via_domain(
    alias: str | ClusterLocation,
    domain: str,
    pool: str,
    *,
    user: str,
    password: str,
    ca_file: Path | None = None,
    hosts_file: Path | None = None,
    dns_servers: Sequence[str] = (),
    deadline: float = 10.0,
    server_connect_timeout: float = 2.0,
    timeout: float = DEFAULT_CALL_TIMEOUT,
) -> AsyncSession:
    """A ready session from pool ``pool`` on a session server of ``domain`` (VHI ``ConnectToSessionViaDomain``):
    signed on and at the pool's startup entity. Closing it gives it back to the pool; it does not sign off.

    The management cluster (through ``alias``, or a :class:`ClusterLocation`) routes to a live server of the
    domain that runs the pool, preferring those with idle sessions of it, then those with room to make one; a
    server without the pool is never chosen (``PoolNotInDomain`` HG-4360 when no live server of the domain
    runs it). A server that cannot be reached, or no longer runs the pool, is excluded and the cluster asked
    again within ``deadline``. Waiting for a session is bounded by the pool's max wait (``PoolWaitTimeout``
    HG-4303, ``PoolQueueFull`` HG-4302), not by ``deadline``; ``timeout`` bounds each later call. A session
    unused for longer than the pool's lease is taken back: :meth:`AsyncSession.ping` keeps one you hold idle.

    Each call connects anew (cluster, token, TLS); an application that takes pooled sessions often keeps an
    :class:`AsyncConnector`.

    >>> async with await connect_session_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                             ca_file=Path("ca.pem")) as s:
    ...     await s.fetch_records("customers", max_records=10)
    """
    location = ClusterLocation.of(
        alias, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    kit = _Kit(location, user=user, password=password, keep=False, timeout=timeout)
    connect = _session_via_domain(
        kit, domain, pool, deadline=location.deadline, server_connect_timeout=server_connect_timeout
    )
    return await _once(kit, connect)


class AsyncConnector:
    """Connects one user to one cluster again and again, keeping what a connect needs between connects.

    The connect functions make everything anew on every call: a client of the cluster (its TLS context), a
    token (the member checks the password), TLS connections to a member and to the session server; about 10 ms
    on loopback, more than a pooled hand-out itself (0.4 ms). A connector keeps them (issue #18):

    - its connections to the members, and to each session server (sessions to one server share them);
    - a token granted for a direct connect, used again for the same server and model or pool for up to
      :data:`TOKEN_REUSE` seconds (while it has more than :data:`TOKEN_MARGIN` to live); one the server refuses
      is asked for again, once. Via a domain, the cluster routes every connect (it balances the servers).

    Its sessions are the same :class:`AsyncSession` objects; closing one leaves the connector's connections
    open. Close the connector when done (``async with``, or :meth:`aclose`): that closes the sessions still
    open (giving pooled ones back) and the connections. One event loop; not for several threads (the blocking
    :class:`~hostgate.connector.Connector` is).

    >>> async with AsyncConnector("vhi-prod-sea", user="u", password="p", ca_file=Path("ca.pem")) as hg:
    ...     async with await hg.connect_session_via_domain("prod", "orders") as s:
    ...         await s.current_entity()
    'Menu'
    """

    def __init__(
        self,
        cluster: str | ClusterLocation,
        *,
        user: str,
        password: str,
        ca_file: Path | None = None,
        hosts_file: Path | None = None,
        dns_servers: Sequence[str] = (),
        deadline: float = 10.0,
        server_connect_timeout: float = 2.0,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self.location = ClusterLocation.of(
            cluster, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
        )
        self.user = user
        self._server_connect_timeout = server_connect_timeout
        self._kit = _Kit(self.location, user=user, password=password, keep=True, timeout=timeout)
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> _Kit:
        if self._closed:
            raise UsageError("this connector is closed", hint="Make a new AsyncConnector.")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            # Its kept connections belong to the loop they were made on.
            raise UsageError(
                "this AsyncConnector is used on another event loop than the one it first connected on",
                hint="Make one AsyncConnector per event loop (each asyncio.run is a new loop), or use Connector.",
            )
        return self._kit

    async def connect_via_domain(
        self, domain: str, model: str, *, variables: Mapping[str, Any] | None = None
    ) -> AsyncSession:
        """A session on ``model`` on a session server of ``domain``: :func:`connect_via_domain`."""
        kit = self._open()
        return await _via_domain(
            kit,
            domain,
            model,
            variables,
            deadline=self.location.deadline,
            server_connect_timeout=self._server_connect_timeout,
        )

    async def connect_direct(
        self, server: str, model: str, *, variables: Mapping[str, Any] | None = None
    ) -> AsyncSession:
        """A session on ``model`` on session server ``server`` (name or URL): :func:`connect_direct`."""
        _unsafe(server)
        kit = self._open()
        return await _direct(kit, server, model, variables, deadline=self.location.deadline, anonymous=False)

    async def connect_session_direct(self, server: str, pool: str) -> AsyncSession:
        """A ready session of ``pool`` on session server ``server``: :func:`connect_session_direct`."""
        _unsafe(server)
        kit = self._open()
        return await _session_direct(kit, server, pool, deadline=self.location.deadline)

    async def connect_session_via_domain(self, domain: str, pool: str) -> AsyncSession:
        """A ready session of ``pool`` on a session server of ``domain``: :func:`connect_session_via_domain`."""
        kit = self._open()
        return await _session_via_domain(
            kit,
            domain,
            pool,
            deadline=self.location.deadline,
            server_connect_timeout=self._server_connect_timeout,
        )

    async def aclose(self) -> None:
        """Close the sessions still open (pooled ones go back to their pool) and every kept connection
        (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._kit.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
