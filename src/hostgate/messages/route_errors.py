"""The coded errors each endpoint may answer, for the OpenAPI document (``x-hostgate-errors``) and the API
reference page (docs/api.md, scripts/gen_api_docs.py).

Worked out from what the endpoint table says of a route, so that a new route is described without a new list:
every route can fail inside the server or be refused at the door; a body can be too large or malformed; each
way of proving who one is has its refusals; a write on the management face needs a majority and carries a
deadline and an idempotency key; a create can meet an existing one; a path parameter can name nothing. The few
refusals particular to one route are listed by the route's name in :data:`_PARTICULAR`. Codes come from the
classes of hostgate.errors, so a code here cannot name an error that does not exist.
"""

from __future__ import annotations

import itertools
from typing import Any

from hostgate import errors as e

__all__ = ["errors_of"]

_ALWAYS: tuple[type[e.HostgateError], ...] = (e.InternalError, e.ServerBusy, e.RequestHeaderTimeout)
_BODY = (e.BodyTooLarge, e.InvalidField)
_BY_AUTH: dict[str, tuple[type[e.HostgateError], ...]] = {
    "none": (),
    "basic": (e.AuthenticationFailed, e.NotAuthorized, e.TooManyAttempts, e.LoginExpired, e.LoginInvalid),
    "certificate": (e.ServerCertificateRefused,),
    "basic-or-certificate": (e.AuthenticationFailed, e.ServerCertificateRefused),
    "basic-and-certificate": (e.AuthenticationFailed, e.NotAuthorized, e.ServerCertificateRefused),
    "bearer": (e.AuthenticationFailed, e.NotAuthorized),
    "optional-bearer": (),
}
# A management write: a majority of members (HG-2002), the client's deadline (HG-2006), a hedged twin still
# being applied (HG-2007), the store out of reach (HG-2001).
_WRITE = (e.StoreUnavailable, e.QuorumLost, e.DeadlineExpired, e.WriteInProgress)
# What a path parameter names, by the path segment before it.
_NAMED: dict[tuple[str, str], type[e.HostgateError]] = {
    ("management", "domains"): e.DomainNotFound,
    ("management", "servers"): e.SessionServerNotFound,
    ("management", "session-servers"): e.SessionServerNotFound,
    ("management", "users"): e.UserNotFound,
    ("management", "members"): e.MemberNotFound,
    ("management", "pools"): e.PoolDefinitionNotFound,
    ("session", "sessions"): e.SessionNotFound,
    ("session", "pools"): e.PoolNotFound,
    ("session", "models"): e.ModelNotFound,
}
_PARTICULAR: dict[str, tuple[type[e.HostgateError], ...]] = {
    "join": (e.MemberExists, e.NotSupported, e.JoinFailed),
    "remove_member": (e.LastMember,),
    "move_leader": (e.NotSupported,),
    "rename": (e.CompareFailed,),
    "route": (e.DomainNotFound, e.NoServerAvailable, e.PoolNotInDomain),
    "grant_direct": (e.SessionServerNotFound,),
    "remove_user": (e.LastAdministrator, e.BuiltinAdminProtected),
    "remove_grant": (e.GrantNotFound, e.LastAdministrator),
    "set_password": (e.CurrentPasswordWrong, e.PasswordNotLocal),
    "login": (e.LoginNotOffered,),
    "logout": (e.LoginNotOffered,),
    "ldap_replace": (e.DirectoryConfigInvalid,),
    "ldap_test": (e.DirectoryUnavailable,),
    "pool_create": (e.InvalidPoolDefinition, e.PoolAlreadyDefined),
    "pool_update": (e.InvalidPoolDefinition,),
    "pool_schedule_set": (e.InvalidPoolDefinition,),
    "open": (e.ModelNotFound, e.HostUnreachable, e.ManagementSessionError),
    "acquire": (e.PoolQueueFull, e.PoolWaitTimeout, e.PoolVariablesExhausted, e.PoolDrained, e.PoolClosed),
    "deploy": (e.DeploymentError, e.ManagementSessionError, e.DeployTokenMismatch),
    "withdraw": (e.DeploymentError, e.ManagementSessionError, e.DeployTokenMismatch),
    "deployment_record": (e.ManagementSessionError, e.DeployTokenMismatch),
    "deployment_withdrawn": (e.ManagementSessionError, e.DeployTokenMismatch),
}


def errors_of(name: str, endpoint: Any) -> list[str]:
    """The codes ``endpoint`` (named ``name`` in the endpoint table) may answer, sorted."""
    found: list[type[e.HostgateError]] = [*_ALWAYS, *_BY_AUTH[endpoint.auth]]
    if endpoint.face == "session":
        # The session face's own HTTP/1.1 (runtime/lean_http.py) codes the 400 of a request it cannot parse.
        found.append(e.MalformedRequest)
    if endpoint.request is not None:
        found += _BODY
    if endpoint.face == "management" and endpoint.method != "GET" and endpoint.auth != "certificate":
        found += _WRITE
    if endpoint.status == 201 and endpoint.face == "management":
        found.append(e.Conflict)
    segments = endpoint.path.split("/")
    for before, segment in itertools.pairwise(segments):
        if segment.startswith("{") and (cls := _NAMED.get((endpoint.face, before))) is not None:
            found.append(cls)
    found += _PARTICULAR.get(name, ())
    return sorted({cls.code for cls in found})
