"""DNS lookups through dnspython, against name servers hostgate is told about (never the system's).

KB 7021563 recommends a DNS alias holding every management server's address, and allows the server to
answer in round-robin or random order because VHI disables DNS caching (``-Dsun.net.inetaddr.ttl=0``). So
this client keeps no cache (dnspython's resolver caches only when given a cache) and keeps each answer's
order as the server sent it. A and AAAA are asked at once; IPv4 addresses come first, as with Java's default
(``java.net.preferIPv6Addresses=false``) under which VHI's own clients run.

Name servers are IP literals with an optional port: ``127.0.0.1``, ``127.0.0.1:5353``, ``::1``,
``[::1]:5353``. Names are not accepted: finding the name server would need a resolver.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from hostgate.errors import UsageError
from hostgate.naming.target import format_target, parse_target

__all__ = ["DnsAnswer", "DnsClient", "NameServer", "parse_name_server"]

DNS_PORT = 53


@dataclass(frozen=True, slots=True)
class NameServer:
    host: str
    port: int = DNS_PORT

    def __str__(self) -> str:
        return format_target(self.host, self.port)


def parse_name_server(text: str) -> NameServer:
    """``IP[:PORT]`` or ``[IPv6]:PORT`` to a :class:`NameServer`; ``UsageError`` for anything else."""
    host, port = parse_target(text, DNS_PORT)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(
            f"DNS server {text!r} must be an IP address, optionally with a port",
            hint="For example 10.0.0.53, 127.0.0.1:5353 or [::1]:5353.",
        ) from None
    return NameServer(host, port)


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """What DNS said about one name.

    ``addresses`` in the server's order (A before AAAA). ``error`` says why there are none, or why some are
    missing (one record type timed out). ``failed`` separates "the servers could not tell" (timeout, refused,
    SERVFAIL) from "the name has no address" (NXDOMAIN, no A/AAAA records).
    """

    addresses: tuple[str, ...]
    error: str | None = None
    failed: bool = False


class _NotFound(Exception):
    pass


class DnsClient:
    """Asks ``servers`` (in order, the next one when one fails) for a name's A and AAAA records.

    ``timeout`` bounds each lookup as a whole (dnspython's *lifetime*), across all servers; each server is
    given an equal share of it before the next is asked.
    """

    def __init__(self, servers: Sequence[NameServer | str], *, timeout: float = 5.0) -> None:
        if not servers:
            raise UsageError("no DNS server given")
        self.servers = tuple(s if isinstance(s, NameServer) else parse_name_server(s) for s in servers)
        self.timeout = timeout

    def _resolver(self) -> dns.asyncresolver.Resolver:
        # configure=False: never read /etc/resolv.conf, so only the servers named here are asked.
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, s.port) for s in self.servers]
        resolver.lifetime = self.timeout
        # Each server gets its share of the lifetime, so a dead first server leaves time to ask the next.
        resolver.timeout = self.timeout / len(self.servers)
        resolver.cache = None
        return resolver

    async def lookup(self, name: str) -> DnsAnswer:
        """A and AAAA records of ``name`` (absolute: no search domains are appended)."""
        try:
            qname = dns.name.from_text(name, origin=dns.name.root)
        except dns.exception.DNSException as exc:
            return DnsAnswer((), f"{name!r} is not a valid DNS name: {exc}")
        resolver = self._resolver()
        results = await asyncio.gather(
            self._one(resolver, qname, dns.rdatatype.A),
            self._one(resolver, qname, dns.rdatatype.AAAA),
            return_exceptions=True,
        )
        addresses: list[str] = []
        problems: list[str] = []
        not_found: list[str] = []
        for rdtype, result in zip(("A", "AAAA"), results, strict=True):
            if isinstance(result, _NotFound):
                not_found.append(str(result))
            elif isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                problems.append(f"{rdtype}: {self._describe(result)}")
            else:
                addresses.extend(a for a in result if a not in addresses)
        if addresses:
            return DnsAnswer(tuple(addresses), "; ".join(problems) or None)
        if problems:
            return DnsAnswer((), "; ".join(problems), failed=True)
        servers = ", ".join(str(s) for s in self.servers)
        if any(reason.startswith("NXDOMAIN") for reason in not_found):
            return DnsAnswer((), f"NXDOMAIN: {servers} says {name} does not exist")
        return DnsAnswer((), f"{servers} has no A or AAAA record for {name}")

    async def _one(
        self, resolver: dns.asyncresolver.Resolver, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> list[str]:
        try:
            answer = await resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN as exc:
            raise _NotFound("NXDOMAIN") from exc
        except dns.resolver.NoAnswer as exc:
            raise _NotFound("no answer") from exc
        return [rdata.to_text() for rdata in answer]

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, dns.exception.Timeout):
            return f"no answer from {', '.join(str(s) for s in self.servers)} within {self.timeout:g} s"
        if isinstance(exc, dns.resolver.NoNameservers):
            errors = exc.kwargs.get("errors") or []
            said = "; ".join(f"{_server_text(err[0])} answered {err[3]}" for err in errors)
            return f"every DNS server failed ({said})" if said else "every DNS server failed"
        if isinstance(exc, dns.exception.DNSException):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"


def _server_text(server: object) -> str:
    # dnspython names a server "Do53:ADDRESS@PORT"; show it the way hostgate's options are written.
    text = str(server)
    kind, _, rest = text.partition(":")
    address, _, port = rest.rpartition("@")
    if kind == "Do53" and address and port.isdigit():
        return format_target(address, int(port))
    return text
