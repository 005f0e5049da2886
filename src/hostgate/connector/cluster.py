"""Talking to the management cluster through its alias: resolve, dial staggered, check the answer.

Every call resolves the alias again (no caching, KB 7021563), tries the addresses with the staggered dialer
(last member that answered first), verifies TLS against the cluster CA and accepts only answers stamped with
the expected cluster id. A hostgate error answer (wrong password, quorum lost, ...) is an answer and is raised
as the matching local error; a member whose own store is unreachable (HG-2001), that was removed from the
cluster (HG-4010) or that is not serving yet (HG-4011: waiting for a majority, or a learner catching up) counts
as not answering, so the dialer moves on to the next member.

Writes (POST/PUT/PATCH/DELETE) may reach two members (the dialer hedges), so each call sends one new
``Idempotency-Key`` (the same for all its attempts) and its absolute deadline (``X-Hostgate-Deadline``, seconds
since the epoch); the members apply it once and answer every attempt with the first answer
(docs/architecture.md, "Hedged writes"). The deadline assumes this system's clock roughly agrees with the
members' (NTP).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import ssl
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlencode

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from hostgate.connector._transport import closing_transport
from hostgate.connector._wire import Wire, WireError
from hostgate.connector.location import DEFAULT_PORT as DEFAULT_PORT  # hostgate doctor imports it from here
from hostgate.connector.location import ClusterLocation
from hostgate.errors import (
    CertificateError,
    HostgateError,
    MemberNotReady,
    MemberRemoved,
    NoMemberAnswered,
    NotAManagementMember,
    StoreUnavailable,
    WrongCluster,
    error_from_payload,
)
from hostgate.messages import Endpoint, decode_answer, encode
from hostgate.naming.dialer import LastGood, dial
from hostgate.naming.resolver import SYSTEM_HOSTS, AliasResolver
from hostgate.naming.stagger import AttemptDelay
from hostgate.naming.target import parse_target, url_host

__all__ = ["Answer", "ClusterClient", "cluster_id_of_ca"]

T = TypeVar("T")
Req = TypeVar("Req")
Rep = TypeVar("Rep")
_LAST_GOOD = LastGood()
# Shared by every client of this process, like _LAST_GOOD: the answer times of an alias are the same
# whichever client object saw them (the CLI and the connector create one per call).
ADAPTIVE_DELAY = AttemptDelay()
_CA_PREFIX = "hostgate cluster CA "
# The wire contract of hedged writes (management/writes.py on the server side).
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEADLINE_HEADER = "X-Hostgate-Deadline"
VISIBILITY_HEADER = "x-hostgate-visibility"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A 503 with one of these codes means "this member cannot answer for the cluster": try the next one.
_NOT_ANSWERING = frozenset({StoreUnavailable.code, MemberRemoved.code, MemberNotReady.code})


def cluster_id_of_ca(ca_pem: bytes) -> str:
    """The cluster id a hostgate CA certificate was made for (its common name names it)."""
    try:
        cert = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise CertificateError(f"the CA file is not a PEM certificate: {exc}") from exc
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    if not cn.startswith(_CA_PREFIX):
        raise CertificateError("the CA file is not a hostgate cluster CA")
    return cn[len(_CA_PREFIX) :]


def _json(content: bytes) -> object:
    """An answer body's JSON value (None when empty, the text when it is not JSON)."""
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return content.decode("utf-8", "replace")


