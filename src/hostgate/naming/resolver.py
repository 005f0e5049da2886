"""Alias resolution: which addresses does a cluster alias stand for, right now.

KB 7021563: "Management Server failover is based on standard IP name resolution functionality, which allows
an alias name to be mapped to multiple IP addresses", with DNS caching disabled (``-Dsun.net.inetaddr.ttl=0``)
so that a changed alias is followed at the next connection. hostgate does the same:
:meth:`AliasResolver.resolve` keeps **no cache**; every call re-reads the hosts files and asks DNS again.

Sources, consulted in the configured order (``naming.sources``)::

    hosts_file    hostgate's own hosts file (naming.hosts_file), read strictly: a bad line is an error
    system_hosts  the system hosts file (/etc/hosts), read leniently: bad lines are skipped with a warning
    dns           the configured DNS servers (naming.dns_servers) through dnspython; skipped when none are set
    system        the operating system's resolver (getaddrinfo), the last resort

**Policy: the first source in order that knows the alias gives all the addresses**; later sources are not
asked. Answers are not merged, because two sources that disagree are two views of the cluster (a stale hosts
file and a current DNS zone) and merging would send connections to both; first-wins is also what
``hosts: files dns`` does in nsswitch.conf. Each source's answer is kept in :attr:`Resolution.sources` for
diagnostics; ``consult_all=True`` (``hostgate resolve``) asks every source even after one has answered.

An IP literal resolves to itself, without asking any source.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hostgate.errors import HostsFileError, ResolutionFailed, UsageError
from hostgate.naming.dns import DnsClient, NameServer
from hostgate.naming.hosts_file import HostsFile, read_hosts_file

__all__ = [
    "DEFAULT_SOURCES",
    "SYSTEM_HOSTS",
    "AliasResolver",
    "Resolution",
    "Source",
    "SourceAnswer",
    "SourceStatus",
    "SystemLookup",
    "getaddrinfo_lookup",
]

SYSTEM_HOSTS = "/etc/hosts"

SystemLookup = Callable[[str], Awaitable[Sequence[str]]]
"""Looks a name up in the OS resolver: addresses in its order, or ``socket.gaierror``."""


class Source(StrEnum):
    HOSTS_FILE = "hosts_file"
    SYSTEM_HOSTS = "system_hosts"
    DNS = "dns"
    SYSTEM = "system"


DEFAULT_SOURCES: tuple[Source, ...] = (Source.HOSTS_FILE, Source.SYSTEM_HOSTS, Source.DNS, Source.SYSTEM)
LITERAL = "literal"


class SourceStatus(StrEnum):
    ANSWERED = "answered"
    NOT_FOUND = "not-found"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class SourceAnswer:
    """What one source said; ``error`` explains an empty (for DNS, partial) answer, or why it was skipped."""

    name: str
    status: SourceStatus
    addresses: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """The addresses to try for ``alias``, in order, and what every source said."""

    alias: str
    addresses: tuple[str, ...]
    sources: tuple[SourceAnswer, ...]

    @property
    def answered_by(self) -> str:
        """The name of the source whose addresses these are."""
        return next(s.name for s in self.sources if s.status is SourceStatus.ANSWERED and s.addresses)


async def getaddrinfo_lookup(name: str) -> list[str]:
    """The OS resolver's addresses for ``name`` (getaddrinfo), in its order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AliasResolver:
    """Resolves aliases through the configured sources, afresh on every call.

    ``system_hosts`` is injectable so tests use their own file; ``system_lookup`` replaces getaddrinfo.
    ``timeout`` bounds the DNS lookup and the system resolver, each.
    """

    def __init__(
        self,
        *,
        hosts_file: str | Path | None = None,
        system_hosts: str | Path | None = SYSTEM_HOSTS,
        dns_servers: Sequence[str | NameServer] = (),
        sources: Sequence[str] = DEFAULT_SOURCES,
        timeout: float = 5.0,
        system_lookup: SystemLookup = getaddrinfo_lookup,
    ) -> None:
        self.sources = _check_sources(sources)
        self.hosts_file = Path(hosts_file) if hosts_file else None
        self.system_hosts = Path(system_hosts) if system_hosts else None
        self.dns = DnsClient(dns_servers, timeout=timeout) if dns_servers else None
        self.timeout = timeout
        self._system_lookup = system_lookup

    async def resolve(self, alias: str, *, consult_all: bool = False) -> Resolution:
        """The addresses of ``alias`` from the first source in order that knows it.

        Raises ``ResolutionFailed`` listing what every source said when none knows it, and
        ``HostsFileError`` when hostgate's own hosts file cannot be read or has a bad line.
        """
        name = alias.strip()
        if not name:
            raise UsageError("empty alias: expected a host name or an IP address")
        try:
            literal = ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            answer = SourceAnswer(LITERAL, SourceStatus.ANSWERED, (str(literal),))
            return Resolution(alias, answer.addresses, (answer,))
        answers: list[SourceAnswer] = []
        chosen: SourceAnswer | None = None
        for source in self.sources:
            if chosen is not None and not consult_all:
                reason = f"not consulted: {chosen.name} answered first"
                answers.append(SourceAnswer(source, SourceStatus.SKIPPED, error=reason))
                continue
            answer = await self._ask(source, name)
            answers.append(answer)
            if chosen is None and answer.addresses:
                chosen = answer
        if chosen is None:
            said = "; ".join(f"{a.name}: {a.error}" for a in answers)
            raise ResolutionFailed(f"{name} resolved to no address ({said})")
        return Resolution(alias, chosen.addresses, tuple(answers))

    async def _ask(self, source: Source, name: str) -> SourceAnswer:
        if source is Source.HOSTS_FILE:
            if self.hosts_file is None:
                return SourceAnswer(source, SourceStatus.SKIPPED, error="no hostgate hosts file configured")
            return _from_hosts(source, read_hosts_file(self.hosts_file, strict=True), name)
        if source is Source.SYSTEM_HOSTS:
            if self.system_hosts is None:
                return SourceAnswer(source, SourceStatus.SKIPPED, error="no system hosts file configured")
            try:
                hosts = read_hosts_file(self.system_hosts, strict=False)
            except HostsFileError as exc:
                if isinstance(exc.__cause__, FileNotFoundError):
                    return SourceAnswer(
                        source, SourceStatus.SKIPPED, error=f"{self.system_hosts} does not exist"
                    )
                return SourceAnswer(source, SourceStatus.FAILED, error=exc.message)
            return _from_hosts(source, hosts, name)
        if source is Source.DNS:
            if self.dns is None:
                reason = (
                    "no DNS server configured (naming.dns_servers or --dns-server); "
                    "the system source asks the OS resolver"
                )
                return SourceAnswer(source, SourceStatus.SKIPPED, error=reason)
            found = await self.dns.lookup(name)
            if found.addresses:
                return SourceAnswer(source, SourceStatus.ANSWERED, found.addresses, found.error)
            status = SourceStatus.FAILED if found.failed else SourceStatus.NOT_FOUND
            return SourceAnswer(source, status, error=found.error)
        return await self._ask_system(name)

    async def _ask_system(self, name: str) -> SourceAnswer:
        source = Source.SYSTEM
        try:
            async with asyncio.timeout(self.timeout):
                addresses = tuple(dict.fromkeys(await self._system_lookup(name)))
        except TimeoutError:
            return SourceAnswer(
                source, SourceStatus.FAILED, error=f"no answer from the OS resolver within {self.timeout:g} s"
            )
        except socket.gaierror as exc:
            if exc.errno in _NOT_FOUND_CODES:
                return SourceAnswer(source, SourceStatus.NOT_FOUND, error=f"the OS resolver: {exc.strerror}")
            return SourceAnswer(source, SourceStatus.FAILED, error=f"the OS resolver: {exc.strerror or exc}")
        except (OSError, UnicodeError) as exc:
            return SourceAnswer(source, SourceStatus.FAILED, error=f"the OS resolver: {exc}")
        if not addresses:
            return SourceAnswer(source, SourceStatus.NOT_FOUND, error="the OS resolver returned no address")
        return SourceAnswer(source, SourceStatus.ANSWERED, addresses)


_NOT_FOUND_CODES = {
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
}


def _from_hosts(source: Source, hosts: HostsFile, name: str) -> SourceAnswer:
    addresses = tuple(str(a) for a in hosts.lookup(name))
    if addresses:
        return SourceAnswer(source, SourceStatus.ANSWERED, addresses)
    return SourceAnswer(source, SourceStatus.NOT_FOUND, error=f"{name} is not in {hosts.source}")


def _check_sources(sources: Sequence[str]) -> tuple[Source, ...]:
    checked: list[Source] = []
    for name in sources:
        try:
            source = Source(name)
        except ValueError:
            known = ", ".join(s.value for s in Source)
            raise UsageError(f"unknown name source {name!r} (known: {known})") from None
        if source in checked:
            raise UsageError(f"name source {name!r} is listed twice")
        checked.append(source)
    if not checked:
        raise UsageError(f"no name source given (known: {', '.join(s.value for s in Source)})")
    return tuple(checked)
