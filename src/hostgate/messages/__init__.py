"""Every message that crosses the wire, defined once (issue #16, "Typed messages").

The management API (api/app.py), the session server (session/server.py), the connector and the CLI all import
these definitions: the faces decode requests and encode answers with them, the clients encode requests and
decode answers with them, and :func:`openapi` generates the OpenAPI document from them. This package is a bottom
module: it imports only msgspec and ``hostgate.errors`` (``import hostgate.connector`` stays free of server code).

    body = decode_request(raw, RouteRequest)      # one pass: JSON -> checked RouteRequest, or HG-1011 naming
    raw = encode(RouteAnswer(...))                #   the field (``exclude[1]``), before anything changes
"""

from __future__ import annotations

from hostgate.messages._base import Cell, Message, Reply, decode_answer, decode_request, encode
from hostgate.messages.audit import AuditEntryView, AuditPage, parse_when
from hostgate.messages.backup import BackupDump, BackupEntry, BackupManifest, read_backup, write_backup
from hostgate.messages.deploy import (
    DeployAuthorize,
    DeployGrant,
    DeploymentAnswer,
    DeploymentReport,
    DeploymentView,
    ModelUpload,
)
from hostgate.messages.endpoints import API, ENDPOINTS, SESSION, Endpoint
from hostgate.messages.enrolment import JoinGrant, JoinRequest, PublicKey, ServerRegistration, SessionGrant
from hostgate.messages.grants import GrantRequest, GrantView
from hostgate.messages.ldap import (
    LdapDirectory,
    LdapDirectoryView,
    LdapSettingsUpdate,
    LdapSettingsView,
    LdapTestAnswer,
    LdapTestReport,
    LdapTestRequest,
)
from hostgate.messages.login import LoginAnswer, LoginRequest, PasswordChange, PasswordChanged
from hostgate.messages.maintenance import LeaderMove, LeaderMoved, SessionList, SessionsAdminGrant
from hostgate.messages.management import (
    ClusterName,
    ClusterRename,
    ClusterStatus,
    DomainCreate,
    DomainMember,
    DomainServerSettings,
    DomainView,
    ErrorBody,
    Health,
    HeartbeatAnswer,
    HeartbeatReport,
    MemberRemovedAnswer,
    MemberStatus,
    NewUser,
    PoolLoad,
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
from hostgate.messages.openapi import openapi
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

__all__ = [
    "API",
    "ENDPOINTS",
    "SESSION",
    "Attributes",
    "AttributesWrite",
    "AuditEntryView",
    "AuditPage",
    "BackupDump",
    "BackupEntry",
    "BackupManifest",
    "Cell",
    "Closed",
    "ClusterName",
    "ClusterRename",
    "ClusterStatus",
    "DeployAuthorize",
    "DeployGrant",
    "DeploymentAnswer",
    "DeploymentReport",
    "DeploymentView",
    "DomainCreate",
    "DomainMember",
    "DomainServerSettings",
    "DomainView",
    "Endpoint",
    "EntityAnswer",
    "EntityMove",
    "ErrorBody",
    "GrantRequest",
    "GrantView",
    "Health",
    "HeartbeatAnswer",
    "HeartbeatReport",
    "JoinGrant",
    "JoinRequest",
    "LdapDirectory",
    "LdapDirectoryView",
    "LdapSettingsUpdate",
    "LdapSettingsView",
    "LdapTestAnswer",
    "LdapTestReport",
    "LdapTestRequest",
    "LeaderMove",
    "LeaderMoved",
    "LoginAnswer",
    "LoginRequest",
    "MemberRemovedAnswer",
    "MemberStatus",
    "Message",
    "ModelUpload",
    "NewUser",
    "OpenSession",
    "OperationCall",
    "PasswordChange",
    "PasswordChanged",
    "Ping",
    "PoolLoad",
    "PoolStatus",
    "ProcedureCall",
    "PublicKey",
    "Query",
    "Records",
    "Removed",
    "Reply",
    "RouteAnswer",
    "RouteRequest",
    "SecuritySwitch",
    "ServerRegistration",
    "ServerSecurity",
    "ServerView",
    "SessionGrant",
    "SessionHealth",
    "SessionInfo",
    "SessionList",
    "SessionsAdminGrant",
    "TokenKeysAnswer",
    "TokenRequest",
    "UserView",
    "decode_answer",
    "decode_request",
    "encode",
    "openapi",
    "parse_when",
    "read_backup",
    "write_backup",
]
