"""``hostgate doctor ALIAS``: is the cluster alias right, and does every address in it answer for this cluster?

KB 7021563 puts failover in the alias: "Each Management Server IP address must be assigned to the same common
name", "the local unique system name is listed separately first to avoid problems with reverse DNS lookups",
and each server belongs to one cluster only. The doctor checks those rules against the running cluster: it
resolves the alias from **every** configured source (``consult_all``); opens TCP to every address (a refused
port and a member that accepts but never answers are different faults), then asks the unauthenticated
``/api/v1/health`` over HTTPS with the cluster CA (which member of which cluster answers); with credentials,
reads the member list through a member that proved its cluster; and looks member addresses up in reverse (the
hosts files that carry the alias; PTR records from ``--dns-server`` only, never the system's resolver).

Findings have stable codes (``HG-D01``...; catalogue and JSON shape in docs/errors.md, "doctor findings") and
a fix each; the exit status is 1 when one is an error. Nothing is changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, TypeVar

import click
import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.reversename
import httpx
from rich.markup import escape
from rich.table import Table

from hostgate.cli.common import cluster_options, read_secret_file
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.connector.cluster import DEFAULT_PORT, ClusterClient, cluster_id_of_ca
from hostgate.errors import (
    AuthenticationFailed,
    CertificateError,
    HostgateError,
    HostsFileError,
    NotAuthorized,
    ResolutionFailed,
)
from hostgate.messages import API
from hostgate.naming import (
    SYSTEM_HOSTS,
    AliasResolver,
    NameServer,
    Source,
    SourceAnswer,
    SourceStatus,
    format_target,
    normalize_name,
    parse_name_server,
    parse_target,
    read_hosts_file,
)

__all__ = ["Check", "Finding", "Inputs", "Report", "Severity", "diagnose", "doctor"]

F = TypeVar("F", bound=Callable[..., Any])


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Check(Enum):
    """Every finding the doctor can report: a stable code, a severity, a title (docs/errors.md lists them)."""

    UNRESOLVED = ("HG-D01", Severity.ERROR, "the alias resolves to no address")
    HOSTS_FILE_BAD = ("HG-D02", Severity.ERROR, "hostgate's hosts file cannot be used")
    SOURCE_FAILED = ("HG-D03", Severity.WARNING, "a name source could not answer")
    MEMBER_MISSING = ("HG-D04", Severity.ERROR, "a member is missing from the alias")
    NOT_A_MEMBER = ("HG-D05", Severity.ERROR, "an address in the alias is not a member")
    OTHER_CLUSTER = ("HG-D06", Severity.ERROR, "an address in the alias answers for another cluster")
    HUNG = ("HG-D07", Severity.ERROR, "a member accepts connections but does not answer")
    REFUSED = ("HG-D08", Severity.ERROR, "a member refuses connections")
    NO_ANSWER = ("HG-D09", Severity.ERROR, "a member does not answer")
    REVERSE = ("HG-D10", Severity.WARNING, "a reverse lookup names something else than the member")
    DISAGREE = ("HG-D11", Severity.WARNING, "name sources disagree about the alias")
    NOT_CHECKED = ("HG-D12", Severity.INFO, "membership not checked (no credentials)")
    NO_MEMBER_LIST = ("HG-D13", Severity.ERROR, "the member list could not be read")

    def __init__(self, code: str, severity: Severity, title: str) -> None:
        self.code = code
        self.severity = severity
        self.title = title


class State(StrEnum):
    MEMBER = "member"  # answered /api/v1/health for this cluster
    OTHER_CLUSTER = "other-cluster"  # another CA, another cluster id, or not a hostgate server
    HUNG = "hung"  # TCP connects, HTTPS never answers (SIGSTOP, deadlock, swapping)
    REFUSED = "refused"  # nothing listens: stopped or crashed
    NO_ANSWER = "no-answer"  # no TCP answer at all, or an unusable one


_DOWN = {State.HUNG: Check.HUNG, State.REFUSED: Check.REFUSED, State.NO_ANSWER: Check.NO_ANSWER}
_DOWN_FIX = {
    State.HUNG: "Look at the process on {who}: it is frozen, overloaded or deadlocked; restart it.",
    State.REFUSED: "Start `hostgate server` on {who}.",
    State.NO_ANSWER: "Check that {who} is up and reachable from this system (routes, firewall).",
}


@dataclass(frozen=True, slots=True)
class Finding:
    check: Check
    message: str
    fix: str
    address: str | None = None
    member: str | None = None
    sources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.check.code,
            "severity": self.check.severity.value,
            "title": self.check.title,
            "message": self.message,
            "fix": self.fix,
            "address": self.address,
            "member": self.member,
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class Probe:
    """What answered at one address; ``member``/``cluster_id`` as it said (for another cluster too, if it did)."""

    address: str
    state: State
    member: str | None = None
    cluster_id: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MemberEntry:
    name: str
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class AddressReport:
    probe: Probe
    listed_by: tuple[str, ...]
    reverse: tuple[tuple[str, str], ...] = ()  # (source, name it gives the address)


@dataclass(frozen=True, slots=True)
class Report:
    alias: str
    port: int
    cluster_id: str
    sources: tuple[SourceAnswer, ...]
    addresses: tuple[AddressReport, ...]
    members: tuple[MemberEntry, ...] | None  # None: not read (no credentials, or it failed)
    members_from: str | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.check.severity is Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, object]:
        """The ``--json`` document (shape in docs/errors.md, "doctor findings")."""
        missing = {f.member: list(f.sources) for f in self.findings if f.check is Check.MEMBER_MISSING}
        return {
            "alias": self.alias,
            "port": self.port,
            "cluster_id": self.cluster_id,
            "ok": self.ok,
            "sources": [
                {"name": s.name, "status": s.status.value, "addresses": list(s.addresses), "error": s.error}
                for s in self.sources
            ],
            "addresses": [
                {
                    "address": a.probe.address,
                    "listed_by": list(a.listed_by),
                    "state": a.probe.state.value,
                    "member": a.probe.member,
                    "cluster_id": a.probe.cluster_id,
                    "detail": a.probe.detail,
                    "reverse": dict(a.reverse),
                }
                for a in self.addresses
            ],
            "members": None
            if self.members is None
            else [
                {
                    "name": m.name,
                    "address": m.address,
                    "port": m.port,
                    "in_alias": m.name not in missing,
                    "missing_from": missing.get(m.name, []),
                }
                for m in self.members
            ],
            "members_from": self.members_from,
            "findings": [f.to_json() for f in self.findings],
            "summary": {s.value: sum(f.check.severity is s for f in self.findings) for s in Severity},
        }


@dataclass(frozen=True, slots=True)
class Inputs:
    alias: str
    port: int
    ca_file: Path
    hosts_file: Path | None = None
    dns_servers: tuple[NameServer, ...] = ()
    sources: tuple[Source, ...] = tuple(Source)
    user: str = "admin"
    password: str | None = None
    timeout: float = 2.0


# --- contacting addresses ------------------------------------------------------------------------------------


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _tcp(address: str, port: int, timeout: float) -> Probe | None:
    """``None`` when a TCP connection opens (then closed again); else the probe that says why not."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return Probe(address, State.NO_ANSWER, detail=f"no TCP answer within {timeout:g} s")
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return Probe(address, State.REFUSED, detail=f"connection refused: nothing listens on port {port}")
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return Probe(address, State.NO_ANSWER, detail=f"cannot connect: {reason}")
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    return None


