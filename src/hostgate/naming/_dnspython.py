"""The dnspython half of :class:`hostgate.naming.dns.DnsClient`, imported by its first lookup only.

dnspython's imports cost about 0.1 s (dns.asyncresolver pulls in DoH/DoQ/DDR support); ``hostgate cluster
status`` with an alias from a hosts file, or a member's address, must not pay for them (issue #21). See
naming/dns.py for what the lookup promises (no cache, the server's order, A before AAAA).
"""

from __future__ import annotations

import asyncio

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from hostgate.naming.dns import DnsAnswer, NameServer
from hostgate.naming.target import format_target

__all__ = ["lookup"]


class _NotFound(Exception):
    pass


def _resolver(servers: tuple[NameServer, ...], timeout: float) -> dns.asyncresolver.Resolver:
    # configure=False: never read /etc/resolv.conf, so only the servers named here are asked.
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, s.port) for s in servers]
    resolver.lifetime = timeout
    # Each server gets its share of the lifetime, so a dead first server leaves time to ask the next.
    resolver.timeout = timeout / len(servers)
    resolver.cache = None
    return resolver


async def lookup(servers: tuple[NameServer, ...], timeout: float, name: str) -> DnsAnswer:
    """A and AAAA records of ``name`` (absolute: no search domains are appended)."""
    try:
        qname = dns.name.from_text(name, origin=dns.name.root)
    except dns.exception.DNSException as exc:
        return DnsAnswer((), f"{name!r} is not a valid DNS name: {exc}")
    resolver = _resolver(servers, timeout)
    results = await asyncio.gather(
        _one(resolver, qname, dns.rdatatype.A),
        _one(resolver, qname, dns.rdatatype.AAAA),
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
            problems.append(f"{rdtype}: {_describe(result, servers, timeout)}")
        else:
            addresses.extend(a for a in result if a not in addresses)
    if addresses:
        return DnsAnswer(tuple(addresses), "; ".join(problems) or None)
    if problems:
        return DnsAnswer((), "; ".join(problems), failed=True)
    listed = ", ".join(str(s) for s in servers)
    if any(reason.startswith("NXDOMAIN") for reason in not_found):
        return DnsAnswer((), f"NXDOMAIN: {listed} says {name} does not exist")
    return DnsAnswer((), f"{listed} has no A or AAAA record for {name}")


async def _one(
    resolver: dns.asyncresolver.Resolver, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> list[str]:
    try:
        answer = await resolver.resolve(qname, rdtype, search=False)
    except dns.resolver.NXDOMAIN as exc:
        raise _NotFound("NXDOMAIN") from exc
    except dns.resolver.NoAnswer as exc:
        raise _NotFound("no answer") from exc
    return [rdata.to_text() for rdata in answer]


def _describe(exc: Exception, servers: tuple[NameServer, ...], timeout: float) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return f"no answer from {', '.join(str(s) for s in servers)} within {timeout:g} s"
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
