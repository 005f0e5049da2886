"""``hostgate sessions list|end`` (issue #21): how the live sessions of every session server are gathered.

The CLI asks a member for a short-lived token of kind ``sessions-admin`` bound to ONE session server (an
Administrator only; 60 s), then asks that server itself (``GET /api/v1/admin/sessions``, ``DELETE
/api/v1/admin/sessions/{id}``). Why this way, and not a member asking each server with its own client
certificate:

- it reuses the trust that already exists: session servers verify tokens the cluster signed with its public
  keys (they hold no private key, so they cannot mint one), bound to their own name and cluster; a member
  certificate would need a new mutual-TLS path into every session server, and session servers could not tell a
  member's certificate from another session server's (one cluster CA signs both);
- least privilege: the token is for one server, one purpose (``typ`` ``sessions-admin``: a session token does
  not list, this one opens nothing) and one minute, and the Administrator check happens (and is audited) where
  the profiles are, on the member;
- members stay out of the data path, and the CLI reaches session servers the way every connector client must
  anyway (KB 7021563: clients must be able to reach all servers).
"""

from __future__ import annotations

import time

from hostgate import tokens
from hostgate.errors import SessionServerNotFound
from hostgate.management.domains import DomainService
from hostgate.management.security import Principal
from hostgate.messages import SessionsAdminGrant

__all__ = ["SESSIONS_ADMIN", "SESSIONS_ADMIN_TTL", "grant_sessions_admin", "mint_sessions_admin"]

SESSIONS_ADMIN = "sessions-admin"
SESSIONS_ADMIN_TTL = 60.0


def grant_sessions_admin(
    domains: DomainService, cluster_id: str, principal: Principal, server: str
) -> SessionsAdminGrant:
    principal.require_admin()
    return mint_sessions_admin(domains, cluster_id, principal.name, server)


def mint_sessions_admin(
    domains: DomainService, cluster_id: str, user: str, server: str
) -> SessionsAdminGrant:
    """The token itself, with no profile check: for a caller on this member that checks the profile for what
    it does with it and never hands the token out (the console's Sessions page: console/session_servers.py)."""
    record = domains.servers().get(server)
    if record is None:
        raise SessionServerNotFound(f"no session server named {server!r}")
    expires = time.time() + SESSIONS_ADMIN_TTL
    token = domains.token_keys.signer().mint(
        tokens.TokenClaims(
            kind=SESSIONS_ADMIN,
            cluster_id=cluster_id,
            server=record.name,
            user=user,
            expires_at=expires,
        )
    )
    return SessionsAdminGrant(token, expires, record.name, record.url)