async def _identify(url: str, timeout: float) -> tuple[str | None, str | None]:
    """(member, cluster id) a server whose certificate is not ours says it is: public endpoint, no credentials."""
    try:
        async with httpx.AsyncClient(verify=False, timeout=timeout) as client:
            body = (await client.get(url)).json()
    except (httpx.HTTPError, ValueError):
        return None, None
    said = body if isinstance(body, dict) else {}
    member, cluster = said.get("member"), said.get("cluster_id")
    return (member if isinstance(member, str) else None), (cluster if isinstance(cluster, str) else None)


async def probe(address: str, port: int, tls: ssl.SSLContext, cluster_id: str, timeout: float) -> Probe:
    """What answers at ``address:port``: a member of this cluster, something else, or nothing (and how)."""
    failed = await _tcp(address, port, timeout)
    if failed is not None:
        return failed
    url = f"https://{format_target(address, port)}/api/v1/health"
    try:
        async with httpx.AsyncClient(verify=tls, timeout=timeout) as client:
            resp = await client.get(url)
    except httpx.TimeoutException:
        detail = f"accepts TCP connections but sent no answer within {timeout:g} s"
        return Probe(address, State.HUNG, detail=detail)
    except httpx.HTTPError as exc:
        if _caused_by(exc, ConnectionRefusedError):  # it went away between the two connections
            return Probe(address, State.REFUSED, detail=f"connection refused: nothing listens on port {port}")
        if _caused_by(exc, ssl.SSLCertVerificationError):
            member, cluster = await _identify(url, timeout)
            said = f" (it says: member {member} of cluster {cluster})" if member and cluster else ""
            detail = f"its certificate is not signed by this cluster's CA{said}"
            return Probe(address, State.OTHER_CLUSTER, member, cluster, detail)
        if isinstance(exc, httpx.ConnectError):
            return Probe(address, State.OTHER_CLUSTER, detail=f"not a hostgate server: TLS failed ({exc})")
        return Probe(address, State.NO_ANSWER, detail=f"{type(exc).__name__}: {exc}")
    answered_for = resp.headers.get("x-hostgate-cluster-id")
    member = resp.headers.get("x-hostgate-member")
    if answered_for is None:
        detail = f"not a hostgate server: answered HTTP {resp.status_code} without a cluster id"
        return Probe(address, State.OTHER_CLUSTER, detail=detail)
    if answered_for != cluster_id:
        detail = f"answers as member {member} of cluster {answered_for}"
        return Probe(address, State.OTHER_CLUSTER, member, answered_for, detail)
    if resp.status_code != 200:
        return Probe(address, State.NO_ANSWER, member, answered_for, f"answered HTTP {resp.status_code}")
    return Probe(address, State.MEMBER, member, answered_for, "ok")


