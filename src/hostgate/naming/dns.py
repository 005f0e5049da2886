"""DNS lookups through dnspython, against name servers hostgate is told about (never the system's).

KB 7021563 recommends a DNS alias holding every management server's address, and allows the server to
answer in round-robin or random order because VHI disables DNS caching (``-Dsun.net.inetaddr.ttl=0``). So
this client keeps no cache (dnspython's resolver caches only when given a cache) and keeps each answer's
order as the server sent it. A and AAAA are asked at once; IPv4 addresses come first, as with Java's default
(``java.net.preferIPv6Addresses=false``) under which VHI's own clients run.

Name servers are IP literals with an optional port: ``127.0.0.1``, ``127.0.0.1:5353``, ``::1``,
``[::1]:5353``. Names are not accepted: finding the name server would need a resolver.

dnspython itself (about 0.1 s of imports) is loaded by the first lookup (``naming/_dnspython.py``), not by
importing this module: a CLI call whose alias is in a hosts file never pays for it (issue #21, start-up).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

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

    async def lookup(self, name: str) -> DnsAnswer:
        """A and AAAA records of ``name`` (absolute: no search domains are appended)."""
        from hostgate.naming._dnspython import lookup

        return await lookup(self.servers, self.timeout, name)
