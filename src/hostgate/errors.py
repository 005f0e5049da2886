"""hostgate's one error tree.

Every error a user can meet is a :class:`HostgateError` with a stable code (``HG-NNNN``), a message that says
what happened and a hint that says what to do. Third-party errors are translated at the seam
(``raise StoreUnavailable(...) from exc``); nothing else should reach a user.

::

    HostgateError                           (HG-1000 as a default only: servers send InternalError)
    ├── InternalError              HG-1000  an unexpected error in a server; the answer carries a request id
    ├── ConfigError                HG-1001  bad hostgate.toml / environment value (names the field)
    ├── DataDirError               HG-1002  data directory missing, unreadable or already used
    ├── UsageError                 HG-1003  a command's arguments do not fit together
    ├── FeatureNotAvailable        HG-1004  asked for something a later version brings (sessions from pools)
    ├── BodyTooLarge               HG-1010  a request body is larger than the route accepts (413)
    ├── InvalidField               HG-1011  a request field is out of range or malformed (names the field)
    ├── ServerBusy                 HG-1030  the server has as many connections open as it accepts (503)
    ├── RequestHeaderTimeout       HG-1031  the request line and headers did not arrive in time (408)
    ├── MalformedRequest           HG-1032  the request is not valid HTTP/1.1 (400, the connection is closed)
    ├── MalformedAnswer            HG-1050  a server's answer does not match its message definition (502)
    ├── Conflict                   HG-1070  the thing to create already exists (a domain, user, server) (409)
    ├── UsageError ─ CommandLineError HG-1071  the command line does not parse (click's own usage errors)
    ├── Conflict ─ MemberExists    HG-1074  a join names a member (or address and port) the cluster already has (409)
    ├── TestHostUnavailable        HG-1073  `hostgate testhost` cannot start the host (its package is missing)
    ├── StoreError
    │   ├── StoreUnavailable       HG-2001  the store cannot be reached
    │   ├── QuorumLost             HG-2002  writes need a majority of members and there is none
    │   ├── CompareFailed          HG-2003  a compare-and-set saw another revision (someone else wrote)
    │   ├── NotSupported           HG-2004  the backend cannot do this (member add on SQLite, ...)
    │   ├── StoreCorrupt           HG-2005  a record in the store cannot be decoded
    │   ├── DeadlineExpired        HG-2006  a write arrived (or was about to be stored) after its client's deadline
    │   └── WriteInProgress        HG-2007  an earlier attempt of the same write applied it; its answer is not known yet
    ├── SecurityError
    │   ├── AuthenticationFailed   HG-3001  wrong user or password, or no credentials
    │   ├── NotAuthorized          HG-3002  authenticated but not allowed
    │   ├── TooManyAttempts        HG-3003  failed logins from this user/address: wait Retry-After seconds (429)
    │   ├── UnsafeAddress          HG-3004  a server would listen on every interface, or a URL is not https
    │   ├── ServerCertificateRefused HG-3030  a TLS client certificate is not the one registered for that server
    │   ├── LoginExpired           HG-3240  (an AuthenticationFailed) the CLI login (`hostgate login`) has expired
    │   ├── LoginInvalid           HG-3241  (an AuthenticationFailed) a CLI login token this cluster does not accept
    │   ├── LoginNotOffered        HG-3242  no CLI login for this account or this way (directory users; a token)
    │   ├── PasswordNotLocal       HG-3243  the account's password is kept by a directory, not the cluster
    │   ├── CurrentPasswordWrong   HG-3244  `user passwd`: the current password given is wrong
    │   └── LoginFileUnsafe        HG-3245  the stored CLI login cannot be read or is open to other users
    │   ├── CsrfRefused            HG-3300  a console form or change arrived without this console session's CSRF token
    │   ├── ConsoleLoginRequired   HG-3301  (an AuthenticationFailed) no console session, or it expired or was logged out
    │   ├── ConsoleSessionIdle     HG-3360  (a ConsoleLoginRequired) the console session ended after its idle timeout
    │   ├── ConsoleFileMissing     HG-3361  a file the console offers (plugin-cfg.xml) is not on the member that answered
    │   ├── DirectoryConfigInvalid HG-3100  an LDAP directory setting is malformed (names the field)
    │   ├── DirectoryUnavailable   HG-3101  no directory could decide about the user (lists each one's fault)
    │   ├── DirectoryUserAmbiguous HG-3102  (an AuthenticationFailed) the user search matched several entries
    │   ├── EmptyPasswordRefused   HG-3103  (an AuthenticationFailed) an empty password (RFC 4513 §5.1.2)
    │   ├── LastAdministrator      HG-3200  a change would leave no local account holding cluster-wide Administrator
    │   ├── BuiltinAdminProtected  HG-3201  the built-in `admin` account cannot be removed
    │   ├── GrantNotFound          HG-3202  no such grant (profile, subject and scope)
    │   ├── OfflineBoundExceeded   HG-3220  (an AuthenticationFailed) management unreachable, user verified too long ago
    │   └── ManagementSessionError HG-3852  VHI's "Cannot establish management session" / "Token binding is invalid"
    │       └── DeployTokenMismatch HG-7260  a deploy token used for another action or model text than granted
    ├── ClusterError
    │   ├── AlreadyInCluster       HG-4001  a server belongs to one cluster only
    │   ├── JoinFailed             HG-4002  the cluster refused or could not complete a join
    │   ├── MemberNotFound         HG-4003  no such member
    │   ├── LastMember             HG-4004  refusing to remove the last member
    │   ├── CertificateError       HG-4005  the cluster CA or a member certificate is missing or invalid
    │   ├── MemberRemoved          HG-4010  this member was removed from its cluster; it serves nothing more
    │   ├── MemberNotReady         HG-4011  this member is up but not serving yet (waits for a majority, or catches up)
    │   └── EtcdTrustOutdated      HG-4030  a data directory without the member-only etcd CA (earlier version)
    ├── RoutingError
    │   ├── NoServerAvailable      HG-4101  no live session server in the domain
    │   ├── DomainNotFound         HG-4102  no such load-distribution domain
    │   └── SessionServerNotFound  HG-4103  no such registered session server
    ├── SessionError
    │   ├── SessionLost            HG-4201  the session's server went away
    │   └── SessionNotFound        HG-4202  no such session (closed or never claimed)
    ├── PoolError                  HG-4300  (family) session pools on a session server
    │   ├── PoolNotFound           HG-4301  the session server runs no pool of that name
    │   ├── PoolQueueFull          HG-4302  the pool is at max concurrent and max pending clients already wait
    │   ├── PoolWaitTimeout        HG-4303  no session of the pool came free within max wait
    │   ├── PoolVariablesExhausted HG-4304  every entry of a pool's variable list is held by a session (names the list)
    │   ├── PoolsFileError         HG-4305  the pools file is invalid (every issue with its path and line)
    │   └── PoolClosed             HG-4306  the pool was stopped (server shutting down) while the client waited
    ├── CatalogUnavailable         HG-4550  no session server serving a deployed model answered with its catalog
    ├── ModelNotDeployed           HG-4551  the cluster records no session server serving the model
    ├── ScaffoldTargetNotEmpty     HG-4552  `hostgate scaffold --out DIR`: DIR holds files (without --force)
    ├── TerminalTooSmall           HG-6640  `hostgate model capture`: the terminal is smaller than the host screen + 3 lines
    ├── TerminalRequired           HG-6641  `hostgate model capture` needs an interactive terminal (stdin and stdout)
    ├── CaptureOutputExists        HG-6642  `model capture --out FILE`: FILE exists and --resume does not name it
    ├── UsageError ─ HostAddressInvalid HG-6643  `model capture --host`: not ADDRESS:PORT (port 1-65535)
    ├── CaptureWriteFailed         HG-6644  `model capture`: the model file could not be written (names it and why)
    ├── WebServiceError            HG-4500  (family) the web-service layer (REST/SOAP over models' procedures, #19)
    │   ├── ServerNameUnknown      HG-4501  the management cluster's alias (serverName) resolved to no address
    │   ├── PluginConfigInvalid    HG-4502  plugin-cfg.xml is not well-formed or holds a bad entry
    │   ├── ServiceNotFound        HG-4503  no such published model or procedure
    │   ├── SoapRequestInvalid     HG-4504  a SOAP request is not a well-formed SOAP 1.1 envelope (or uses DTDs/entities)
    │   ├── KeptSessionNotFound    HG-4505  no kept web-service session of that id (ended, timed out, never kept)
    │   ├── KeptSessionNotYours    HG-4506  a kept session is resumed by another caller than the one who kept it
    │   └── KeptSessionsFull       HG-4507  the web-service layer holds as many kept sessions as it may
    │   ├── PoolClosed             HG-4306  the pool was stopped (server shutting down) while the client waited
    │   ├── PoolDefinitionNotFound HG-4330  no pool of that name is defined in the cluster
    │   ├── InvalidPoolDefinition  HG-4331  a pool definition or schedule is invalid (names the field)
    │   ├── PoolAlreadyDefined     HG-4332  a pool of that name is already defined in the cluster
    │   └── PoolDrained            HG-4333  the pool is drained: it hands out no sessions
    │   ├── PoolClosed             HG-4306  the pool was stopped (server shutting down) while the client waited
    │   └── PoolNotInDomain        HG-4360  no live session server of the domain runs the pool (routing via domain)
    ├── ConsoleServerSilent        HG-3340  a session server did not answer the console (its sessions, a screen, a model)
    ├── ConsoleCaptureError        HG-3380  (family) the web console's capture (Capture page)
    │   ├── CaptureOff             HG-3381  capture is off on this member: [capture] hosts is empty
    │   ├── CaptureHostNotAllowed  HG-3382  the host asked for is not in this member's [capture] hosts
    │   ├── CaptureAlreadyOpen     HG-3383  this console login already has a capture on this member
    │   ├── CaptureSessionsFull    HG-3384  the member holds [capture] max_sessions captures already
    │   ├── CaptureNotOpen         HG-3385  no capture of this login here (ended, idle, logged out, restarted)
    │   └── CaptureFieldInvalid    HG-3386  a field of a capture request is missing or invalid (names it)
    ├── NamingError
    │   ├── HostsFileError         HG-5001  hostgate's own hosts file has a bad line (names file:line)
    │   └── ResolutionFailed       HG-5002  an alias resolved to no address
    ├── ConnectError
    │   ├── NoMemberAnswered       HG-5101  every address of the alias failed (lists each address's fault)
    │   ├── WrongCluster           HG-5102  the server that answered belongs to another cluster
    │   └── NotAManagementMember   HG-1072  the address and port given are a session server's, not a member's
    ├── ModelError                 HG-6001  a model is invalid (carries every issue with its path)
    │   └── ModelSyntaxError       HG-6002  a model file is not well-formed YAML (names line and column)
    ├── QueryError                 HG-6003  an SQL statement outside hostgate's subset (names the position)
    │   └── NoProcedureForQuery    HG-6004  no procedure of the table can answer the query
    ├── ModelRuntimeError          HG-6100  (family) driving a host through a model
    │   ├── EntityNotRecognized    HG-6101  the host shows a screen no entity of the model recognises
    │   ├── UnexpectedEntity       HG-6102  the host shows an entity other than the expected one(s)
    │   ├── NoPathToEntity         HG-6103  no chain of operations leads from the current entity to the asked one
    │   ├── AttributeNotWritable   HG-6104  a write to a read-only attribute
    │   ├── AttributeNotReadable   HG-6105  a read of a write-only attribute
    │   ├── ModelItemNotFound      HG-6106  no such entity, attribute, operation, recordset, table, procedure, variable
    │   ├── InvalidValue           HG-6107  a value does not fit (type, length, missing or unknown parameter)
    │   ├── ModelNotFound          HG-6108  the session server has no model of that name
    │   └── SignOnFailed           HG-6109  the sign-on navigation did not reach the home entity
    ├── CaptureError               HG-6600  (family) capturing a model from a live host (`hostgate model capture`)
    │   ├── CaptureRulesClash      HG-6601  proposed recognition rules also match another captured entity
    │   ├── CaptureNameInvalid     HG-6602  an entity/attribute/operation name is taken or not an identifier
    │   ├── CaptureNothingToRecord HG-6603  no marked entity to record from, or the inputs do not end with a key
    │   ├── CaptureUnknownEntity   HG-6604  an operation names an entity that was not captured
    │   ├── CaptureRegionInvalid   HG-6605  a marked region or recordset lies outside the screen
    │   └── CaptureResumeRefused   HG-6606  --resume: the model is for another host type or terminal size
    ├── DeploymentError            HG-6200  (family) deploying models on session servers through the cluster
    │   ├── DeploymentNotRecorded  HG-6201  the cluster did not record an activation: it was rolled back
    │   ├── DeploymentIncomplete   HG-6202  a deployment to a domain failed on some of its servers
    │   └── SessionServerUnreachable HG-6203  the session server named for a deployment did not answer
    ├── HostError
    │   ├── HostUnreachable        HG-7001  the terminal host refused, did not answer, or failed TLS
    │   ├── HostDisconnected       HG-7002  the terminal host closed the connection
    │   ├── HostTimeout            HG-7003  the screen did not reach the awaited state in time
    │   ├── KeyboardLocked         HG-7004  the host kept the keyboard locked past the timeout
    │   ├── FieldNotWritable       HG-7005  input aimed at a protected position or outside the screen
    │   ├── KeyNotSupported        HG-7006  the key has no meaning for this kind of host
    │   └── HostProtocolError      HG-7007  the host's data stream or negotiation could not be understood
    ├── OperationsError            HG-7200  (family) running a cluster: metrics, backup and restore
    │   ├── MetricsAccessDenied    HG-7201  /metrics without the scrape token (or with a wrong one)
    │   ├── BackupFailed           HG-7210  a backup could not be made or written (names the file and why)
    │   ├── BackupInvalid          HG-7211  a backup file is not one, is truncated, or fails its checksum
    │   ├── RestoreTargetNotEmpty  HG-7212  a restore goes into a new, empty data directory only
    │   └── RestoreFailed          HG-7213  a restore could not build the new data directory (nothing is left)
    └── RemoteError                HG-9xxx  a server answered with a coded error (code kept as the server sent it)

The catalogue with hints is ``docs/errors.md``; ``tests/unit/test_errors.py`` keeps the two in step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from hostgate._public import public_text

__all__ = [
    "AlreadyInCluster",
    "AttributeNotReadable",
    "AttributeNotWritable",
    "AuthenticationFailed",
    "BackupFailed",
    "BackupInvalid",
    "BodyTooLarge",
    "BuiltinAdminProtected",
    "CaptureOutputExists",
    "CaptureWriteFailed",
    "CatalogUnavailable",
    "CertificateError",
    "ClusterError",
    "CommandLineError",
    "CompareFailed",
    "ConfigError",
    "Conflict",
    "ConnectError",
    "ConsoleFileMissing",
    "ConsoleLoginRequired",
    "ConsoleServerSilent",
    "ConsoleSessionIdle",
    "CsrfRefused",
    "CurrentPasswordWrong",
    "DataDirError",
    "DeadlineExpired",
    "DeployTokenMismatch",
    "DeploymentError",
    "DeploymentIncomplete",
    "DeploymentNotRecorded",
    "DirectoryConfigInvalid",
    "DirectoryUnavailable",
    "DirectoryUserAmbiguous",
    "DomainNotFound",
    "EmptyPasswordRefused",
    "EntityNotRecognized",
    "EtcdTrustOutdated",
    "FeatureNotAvailable",
    "FieldNotWritable",
    "GrantNotFound",
    "HostAddressInvalid",
    "HostDisconnected",
    "HostError",
    "HostProtocolError",
    "HostTimeout",
    "HostUnreachable",
    "HostgateError",
    "HostsFileError",
    "InternalError",
    "InvalidField",
    "InvalidPoolDefinition",
    "InvalidValue",
    "JoinFailed",
    "KeptSessionNotFound",
    "KeptSessionNotYours",
    "KeptSessionsFull",
    "KeyNotSupported",
    "KeyboardLocked",
    "LastAdministrator",
    "LastMember",
    "LoginExpired",
    "LoginFileUnsafe",
    "LoginInvalid",
    "LoginNotOffered",
    "MalformedAnswer",
    "ManagementSessionError",
    "MemberExists",
    "MemberNotFound",
    "MemberNotReady",
    "MemberRemoved",
    "MethodNotAllowed",
    "MetricsAccessDenied",
    "ModelError",
    "ModelIssue",
    "ModelItemNotFound",
    "ModelNotDeployed",
    "ModelNotFound",
    "ModelRuntimeError",
    "ModelSyntaxError",
    "NamingError",
    "NoMemberAnswered",
    "NoPathToEntity",
    "NoProcedureForQuery",
    "NoServerAvailable",
    "NoSuchEndpoint",
    "NotAManagementMember",
    "NotAuthorized",
    "NotSupported",
    "OfflineBoundExceeded",
    "OperationsError",
    "PasswordNotLocal",
    "PluginConfigInvalid",
    "PoolAlreadyDefined",
    "PoolClosed",
    "PoolDefinitionNotFound",
    "PoolDrained",
    "PoolError",
    "PoolNotFound",
    "PoolNotInDomain",
    "PoolQueueFull",
    "PoolVariablesExhausted",
    "PoolWaitTimeout",
    "PoolsFileError",
    "QueryError",
    "QuorumLost",
    "RemoteError",
    "RequestHeaderTimeout",
    "ResolutionFailed",
    "RestoreFailed",
    "RestoreTargetNotEmpty",
    "RoutingError",
    "ScaffoldTargetNotEmpty",
    "SecurityError",
    "ServerBusy",
    "ServerCertificateRefused",
    "ServerNameUnknown",
    "ServiceNotFound",
    "SessionError",
    "SessionLost",
    "SessionNotFound",
    "SessionServerNotFound",
    "SessionServerUnreachable",
    "SignOnFailed",
    "SoapRequestInvalid",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "TerminalRequired",
    "TerminalTooSmall",
    "TestHostUnavailable",
    "TooManyAttempts",
    "UnexpectedEntity",
    "UnsafeAddress",
    "UsageError",
    "UserNotFound",
    "WebServiceError",
    "WriteInProgress",
    "WrongCluster",
    "error_from_answer",
    "error_from_payload",
]


class HostgateError(Exception):
    """Root of every error hostgate raises on purpose."""

    code: ClassVar[str] = "HG-1000"
    hint: ClassVar[str] = "This is a bug in hostgate; please report it with the command you ran."
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint  # type: ignore[misc]  # per-instance hint overrides the class default

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_payload(self, *, public: bool = True) -> dict[str, str]:
        """The JSON body an HTTP face sends for this error: echoed input bounded, and (``public``) no absolute
        path of this host (issue #15, finding 8; ``hostgate._public``). The CLI keeps its own host's paths."""
        message, hint = (public_text(t, hide_paths=public) for t in (self.message, self.hint))
        return {"code": self.code, "message": message, "hint": hint}


class InternalError(HostgateError):
    """What an HTTP face answers for an exception nobody meant to raise (a bug): HTTP 500, the request id in
    the message and the body, the traceback only in the server's log (one record, with the same id)."""

    code = "HG-1000"
    hint = (
        "This is a bug in hostgate; please report it with the request id. The server's log has one record "
        "with that id and the details."
    )
    http_status = 500


class ConfigError(HostgateError):
    code = "HG-1001"
    hint = "Correct the named field in hostgate.toml (or the HOSTGATE_* variable) and start again."
    http_status = 400


class DataDirError(HostgateError):
    code = "HG-1002"
    hint = "Check the --data-dir path; `hostgate install` creates a new one."
    http_status = 400


class UsageError(HostgateError):
    code = "HG-1003"
    hint = "See the command's --help."
    http_status = 400


class FeatureNotAvailable(HostgateError):
    code = "HG-1004"
    hint = "This hostgate version does not offer it yet; docs/architecture.md says what is built."
    http_status = 501


class BodyTooLarge(HostgateError):
    code = "HG-1010"
    hint = "Send a smaller request body; the message names the limit of this route."
    http_status = 413


class InvalidField(HostgateError):
    code = "HG-1011"
    hint = "Correct the named field (range and form are in the message) and send the request again."
    http_status = 400


class MalformedAnswer(HostgateError):
    code = "HG-1050"
    hint = "Run the same hostgate version on clients and servers; the message names the field that did not match."
    http_status = 502


class ServerBusy(HostgateError):
    code = "HG-1030"
    hint = (
        "Try again in a moment (the answer's Retry-After says when); the server is at its connection limit."
    )
    http_status = 503


class RequestHeaderTimeout(HostgateError):
    code = "HG-1031"
    hint = "Send the whole request line and headers at once; a slow or stalled client is cut off."
    http_status = 408


class MalformedRequest(HostgateError):
    """What the session server's HTTP protocol answers for bytes llhttp refuses (runtime/lean_http.py)."""

    code = "HG-1032"
    hint = "Send a valid HTTP/1.1 request (RFC 9112); the message says what the parser refused."
    http_status = 400


class NoSuchEndpoint(HostgateError):
    """Starlette's own 404 for a path no route matches, coded like every other answer (issue #15, fuzzing)."""

    code = "HG-1040"
    hint = "Check the URL: the API's paths start with /api/v1/ (docs/architecture.md lists them)."
    http_status = 404


class MethodNotAllowed(HostgateError):
    """Starlette's own 405 for a known path with another method; the answer keeps its ``Allow`` header."""

    code = "HG-1041"
    hint = "Use one of the methods the Allow header of this answer names."
    http_status = 405


class UserNotFound(HostgateError):
    """An account that does not exist, like every other "no X named" of the API: 404, not 400 (issue #15)."""

    code = "HG-1042"
    hint = "Check the name: `hostgate user list` shows the accounts of the cluster."
    http_status = 404


class StoreError(HostgateError):
    code = "HG-2000"


class StoreUnavailable(StoreError):
    code = "HG-2001"
    hint = (
        "Check that this member's store (etcd member or SQLite file) is running; `hostgate cluster status`."
    )
    http_status = 503


class QuorumLost(StoreError):
    code = "HG-2002"
    hint = (
        "Changes need a majority of management members. Start the stopped members, or remove dead ones with "
        "`hostgate cluster remove` once a majority is back. Reads and logins keep working meanwhile."
    )
    http_status = 503


class CompareFailed(StoreError):
    code = "HG-2003"
    hint = "Someone else changed the same item; read it again and retry."
    http_status = 409


class NotSupported(StoreError):
    code = "HG-2004"
    hint = "This needs a replicated (etcd) cluster; a single SQLite server has one member only."
    http_status = 400


class StoreCorrupt(StoreError):
    code = "HG-2005"
    hint = (
        "A stored record cannot be read by this version of hostgate; check that all members run one version."
    )


class DeadlineExpired(StoreError):
    """The client's deadline (``X-Hostgate-Deadline``) passed before the write could be stored: not applied.

    Hedged writes (docs/architecture.md, "Hedged writes"): a member that was silent while the client went on to
    another member must not apply the request late, after the client has moved on.
    """

    code = "HG-2006"
    hint = (
        "The change was not made because it reached the store after your deadline; check the current state "
        "and repeat it if it is still wanted. If this happens at once, check that this system's clock is set "
        "(NTP): deadlines are absolute times."
    )
    http_status = 504


class WriteInProgress(StoreError):
    """Another attempt of the same write (same idempotency key) applied it, and its answer is not known yet."""

    code = "HG-2007"
    hint = (
        "The change WAS made by another attempt of the same request; do not repeat it. Read the current "
        "state (`hostgate cluster status`, `hostgate domain list`, ...) to see its outcome."
    )
    http_status = 409


class SecurityError(HostgateError):
    code = "HG-3000"
    http_status = 403


class AuthenticationFailed(SecurityError):
    code = "HG-3001"
    hint = "Check --user and --password-file (or HOSTGATE_USER / HOSTGATE_PASSWORD_FILE)."
    http_status = 401


class NotAuthorized(SecurityError):
    code = "HG-3002"
    hint = "Ask an Administrator of the cluster to grant this user the needed role."
    http_status = 403


class TooManyAttempts(SecurityError):
    """Logins are slowed down after failures (per user and per source address); ``retry_after`` seconds."""

    code = "HG-3003"
    hint = "Too many failed logins: wait the number of seconds in Retry-After, then check the password."
    http_status = 429

    def __init__(self, message: str, *, hint: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class UnsafeAddress(SecurityError):
    code = "HG-3004"
    hint = (
        "Give the one address this server should listen on (not 0.0.0.0 or ::), and https:// URLs only: "
        "hostgate traffic carries credentials and tokens."
    )
    http_status = 400


class ServerCertificateRefused(SecurityError):
    code = "HG-3030"
    hint = (
        "A session server identifies itself with the certificate its registration gave it "
        "(DATA_DIR/member.pem); if that file was replaced, register the server again."
    )
    http_status = 403


class LoginExpired(AuthenticationFailed):
    """The CLI's stored login (``hostgate login``) is past its expiry: refused by the CLI before sending it, and
    by a member if it arrives anyway. The message says when it expired."""

    code = "HG-3240"
    hint = "Run `hostgate login` again (or pass --password-file)."
    http_status = 401


class LoginInvalid(AuthenticationFailed):
    """A CLI login token (``Authorization: Bearer hgcli_...``) the cluster does not accept: malformed, signed by
    another cluster or by a key retired since, for a user removed since, or issued before the user's password
    changed. The message says which."""

    code = "HG-3241"
    hint = "Run `hostgate login` again (or pass --password-file)."
    http_status = 401


class LoginNotOffered(SecurityError):
    """``hostgate login`` is not offered here: a directory (LDAP) account, whose password and groups only the
    directory can vouch for, or a request that tried to get a login with a login token instead of a password."""

    code = "HG-3242"
    hint = "Pass --password-file with each command (or HOSTGATE_PASSWORD_FILE) instead of `hostgate login`."
    http_status = 403


class PasswordNotLocal(SecurityError):
    """``hostgate user passwd`` for an account the cluster does not keep a password for (a directory user)."""

    code = "HG-3243"
    hint = "This account is managed by the directory: change its password there."
    http_status = 409


class CurrentPasswordWrong(SecurityError):
    """Changing one's own password needs the current one, and it was wrong (counted like a failed login)."""

    code = "HG-3244"
    hint = "Give your current password (--current-password-file, or type it when asked)."
    http_status = 403


class LoginFileUnsafe(SecurityError):
    """The stored CLI login cannot be read, or other users could read it (not 0600 in a 0700 directory)."""

    code = "HG-3245"
    hint = "Run `hostgate logout` and `hostgate login` again; the login is stored 0600 in a 0700 directory."
    http_status = 400


class CsrfRefused(SecurityError):
    """A console POST without the CSRF token bound to its console session (or with another one): refused
    before anything is read or changed (the console's forms carry it; console/sessions.py)."""

    code = "HG-3300"
    hint = "Reload the console page and submit the form again (forms carry a token bound to your login)."
    http_status = 403


class ConsoleLoginRequired(AuthenticationFailed):
    """A console page or action without a valid console session: none, expired, logged out (on any member),
    or its user was removed or changed password since."""

    code = "HG-3301"
    hint = "Log in to the console again (/console/login)."
    http_status = 401


class ConsoleSessionIdle(ConsoleLoginRequired):
    """A console session that saw no activity for its idle timeout (``[console] idle_timeout``): it ended on
    every member. HTML pages redirect to the login page, as for any ended session."""

    code = "HG-3360"
    hint = "Log in to the console again (/console/login); the idle timeout is [console] idle_timeout."


class ConsoleFileMissing(SecurityError):
    """A file the console offers to download (this member's ``webservices/plugin-cfg.xml``) is not there: the
    page that linked it was served by another member, or the file was removed since."""

    code = "HG-3361"
    hint = "Open the Web services page again: it links the file only when the member serving it has one."
    http_status = 404


class ConsoleServerSilent(HostgateError):
    """The console asked a session server (its live sessions, a session's screen, ending one, activating a
    model) and it refused the connection, did not answer in time, or failed TLS with the cluster CA. The
    Sessions page shows such a server as not answering instead of failing the page (console/session_servers.py)."""

    code = "HG-3340"
    hint = (
        "Check that the session server runs and that this member can reach it at its advertised address "
        "(`hostgate servers` lists them); the console asks it again on the next refresh."
    )
    http_status = 502


class ConsoleCaptureError(HostgateError):
    """#22: the web console's capture (console/capture_page.py; a member-side capture session)."""

    code = "HG-3380"
    hint = "This is a bug in hostgate; please report it with what you did in the console's Capture page."
    http_status = 400


class CaptureOff(ConsoleCaptureError):
    """#22: capture from the console is off on this member: its ``[capture] hosts`` allowlist is empty."""

    code = "HG-3381"
    hint = (
        "List the hosts this member may dial for a capture in its hostgate.toml, e.g. [capture] hosts = "
        '["127.0.0.1:3270"], and restart it; or capture from a terminal with `hostgate model capture`.'
    )
    http_status = 409


class CaptureHostNotAllowed(ConsoleCaptureError):
    """#22: a capture asked for a host that is not in this member's ``[capture] hosts`` (never dialled)."""

    code = "HG-3382"
    hint = "Choose one of the hosts the Capture page lists; an Administrator of the member adds hosts to [capture] hosts."
    http_status = 403


class CaptureAlreadyOpen(ConsoleCaptureError):
    """#22: this console login already has a capture on this member (one per login)."""

    code = "HG-3383"
    hint = "Go on with the capture the Capture page shows, or end it there before starting another."
    http_status = 409


class CaptureSessionsFull(ConsoleCaptureError):
    """#22: the member already holds ``[capture] max_sessions`` captures."""

    code = "HG-3384"
    hint = "Try again when another capture ended (they end after [capture] idle_timeout without use), or raise [capture] max_sessions."
    http_status = 503


class CaptureNotOpen(ConsoleCaptureError):
    """#22: no capture of this login on this member: never started, ended, closed after its idle timeout, at
    logout, or the member restarted (captures are held in the serving member's memory)."""

    code = "HG-3385"
    hint = (
        "Open the Capture page and start a capture again; download the model before leaving a capture idle."
    )
    http_status = 404


class CaptureFieldInvalid(ConsoleCaptureError):
    """#22: a field of a capture request is missing, of the wrong type or out of range; the request is refused
    whole (``field``: the one named), nothing was sent to the host or changed."""

    code = "HG-3386"
    hint = "Correct the named field and send the request again; nothing was changed."
    http_status = 400

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field
        self.problems = ((field, message),)

    def to_payload(self, *, public: bool = True) -> dict[str, str]:
        return {**super().to_payload(public=public), "field": self.field}


class DirectoryConfigInvalid(SecurityError):
    """An LDAP / Active Directory provider setting is malformed; the message names ``ldap.directories[i].field``."""

    code = "HG-3100"
    hint = "Correct the named directory setting; nothing of the LDAP configuration was changed."
    http_status = 400


class DirectoryUnavailable(SecurityError):
    """No configured directory could say yes or no about a user (down, timed out, TLS refused, the service
    account's bind refused): the message lists each directory's fault. Never a verdict on the password."""

    code = "HG-3101"
    hint = (
        "Check that the directories answer (`hostgate ldap test --user NAME`), their CA file and the service "
        "account's password reference; local accounts keep working meanwhile."
    )
    http_status = 503


class DirectoryUserAmbiguous(AuthenticationFailed):
    """The user search found more than one entry: refused rather than guessing which person logs in."""

    code = "HG-3102"
    hint = (
        "Make the directory's user_filter match exactly one entry per login name (e.g. a unique attribute)."
    )
    http_status = 401


class EmptyPasswordRefused(AuthenticationFailed):
    """An empty password would be an unauthenticated bind, which directories answer with success (RFC 4513
    §5.1.2): refused before any bind."""

    code = "HG-3103"
    hint = "Give the user's password; an empty password is never accepted."
    http_status = 401


class LastAdministrator(SecurityError):
    """A change (removing a grant or an account) would leave no local account holding a cluster-wide
    Administrator grant: refused, so that the cluster can always be administered without a directory."""

    code = "HG-3200"
    hint = (
        "Grant cluster-wide Administrator to another local account first "
        "(`hostgate grant add administrator --user NAME`), then repeat the change."
    )
    http_status = 409


class BuiltinAdminProtected(SecurityError):
    """The built-in ``admin`` account (made by ``hostgate install``) is never removed."""

    code = "HG-3201"
    hint = "The built-in admin account stays; change its password instead, or remove other accounts."
    http_status = 409


class GrantNotFound(SecurityError):
    code = "HG-3202"
    hint = "`hostgate grant list` shows the grants as stored (profile, subject, scope); name one of them."
    http_status = 404


class OfflineBoundExceeded(AuthenticationFailed):
    """Every management member has been silent past the heartbeat failure threshold and the token has expired:
    the session server accepts it only while it expired at most ``[session] offline_grace`` seconds
    ago. The message says since when management is unreachable, how long ago the user was verified, and the
    bound."""

    code = "HG-3220"
    hint = (
        "Bring a management member back (the session server re-registers by itself) and connect again for a "
        "new token; or raise [session] offline_grace on the session server if a longer bound is acceptable."
    )
    http_status = 401


class ManagementSessionError(SecurityError):
    code = "HG-3852"
    hint = (
        "The server and the management cluster disagree about which cluster they belong to; run "
        "`hostgate doctor ALIAS` and check that the alias names only this cluster's members."
    )
    http_status = 403


class DeployTokenMismatch(ManagementSessionError):
    """A deploy token presented for another action (deploy/withdraw) or another model text (digest) than it
    was granted for: "Token binding is invalid" (it is a ManagementSessionError), with a code of its own so a
    misuse of a genuine token is told apart from a token of another cluster or server."""

    code = "HG-7260"
    hint = (
        "A deploy token is good for the one action and model text it was granted for: ask again for the "
        "action wanted (`hostgate activatemodel` / `deactivatemodel` do)."
    )
    http_status = 403


class ClusterError(HostgateError):
    code = "HG-4000"
    http_status = 409


class AlreadyInCluster(ClusterError):
    code = "HG-4001"
    hint = (
        "Each management server belongs to exactly one cluster. Use a new --data-dir, or remove this member "
        "from its cluster first."
    )


class JoinFailed(ClusterError):
    code = "HG-4002"
    hint = "Check that the named server is up (`hostgate cluster status --server ...`) and retry."


class MemberNotFound(ClusterError):
    code = "HG-4003"
    hint = "`hostgate cluster status` lists the members by name."
    http_status = 404


class LastMember(ClusterError):
    code = "HG-4004"
    hint = "A cluster needs at least one member; uninstall the server instead."


class CertificateError(ClusterError):
    code = "HG-4005"
    hint = "Pass the cluster CA that `hostgate install` wrote as DATA_DIR/ca.pem with --ca-file."
    http_status = 400


class EtcdTrustOutdated(ClusterError):
    code = "HG-4030"
    hint = (
        "This data directory was made by an earlier hostgate whose etcd trusted every certificate of the "
        "cluster CA, session servers' included. It cannot be upgraded in place: back up what you need "
        "(`hostgate domain list`, `hostgate servers`, users), install a new cluster with this version, and "
        "register the session servers again."
    )
    http_status = 500


class MemberRemoved(ClusterError):
    """This member was taken out of its cluster (``cluster remove`` / ``cluster leave``): it stops serving.

    Answered with 503 so that clients' dialers skip the member like one that does not answer.
    """

    code = "HG-4010"
    hint = (
        "This member no longer belongs to its cluster and does not start again. To bring the host back, "
        "install it anew with `hostgate install --join` and a fresh --data-dir."
    )
    http_status = 503


class MemberNotReady(ClusterError):
    """The member runs but cannot serve yet: a cold start waiting for a majority, or a learner catching up.

    Answered with 503 so that clients' dialers try another member.
    """

    code = "HG-4011"
    hint = (
        "Start the members the message names (a majority must be up for the cluster to serve); this member "
        "starts serving by itself as soon as they are."
    )
    http_status = 503


class RoutingError(HostgateError):
    code = "HG-4100"
    http_status = 409


class NoServerAvailable(RoutingError):
    code = "HG-4101"
    hint = "Start a session server of the domain, or add live servers to it (`hostgate servers` shows which are live)."
    http_status = 503


class DomainNotFound(RoutingError):
    code = "HG-4102"
    hint = "`hostgate domain list` shows the domains; `hostgate domain create NAME` makes one."
    http_status = 404


class SessionServerNotFound(RoutingError):
    code = "HG-4103"
    hint = "`hostgate servers` lists the registered session servers."
    http_status = 404


class SessionError(HostgateError):
    code = "HG-4200"
    http_status = 409


class SessionLost(SessionError):
    code = "HG-4201"
    hint = (
        "The session server holding the session stopped; connect via the domain again to get a new session."
    )
    http_status = 410


class SessionNotFound(SessionError):
    code = "HG-4202"
    hint = "The session was closed or never claimed in time; open a new one."
    http_status = 404


class PoolError(HostgateError):
    code = "HG-4300"
    http_status = 409


class PoolNotFound(PoolError):
    code = "HG-4301"
    hint = (
        "`GET /api/v1/pools` on the session server lists the pools it runs (its pools file's and those the "
        "cluster gives it: `hostgate pool list`)."
    )
    http_status = 404


class PoolQueueFull(PoolError):
    code = "HG-4302"
    hint = (
        "Every session of the pool is in use and as many clients as the pool's max_pending already wait; "
        "try again shortly, or raise max_concurrent or max_pending of the pool."
    )
    http_status = 503


class PoolWaitTimeout(PoolError):
    code = "HG-4303"
    hint = (
        "No session of the pool came free within its max_wait; try again, release sessions sooner, or raise "
        "the pool's max_concurrent."
    )
    http_status = 503


class PoolVariablesExhausted(PoolError):
    code = "HG-4304"
    hint = (
        "Each session of a pool holds one entry of each variable list; add entries to the named list's file, "
        "or lower the pool's max_concurrent to the number of entries."
    )
    http_status = 503


class PoolsFileError(PoolError):
    """The pools file is invalid. ``issues`` lists every problem, each with its path and line; nothing of the
    file was applied."""

    code = "HG-4305"
    hint = "Correct each listed item of the pools file and start the session server again."
    http_status = 400

    def __init__(self, message: str, *, hint: str | None = None, issues: Sequence[ModelIssue] = ()) -> None:
        super().__init__(message, hint=hint)
        self.issues: tuple[ModelIssue, ...] = tuple(issues)


class PoolClosed(PoolError):
    code = "HG-4306"
    hint = (
        "The session server is stopping or the pool was removed; connect again (another server may serve it)."
    )
    http_status = 503


class CatalogUnavailable(HostgateError):
    """#19: a deployed model's catalog could not be had from any session server recorded as serving it."""

    code = "HG-4550"
    hint = (
        "Start a session server that serves the model (`hostgate model list` shows which do), or check that "
        "the servers named in the message run and answer; `hostgate servers` shows which are live."
    )
    http_status = 503


class ModelNotDeployed(HostgateError):
    """#19: the cluster records no session server serving this model (or the caller may use none)."""

    code = "HG-4551"
    hint = "`hostgate model list` shows the deployed models; deploy it with `hostgate activatemodel`."
    http_status = 404


class ScaffoldTargetNotEmpty(HostgateError):
    """#19: ``hostgate scaffold --out DIR`` would write into a directory that already holds files."""

    code = "HG-4552"
    hint = "Name a new or empty directory with --out, or pass --force to overwrite the generated files there."
    http_status = 409


class TerminalTooSmall(HostgateError):
    """#22: ``hostgate model capture`` draws the host screen as it is, plus a status, a help and a message line;
    a smaller terminal would have to scroll or clip the host's screen."""

    code = "HG-6640"
    hint = "Enlarge the terminal window (or make its font smaller) to at least the size the message names."
    http_status = 400


class TerminalRequired(HostgateError):
    """#22: the capture TUI reads keys and draws on a terminal; stdin or stdout is a pipe or a file."""

    code = "HG-6641"
    hint = (
        "Run `hostgate model capture` in an interactive terminal (not with its input or output redirected)."
    )
    http_status = 400


class CaptureOutputExists(HostgateError):
    """#22: ``--out FILE`` names an existing file and ``--resume`` does not name the same one: nothing is
    overwritten behind the user's back."""

    code = "HG-6642"
    hint = "Pass --resume FILE --out FILE to add to that model, or name a new file with --out."
    http_status = 409


class HostAddressInvalid(UsageError):
    """#22: ``--host`` is not ADDRESS:PORT."""

    code = "HG-6643"
    hint = "Give the host as ADDRESS:PORT, e.g. 127.0.0.1:3270 or [::1]:3270 (port 1-65535)."


class CaptureWriteFailed(HostgateError):
    """#22: writing the captured model failed (a directory that does not exist, no permission, disk full)."""

    code = "HG-6644"
    hint = "Check that the directory of --out exists and is writable; the capture keeps running so you can retry."
    http_status = 500


class WebServiceError(HostgateError):
    """The web-service layer (webservices/): deployed models' procedures over REST/JSON and SOAP 1.1."""

    code = "HG-4500"
    http_status = 500


class ServerNameUnknown(WebServiceError):
    """The alias of the management cluster (plugin-cfg.xml's serverName or the request's ServerName) resolves
    nowhere; the message names the alias, where it came from, and what every naming source said."""

    code = "HG-4501"
    hint = (
        "Set <entry key=\"serverName\"> in plugin-cfg.xml (or the request's ServerName) to the cluster's alias, "
        "and make the alias known to the naming sources (`hostgate resolve ALIAS` shows each one)."
    )
    http_status = 502

    def __init__(self, message: str, *, hint: str | None = None, from_request: bool = False) -> None:
        super().__init__(message, hint=hint)
        if from_request:
            # The caller's own ServerName: the request is wrong (400), not this gateway's configuration (502).
            self.http_status = 400  # type: ignore[misc]


class PluginConfigInvalid(WebServiceError):
    code = "HG-4502"
    hint = (
        'plugin-cfg.xml holds <entry key="NAME">VALUE</entry> elements only (no DTD); correct the named '
        "entry or delete the file to get the default (serverName localhost) written again."
    )
    http_status = 500


class ServiceNotFound(WebServiceError):
    code = "HG-4503"
    hint = "GET /ws/v1/models lists the published models and their procedures."
    http_status = 404


class SoapRequestInvalid(WebServiceError):
    code = "HG-4504"
    hint = (
        "Send a SOAP 1.1 envelope (document/literal) as the model's WSDL describes it (GET /ws/soap/MODEL?wsdl); "
        "DTDs and entity declarations are refused."
    )
    http_status = 400


class KeptSessionNotFound(WebServiceError):
    code = "HG-4505"
    hint = "The kept session ended or was idle longer than its timeout; call again without a session id."
    http_status = 404


class KeptSessionNotYours(WebServiceError):
    code = "HG-4506"
    hint = "Only the caller who kept a session may resume it; call with that caller's credentials."
    http_status = 403


class KeptSessionsFull(WebServiceError):
    code = "HG-4507"
    hint = "End kept sessions you no longer need (`end`), or call without keeping the session."


class PoolDefinitionNotFound(PoolError):
    code = "HG-4330"
    hint = "`hostgate pool list` shows the pools defined in the cluster; `hostgate pool create` defines one."
    http_status = 404


class InvalidPoolDefinition(PoolError):
    """A pool definition or its schedule is invalid: every problem is named by its field; nothing was stored."""

    code = "HG-4331"
    hint = "Correct each named field and send the whole definition again; nothing of it was stored."
    http_status = 400

    def __init__(
        self, message: str, *, hint: str | None = None, problems: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems  # (field, why) of each: a console form shows each next to its field


class PoolAlreadyDefined(PoolError):
    code = "HG-4332"
    hint = "Pool names are unique in the cluster: choose another name, or change the pool with `hostgate pool update`."
    http_status = 409


class PoolDrained(PoolError):
    code = "HG-4333"
    hint = "The pool is drained (`hostgate pool drain`): it hands out no sessions until `hostgate pool resume POOL`."
    http_status = 503


class PoolNotInDomain(PoolError):
    code = "HG-4360"
    hint = (
        "Connecting to a pool via a domain needs a live session server of that domain running the pool: check "
        "the pool's name, define it on a server of the domain, or add such a server to the domain."
    )
    http_status = 404


class NamingError(HostgateError):
    code = "HG-5000"
    http_status = 400


class HostsFileError(NamingError):
    code = "HG-5001"
    hint = "Each line is `IP unique-name [alias ...]`; names use letters, digits and hyphens only."


class ResolutionFailed(NamingError):
    code = "HG-5002"
    hint = "Check the alias in DNS or in the hosts file (`hostgate resolve ALIAS` shows every source)."


class Conflict(HostgateError):
    """A create of something that already exists (issue #21): its own code and HTTP 409, not a usage error, so
    a script can tell "already there" (CLI exit 4) from a mistake in its command."""

    code = "HG-1070"
    hint = "It already exists: use it as it is, or remove it first and create it again."
    http_status = 409


class MemberExists(Conflict):
    """A join whose member name (or address and port) is already a member's (issue #21): a conflict, exit 4,
    like a duplicate domain or user, not the join failure HG-4002 (which means the cluster could not complete
    it), so a script re-running an install can tell "already joined" from a broken join."""

    code = "HG-1074"
    hint = "Choose another --member-name (or address), or `hostgate cluster remove` the old member first."
    http_status = 409


class CommandLineError(UsageError):
    """click's own usage errors (unknown option or command, missing argument), coded like every other error
    (issue #21); the CLI exits 2 as click does."""

    code = "HG-1071"
    hint = "See the command's --help."
    http_status = 400


class TestHostUnavailable(HostgateError):
    """``hostgate testhost``: the demo host cannot be started (its package is not installed)."""

    __test__ = False  # not a pytest test class, whatever its name says
    code = "HG-1073"
    hint = "Install the test hosts as the message says, then run `hostgate testhost` again."
    http_status = 503


class ConnectError(HostgateError):
    code = "HG-5100"
    http_status = 503


class NoMemberAnswered(ConnectError):
    code = "HG-5101"
    hint = "Start at least one management server, or check the alias with `hostgate doctor ALIAS`."


class WrongCluster(ConnectError):
    code = "HG-5102"
    hint = "The alias names a server of another cluster; fix the alias (`hostgate doctor ALIAS`)."


class NotAManagementMember(ConnectError):
    """The address and port given answered as a session server (its ``X-Hostgate-Session-Server`` header)
    where a management member was expected (issue #21): the usual slip of giving the session port."""

    code = "HG-1072"
    hint = (
        "Give the cluster alias (or a member) with the members' API port: every member uses the same one "
        "(9440 unless installed with --port); `hostgate cluster hosts-file` lists the members."
    )


@dataclass(frozen=True, slots=True)
class ModelIssue:
    """One thing wrong with a model: where (a dotted path, and the YAML line when known) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path}: {self.message}{where}"


class ModelError(HostgateError):
    """A model is invalid. ``issues`` lists every problem found, each with its path; nothing was loaded."""

    code = "HG-6001"
    hint = "Correct each listed item of the model (`hostgate model check FILE` lists them all) and load it again."
    http_status = 400

    def __init__(self, message: str, *, hint: str | None = None, issues: Sequence[ModelIssue] = ()) -> None:
        super().__init__(message, hint=hint)
        self.issues: tuple[ModelIssue, ...] = tuple(issues)


class ModelSyntaxError(ModelError):
    code = "HG-6002"
    hint = "The model file is not well-formed YAML; fix the text at the named line and column."


class QueryError(HostgateError):
    code = "HG-6003"
    hint = (
        "hostgate understands `SELECT cols FROM table [WHERE col = value [AND ...]]` with "
        "'quoted' strings and plain numbers; see docs/models.md."
    )
    http_status = 400


class NoProcedureForQuery(QueryError):
    code = "HG-6004"
    hint = (
        "Every required input of some procedure of the table must appear in the WHERE clause as "
        "`column = value`, and the selected columns must be among its outputs."
    )
    http_status = 400


class DeploymentError(HostgateError):
    """Deploying a model on a session server through a management session (``hostgate activatemodel``)."""

    code = "HG-6200"
    http_status = 409


class DeploymentNotRecorded(DeploymentError):
    """The session server activated the model but the cluster did not record the deployment, so the
    activation was undone: a deployment is either served and recorded, or neither (nothing half-applied)."""

    code = "HG-6201"
    hint = (
        "The session server serves what it served before. Check the cluster (`hostgate cluster status`) and "
        "deploy again; if the message says the outcome is unknown, `hostgate model list` shows what was recorded."
    )
    http_status = 503


class DeploymentIncomplete(DeploymentError):
    """``activatemodel --domain``: some servers of the domain took the model, others did not (each listed)."""

    code = "HG-6202"
    hint = "Fix what each failed server's line says and run the same command again: servers that have it keep it."
    http_status = 409


class SessionServerUnreachable(DeploymentError):
    """``activatemodel --server S``: S refused the connection, did not answer, or failed TLS with the cluster CA."""

    code = "HG-6203"
    hint = (
        "Name the session server by its own address and port (`hostgate servers` lists them; never the cluster "
        "alias), and check that it runs and that --ca-file is the cluster's CA."
    )
    http_status = 503


class ModelRuntimeError(HostgateError):
    """Driving a host through a model went wrong: the host and the model disagree, or a call does not fit
    the model. Messages name the entity (or the screen) the host showed."""

    code = "HG-6100"
    http_status = 409


class EntityNotRecognized(ModelRuntimeError):
    code = "HG-6101"
    hint = (
        "The host shows a screen that no entity of the model recognises: add an entity for it, or correct "
        "the recognition rules (the message quotes the screen)."
    )
    http_status = 502


class UnexpectedEntity(ModelRuntimeError):
    code = "HG-6102"
    hint = (
        "The host went to another screen than the model says: check the operation's destinations (or "
        "the procedure's path) against what the host does, and the host's message on that screen."
    )
    http_status = 502


class NoPathToEntity(ModelRuntimeError):
    code = "HG-6103"
    hint = (
        "Only operations without parameters are used to navigate; add one that leads towards the entity, "
        "or perform the operations yourself."
    )


class AttributeNotWritable(ModelRuntimeError):
    code = "HG-6104"
    hint = "Only attributes with access: write or readwrite can be set."
    http_status = 400


class AttributeNotReadable(ModelRuntimeError):
    code = "HG-6105"
    hint = "The attribute is write-only (access: write); read attributes with access: read or readwrite."
    http_status = 400


class ModelItemNotFound(ModelRuntimeError):
    code = "HG-6106"
    hint = "The message lists what the model has there; names are those of the model file."
    http_status = 404


class InvalidValue(ModelRuntimeError):
    code = "HG-6107"
    hint = "Give every required value, each of the attribute's or column's type and within its length."
    http_status = 400


class ModelNotFound(ModelRuntimeError):
    code = "HG-6108"
    hint = "Deploy the model on the session server: `hostgate model deploy FILE --data-dir DIR`."
    http_status = 404


class SignOnFailed(ModelRuntimeError):
    code = "HG-6109"
    hint = (
        "Check the sign-on variables (user id, password) passed with variables=, and the host's message "
        "quoted here."
    )
    http_status = 403


class CaptureError(HostgateError):
    """Capturing a model from a live host (``hostgate model capture``, issue #22) was asked something that does
    not fit what has been captured; nothing of the request was kept."""

    code = "HG-6600"
    http_status = 409


class CaptureRulesClash(CaptureError):
    code = "HG-6601"
    hint = (
        "Two entities must never share recognition rules: add a rule that only this screen satisfies (a title "
        "text at its row and column), or correct the rules of the entity named in the message."
    )


class CaptureNameInvalid(CaptureError):
    code = "HG-6602"
    hint = "Names are identifiers ([A-Za-z_][A-Za-z0-9_]*) and unique in their scope: choose another name."
    http_status = 400


class CaptureNothingToRecord(CaptureError):
    code = "HG-6603"
    hint = (
        "Mark the screen the inputs start from as an entity first, and end the inputs with a key (Enter, a PF "
        "key) before marking where they lead."
    )


class CaptureUnknownEntity(CaptureError):
    code = "HG-6604"
    hint = "Mark the screen as an entity first; the message lists the entities captured so far."
    http_status = 404


class CaptureRegionInvalid(CaptureError):
    code = "HG-6605"
    hint = "Give rows and columns inside the screen (1-based, as the model), top before bottom."
    http_status = 400


class CaptureResumeRefused(CaptureError):
    code = "HG-6606"
    hint = (
        "Resume a model of the same host type and terminal size as the host captured now, or start a new "
        "model file."
    )
    http_status = 400


class HostError(HostgateError):
    code = "HG-7000"
    http_status = 502


class HostUnreachable(HostError):
    code = "HG-7001"
    hint = "Check the model's host address, port and TLS settings, and that the host is up."
    http_status = 503


class HostDisconnected(HostError):
    code = "HG-7002"
    hint = "The host ended the session; connect again (the host log tells why it disconnected)."


class HostTimeout(HostError):
    code = "HG-7003"
    hint = (
        "The host did not show the expected screen in time: check the model's recognition rules and "
        "destinations, or raise the operation's timeout."
    )
    http_status = 504


class KeyboardLocked(HostError):
    code = "HG-7004"
    hint = "The host is still busy with the previous input (keyboard locked); wait longer or reconnect."
    http_status = 409


class FieldNotWritable(HostError):
    code = "HG-7005"
    hint = "Write only into unprotected fields; check the attribute's row and column in the model."
    http_status = 400


class KeyNotSupported(HostError):
    code = "HG-7006"
    hint = "Use a key this kind of host knows (docs/models.md lists the keys per host type)."
    http_status = 400


class HostProtocolError(HostError):
    code = "HG-7007"
    hint = "Check that the model's host type and terminal type match the host (3270, 5250 or VT)."


class OperationsError(HostgateError):
    code = "HG-7200"
    http_status = 400


class MetricsAccessDenied(OperationsError):
    """``/metrics`` is read with the scrape token only (docs/metrics.md): a server's figures name its domains,
    servers and models, which nobody without the token should learn."""

    code = "HG-7201"
    hint = (
        "Send `Authorization: Bearer TOKEN` with the token in the server's DATA_DIR/metrics-token "
        "(Prometheus: authorization.credentials_file)."
    )
    http_status = 401


class BackupFailed(OperationsError):
    code = "HG-7210"
    hint = "Check that the store answers (`hostgate cluster status`) and that the backup file's directory is writable."
    http_status = 503


class BackupInvalid(OperationsError):
    code = "HG-7211"
    hint = "The file is not a complete hostgate backup: take the backup again, or use another copy of it."
    http_status = 400


class RestoreTargetNotEmpty(OperationsError):
    code = "HG-7212"
    hint = "Give --data-dir a new (or empty) directory; a restore never writes over an existing one."


class RestoreFailed(OperationsError):
    code = "HG-7213"
    hint = "Nothing was left behind; correct the cause named in the message and run the restore again."
    http_status = 500


class RemoteError(HostgateError):
    """A server answered with a coded error: its code and hint are kept as sent."""

    def __init__(self, code: str, message: str, hint: str | None = None, status: int = 500) -> None:
        super().__init__(message, hint=hint)
        self.remote_code = code
        self.status = status

    def __str__(self) -> str:
        return f"[{self.remote_code}] {self.message}"

    def to_payload(self, *, public: bool = True) -> dict[str, str]:
        return {**super().to_payload(public=public), "code": self.remote_code}


def _all_coded() -> dict[str, type[HostgateError]]:
    found: dict[str, type[HostgateError]] = {}
    pending: list[type[HostgateError]] = [HostgateError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    found[InternalError.code] = InternalError  # the root shares HG-1000 as a default; a server sends this one
    return found


def error_from_answer(content: bytes, status: int) -> HostgateError:
    """A server's error answer (its body as received) as the matching local error class; a body that is not
    JSON (a proxy's page, nothing at all) is an uncoded HTTP error like any body without a hostgate code."""
    try:
        payload: object = json.loads(content) if content else None
    except (ValueError, RecursionError):
        payload = None
    return error_from_payload(payload, status)


def error_from_payload(payload: object, status: int) -> HostgateError:
    """Turn a server's JSON error body back into the matching local error class."""
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
        return RemoteError(
            "HG-1000", f"server answered HTTP {status} without a hostgate error body", status=status
        )
    code = str(payload["code"])
    message = str(payload.get("message", ""))
    hint = payload.get("hint")
    cls = _all_coded().get(code)
    if cls is None or cls is RemoteError:
        return RemoteError(code, message, hint if isinstance(hint, str) else None, status)
    return cls(message, hint=hint if isinstance(hint, str) else None)