async def _member_list(answering: Sequence[str], inputs: Inputs) -> tuple[tuple[MemberEntry, ...], str] | str:
    """The members and who gave them, read through the first answering member that does; else why not."""
    if not answering or inputs.password is None:
        return "no address of the alias answered for this cluster"
    faults: list[str] = []
    for address in answering:
        target = format_target(address, inputs.port)
        client = ClusterClient(target, ca_file=inputs.ca_file, user=inputs.user, password=inputs.password)
        try:
            status = (await client.call(API.cluster, None)).payload
            members = tuple(MemberEntry(m.name, m.address, m.port) for m in status.members)
            return members, status.answered_by
        except (AuthenticationFailed, NotAuthorized) as exc:
            return f"{address} refused the credentials: {exc}"
        except HostgateError as exc:
            faults.append(f"{address}: {exc}")
        except (KeyError, TypeError, ValueError):
            faults.append(f"{address}: the member list has an unexpected shape")
    return "; ".join(faults)


async def _ptr(servers: Sequence[NameServer], address: str, timeout: float) -> tuple[str, ...]:
    """PTR names of ``address`` from ``servers`` only; empty when there are none or DNS cannot tell."""
    resolver = dns.asyncresolver.Resolver(configure=False)  # never /etc/resolv.conf
    resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, s.port) for s in servers]
    resolver.lifetime = timeout
    resolver.cache = None
    try:
        answer = await resolver.resolve(dns.reversename.from_address(address), "PTR", search=False)
    except (dns.exception.DNSException, ValueError):
        return ()
    return tuple(normalize_name(r.to_text()) for r in answer)


# --- the diagnosis -------------------------------------------------------------------------------------------


def _answered(answers: Sequence[SourceAnswer]) -> list[SourceAnswer]:
    return [a for a in answers if a.status is SourceStatus.ANSWERED and a.addresses]


async def _resolve(inputs: Inputs, findings: list[Finding]) -> tuple[SourceAnswer, ...]:
    """What every source says; a bad hostgate hosts file is a finding, and the other sources are still asked."""
    sources = inputs.sources
    while sources:
        resolver = AliasResolver(
            hosts_file=inputs.hosts_file,
            dns_servers=inputs.dns_servers,
            sources=sources,
            timeout=inputs.timeout,
        )
        try:
            resolution = await resolver.resolve(inputs.alias, consult_all=True)
        except HostsFileError as exc:
            message = f"{exc.message}; every client given this file refuses to connect"
            findings.append(Finding(Check.HOSTS_FILE_BAD, message, exc.hint, sources=(Source.HOSTS_FILE,)))
            sources = tuple(s for s in sources if s is not Source.HOSTS_FILE)
            continue
        except ResolutionFailed as exc:
            fix = (
                f"Give every management server's address the name {inputs.alias}: an A record per member in "
                f"DNS, or a line `IP unique-name {inputs.alias}` per member in the hosts file (KB 7021563)."
            )
            findings.append(Finding(Check.UNRESOLVED, exc.message, fix))
            return ()
        return resolution.sources
    return ()


