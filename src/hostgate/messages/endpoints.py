"""Every endpoint of both HTTP faces: method, path, request and answer message (one table, three users).

The faces route these paths (a test checks that every Starlette route of api/app.py and session/server.py is
here and the other way round), the typed client (``hostgate.connector.api``) calls them by endpoint so each
answer arrives as its message type, and :func:`hostgate.messages.openapi` describes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from hostgate.messages._base import Cell
from hostgate.messages.audit import AuditPage
from hostgate.messages.backup import BackupDump
from hostgate.messages.catalog import ModelCatalog, ServedModel
from hostgate.messages.deploy import (
    DeployAuthorize,
    DeployGrant,
    DeploymentAnswer,
    DeploymentReport,
    DeploymentView,
    HeldModels,
    HeldModelsAnswer,
    ModelUpload,
)
from hostgate.messages.enrolment import JoinGrant, JoinRequest, ServerRegistration, SessionGrant
from hostgate.messages.grants import GrantRequest, GrantView
from hostgate.messages.ldap import LdapSettingsUpdate, LdapSettingsView, LdapTestAnswer, LdapTestRequest
from hostgate.messages.login import LoginAnswer, LoginEnded, LoginRequest, PasswordChange, PasswordChanged
from hostgate.messages.maintenance import (
    LeaderMove,
    LeaderMoved,
    ScreenView,
    SessionList,
    SessionsAdminGrant,
)
from hostgate.messages.management import (
    ClusterName,
    ClusterRename,
    ClusterStatus,
    DomainCreate,
    DomainServerSettings,
    DomainView,
    Health,
    HeartbeatAnswer,
    HeartbeatReport,
    MemberRemovedAnswer,
    NewUser,
    Removed,
    RouteAnswer,
    RouteRequest,
    SecuritySwitch,
    ServerSecurity,
    ServerView,
    TokenKeysAnswer,
    TokenRequest,
    UserView,
)
from hostgate.messages.pools import (
    PoolDefinition,
    PoolSessionView,
    PoolUpdate,
    PoolView,
    ScheduleAnswer,
    ScheduleSpec,
    ServerPoolsAnswer,
)
from hostgate.messages.session import (
    Attributes,
    AttributesWrite,
    Closed,
    EntityAnswer,
    EntityMove,
    OpenSession,
    OperationCall,
    Ping,
    PoolStatus,
    ProcedureCall,
    Query,
    Records,
    SessionHealth,
    SessionInfo,
)

__all__ = ["ENDPOINTS", "Endpoint"]

Req = TypeVar("Req")
Rep = TypeVar("Rep")
Face = Literal["management", "session"]
# How a caller proves who it is: none, HTTP Basic (an account), the session server's TLS client certificate,
# or the session token (Bearer) the cluster granted.
Auth = Literal[
    "none",
    "basic",
    "certificate",
    "basic-or-certificate",
    "basic-and-certificate",
    "bearer",
    "optional-bearer",
]


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[Req, Rep]):
    """One exchange: ``request`` is the body's message (``None``: no body), ``reply`` the answer's type."""

    face: Face
    method: str
    path: str
    request: Any  # type[Req] | None (mypy has no "type form" for tuple[...] answers)
    reply: Any  # type[Rep], or None for a non-JSON answer (the CA's PEM)
    summary: str
    status: int = 200
    auth: Auth = "basic"

    def url_path(self, **params: str) -> str:
        """The path with ``{name}`` parameters filled in (quoted: a name never changes the path's shape)."""
        from urllib.parse import quote

        return self.path.format(**{k: quote(v, safe="") for k, v in params.items()})


def _m(method: str, path: str, request: Any, reply: Any, summary: str, **kw: Any) -> Endpoint[Any, Any]:
    return Endpoint("management", method, "/api/v1" + path, request, reply, summary, **kw)


def _s(method: str, path: str, request: Any, reply: Any, summary: str, **kw: Any) -> Endpoint[Any, Any]:
    return Endpoint("session", method, "/api/v1" + path, request, reply, summary, **kw)


class _Management:
    """The management API's endpoints by name (``API.route`` ...), typed for the client."""

    health: Endpoint[None, Health] = _m(
        "GET", "/health", None, Health, "Liveness and cluster id", auth="none"
    )
    ca: Endpoint[None, None] = _m("GET", "/ca", None, None, "The cluster CA certificate (PEM)", auth="none")
    openapi: Endpoint[None, dict[str, Any]] = _m("GET", "/openapi.json", None, dict, "This document")
    whoami: Endpoint[None, UserView] = _m("GET", "/whoami", None, UserView, "The calling account")
    cluster: Endpoint[None, ClusterStatus] = _m("GET", "/cluster", None, ClusterStatus, "Cluster status")
    backup: Endpoint[None, BackupDump] = _m(
        "GET", "/cluster/backup", None, BackupDump, "Every configuration key at one revision (Administrator)"
    )
    rename: Endpoint[ClusterRename, ClusterName] = _m(
        "PUT", "/cluster/name", ClusterRename, ClusterName, "Rename the cluster"
    )
    join: Endpoint[JoinRequest, JoinGrant] = _m(
        "POST", "/cluster/members", JoinRequest, JoinGrant, "Join a management member", status=201
    )
    remove_member: Endpoint[None, MemberRemovedAnswer] = _m(
        "DELETE", "/cluster/members/{name}", None, MemberRemovedAnswer, "Remove a member"
    )
    sessions_admin_token: Endpoint[None, SessionsAdminGrant] = _m(
        "POST", "/session-servers/{name}/admin-token", None, SessionsAdminGrant,
        "A short-lived token to list and end the sessions of one session server (Administrators)",
    )  # fmt: skip
    move_leader: Endpoint[LeaderMove, LeaderMoved] = _m(
        "PUT", "/cluster/leader", LeaderMove, LeaderMoved, "Hand the store leadership to a member (etcd only)"
    )
    servers: Endpoint[None, tuple[ServerView, ...]] = _m(
        "GET", "/session-servers", None, tuple[ServerView, ...], "Session servers and their load"
    )
    register: Endpoint[ServerRegistration, SessionGrant] = _m(
        "POST", "/session-servers", ServerRegistration, SessionGrant, "Register a session server", status=201
    )
    remove_server: Endpoint[None, Removed] = _m(
        "DELETE", "/session-servers/{name}", None, Removed, "Remove a session server"
    )
    server_security: Endpoint[SecuritySwitch, ServerSecurity] = _m(
        "PUT", "/session-servers/{name}/security", SecuritySwitch, ServerSecurity,
        "Switch a session server's security on or off (VHI's security setting)",
    )  # fmt: skip
    heartbeat: Endpoint[HeartbeatReport, HeartbeatAnswer] = _m(
        "POST", "/session-servers/{name}/heartbeat", HeartbeatReport, HeartbeatAnswer,
        "A session server's load (soft state)", auth="certificate",
    )  # fmt: skip
    token_keys: Endpoint[None, TokenKeysAnswer] = _m(
        "GET", "/token-keys", None, TokenKeysAnswer, "Public token keys", auth="basic-or-certificate"
    )
    rotate_token_keys: Endpoint[None, TokenKeysAnswer] = _m(
        "POST", "/token-keys/rotate", None, TokenKeysAnswer, "Rotate the token signing key"
    )
    domains: Endpoint[None, tuple[DomainView, ...]] = _m(
        "GET", "/domains", None, tuple[DomainView, ...], "Load-distribution domains"
    )
    create_domain: Endpoint[DomainCreate, DomainView] = _m(
        "POST", "/domains", DomainCreate, DomainView, "Create a domain", status=201
    )
    domain: Endpoint[None, DomainView] = _m("GET", "/domains/{name}", None, DomainView, "One domain")
    delete_domain: Endpoint[None, Removed] = _m("DELETE", "/domains/{name}", None, Removed, "Delete a domain")
    add_domain_server: Endpoint[DomainServerSettings, DomainView] = _m(
        "PUT", "/domains/{name}/servers/{server}", DomainServerSettings, DomainView,
        "Put a session server in a domain (weight, priority)",
    )  # fmt: skip
    remove_domain_server: Endpoint[None, DomainView] = _m(
        "DELETE",
        "/domains/{name}/servers/{server}",
        None,
        DomainView,
        "Take a session server out of a domain",
    )
    route: Endpoint[RouteRequest, RouteAnswer] = _m(
        "POST", "/route", RouteRequest, RouteAnswer, "A session server of a domain, and a token bound to it"
    )
    grant_direct: Endpoint[TokenRequest, RouteAnswer] = _m(
        "POST", "/tokens", TokenRequest, RouteAnswer, "A token for one named session server"
    )
    users: Endpoint[None, tuple[UserView, ...]] = _m("GET", "/users", None, tuple[UserView, ...], "Accounts")
    add_user: Endpoint[NewUser, UserView] = _m(
        "POST", "/users", NewUser, UserView, "Add an account", status=201
    )
    remove_user: Endpoint[None, Removed] = _m("DELETE", "/users/{name}", None, Removed, "Remove an account")
    grants: Endpoint[None, tuple[GrantView, ...]] = _m(
        "GET",
        "/grants",
        None,
        tuple[GrantView, ...],
        "Grants of profiles (an Administrator: all; others: own)",
    )
    add_grant: Endpoint[GrantRequest, GrantView] = _m(
        "POST", "/grants", GrantRequest, GrantView, "Grant a profile (to a user or group, on a scope)",
        status=201,
    )  # fmt: skip
    remove_grant: Endpoint[GrantRequest, GrantView] = _m(
        "DELETE", "/grants", GrantRequest, GrantView, "Remove a grant (the last local Administrator stays)"
    )
    set_password: Endpoint[PasswordChange, PasswordChanged] = _m(
        "PUT", "/users/{name}/password", PasswordChange, PasswordChanged,
        "Change one's own password (with the current one), or an Administrator resets another's",
    )  # fmt: skip
    login: Endpoint[LoginRequest, LoginAnswer] = _m(
        "POST", "/login", LoginRequest, LoginAnswer, "A short-lived CLI login token (password only)"
    )
    logout: Endpoint[None, LoginEnded] = _m(
        "DELETE", "/login", None, LoginEnded, "End the CLI login whose token is sent, on every member",
        auth="bearer",
    )  # fmt: skip
    audit: Endpoint[None, AuditPage] = _m(
        "GET", "/audit", None, AuditPage, "The audit trail (?since=&until=&limit=&action=&order=&cursor=)"
    )
    ldap_show: Endpoint[None, LdapSettingsView] = _m(
        "GET", "/ldap", None, LdapSettingsView, "The LDAP / Active Directory directories' settings"
    )
    ldap_replace: Endpoint[LdapSettingsUpdate, LdapSettingsView] = _m(
        "PUT", "/ldap", LdapSettingsUpdate, LdapSettingsView, "Replace the directories' settings whole"
    )
    ldap_test: Endpoint[LdapTestRequest, LdapTestAnswer] = _m(
        "POST", "/ldap/test", LdapTestRequest, LdapTestAnswer, "Look a user up in every directory"
    )

    # Model deployment through a management session (management/deployments.py, issue #17).
    deploy_authorize: Endpoint[DeployAuthorize, DeployGrant] = _m(
        "POST", "/session-servers/{name}/deployments/authorize", DeployAuthorize, DeployGrant,
        "A deploy token for the forwarded user (a session server, by its certificate)",
        auth="basic-and-certificate",
    )  # fmt: skip
    deployment_record: Endpoint[DeploymentReport, DeploymentView] = _m(
        "PUT", "/session-servers/{name}/deployments/{model}", DeploymentReport, DeploymentView,
        "Record a model a session server now serves (its certificate and a deploy token)", auth="certificate",
    )  # fmt: skip
    deployment_withdrawn: Endpoint[DeploymentReport, Removed] = _m(
        "DELETE", "/session-servers/{name}/deployments/{model}", DeploymentReport, Removed,
        "Record a model a session server no longer serves (its certificate and a deploy token)",
        auth="certificate",
    )  # fmt: skip
    deployments_held: Endpoint[HeldModels, HeldModelsAnswer] = _m(
        "PUT", "/session-servers/{name}/deployments", HeldModels, HeldModelsAnswer,
        "Record the models a session server holds, those deployed offline included (its certificate)",
        auth="certificate",
    )  # fmt: skip
    deployments: Endpoint[None, tuple[DeploymentView, ...]] = _m(
        "GET", "/deployments", None, tuple[DeploymentView, ...], "Recorded deployments (?server=S&domain=D)"
    )
    # Pools stored in the cluster (issue #18; api/pool_routes.py). Not /pools: the session face's GET /pools
    # (a server's running pools) shares the one OpenAPI document.
    cluster_pools: Endpoint[None, tuple[PoolView, ...]] = _m(
        "GET", "/cluster/pools", None, tuple[PoolView, ...], "Pools defined in the cluster"
    )
    pool_create: Endpoint[PoolDefinition, PoolView] = _m(
        "POST", "/cluster/pools", PoolDefinition, PoolView, "Define a pool on a domain or server", status=201
    )
    pool_show: Endpoint[None, PoolView] = _m(
        "GET", "/cluster/pools/{name}", None, PoolView, "A pool definition"
    )
    pool_update: Endpoint[PoolUpdate, PoolView] = _m(
        "PATCH", "/cluster/pools/{name}", PoolUpdate, PoolView, "Change a pool (fields given)"
    )
    pool_delete: Endpoint[None, Removed] = _m(
        "DELETE", "/cluster/pools/{name}", None, Removed, "Delete a pool (its servers drain it)"
    )
    pool_drain: Endpoint[None, PoolView] = _m(
        "POST", "/cluster/pools/{name}/drain", None, PoolView, "Drain a pool: no new sessions"
    )
    pool_resume: Endpoint[None, PoolView] = _m(
        "POST", "/cluster/pools/{name}/resume", None, PoolView, "Hand out sessions of a drained pool again"
    )
    pool_schedule: Endpoint[None, ScheduleAnswer] = _m(
        "GET",
        "/cluster/pools/{name}/schedule",
        None,
        ScheduleAnswer,
        "Sizes in force and next changes (?changes=N)",
    )
    pool_schedule_set: Endpoint[ScheduleSpec, PoolView] = _m(
        "PUT", "/cluster/pools/{name}/schedule", ScheduleSpec, PoolView, "Set a pool's schedule"
    )
    pool_schedule_clear: Endpoint[None, PoolView] = _m(
        "DELETE", "/cluster/pools/{name}/schedule", None, PoolView, "Clear a pool's schedule"
    )
    pool_inspect: Endpoint[None, tuple[RouteAnswer, ...]] = _m(
        "POST", "/cluster/pools/{name}/inspect", None, tuple[RouteAnswer, ...],
        "The servers running a pool, each with a pool-admin token (Developer)",
    )  # fmt: skip
    server_pools: Endpoint[None, ServerPoolsAnswer] = _m(
        "GET", "/session-servers/{name}/pools", None, ServerPoolsAnswer, "A session server's pool definitions",
        auth="certificate",
    )  # fmt: skip


class _Session:
    """The session server's endpoints by name, typed for the connector's sessions."""

    health: Endpoint[None, SessionHealth] = _s(
        "GET",
        "/health",
        None,
        SessionHealth,
        "Whose server; with a token also its load",
        auth="optional-bearer",
    )
    open: Endpoint[OpenSession, SessionInfo] = _s(
        "POST", "/sessions", OpenSession, SessionInfo, "Open a session (connect and sign on)", status=201,
        auth="bearer",
    )  # fmt: skip
    show: Endpoint[None, SessionInfo] = _s(
        "GET", "/sessions/{id}", None, SessionInfo, "The session", auth="bearer"
    )
    close: Endpoint[None, Closed] = _s("DELETE", "/sessions/{id}", None, Closed, "Sign off", auth="bearer")
    ping: Endpoint[None, Ping] = _s("POST", "/sessions/{id}/ping", None, Ping, "Round trip", auth="bearer")
    entity: Endpoint[None, EntityAnswer] = _s(
        "GET", "/sessions/{id}/entity", None, EntityAnswer, "The current entity", auth="bearer"
    )
    move: Endpoint[EntityMove, EntityAnswer] = _s(
        "PUT", "/sessions/{id}/entity", EntityMove, EntityAnswer, "Navigate to an entity", auth="bearer"
    )
    attributes: Endpoint[None, Attributes] = _s(
        "GET", "/sessions/{id}/attributes", None, Attributes, "Attributes (?names=a,b)", auth="bearer"
    )
    set_attributes: Endpoint[AttributesWrite, EntityAnswer] = _s(
        "PUT", "/sessions/{id}/attributes", AttributesWrite, EntityAnswer, "Write attributes", auth="bearer"
    )
    operation: Endpoint[OperationCall, EntityAnswer] = _s(
        "POST", "/sessions/{id}/operations/{name}", OperationCall, EntityAnswer, "Run an operation",
        auth="bearer",
    )  # fmt: skip
    recordset: Endpoint[None, Records[Cell]] = _s(
        "GET", "/sessions/{id}/recordsets/{name}", None, Records[Cell], "Records (?max=N&filter.COL=V)",
        auth="bearer",
    )  # fmt: skip
    procedure: Endpoint[ProcedureCall, Records[Cell]] = _s(
        "POST", "/sessions/{id}/procedures", ProcedureCall, Records[Cell], "Run a table procedure",
        auth="bearer",
    )  # fmt: skip
    query: Endpoint[Query, Records[Cell]] = _s(
        "POST", "/sessions/{id}/query", Query, Records[Cell], "SQL over the model's tables", auth="bearer"
    )
    pools: Endpoint[None, tuple[PoolStatus, ...]] = _s(
        "GET", "/pools", None, tuple[PoolStatus, ...], "The server's pools and their figures", auth="bearer"
    )
    pool: Endpoint[None, PoolStatus] = _s(
        "GET", "/pools/{name}", None, PoolStatus, "One pool and its figures", auth="bearer"
    )
    acquire: Endpoint[None, SessionInfo] = _s(
        "POST", "/pools/{name}/sessions", None, SessionInfo, "A ready session from the pool", status=201,
        auth="bearer",
    )  # fmt: skip
    release: Endpoint[None, Closed] = _s(
        "DELETE", "/pools/{name}/sessions/{id}", None, Closed, "Give the session back to its pool",
        auth="bearer",
    )  # fmt: skip
    pool_sessions: Endpoint[None, tuple[PoolSessionView, ...]] = _s(
        "GET", "/pools/{name}/sessions", None, tuple[PoolSessionView, ...],
        "Each session of the pool: state, holder, since (a pool-admin token)", auth="bearer",
    )  # fmt: skip

    admin_sessions: Endpoint[None, SessionList] = _s(
        "GET",
        "/admin/sessions",
        None,
        SessionList,
        "Every live session (a sessions-admin token)",
        auth="bearer",
    )
    admin_end: Endpoint[None, Closed] = _s(
        "DELETE",
        "/admin/sessions/{id}",
        None,
        Closed,
        "End any session (a sessions-admin token)",
        auth="bearer",
    )
    admin_screen: Endpoint[None, ScreenView] = _s(
        "GET",
        "/admin/sessions/{id}/screen",
        None,
        ScreenView,
        "A session's current screen, hidden fields masked (a sessions-admin token)",
        auth="bearer",
    )

    deploy: Endpoint[ModelUpload, DeploymentAnswer] = _s(
        "PUT", "/models/{name}", ModelUpload, DeploymentAnswer,
        "Activate a model here (the caller's credentials are forwarded to the cluster)", auth="basic",
    )  # fmt: skip
    withdraw: Endpoint[None, DeploymentAnswer] = _s(
        "DELETE", "/models/{name}", None, DeploymentAnswer,
        "Withdraw a model from new sessions (credentials forwarded)", auth="basic",
    )  # fmt: skip

    # What a deployed model offers as services (#19, session/catalog_routes.py).
    models: Endpoint[None, tuple[ServedModel, ...]] = _s(
        "GET", "/models", None, tuple[ServedModel, ...], "The models this server serves (name, digest)",
        auth="bearer",
    )  # fmt: skip
    catalog: Endpoint[None, ModelCatalog] = _s(
        "GET", "/models/{name}/catalog", None, ModelCatalog, "A served model's tables and procedures",
        auth="bearer",
    )  # fmt: skip


API = _Management()
SESSION = _Session()
ENDPOINTS: tuple[Endpoint[Any, Any], ...] = tuple(
    e for table in (_Management, _Session) for e in vars(table).values() if isinstance(e, Endpoint)
)
