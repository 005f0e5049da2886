"""The doctor's findings and report: typed, frozen values that any face (CLI, console, JSON) can show."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path

from hostgate.naming import NameServer, Source, SourceAnswer, parse_name_server

__all__ = [
    "DOWN",
    "DOWN_FIX",
    "AddressReport",
    "Check",
    "Finding",
    "Inputs",
    "MemberEntry",
    "Probe",
    "Report",
    "Severity",
    "State",
]


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


DOWN = {State.HUNG: Check.HUNG, State.REFUSED: Check.REFUSED, State.NO_ANSWER: Check.NO_ANSWER}
DOWN_FIX = {
    State.HUNG: "Look at the process on {who}: it is frozen, overloaded or deadlocked; restart it.",
    State.REFUSED: "Start `hostgate server` on {who}.",
    State.NO_ANSWER: "Check that {who} is up and reachable from this system (routes, firewall).",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the doctor found: what (``check``: code, severity, title), the ``message`` naming the address or
    member concerned, and the ``fix`` to apply."""

    check: Check
    message: str
    fix: str
    address: str | None = None
    member: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        """The finding's stable code (``HG-D01``...; docs/errors.md, "doctor findings")."""
        return self.check.code

    @property
    def severity(self) -> Severity:
        return self.check.severity

    @property
    def title(self) -> str:
        return self.check.title

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
    """What to diagnose: the alias and port, the cluster CA, where to look names up, optional credentials."""

    alias: str
    port: int
    ca_file: Path
    hosts_file: Path | None = None
    dns_servers: tuple[NameServer, ...] = ()
    sources: tuple[Source, ...] = tuple(Source)
    user: str = "admin"
    password: str | None = None
    timeout: float = 2.0
    bearer: str | None = None  # a CLI login token (`hostgate login`), instead of the password

    @classmethod
    def from_names(
        cls,
        alias: str,
        port: int,
        ca_file: Path,
        *,
        hosts_file: Path | None,
        dns_servers: tuple[str, ...],
        sources: tuple[str, ...],
    ) -> Inputs:
        """Inputs from a member's ``[naming]`` strings (the console diagnoses the alias as the member resolves
        names: its hosts file, DNS servers and sources), without the caller importing ``hostgate.naming``."""
        return cls(
            alias,
            port,
            ca_file,
            hosts_file=hosts_file,
            dns_servers=tuple(parse_name_server(s) for s in dns_servers),
            sources=tuple(Source(s) for s in sources),
        )