def _source_findings(inputs: Inputs, answers: Sequence[SourceAnswer]) -> list[Finding]:
    found: list[Finding] = []
    for a in answers:
        if a.status is SourceStatus.FAILED or (a.status is SourceStatus.ANSWERED and a.error):
            fix = "Check that this source answers; `hostgate resolve ALIAS` shows what each source says."
            found.append(Finding(Check.SOURCE_FAILED, f"{a.name}: {a.error}", fix, sources=(a.name,)))
    answered = _answered(answers)
    for other in answered[1:]:
        first = answered[0]
        if set(other.addresses) == set(first.addresses):
            continue
        diff = "; ".join(
            f"only in {name}: {', '.join(sorted(set(mine) - set(theirs)))}"
            for name, mine, theirs in (
                (first.name, first.addresses, other.addresses),
                (other.name, other.addresses, first.addresses),
            )
            if set(mine) - set(theirs)
        )
        message = f"{first.name} and {other.name} give different addresses for {inputs.alias} ({diff})"
        fix = (
            f"Make them agree: this system's clients use {first.name} (the first source that knows the alias), "
            f"systems without it use {other.name}. Update the hosts file on every system, or drop it for DNS."
        )
        found.append(Finding(Check.DISAGREE, message, fix, sources=(first.name, other.name)))
    return found


def _address_findings(
    inputs: Inputs,
    answered: Sequence[SourceAnswer],
    probes: dict[str, Probe],
    members: Sequence[MemberEntry] | None,
) -> list[Finding]:
    found: list[Finding] = []
    by_address = {m.address: m for m in members or ()}
    names = {m.name for m in members or ()}
    for address, p in probes.items():
        listed_by = tuple(a.name for a in answered if address in a.addresses)
        record = by_address.get(address)
        if p.state is State.OTHER_CLUSTER:
            fix = f"Take {address} out of the alias {inputs.alias}: a server belongs to one cluster only (KB 7021563)."
            found.append(
                Finding(Check.OTHER_CLUSTER, f"{address}: {p.detail}", fix, address, p.member, listed_by)
            )
        elif members is not None and record is None and not (p.state is State.MEMBER and p.member in names):
            what = (
                f"it answers for this cluster as {p.member}, which is not in the member list (removed?)"
                if p.state is State.MEMBER
                else f"nothing of this cluster answers there ({p.detail})"
            )
            fix = f"Take {address} out of the alias {inputs.alias}: clients try it and lose time on it."
            message = f"{address} is not a member: {what}"
            found.append(Finding(Check.NOT_A_MEMBER, message, fix, address, None, listed_by))
        elif p.state in _DOWN:
            name = record.name if record else p.member
            who = (
                f"member {name} ({address})"
                if name
                else f"{address} (which member is unknown: no member list)"
            )
            fix = _DOWN_FIX[p.state].format(who=name or address) + (
                f" If it is gone for good: `hostgate cluster remove {name or 'NAME'}`, and take {address} "
                "out of the alias."
            )
            found.append(Finding(_DOWN[p.state], f"{who}: {p.detail}", fix, address, name, listed_by))
    return found


def _missing_members(
    inputs: Inputs,
    answered: Sequence[SourceAnswer],
    probes: dict[str, Probe],
    members: Sequence[MemberEntry],
    own: dict[str, Probe],
) -> list[Finding]:
    found: list[Finding] = []
    for m in members:
        # Present under its recorded address, or under another of its interfaces (KB: "all IP addresses should
        # be listed") which then answers as this member.
        missing = tuple(
            a.name
            for a in answered
            if m.address not in a.addresses
            and not any(probes[x].state is State.MEMBER and probes[x].member == m.name for x in a.addresses)
        )
        if not missing:
            continue
        state = own.get(m.address) or probes.get(m.address)
        answers = state is not None and state.state is State.MEMBER
        port = f", port {m.port} while the alias is used with {inputs.port}" if m.port != inputs.port else ""
        message = f"member {m.name} ({m.address}{port}) is not in the alias {inputs.alias} from {', '.join(missing)}"
        if state is not None:
            message += (
                "; it answers on its own address"
                if answers
                else f"; it does not answer either: {state.detail}"
            )
        fix = f"Add `{m.address} {m.name} {inputs.alias}` to the hosts file on every system, or an A record {inputs.alias} -> {m.address} in DNS."
        if not answers:
            fix += f" If the member is gone for good: `hostgate cluster remove {m.name}`."
        found.append(Finding(Check.MEMBER_MISSING, message, fix, m.address, m.name, missing))
    return found


