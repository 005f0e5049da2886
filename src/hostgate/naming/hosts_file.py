"""Hosts files in the format of VHI KB 7021563 (and of ``/etc/hosts``).

::

    # "vhi-prod-sea" is the common name for the management server cluster
    10.0.0.1 workhorse01 vhi-prod-sea
    10.0.0.2 workhorse02 vhi-prod-sea    # one line per management server
    10.0.1.2 workhorse02 vhi-prod-sea    # several lines for several network interfaces

Rules, from the KB unless marked otherwise:

- one entry a line: ``IP unique-name [alias ...]``, fields delimited by spaces or tabs (only those two: any
  other character is part of a field and fails its check); lines end with LF or CRLF, so line numbers match
  editors;
- ``#`` starts a comment running to the end of the line, wherever it stands;
- a name that appears on several lines maps to all those lines' addresses, in file order (a repeated
  address is kept once, at its first place: dialing the same member twice gains nothing);
- names are ASCII letters, digits and hyphens, in dot-separated labels of 1-63 characters that neither start
  nor end with a hyphen (RFC 1123 section 2.1), at most 253 characters; matching ignores case. hostgate
  also refuses a name whose last label is all digits (RFC 3696 section 2), which catches
  ``10.0.0.1 10.0.0.2 alias`` where an address was typed in the name's place;
- addresses are IPv4 dotted quads or IPv6, as Python's ``ipaddress`` reads them (no ``010.0.0.1``, no
  ``10.1``). A zone is accepted on IPv6 (``fe80::1%eth0``) and kept in the address, because a link-local
  address means nothing without its interface and the OS resolves the zone when connecting; zones are not
  checked against this machine's interfaces, since one hosts file is shared by every system (KB step 2).
  A link-local address (``fe80::/10``) without a zone is refused: connecting to it would fail anyway.

Two modes. **Strict** (hostgate's own hosts file): a bad line raises ``HostsFileError`` naming ``file:line``
and what is wrong (the first bad line, and how many more there are), and nothing of the file is used.
**Lenient** (the system's ``/etc/hosts``, which other programs own): bad lines are skipped, logged once each
as a warning naming ``file:line``, and listed in :attr:`HostsFile.skipped`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from hostgate.errors import HostsFileError

__all__ = [
    "HostsEntry",
    "HostsFile",
    "IPAddress",
    "SkippedLine",
    "check_name",
    "normalize_name",
    "parse_hosts",
    "read_hosts_file",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger("hostgate.naming")

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_FIELD_SEP = re.compile(r"[ \t]+")
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")
_MAX_NAME = 253
# Lenient mode re-reads /etc/hosts on every resolve; warn about each bad line once, not on every connect.
_warned: set[tuple[str, int, str]] = set()
_WARNED_MAX = 4096


@dataclass(frozen=True, slots=True)
class HostsEntry:
    """One line of a hosts file: an address and its names (the unique name first, then aliases)."""

    line: int
    address: IPAddress
    names: tuple[str, ...]

    @property
    def unique_name(self) -> str:
        return self.names[0]

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.names[1:]


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """A line lenient mode left out, and why."""

    line: int
    text: str
    problem: str


@dataclass(frozen=True, slots=True)
class HostsFile:
    """A parsed hosts file. ``lookup`` answers in file order; nothing is cached between reads."""

    source: str
    entries: tuple[HostsEntry, ...]
    skipped: tuple[SkippedLine, ...] = ()

    def lookup(self, name: str) -> list[IPAddress]:
        """Every address ``name`` (any case, optional trailing dot) maps to, in file order, each once."""
        wanted = normalize_name(name)
        found: list[IPAddress] = []
        seen: set[str] = set()
        for entry in self.entries:
            if any(n.lower() == wanted for n in entry.names):
                key = str(entry.address)
                if key not in seen:
                    seen.add(key)
                    found.append(entry.address)
        return found

    def names(self) -> list[str]:
        """Every distinct name in the file, lower case, in order of first appearance."""
        return list(dict.fromkeys(n.lower() for entry in self.entries for n in entry.names))


def normalize_name(name: str) -> str:
    """The form names are compared in: stripped, lower case, without the one trailing dot of an FQDN."""
    text = name.strip().lower()
    return text[:-1] if text.endswith(".") else text


def check_name(name: str) -> str | None:
    """``None`` when ``name`` is a valid host name by the KB's rule, else what is wrong with it."""
    if len(name) > _MAX_NAME:
        return f"name {name[:40]!r}... is longer than {_MAX_NAME} characters"
    labels = name.split(".")
    for label in labels:
        if not label:
            return f"name {name!r} has an empty label (two dots in a row, or a leading or trailing dot)"
        if _LABEL.match(label) is None:
            if len(label) > 63:
                return f"name {name!r} has a label longer than 63 characters"
            if label.startswith("-") or label.endswith("-"):
                return f"name {name!r} has a label that starts or ends with a hyphen"
            return f"name {name!r} may hold only ASCII letters, digits, hyphens and dots"
    if labels[-1].isdigit():
        if _parse_address(name) is not None:
            return f"{name!r} is an address where a name belongs (IP unique-name [alias ...])"
        return f"name {name!r} ends in an all-digit label, which reads as a number, not a host name"
    return None


