"""The console's pages and actions: each reads and changes through the management service, as the API does.

Every change goes through the same service method the JSON API calls (which checks the Administrator profile
itself) after ``Access.require`` here, so a User-profile login is refused (HG-3002) even when it forges the
POST the page does not show it; and each leaves an audit entry (action ``console.*``), as the API's writes do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hostgate.connector.diagnosis import Inputs, diagnose
from hostgate.console.shares import ServerShare, shares
from hostgate.console.web import Ctx, Page
from hostgate.errors import HostgateError, UsageError
from hostgate.management.access import Profile
from hostgate.management.audit_query import Query
from hostgate.management.grant_admin import describe
from hostgate.management.records import GrantRecord
from hostgate.messages import ClusterStatus, ServerView

__all__ = [
    "alias_page",
    "audit_page",
    "cluster_page",
    "domains_page",
    "overview_page",
    "security_page",
    "status_page",
]


@dataclass(frozen=True, slots=True)
class AuditRow:
    time: float
    when: str
    member: str
    actor: str
    action: str
    target: str
    source: str
    outcome: str
    detail: str


@dataclass(frozen=True, slots=True)
class Counts:
    members: int
    session_servers: int
    live_session_servers: int
    domains: int
    users: int
    console_sessions: int


@dataclass(frozen=True, slots=True)
class Overview:
    cluster: ClusterStatus
    session_servers: tuple[ServerView, ...]
    counts: Counts
    recent: tuple[AuditRow, ...] | None  # None: not shown to this login (the audit trail is Administrators')
    failures: tuple[AuditRow, ...] | None


def _rows(entries: object) -> tuple[AuditRow, ...]:
    rows = []
    for e in entries:  # type: ignore[attr-defined]
        rows.append(
            AuditRow(
                e.time,
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.time)),
                e.member,
                e.actor,
                e.action,
                e.target,
                e.source,
                e.outcome,
                ", ".join(f"{k}={v}" for k, v in e.detail),
            )
        )
    return tuple(rows)


async def _audit(ctx: Ctx, query: Query) -> tuple[AuditRow, ...] | None:
    if not ctx.can(Profile.ADMINISTRATOR):
        return None
    try:
        return _rows((await ctx.service.audit.read(query)).entries)
    except HostgateError:
        return ()  # the trail could not be read now: the overview still shows the rest


async def overview_page(ctx: Ctx) -> Page:
    service = ctx.service
    cluster = await service.cluster_status()
    servers = tuple(service.domains.server_views())
    recent = await _audit(ctx, Query(limit=8))
    failures = await _audit(ctx, Query(limit=50))
    if failures is not None:
        failures = tuple(r for r in failures if r.outcome != "ok")[:8]
    counts = Counts(
        members=len(cluster.members),
        session_servers=len(servers),
        live_session_servers=sum(1 for s in servers if s.live),
        domains=len(service.domains.domains()),
        users=len(service.users()),
        console_sessions=ctx.sessions.count(),
    )
    return Page("overview.html", "Overview", Overview(cluster, servers, counts, recent, failures), live=True)


@dataclass(frozen=True, slots=True)
class ClusterProperties:
    name: str
    id: str
    created: str
    store: str
    cluster: ClusterStatus


async def cluster_page(ctx: Ctx) -> Page:
    info = ctx.service.cluster_info()
    status = await ctx.service.cluster_status()
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(info.created_at))
    data = ClusterProperties(info.name, info.id, created, str(ctx.service.settings.store), status)
    return Page("cluster.html", "Management Cluster › Properties", data, live=True)


async def rename_cluster(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    renamed = await ctx.service.rename_cluster(ctx.who, ctx.field("name"))
    _audit_change(ctx, "console.cluster.rename", renamed.name)
    return f"cluster renamed to {renamed.name}"


async def remove_member(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name = ctx.field("member")
    record = await ctx.service.remove_member(ctx.who, name)
    _audit_change(ctx, "console.member.remove", record.name)
    return f"member {record.name} removed"


@dataclass(frozen=True, slots=True)
class AliasCheck:
    alias: str
    port: int
    by_address: bool  # the console was reached by an address, not a name: nothing to check
    report: dict[str, object] | None


async def alias_page(ctx: Ctx) -> Page:
    """The doctor's diagnosis (connector/diagnosis) of the name this console was reached by: "the alias itself
    is the console's address". Names are looked up from this member, as a client here would."""
    settings = ctx.service.settings
    alias = ctx.request.url.hostname or ""
    port = ctx.request.url.port or settings.server.port
    by_address = not alias or alias.replace(".", "").isdigit() or ":" in alias
    report = None
    if not by_address:
        naming = settings.naming
        inputs = Inputs.from_names(
            alias,
            port,
            settings.path(settings.tls.ca_file),
            hosts_file=settings.path(naming.hosts_file) if naming.hosts_file else None,
            dns_servers=naming.dns_servers,
            sources=naming.sources,
        )
        found = await diagnose(inputs)
        report = found.to_json()
    return Page("alias.html", "Management Cluster › Alias check", AliasCheck(alias, port, by_address, report))


@dataclass(frozen=True, slots=True)
class DomainRow:
    name: str
    servers: tuple[ServerShare, ...]


@dataclass(frozen=True, slots=True)
class Domains:
    domains: tuple[DomainRow, ...]
    registered: tuple[str, ...]  # session servers that can be added


async def domains_page(ctx: Ctx) -> Page:
    service = ctx.service
    registered = service.domains.servers()
    rows = tuple(
        DomainRow(d.name, tuple(shares(d, registered, service.router.is_live)))
        for d in sorted(service.domains.domains(), key=lambda d: d.name)
    )
    return Page("domains.html", "Domains", Domains(rows, tuple(sorted(registered))), live=True)