def _hosts_unique_name(path: Path, strict: bool, address: str) -> str | None:
    try:
        hosts = read_hosts_file(path, strict=strict)
    except HostsFileError:
        return None
    return next((e.unique_name for e in hosts.entries if str(e.address) == address), None)


async def _reverse(
    inputs: Inputs, answered: Sequence[SourceAnswer], expected: dict[str, str]
) -> tuple[dict[str, tuple[tuple[str, str], ...]], list[Finding]]:
    """Reverse names of each member address: from hosts files that name the alias, and DNS PTR records."""
    knew = {a.name for a in answered}
    files: list[tuple[str, Path, bool]] = []
    if Source.HOSTS_FILE in knew and inputs.hosts_file is not None:
        files.append((Source.HOSTS_FILE, inputs.hosts_file, True))
    if Source.SYSTEM_HOSTS in knew:
        files.append((Source.SYSTEM_HOSTS, Path(SYSTEM_HOSTS), False))
    use_dns = Source.DNS in inputs.sources and bool(inputs.dns_servers)
    addresses = sorted(expected)
    ptrs = await asyncio.gather(*(_ptr(inputs.dns_servers, a, inputs.timeout) for a in addresses if use_dns))
    seen: dict[str, tuple[tuple[str, str], ...]] = {}
    found: list[Finding] = []
    for i, address in enumerate(addresses):
        member = expected[address]
        given: dict[str, tuple[str, ...]] = {
            src: (n,) for src, path, strict in files if (n := _hosts_unique_name(path, strict, address))
        }
        if use_dns and ptrs[i]:
            given[Source.DNS] = ptrs[i]
        seen[address] = tuple((source, ", ".join(names)) for source, names in given.items())
        for source, names in given.items():
            # Member names are single labels; a PTR name is often qualified (workhorse01.example.com).
            if any(normalize_name(n).split(".")[0] == member.lower() for n in names):
                continue
            message = (
                f"{address} is member {member}, but a reverse lookup in {source} names it {', '.join(names)}"
            )
            fix = (
                f"Make the PTR record of {address} name {member}, not the alias."
                if source == Source.DNS
                else f"Write the line `{address} {member} {inputs.alias}`: the unique name first, then the alias (KB 7021563)."
            )
            found.append(Finding(Check.REVERSE, message, fix, address, member, (source,)))
    return seen, found


async def diagnose(inputs: Inputs) -> Report:
    """Resolve from every source, contact every address, read the member list, check reverse names."""
    try:
        ca_pem = inputs.ca_file.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read the cluster CA {inputs.ca_file}: {exc.strerror}") from exc
    cluster_id = cluster_id_of_ca(ca_pem)
    tls = ssl.create_default_context(cadata=ca_pem.decode())
    findings: list[Finding] = []
    answers = await _resolve(inputs, findings)
    findings += _source_findings(inputs, answers)
    answered = _answered(answers)
    in_alias = list(dict.fromkeys(addr for a in answered for addr in a.addresses))
    results = await asyncio.gather(
        *(probe(a, inputs.port, tls, cluster_id, inputs.timeout) for a in in_alias)
    )
    probes = dict(zip(in_alias, results, strict=True))
    members: tuple[MemberEntry, ...] | None = None
    members_from: str | None = None
    if in_alias and inputs.password is None:
        fix = "Give --password-file (and --user) to compare the alias with the cluster's member list."
        findings.append(Finding(Check.NOT_CHECKED, "the member list was not read: no credentials given", fix))
    elif in_alias:
        got = await _member_list([a for a, p in probes.items() if p.state is State.MEMBER], inputs)
        if isinstance(got, str):
            fix = "Check --user and --password-file, and that a member answers (`hostgate cluster status`)."
            findings.append(Finding(Check.NO_MEMBER_LIST, got, fix))
        else:
            members, members_from = got
    findings += _address_findings(inputs, answered, probes, members)
    if members is not None:
        outside = [m for m in members if m.address not in probes]
        own = await asyncio.gather(
            *(probe(m.address, m.port, tls, cluster_id, inputs.timeout) for m in outside)
        )
        findings += _missing_members(
            inputs, answered, probes, members, {m.address: p for m, p in zip(outside, own, strict=True)}
        )
    expected = {a: p.member for a, p in probes.items() if p.state is State.MEMBER and p.member}
    for m in members or ():
        expected.setdefault(m.address, m.name)
    reverse, reverse_findings = await _reverse(inputs, answered, expected)
    findings += reverse_findings
    reports = tuple(
        AddressReport(p, tuple(a.name for a in answered if addr in a.addresses), reverse.get(addr, ()))
        for addr, p in probes.items()
    )
    order = list(Severity)
    findings.sort(key=lambda f: (order.index(f.check.severity), f.check.code))
    return Report(
        inputs.alias, inputs.port, cluster_id, answers, reports, members, members_from, tuple(findings)
    )