def _parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_line(fields: list[str]) -> tuple[IPAddress, tuple[str, ...]] | str:
    """The entry of one non-empty line, or what is wrong with it."""
    address = _parse_address(fields[0])
    if address is None:
        if check_name(fields[0]) is None:
            return f"{fields[0]!r} is not an IP address (a line starts with the address, then the names)"
        return f"{fields[0]!r} is not an IPv4 or IPv6 address"
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is None and address in _LINK_LOCAL:
        return f"link-local address {fields[0]} needs a zone naming its interface, e.g. {fields[0]}%eth0"
    if len(fields) == 1:
        return f"address {fields[0]} has no name after it"
    for name in fields[1:]:
        problem = check_name(name)
        if problem is not None:
            return problem
    return address, tuple(fields[1:])


def parse_hosts(data: str | bytes, *, source: str = "<hosts>", strict: bool = True) -> HostsFile:
    """Parse hosts-file text (bytes are read as UTF-8, a BOM allowed, bad bytes failing their line).

    ``source`` names the file in messages. Strict mode raises ``HostsFileError`` ("``source:line``: what is
    wrong", for the first bad line, counting the others) and keeps nothing; lenient mode skips and logs bad
    lines.
    """
    text = (
        data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data.removeprefix("\ufeff")
    )
    entries: list[HostsEntry] = []
    skipped: list[SkippedLine] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        body = raw.removesuffix("\r").split("#", 1)[0]
        fields = [f for f in _FIELD_SEP.split(body) if f]
        if not fields:
            continue
        parsed = _parse_line(fields)
        if isinstance(parsed, str):
            skipped.append(SkippedLine(number, raw.removesuffix("\r"), parsed))
            continue
        address, names = parsed
        entries.append(HostsEntry(number, address, names))
    if skipped and strict:
        first = skipped[0]
        more = ""
        if len(skipped) > 1:
            others = ", ".join(str(s.line) for s in skipped[1:6]) + (", ..." if len(skipped) > 6 else "")
            more = f" (and {len(skipped) - 1} more bad line{'s' if len(skipped) > 2 else ''}: {others})"
        raise HostsFileError(f"{source}:{first.line}: {first.problem}{more}")
    for bad in skipped:
        _warn_once(source, bad.line, bad.text, bad.problem)
    return HostsFile(source, tuple(entries), tuple(skipped))


def _warn_once(source: str, number: int, raw: str, problem: str) -> None:
    key = (source, number, raw)
    if key in _warned:
        return
    if len(_warned) >= _WARNED_MAX:
        _warned.clear()
    _warned.add(key)
    log.warning("%s:%d: skipped: %s", source, number, problem)


def read_hosts_file(path: str | Path, *, strict: bool = True) -> HostsFile:
    """Read and parse the file at ``path`` now (callers re-read on every resolve: no caching, KB step 2).

    A file that cannot be read raises ``HostsFileError`` in both modes; the caller decides whether a missing
    system file matters.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise HostsFileError(
            f"cannot read hosts file {path}: {exc.strerror or exc}",
            hint="Check the path given as naming.hosts_file, --hosts-file or HOSTGATE_HOSTS_FILE.",
        ) from exc
    return parse_hosts(data, source=str(path), strict=strict)
