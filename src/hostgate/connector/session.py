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
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlencode

import httpx

from hostgate.connector._last_answers import LAST_ANSWERS
from hostgate.connector._streams import asyncio_transport
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


@dataclass(slots=True)
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
    _http: httpx.AsyncClient = field(repr=False)
    closed: bool = False
    timeout: float = DEFAULT_CALL_TIMEOUT
    pool: str = ""  # a session from this pool: close() gives it back instead of signing off
    # Session calls after the open go over ``connector/_wire.py`` (issue #16: httpx, httpcore and h11 cost
    # the client about 1.2 ms of CPU per call, more than the session server spent on the same call); the
    # open, and the health check of a direct URL, use ``_http``.
    _tls: ssl.SSLContext | None = field(default=None, repr=False)
    _wire: Wire = field(init=False, repr=False)
    _head: bytes = field(init=False, repr=False)
    _prefix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        url = httpx.URL(self.url)
        self._prefix = url.raw_path.decode("ascii").rstrip("/")
        # No token: a session opened without one on a server whose security is off (VHI's switch).
        auth = b"Authorization: Bearer %s\r\n" % self.token.encode("latin-1") if self.token else b""
        self._head = b"Host: %s\r\n%sContent-Type: application/json\r\nAccept: application/json\r\n" % (
            url.netloc,
            auth,
        )
        tls = self._tls if self._tls is not None else ssl.create_default_context()
        connect = min(self.timeout, 5.0)
        self._wire = Wire(url.host, url.port or 443, tls, connect_timeout=connect, timeout=self.timeout)

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
            await self._wire.aclose()
            await self._http.aclose()

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