# --- the command ---------------------------------------------------------------------------------------------

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _print(report: Report) -> None:
    console.print(f"Alias [bold]{escape(report.alias)}[/] port {report.port}, cluster {report.cluster_id}")
    sources = Table("source", "status", "addresses", "note", title="Name sources", title_justify="left")
    for s in report.sources:
        sources.add_row(s.name, s.status.value, "\n".join(s.addresses) or "-", escape(s.error or ""))
    console.print(sources)
    if report.addresses:
        table = Table("address", "listed by", "answers", "member", "reverse names", "detail")
        table.title, table.title_justify = "Addresses in the alias", "left"
        for a in report.addresses:
            style = "green" if a.probe.state is State.MEMBER else "red"
            table.add_row(
                a.probe.address,
                ", ".join(a.listed_by),
                f"[{style}]{a.probe.state.value}[/]",
                a.probe.member or "-",
                "\n".join(f"{source}: {name}" for source, name in a.reverse) or "-",
                escape(a.probe.detail),
            )
        console.print(table)
    members = report.to_json()["members"]
    if isinstance(members, list):
        table = Table("member", "address", "in alias", title=f"Members (as {report.members_from} lists them)")
        table.title_justify = "left"
        for m in members:
            in_alias = "yes" if m["in_alias"] else f"[red]not in {', '.join(m['missing_from'])}[/]"
            table.add_row(m["name"], format_target(m["address"], m["port"]), in_alias)
        console.print(table)
    for f in report.findings:
        console.print(
            f"[{_STYLE[f.check.severity]}]{f.check.code} {f.check.severity.value}[/]: {escape(f.message)}",
            soft_wrap=True,
        )
        console.print(f"    fix: {escape(f.fix)}", markup=False, soft_wrap=True)
    count = {s: sum(f.check.severity is s for f in report.findings) for s in Severity}
    if not count[Severity.ERROR] and not count[Severity.WARNING]:
        console.print("[green]No problems found.[/]")
    else:
        console.print(f"{count[Severity.ERROR]} error(s), {count[Severity.WARNING]} warning(s).")


def _alias_options(func: F) -> F:
    """The shared cluster options of cli/common.py without --server: here the alias is the argument."""
    func = cluster_options(func)
    params = func.__click_params__  # type: ignore[attr-defined]
    func.__click_params__ = [p for p in params if p.name != "server"]  # type: ignore[attr-defined]
    return func


@click.command("doctor")
@click.argument("alias", envvar="HOSTGATE_SERVER")
@_alias_options
@click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Choice([s.value for s in Source]),
    help="Ask only these name sources; repeat for several. [default: hosts_file, system_hosts, dns, system]",
)
@click.option(
    "--timeout",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for each address (and each DNS lookup); a member silent that long is hung.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (shape in docs/errors.md).")
@handle_errors
def doctor(
    alias: str,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
    ca_file: Path,
    user: str,
    password_file: Path | None,
    sources: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Check the cluster alias ALIAS[:PORT] against the running cluster; exit 1 on an error finding.

    Resolves ALIAS from every name source, contacts every address (health check with the cluster CA, no
    credentials) and, given --password-file, compares the alias with the member list. Each finding has a
    stable code (HG-D01...) and a fix; docs/errors.md lists them. Env: HOSTGATE_SERVER for ALIAS.
    """
    host, port = parse_target(alias, DEFAULT_PORT)
    servers = tuple(parse_name_server(p.strip()) for v in dns_servers for p in v.split(",") if p.strip())
    inputs = Inputs(
        alias=host,
        port=port,
        ca_file=ca_file,
        hosts_file=hosts_file,
        dns_servers=servers,
        sources=tuple(Source(s) for s in sources) or tuple(Source),
        user=user,
        password=read_secret_file(password_file, "password") if password_file else None,
        timeout=timeout,
    )
    report = asyncio.run(diagnose(inputs))
    if as_json:
        emit_json(report.to_json())
    else:
        _print(report)
    if not report.ok:
        raise SystemExit(1)
