"""Bodies of the management API (api/app.py): cluster, members, users, session servers, domains, routing.

Each exchange is defined once here; the API decodes requests with these, the connector and the CLI decode the
answers with them, and ``hostgate.messages.openapi()`` describes them. Field order is the positional order.
"""

from __future__ import annotations

from typing import Literal

from hostgate.messages._base import Message, Reply
from hostgate.messages.enrolment import PublicKey
from hostgate.messages.grants import GrantView

__all__ = [
    "HEARTBEAT_HOLDS",
    "ClusterName",
    "ClusterRename",
    "ClusterStatus",
    "DomainCreate",
    "DomainMember",
    "DomainServerSettings",
    "DomainView",
    "ErrorBody",
    "Health",
    "HeartbeatAnswer",
    "HeartbeatReport",
    "MemberRemovedAnswer",
    "MemberStatus",
    "NewUser",
    "PoolLoad",
    "Removed",
    "RouteAnswer",
    "RouteRequest",
    "SecuritySwitch",
    "ServerSecurity",
    "ServerView",
    "TokenKeysAnswer",
    "TokenRequest",
    "UserView",
    "heartbeat_holds",
]


class ErrorBody(Reply, frozen=True):
    """Every coded error of both faces (``HostgateError.to_payload`` plus the request id)."""

    code: str
    message: str
    hint: str | None = None
    request_id: str = ""


class Health(Reply, frozen=True):
    """``GET /api/v1/health`` of a management member (no credentials)."""

    status: str
    member: str
    cluster_id: str


class MemberStatus(Reply, frozen=True):
    name: str
    address: str
    port: int
    healthy: bool
    leader: bool
    store_healthy: bool
    detail: str
    role: str = "voter"  # "learner": joined, replicating, not yet promoted (does not count for the majority)


class ClusterStatus(Reply, frozen=True):
    """``GET /api/v1/cluster``: the cluster as the answering member sees it."""

    name: str
    id: str
    answered_by: str
    store: str
    quorum: bool
    members: tuple[MemberStatus, ...]
    voters: int = 1
    # How many more voting members may fail before the cluster loses its majority (writes stop).
    fault_tolerance: int = 0
    # A member down, a learner not yet promoted, or no majority.
    degraded: bool = False


class ClusterRename(Message, frozen=True):
    name: str


class ClusterName(Reply, frozen=True):
    """The cluster's record after a rename."""

    id: str
    name: str
    created_at: float


class MemberRemovedAnswer(Reply, frozen=True):
    removed: str
    address: str


class Removed(Reply, frozen=True):
    """A user, session server or domain removed (by name)."""

    removed: str


class UserView(Reply, frozen=True):
    name: str
    roles: tuple[str, ...]
    # ``GET /api/v1/whoami``: the grants that apply to the caller (its own and its groups'), as stored.
    profiles: tuple[GrantView, ...] = ()


class NewUser(Message, frozen=True):
    name: str
    password: str
    admin: bool = False


class ServerView(Reply, frozen=True):
    name: str
    address: str
    port: int
    advertised: str
    live: bool
    active_sessions: int
    capacity: int
    seconds_since_heartbeat: float | None
    domains: tuple[str, ...]
    # VHI's per-server security switch as stored in the cluster ("off": the server accepts any client).
    security: str = "on"


class SecuritySwitch(Message, frozen=True):
    """``PUT /api/v1/session-servers/{name}/security``: VHI's security setting of one session server."""

    security: Literal["on", "off"]


class ServerSecurity(Reply, frozen=True):
    """A session server's stored security setting (it learns a change with its next heartbeat answer)."""

    server: str
    security: str


class PoolLoad(Message, frozen=True):
    """One pool's figures in a heartbeat (issue #18): what routing via a domain prefers servers by."""

    name: str
    model: str
    idle: int
    busy: int
    pending: int
    max_concurrent: int


class HeartbeatReport(Message, frozen=True, omit_defaults=True):
    """A session server's load, sent to every member (soft state, never stored).

    ``pools``: each pool's figures (issue #18). Omitted while empty (``omit_defaults``), so a server without
    pools sends the very bytes an earlier member accepts; a member of an earlier version refuses a report that
    carries pools (HG-1011, unknown field) until it is upgraded."""

    active_sessions: int
    capacity: int
    interval: float
    pools: tuple[PoolLoad, ...] = ()


class HeartbeatAnswer(Reply, frozen=True):
    """The version of the cluster's public token keys: a server fetches them when it differs from its own.
    ``pools`` likewise for its pool definitions. ``security``: the server's stored security switch (``None`` from a member of an earlier version)."""

    token_keys: str
    security: bool | None = None
    # The version of the cluster-stored pool definitions that concern this server (issue #18; "" none): the
    # server fetches them (``GET /api/v1/session-servers/{name}/pools``) when it differs. None: an older member.
    pools: str | None = None


# A conditional heartbeat (issue #16): the session server states in this request header what it already holds
# (the versions a heartbeat answer names: ``heartbeat_holds``), and a member whose answer would name exactly
# those answers ``204 No Content``: the report is recorded as always (liveness and figures are the beat), only
# the news is left out. The idea is HTTP's conditional request (RFC 9110 13.1.2, If-None-Match) but not that
# header: on a POST a matching If-None-Match means "do not perform the method" and answers 412 (RFC 9110
# 13.2.2), and this report must always be performed. A header, not a field of the report, because members of
# an earlier version refuse unknown report fields (HG-1011) and ignore unknown headers: they answer 200 as
# before, and a server that sends no header (an earlier version) gets the full answer from every member.
HEARTBEAT_HOLDS = "X-Hostgate-Heartbeat-Holds"


def heartbeat_holds(token_keys: str, security: bool, pools: str) -> str:
    """The ``X-Hostgate-Heartbeat-Holds`` value for these versions (those of a :class:`HeartbeatAnswer`):
    ``token-keys;on|off;pools`` (the versions are hex digests, ``pools`` "" when none concern the server)."""
    return f"{token_keys};{'on' if security else 'off'};{pools}"


class TokenKeysAnswer(Reply, frozen=True):
    version: str
    keys: tuple[PublicKey, ...]


class DomainMember(Reply, frozen=True):
    server: str
    weight: int = 1
    priority: int = 1


class DomainView(Reply, frozen=True):
    name: str
    members: tuple[DomainMember, ...] = ()


class DomainCreate(Message, frozen=True):
    name: str


class DomainServerSettings(Message, frozen=True):
    weight: int
    priority: int


class RouteRequest(Message, frozen=True):
    """``POST /api/v1/route``: a session server of ``domain`` for ``model``, and a token bound to it.

    ``exclude``: servers this client already tried; ``unreachable``: those it could not reach (reported, so
    the member marks them suspect). ``pool``: route to a server running that pool (the token is for the pool).
    """

    domain: str
    model: str = ""
    exclude: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    pool: str = (
        ""  # a server of the domain running this pool, idle sessions first (connect_to_session_via_domain)
    )


class TokenRequest(Message, frozen=True):
    """``POST /api/v1/tokens``: a token for one named session server (a direct connection)."""

    server: str
    model: str = ""
    pool: str = ""  # a token for sessions of this pool on that server (connect_to_session)


class RouteAnswer(Reply, frozen=True, gc=False):
    """Where to open the session, and the token bound to that server, user and model."""

    server: str
    url: str
    address: str
    port: int
    token: str
    expires_at: float