async def create_domain(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    record = await ctx.service.domains.create_domain(ctx.who, ctx.field("name"))
    _audit_change(ctx, "console.domain.create", record.name)
    return f"domain {record.name} created"


async def delete_domain(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name = ctx.field("domain")
    await ctx.service.domains.delete_domain(ctx.who, name)
    _audit_change(ctx, "console.domain.delete", name)
    return f"domain {name} deleted"


async def add_domain_server(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    domain, server = ctx.field("domain"), ctx.field("server")
    weight, priority = ctx.int_field("weight", 100), ctx.int_field("priority", 1)
    await ctx.service.domains.add_server(ctx.who, domain, server, weight, priority)
    _audit_change(ctx, "console.domain.add_server", f"{domain}/{server}", weight=weight, priority=priority)
    return f"{server} in domain {domain}: weight {weight}, priority {priority}"


async def remove_domain_server(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    domain, server = ctx.field("domain"), ctx.field("server")
    await ctx.service.domains.remove_server_from_domain(ctx.who, domain, server)
    _audit_change(ctx, "console.domain.remove_server", f"{domain}/{server}")
    return f"{server} removed from domain {domain}"


@dataclass(frozen=True, slots=True)
class UserRow:
    name: str
    kind: str
    profiles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GrantRow:
    profile: str
    subject_kind: str
    subject: str
    scope_kind: str
    scope: str
    text: str


@dataclass(frozen=True, slots=True)
class Security:
    users: tuple[UserRow, ...]
    grants: tuple[GrantRow, ...]
    directories: tuple[str, ...]


async def security_page(ctx: Ctx) -> Page:
    service = ctx.service
    service.access.require(ctx.who, Profile.ADMINISTRATOR)  # as `GET /api/v1/users` and grant listing
    grants = service.grant_admin.list_grants(ctx.who)
    users = tuple(
        UserRow(
            u.name,
            "local",
            tuple(
                sorted(
                    {
                        g.profile
                        for g in grants
                        if g.subject_kind == "user" and g.subject.lower() == u.name.lower()
                    }
                )
            ),
        )
        for u in sorted(service.users(), key=lambda u: u.name)
    )
    rows = tuple(
        GrantRow(
            g.profile,
            g.subject_kind,
            g.subject,
            g.scope_kind,
            g.scope,
            describe(g),
        )
        for g in grants
    )
    directories = tuple(d.name for d in service.auth.ldap_settings().directories)
    return Page("security.html", "Security", Security(users, rows, directories))


async def add_user(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name, password = ctx.field("name"), ctx.form.get("password", "")
    if password != ctx.form.get("password2", ""):
        raise UsageError("the two passwords differ", hint="Type the same new password in both fields.")
    admin = ctx.field("admin") in ("1", "on", "true")
    record = await ctx.service.add_user(ctx.who, name, password, admin)
    _audit_change(ctx, "console.user.add", record.name, admin=admin)
    return f"user {record.name} added" + (" (Administrator)" if admin else "")


async def remove_user(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name = ctx.field("user")
    await ctx.service.remove_user(ctx.who, name)
    _audit_change(ctx, "console.user.remove", name)
    return f"user {name} removed"


def _grant(ctx: Ctx) -> GrantRecord:
    scope_kind = ctx.field("scope_kind") or "cluster"
    return GrantRecord(
        ctx.field("profile"),
        ctx.field("subject_kind") or "user",
        ctx.field("subject"),
        scope_kind,
        "" if scope_kind == "cluster" else ctx.field("scope"),
    )


async def add_grant(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    added = await ctx.service.grant_admin.add(ctx.who, _grant(ctx))
    _audit_change(ctx, "console.grant.add", added.subject, grant=describe(added))
    return f"granted: {describe(added)}"


async def remove_grant(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    removed = await ctx.service.grant_admin.remove(ctx.who, _grant(ctx))
    _audit_change(ctx, "console.grant.remove", removed.subject, grant=describe(removed))
    return f"grant removed: {describe(removed)}"


@dataclass(frozen=True, slots=True)
class AuditLog:
    action: str
    hours: int
    limit: int
    failures_only: bool
    entries: tuple[AuditRow, ...]


async def audit_page(ctx: Ctx) -> Page:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)  # as `GET /api/v1/audit`
    params = ctx.request.query_params
    action = params.get("action", "").strip()[:100]
    try:
        hours = max(0, min(int(params.get("hours", "0") or 0), 24 * 366))
        limit = max(1, min(int(params.get("limit", "100") or 100), 500))
    except ValueError:
        hours, limit = 0, 100
    failures_only = params.get("failures", "") in ("1", "on", "true")
    since = time.time() - hours * 3600 if hours else None
    page = await ctx.service.audit.read(Query(since=since, limit=limit, action=action or None))
    rows = _rows(page.entries)
    if failures_only:
        rows = tuple(r for r in rows if r.outcome != "ok")
    return Page("audit.html", "Audit log", AuditLog(action, hours, limit, failures_only, rows), live=True)


@dataclass(frozen=True, slots=True)
class Nothing:
    pass


async def status_page(ctx: Ctx) -> Page:
    """Only the status bar (every page's JSON twin has it too): what the live status bar polls."""
    return Page("status.html", "Status", Nothing())


def _audit_change(ctx: Ctx, action: str, target: str, **detail: object) -> None:
    ctx.service.audit.record(
        actor=ctx.who.name, action=action, target=target, source=ctx.source, detail=detail
    )