def _caused_by_verification(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _ConnectFault(OSError):
    """A connect that failed, in words that name the port (``str`` is just them; the dialer puts the address
    in front)."""

    def __str__(self) -> str:
        return self.strerror or ""


def _connect_fault(exc: BaseException, port: int) -> _ConnectFault:
    """Issue #21: httpx says only "All connection attempts failed"; the errno is found in its chain."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            if seen.errno == errno.ECONNREFUSED:
                return _ConnectFault(None, f"port {port}: connection refused (nothing listens on that port)")
            return _ConnectFault(None, f"port {port}: {os.strerror(seen.errno)}")
        seen = seen.__cause__ or seen.__context__
    return _ConnectFault(None, f"port {port}: {exc}")


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A member's answer. ``visible`` is ``False`` when a write was committed but the answering member's own
    copy had not shown it yet (``X-Hostgate-Visibility: pending``): another read may briefly miss it.
    ``payload`` is the answer's message (hostgate.messages) for :meth:`ClusterClient.call`; the raw JSON value
    for :meth:`ClusterClient.request`."""

    member: str
    address: str
    status: int
    payload: T
    visible: bool = True


@dataclass(slots=True)
class ClusterClient:
    """A client of the management API for one cluster (used by the CLI and the connector).

    Every call resolves the alias again (never cached), dials its addresses staggered (the member that answered
    last first) and accepts an answer only over TLS verified against the cluster CA and stamped with this
    cluster's id; a member that is not serving (HG-2001, HG-4010, HG-4011) counts as not answering. A write is
    sent with one idempotency key and deadline for all its attempts, so a hedged duplicate is applied once.
    An error answer is raised as the matching ``HostgateError``; transport failures of every member become
    ``NoMemberAnswered``. Connections are kept between calls only with ``keep_alive`` (close with ``aclose``).
    Not thread-safe; one event loop at a time.

    >>> client = ClusterClient("vhi-prod-sea", ca_file=Path("ca.pem"), user="admin", password="...")
    >>> asyncio.run(client.request("GET", "/api/v1/cluster")).payload["name"]
    'vhi-prod-sea'
    """

    target: str
    ca_file: Path
    user: str | None = None
    password: str | None = None
    hosts_file: Path | None = None
    dns_servers: Sequence[str] = ()
    # The stagger between attempts: None learns it per alias from the answer times (RFC 8305 section 8,
    # naming/stagger.py) shared by the whole process, an AttemptDelay learns it in that one, a number fixes
    # it (0.25 is RFC 8305's default, hostgate's only stagger before issue #16).
    delay: float | AttemptDelay | None = None
    deadline: float = 10.0
    system_hosts: Path | None = None
    bearer: str | None = None
    # Keep one connection per member open between calls (heartbeats): a TLS handshake per call costs the
    # member more CPU than the heartbeat itself.
    keep_alive: bool = False
    # A TLS client certificate and key to present (a session server's identity in heartbeats).
    cert_file: Path | None = None
    key_file: Path | None = None
    # With ``keep_alive``: the kept connections are the connector's own HTTP/1.1 client (``_wire.py``) instead of
    # httpx, whose CPU per call (about 1 ms) was most of a connector's routed connect (issue #18).
    wire: bool = False
    _kept: dict[str, httpx.AsyncClient] = field(init=False, repr=False, default_factory=dict)
    _wires: dict[str, Wire] = field(init=False, repr=False, default_factory=dict)
    _ssl: ssl.SSLContext = field(init=False, repr=False)
    cluster_id: str = field(init=False)

    def __post_init__(self) -> None:
        try:
            ca_pem = self.ca_file.read_bytes()
        except OSError as exc:
            raise CertificateError(f"cannot read the cluster CA {self.ca_file}: {exc.strerror}") from exc
        self.cluster_id = cluster_id_of_ca(ca_pem)
        self._ssl = ssl.create_default_context(cadata=ca_pem.decode())
        if self.cert_file is not None:
            try:
                self._ssl.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as exc:
                raise CertificateError(f"cannot load the client certificate {self.cert_file}: {exc}") from exc

    @classmethod
    def at(
        cls,
        location: ClusterLocation,
        *,
        user: str | None = None,
        password: str | None = None,
        bearer: str | None = None,
        keep_alive: bool = False,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        wire: bool = False,
    ) -> ClusterClient:
        """A client of the cluster at ``location`` with these credentials."""
        return cls(
            location.alias,
            ca_file=location.ca_file,
            user=user,
            password=password,
            hosts_file=location.hosts_file,
            dns_servers=location.dns_servers,
            delay=location.delay,
            deadline=location.deadline,
            system_hosts=location.system_hosts,
            bearer=bearer,
            keep_alive=keep_alive,
            cert_file=cert_file,
            key_file=key_file,
            wire=wire,
        )

    async def addresses(self) -> tuple[str, int, list[str]]:
        host, port = parse_target(self.target, DEFAULT_PORT)
        resolver = AliasResolver(
            hosts_file=self.hosts_file,
            dns_servers=tuple(self.dns_servers),
            system_hosts=self.system_hosts or SYSTEM_HOSTS,
        )
        resolution = await resolver.resolve(host)
        return host, port, list(resolution.addresses)

    def _auth_headers(self, auth: bool) -> dict[str, str]:
        if not auth:
            return {}
        if self.bearer:
            return {"Authorization": f"Bearer {self.bearer}"}
        if self.user is None and self.password is None:
            # A client authenticated by its certificate only (a session server's heartbeats): an empty Basic
            # ":" would be checked, and refused, by the API's login gate (api/_auth.py) before the route runs.
            return {}
        raw = f"{self.user or ''}:{self.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    async def _drop(self, address: str, client: httpx.AsyncClient) -> None:
        if self._kept.get(address) is client:
            del self._kept[address]
        await client.aclose()

    async def aclose(self) -> None:
        """Close the connections kept open with ``keep_alive``."""
        kept, self._kept = self._kept, {}
        for client in kept.values():
            await client.aclose()
        wires, self._wires = self._wires, {}
        for wire in wires.values():
            await wire.aclose()

    async def _send(
        self, address: str, port: int, method: str, path: str, body: object, headers: dict[str, str]
    ) -> Answer[bytes]:
        """One request to one member; raises unless it is a valid answer of this cluster."""
        if self.wire and self.keep_alive:
            return await self._send_wire(address, port, method, path, body, headers)
        kept = self._kept.get(address) if self.keep_alive else None
        client = kept or httpx.AsyncClient(transport=closing_transport(self._ssl), timeout=self.deadline)
        try:
            resp = await client.request(
                method,
                f"https://{url_host(address)}:{port}{path}",
                content=None if body is None else encode(body),
                headers=headers if body is None else {**headers, "Content-Type": "application/json"},
            )
        except httpx.ConnectError as exc:
            await self._drop(address, client)
            if _caused_by_verification(exc):
                raise WrongCluster(
                    f"{address} presented a certificate not signed by this cluster's CA"
                ) from exc
            raise _connect_fault(exc, port) from exc
        except BaseException:
            await self._drop(address, client)
            raise
        if self.keep_alive:
            self._kept[address] = client
        else:
            await client.aclose()
        return self._checked(address, port, resp.status_code, resp.content, resp.headers.get)

    async def _send_wire(
        self, address: str, port: int, method: str, path: str, body: object, headers: dict[str, str]
    ) -> Answer[bytes]:
        """:meth:`_send` on a kept connection of the connector's own client (``wire``)."""
        wire = self._wires.get(address)
        if wire is None:
            wire = Wire(address, port, self._ssl, connect_timeout=self.deadline, timeout=self.deadline)
            self._wires[address] = wire
        content = b"" if body is None else encode(body)
        lines = [f"Host: {url_host(address)}:{port}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        if body is not None:
            lines.append("Content-Type: application/json\r\n")
        try:
            answer = await wire.request(method, path, "".join(lines).encode("latin-1"), content)
        except WireError as exc:
            if self._wires.get(address) is wire:
                del self._wires[address]
            await wire.aclose()
            if _caused_by_verification(exc):
                raise WrongCluster(
                    f"{address} presented a certificate not signed by this cluster's CA"
                ) from exc
            if exc.kind.startswith(("ConnectError", "ConnectTimeout")):
                raise _connect_fault(exc, port) from exc
            raise
        return self._checked(address, port, answer.status, answer.content, answer.header)

    def _checked(
        self, address: str, port: int, status: int, content: bytes, header: Callable[[str], str | None]
    ) -> Answer[bytes]:
        """A member's answer, once it proved to be one of this cluster's members serving."""
        session_server = header("x-hostgate-session-server")
        if session_server is not None:
            # The session face stamps its answers with its name (runtime/server.py): the port given is a
            # session server's, not the members' API port.
            raise NotAManagementMember(
                f"{url_host(address)}:{port} is session server {session_server!r}, not a management member"
            )
        answered_for = header("x-hostgate-cluster-id")
        if answered_for != self.cluster_id:
            raise WrongCluster(f"{address} answered for cluster {answered_for or '(none)'}")
        if status == 503:
            payload = _json(content)
            if isinstance(payload, dict) and payload.get("code") in _NOT_ANSWERING:
                raise error_from_payload(payload, status)
        return Answer(
            header("x-hostgate-member") or address,
            address,
            status,
            content,
            (header(VISIBILITY_HEADER) or "") != "pending",
        )

    async def call(
        self,
        endpoint: Endpoint[Req, Rep],
        body: Req,
        *,
        query: Mapping[str, str] | None = None,
        **params: str,
    ) -> Answer[Rep]:
        """Call one endpoint of the management API (hostgate.messages.API); the answer is its typed message.
        ``query``: the URL's query parameters (``GET /api/v1/audit?since=...``).

        >>> status = (await client.call(API.cluster, None)).payload      # a ClusterStatus
        """
        path = endpoint.url_path(**params)
        if query:
            path += "?" + urlencode(query)
        answer = await self._raw(endpoint.method, path, body, auth=endpoint.auth != "none")
        where = f"member {answer.member} ({endpoint.method} {endpoint.path})"
        reply: Rep = decode_answer(answer.payload, endpoint.reply, where)
        return Answer(answer.member, answer.address, answer.status, reply, answer.visible)

    def call_sync(
        self,
        endpoint: Endpoint[Req, Rep],
        body: Req,
        *,
        query: Mapping[str, str] | None = None,
        **params: str,
    ) -> Answer[Rep]:
        return asyncio.run(self.call(endpoint, body, query=query, **params))

    async def request(
        self, method: str, path: str, body: object = None, *, auth: bool = True
    ) -> Answer[object]:
        """Send any request; the answer's payload is its JSON value (untyped: prefer :meth:`call`)."""
        answer = await self._raw(method, path, body, auth=auth)
        return Answer(answer.member, answer.address, answer.status, _json(answer.payload), answer.visible)

    async def _raw(self, method: str, path: str, body: object, *, auth: bool) -> Answer[bytes]:
        """Send to the first member that answers (staggered over the alias's addresses)."""
        host, port, addresses = await self.addresses()
        headers = self._auth_headers(auth)
        if method.upper() in _WRITE_METHODS:
            # One key for every attempt of this call (hedged to several members); a new one for each call.
            headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
            headers[DEADLINE_HEADER] = f"{time.time() + self.deadline:.3f}"

        session_servers: list[NotAManagementMember] = []

        async def attempt(address: str) -> Answer[bytes]:
            try:
                return await self._send(address, port, method, path, body, headers)
            except NotAManagementMember as exc:
                session_servers.append(exc)
                raise

        try:
            _, answer = await dial(
                host,
                addresses,
                attempt,
                last_good=_LAST_GOOD,
                delay=ADAPTIVE_DELAY if self.delay is None else self.delay,
                deadline=self.deadline,
            )
        except NoMemberAnswered as exc:
            # Every address answered as a session server: say that, not "no member answered".
            if session_servers and len(session_servers) == len(set(addresses)):
                raise session_servers[0] from exc
            raise
        if answer.status >= 400:
            raise error_from_payload(_json(answer.payload), answer.status)
        return answer

    async def broadcast(
        self,
        endpoint: Endpoint[Req, Rep],
        body: Req,
        *,
        headers: Mapping[str, str] | None = None,
        unchanged: Rep | None = None,
        **params: str,
    ) -> dict[str, Answer[Rep] | HostgateError]:
        """Send to every address of the alias at once (heartbeats go to every member); per-address outcome.

        ``headers``: sent besides the credentials. ``unchanged``: the answer a member means by ``204 No
        Content`` (a conditional heartbeat: "you hold this already"); without it a 204 is not a valid answer.
        """
        _, port, addresses = await self.addresses()
        sent = {**self._auth_headers(True), **headers} if headers else self._auth_headers(True)
        path = endpoint.url_path(**params)

        async def one(address: str) -> Answer[Rep] | HostgateError:
            try:
                answer = await asyncio.wait_for(
                    self._send(address, port, endpoint.method, path, body, sent), self.deadline
                )
                if answer.status == 204 and unchanged is not None:
                    return Answer(answer.member, answer.address, 204, unchanged, answer.visible)
                if answer.status < 400:
                    where = f"member {answer.member} ({endpoint.method} {endpoint.path})"
                    reply: Rep = decode_answer(answer.payload, endpoint.reply, where)
                    return Answer(answer.member, answer.address, answer.status, reply, answer.visible)
            except HostgateError as exc:
                return exc
            except _ConnectFault as exc:
                return NoMemberAnswered(f"{address}: {exc}")
            except (httpx.HTTPError, OSError, TimeoutError, WireError) as exc:
                return NoMemberAnswered(f"{address}: {type(exc).__name__}: {exc}")
            return error_from_payload(_json(answer.payload), answer.status)

        results = await asyncio.gather(*(one(a) for a in addresses))
        return dict(zip(addresses, results, strict=True))

    def request_sync(
        self, method: str, path: str, body: object = None, *, auth: bool = True
    ) -> Answer[object]:
        return asyncio.run(self.request(method, path, body, auth=auth))
