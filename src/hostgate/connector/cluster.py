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
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from hostgate.connector._transport import closing_transport
from hostgate.connector.location import DEFAULT_PORT as DEFAULT_PORT  # hostgate doctor imports it from here
from hostgate.connector.location import ClusterLocation
from hostgate.errors import (
    CertificateError,
    HostgateError,
    MemberNotReady,
    MemberRemoved,
    NoMemberAnswered,
    StoreUnavailable,
    WrongCluster,
    error_from_payload,
)
from hostgate.naming.dialer import LastGood, dial
from hostgate.naming.resolver import SYSTEM_HOSTS, AliasResolver
from hostgate.naming.stagger import AttemptDelay
from hostgate.naming.target import parse_target, url_host

__all__ = ["Answer", "ClusterClient", "cluster_id_of_ca"]

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


def _caused_by_verification(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True, slots=True)
class Answer:
    """A member's answer. ``visible`` is ``False`` when a write was committed but the answering member's own
    copy had not shown it yet (``X-Hostgate-Visibility: pending``): another read may briefly miss it."""

    member: str
    address: str
    status: int
    payload: Any
    visible: bool = True


@dataclass(slots=True)
class ClusterClient:
    """A client of the management API for one cluster (used by the CLI and the connector).

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
    _kept: dict[str, httpx.AsyncClient] = field(init=False, repr=False, default_factory=dict)
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

    async def _send(
        self, address: str, port: int, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> Answer:
        """One request to one member; raises unless it is a valid answer of this cluster."""
        kept = self._kept.get(address) if self.keep_alive else None
        client = kept or httpx.AsyncClient(transport=closing_transport(self._ssl), timeout=self.deadline)
        try:
            resp = await client.request(
                method, f"https://{url_host(address)}:{port}{path}", json=body, headers=headers
            )
        except httpx.ConnectError as exc:
            await self._drop(address, client)
            if _caused_by_verification(exc):
                raise WrongCluster(
                    f"{address} presented a certificate not signed by this cluster's CA"
                ) from exc
            raise
        except BaseException:
            await self._drop(address, client)
            raise
        if self.keep_alive:
            self._kept[address] = client
        else:
            await client.aclose()
        answered_for = resp.headers.get("x-hostgate-cluster-id")
        if answered_for != self.cluster_id:
            raise WrongCluster(f"{address} answered for cluster {answered_for or '(none)'}")
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = resp.text
        if resp.status_code == 503 and isinstance(payload, dict) and payload.get("code") in _NOT_ANSWERING:
            raise error_from_payload(payload, resp.status_code)
        return Answer(
            resp.headers.get("x-hostgate-member", address),
            address,
            resp.status_code,
            payload,
            resp.headers.get(VISIBILITY_HEADER, "") != "pending",
        )

    async def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Answer:
        """Send to the first member that answers (staggered over the alias's addresses)."""
        host, port, addresses = await self.addresses()
        headers = self._auth_headers(auth)
        if method.upper() in _WRITE_METHODS:
            # One key for every attempt of this call (hedged to several members); a new one for each call.
            headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
            headers[DEADLINE_HEADER] = f"{time.time() + self.deadline:.3f}"

        async def attempt(address: str) -> Answer:
            return await self._send(address, port, method, path, body, headers)

        _, answer = await dial(
            host,
            addresses,
            attempt,
            last_good=_LAST_GOOD,
            delay=ADAPTIVE_DELAY if self.delay is None else self.delay,
            deadline=self.deadline,
        )
        if answer.status >= 400:
            raise error_from_payload(answer.payload, answer.status)
        return answer

    async def broadcast(self, method: str, path: str, body: Any = None) -> dict[str, Answer | HostgateError]:
        """Send to every address of the alias at once (heartbeats go to every member); per-address outcome."""
        _, port, addresses = await self.addresses()
        headers = self._auth_headers(True)

        async def one(address: str) -> Answer | HostgateError:
            try:
                answer = await asyncio.wait_for(
                    self._send(address, port, method, path, body, headers), self.deadline
                )
            except HostgateError as exc:
                return exc
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                return NoMemberAnswered(f"{address}: {type(exc).__name__}: {exc}")
            if answer.status >= 400:
                return error_from_payload(answer.payload, answer.status)
            return answer

        results = await asyncio.gather(*(one(a) for a in addresses))
        return dict(zip(addresses, results, strict=True))

    def request_sync(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Answer:
        return asyncio.run(self.request(method, path, body, auth=auth))
