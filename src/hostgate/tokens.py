"""Bound tokens (ARCHITECTURE.md "Tokens are bound").

A token is a JWT (HS256) signed with the cluster's signing key, which lives in the store and which each session
server receives when it registers. It names the cluster id and the session server it is good for, so a session
server of another cluster, or another server of the same cluster, refuses it with VHI's own words: "Token
binding is invalid" (HG-3852).

Two kinds:

- **session tokens** (``kind="session"``): minted by the management cluster when it routes a "connect via
  domain" (or grants a direct connection); name the user, the model (or pool) and the domain. Reusable until
  they expire, so a client that holds one keeps opening sessions on that server while every management member
  is down.
- **server tokens** (``kind="server"``): the session server's own identity towards the management cluster
  (registration heartbeats), minted at ``hostgate install --role session``.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
from dataclasses import dataclass

import jwt

from hostgate.errors import AuthenticationFailed, ManagementSessionError

__all__ = ["TokenClaims", "mint", "verify"]

_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    kind: str  # "session" or "server"
    cluster_id: str
    server: str
    user: str = ""
    model: str = ""
    domain: str = ""
    expires_at: float = 0.0  # 0: never (server tokens)
    token_id: str = ""


_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def mint(key: bytes, claims: TokenClaims) -> str:
    """A compact HS256 JWT (RFC 7519), built directly: it is on the routing hot path, where PyJWT's per-call
    key preparation costs about as much as the rest of the token. ``verify`` reads it with PyJWT."""
    payload: dict[str, object] = {
        "typ": claims.kind,
        "cid": claims.cluster_id,
        "srv": claims.server,
        "sub": claims.user,
        "mdl": claims.model,
        "dom": claims.domain,
        "jti": claims.token_id or os.urandom(16).hex(),
        "iat": int(time.time()),
    }
    if claims.expires_at:
        payload["exp"] = int(claims.expires_at)
    signing_input = _HEADER + b"." + _b64(json.dumps(payload, separators=(",", ":")).encode())
    return (signing_input + b"." + _b64(hmac.digest(key, signing_input, "sha256"))).decode()


def verify(key: bytes, token: str, *, kind: str, cluster_id: str, server: str | None) -> TokenClaims:
    """Check signature, expiry and binding; ``server=None`` accepts a token for any server of the cluster."""
    try:
        payload = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["cid", "srv", "typ"]})
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed(
            "the token has expired", hint="Connect via the domain again for a new token."
        ) from None
    except jwt.InvalidSignatureError:
        raise ManagementSessionError(
            "Token binding is invalid: the token was not signed by this server's management cluster"
        ) from None
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"the token is malformed ({exc})") from None
    if payload.get("cid") != cluster_id:
        raise ManagementSessionError("Token binding is invalid: the token is for another management cluster")
    if payload.get("typ") != kind:
        raise AuthenticationFailed(f"a {payload.get('typ')} token cannot be used here")
    if server is not None and payload.get("srv") != server:
        raise ManagementSessionError(
            f"Token binding is invalid: the token is for session server {payload.get('srv')!r}, not {server!r}"
        )
    return TokenClaims(
        kind=str(payload["typ"]),
        cluster_id=str(payload["cid"]),
        server=str(payload["srv"]),
        user=str(payload.get("sub", "")),
        model=str(payload.get("mdl", "")),
        domain=str(payload.get("dom", "")),
        expires_at=float(payload.get("exp", 0)),
        token_id=str(payload.get("jti", "")),
    )
