"""The diagnosis: what every name source says, what answers at each address, and the rules of KB 7021563."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from pathlib import Path

from hostgate.connector.cluster import cluster_id_of_ca
from hostgate.connector.diagnosis.findings import (
    DOWN,
    DOWN_FIX,
    AddressReport,
    Check,
    Finding,
    Inputs,
    MemberEntry,
    Probe,
    Report,
    Severity,
    State,
)
from hostgate.connector.diagnosis.probes import member_list, probe, ptr
from hostgate.errors import CertificateError, HostsFileError, ResolutionFailed
from hostgate.naming import (
    SYSTEM_HOSTS,
    AliasResolver,
    Source,
    SourceAnswer,
    SourceStatus,
    normalize_name,
    read_hosts_file,
)

__all__ = ["diagnose"]


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
        elif p.state in DOWN:
            name = record.name if record else p.member
            who = (
                f"member {name} ({address})"
                if name
                else f"{address} (which member is unknown: no member list)"
            )
            fix = DOWN_FIX[p.state].format(who=name or address) + (
                f" If it is gone for good: `hostgate cluster remove {name or 'NAME'}`, and take {address} "
                "out of the alias."
            )
            found.append(Finding(DOWN[p.state], f"{who}: {p.detail}", fix, address, name, listed_by))
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
    ptrs = await asyncio.gather(*(ptr(inputs.dns_servers, a, inputs.timeout) for a in addresses if use_dns))
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
    if in_alias and inputs.password is None and inputs.bearer is None:
        fix = "Give --password-file (and --user), or run `hostgate login`, to compare the alias with the member list."
        findings.append(Finding(Check.NOT_CHECKED, "the member list was not read: no credentials given", fix))
    elif in_alias:
        got = await member_list([a for a, p in probes.items() if p.state is State.MEMBER], inputs)
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