async def _open(
    http: httpx.AsyncClient,
    route: RouteAnswer,
    url: str,
    model: str,
    variables: Mapping[str, Cell] | None,
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> AsyncSession:
    """POST the session open to ``url``; raises httpx errors (the caller decides about failover) and the
    server's coded errors. The caller closes ``http`` when this raises."""
    headers = {"Content-Type": "application/json"}
    if route.token:
        headers["Authorization"] = f"Bearer {route.token}"
    resp = await http.post(
        url + SESSION.open.path, content=encode(OpenSession(model, dict(variables or {}))), headers=headers
    )
    session = _answer(resp.status_code, resp.content, SESSION.open, route.server)
    return AsyncSession(session.id, route.server, url, route.token, model, http, timeout=timeout, _tls=tls)


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
    """
    location = ClusterLocation.of(
        alias, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    deadline = location.deadline
    cluster = ClusterClient.at(location, user=user, password=password)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    tried: list[str] = []
    unreachable: list[str] = []
    tls = location.server_tls()
    last_error: HostgateError | None = None
    remembered = LAST_ANSWERS.key(cluster.cluster_id, user, password, "domain", domain, model)
    while loop.time() < give_up:
        request = RouteRequest(domain, model, tuple(tried), tuple(unreachable))
        try:
            route = (await cluster.call(API.route, request)).payload
            LAST_ANSWERS.remember(remembered, route)
        except NoMemberAnswered:
            kept = LAST_ANSWERS.last(remembered)
            if kept is None or kept.server in tried:
                raise
            route = kept  # every member is down: the last answer, once
        http = httpx.AsyncClient(
            verify=tls,
            transport=asyncio_transport(tls),
            timeout=httpx.Timeout(max(0.1, give_up - loop.time()), connect=server_connect_timeout),
        )
        try:
            return await _open(http, route, route.url, model, variables, timeout, tls)
        except httpx.HTTPError as exc:
            await http.aclose()
            tried.append(route.server)
            unreachable = [route.server]
            last_error = SessionLost(f"session server {route.server} did not answer ({type(exc).__name__})")
        except BaseException:
            await http.aclose()
            raise
    raise NoServerAvailable(
        f"no session server of domain {domain!r} could be reached before the deadline"
        + (f" (last: {last_error.message})" if last_error else ""),
    )


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
    if "://" in server and not server.lower().startswith("https://"):
        # A session token travels in every request: never over plain HTTP (issue #15, finding 8).
        raise UnsafeAddress(f"{server!r}: a session server is reached over https:// only")
    location = ClusterLocation.of(
        management, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    deadline = location.deadline
    anonymous = user is None and password is None
    if anonymous and "://" not in server:
        raise UsageError(
            f"without user and password, name session server {server!r} by its URL (https://host:port)",
            hint="Only a server whose security is off accepts a client without credentials; the cluster, which "
            "knows the names, needs a user.",
        )
    cluster = ClusterClient.at(location, user=user, password=password)
    tls = location.server_tls()
    http = httpx.AsyncClient(
        verify=tls,
        transport=asyncio_transport(tls),
        timeout=httpx.Timeout(deadline, connect=min(deadline, 2.0)),
    )
    try:
        url: str | None = None
        name = server
        if server.lower().startswith("https://"):
            url = server.rstrip("/")
            health = await _health(http, url, cluster.cluster_id)
            name = health.server
            if anonymous:
                if health.security != "off":
                    raise AuthenticationFailed(
                        f"session server {name} ({url}) has its security on: it needs a token from the cluster",
                        hint="Pass user and password (the management cluster checks them and gives a token).",
                    )
                route = RouteAnswer(name, url, "", 0, "", 0.0)
                return await _open(http, route, url, model, variables, timeout, tls)
        remembered = LAST_ANSWERS.key(cluster.cluster_id, user or "", password or "", "direct", server, model)
        try:
            route = (await cluster.call(API.grant_direct, TokenRequest(name, model))).payload
            LAST_ANSWERS.remember(remembered, route)
        except NoMemberAnswered:
            kept = LAST_ANSWERS.last(remembered)
            if kept is None:
                raise
            route = kept  # every member is down: the server may accept it (session/offline.py)
        return await _open(http, route, url or route.url, model, variables, timeout, tls)
    except httpx.HTTPError as exc:
        await http.aclose()
        raise SessionLost(f"session server {server} did not answer ({type(exc).__name__})") from exc
    except BaseException:
        await http.aclose()
        raise


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

    >>> async with await connect_session_direct("session01", "orders", management="vhi-prod-sea",
    ...                                         user="u", password="p", ca_file=Path("ca.pem")) as s:
    ...     await s.fetch_records("customers", max_records=10)
    """
    if "://" in server and not server.lower().startswith("https://"):
        raise UnsafeAddress(f"{server!r}: a session server is reached over https:// only")
    location = ClusterLocation.of(
        management, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    cluster = ClusterClient.at(location, user=user, password=password)
    tls = location.server_tls()
    # The pool's own max wait bounds the acquire; the deadline bounds reaching the server.
    http = httpx.AsyncClient(
        verify=tls,
        transport=asyncio_transport(tls),
        timeout=httpx.Timeout(None, connect=min(location.deadline, 2.0)),
    )
    try:
        url: str | None = None
        name = server
        if server.lower().startswith("https://"):
            url = server.rstrip("/")
            name = (await _health(http, url, cluster.cluster_id)).server
        route = (await cluster.call(API.grant_direct, TokenRequest(name, "", pool))).payload
        base = url or route.url
        resp = await http.post(
            base + SESSION.acquire.url_path(name=pool), headers={"Authorization": f"Bearer {route.token}"}
        )
        info = _answer(resp.status_code, resp.content, SESSION.acquire, route.server)
        return AsyncSession(
            info.id, route.server, base, route.token, info.model, http, timeout=timeout, pool=pool, _tls=tls
        )
    except httpx.HTTPError as exc:
        await http.aclose()
        raise SessionLost(f"session server {server} did not answer ({type(exc).__name__})") from exc
    except BaseException:
        await http.aclose()
        raise


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

    >>> async with await connect_session_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                             ca_file=Path("ca.pem")) as s:
    ...     await s.fetch_records("customers", max_records=10)
    """
    location = ClusterLocation.of(
        alias, ca_file=ca_file, hosts_file=hosts_file, dns_servers=dns_servers, deadline=deadline
    )
    cluster = ClusterClient.at(location, user=user, password=password)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + location.deadline
    tried: list[str] = []
    unreachable: list[str] = []
    tls = location.server_tls()
    last_error: HostgateError | None = None
    remembered = LAST_ANSWERS.key(cluster.cluster_id, user, password, "pool-domain", domain, pool)
    while loop.time() < give_up:
        request = RouteRequest(domain, "", tuple(tried), tuple(unreachable), pool)
        try:
            route = (await cluster.call(API.route, request)).payload
            LAST_ANSWERS.remember(remembered, route)
        except NoMemberAnswered:
            kept = LAST_ANSWERS.last(remembered)
            if kept is None or kept.server in tried:
                raise
            route = kept  # every member is down: the last answer, once
        # The pool's own max wait bounds the acquire (read timeout none); reaching the server is bounded.
        http = httpx.AsyncClient(
            verify=tls,
            transport=asyncio_transport(tls),
            timeout=httpx.Timeout(None, connect=min(server_connect_timeout, max(0.1, give_up - loop.time()))),
        )
        try:
            resp = await http.post(
                route.url + SESSION.acquire.url_path(name=pool),
                headers={"Authorization": f"Bearer {route.token}"},
            )
            info = _answer(resp.status_code, resp.content, SESSION.acquire, route.server)
            return AsyncSession(
                info.id,
                route.server,
                route.url,
                route.token,
                info.model,
                http,
                timeout=timeout,
                pool=pool,
                _tls=tls,
            )
        except httpx.HTTPError as exc:
            await http.aclose()
            tried.append(route.server)
            unreachable = [route.server]
            last_error = SessionLost(f"session server {route.server} did not answer ({type(exc).__name__})")
        except (PoolNotFound, PoolClosed, PoolDrained) as exc:
            # Its last heartbeat still showed the pool, but it no longer runs it (stopping, or changed): the
            # next server; not reported as unreachable, it answered.
            await http.aclose()
            tried.append(route.server)
            unreachable = []
            last_error = exc
        except BaseException:
            await http.aclose()
            raise
    raise NoServerAvailable(
        f"no session server of domain {domain!r} running pool {pool!r} could be reached before the deadline"
        + (f" (last: {last_error.message})" if last_error else ""),
    )


async def _health(http: httpx.AsyncClient, url: str, cluster_id: str) -> SessionHealth:
    """The health answer of a session server at ``url`` (its name and security), once it proved it belongs to
    our cluster (TLS verified against the cluster CA, and the cluster id it answers for)."""
    resp = await http.get(url + SESSION.health.path)
    answered_for = resp.headers.get("x-hostgate-cluster-id")
    if answered_for != cluster_id:
        raise WrongCluster(f"{url} answered for cluster {answered_for or '(none)'}")
    return _answer(resp.status_code, resp.content, SESSION.health, url)
