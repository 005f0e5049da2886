"""Bound tokens (ARCHITECTURE.md "Tokens are bound, and only members can sign").

A token is a JWT (RFC 7519) signed with EdDSA (Ed25519, RFC 8037) by a management member. The private keys live
in the store, which only members can reach; session servers hold only the public halves, as a key set whose
entries are named by key id (``kid`` in the token's header, RFC 7515 section 4.1.4). So a session server can
check tokens while every management member is down, but can mint none: not for itself, not for another server,
not after it was removed.

A token names the cluster id and the session server it is good for, so a session server of another cluster, or
another server of the same cluster, refuses it with VHI's own words: "Token binding is invalid" (HG-3852). It
names the user, the model (or pool) and the domain, and always expires (``exp`` is required, and at most
:data:`SESSION_TOKEN_TTL` away): a client that holds one keeps opening sessions on that server until then.

Rotation (``hostgate cluster rotate-keys``) makes a new key the signing one; the retired key's public half stays
in the key set until the last token it signed has expired (``accept_until``), then drops out.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hostgate.errors import AuthenticationFailed, DeployTokenMismatch, ManagementSessionError
from hostgate.messages.enrolment import PublicKey

__all__ = [
    "MAX_CLOCK_SKEW",
    "REUSE_WINDOW",
    "SESSION_TOKEN_TTL",
    "KeySet",
    "PublicKey",
    "Signer",
    "TokenClaims",
    "check_deploy_grant",
    "expired_error",
    "generate_key",
    "key_set_version",
]

_ALGORITHM = "EdDSA"
_VERIFIED_MAX = 10_000
# A token minted for the same claims this recently is handed out again (Signer.mint_fresh): a busy client of one
# account routing many calls a second then costs one Ed25519 signature a second per (server, model), not one per
# call. Short, so every answer's token still has (almost) its whole lifetime.
REUSE_WINDOW = 1.0
_RECENT_MAX = 10_000
SESSION_TOKEN_TTL = 900.0
# Members' and session servers' clocks may differ this much (an NTP-kept LAN is far closer).
MAX_CLOCK_SKEW = 60.0


@dataclass(frozen=True, slots=True)
class TokenClaims:
    kind: str  # "session"
    cluster_id: str
    server: str
    user: str = ""
    model: str = ""
    domain: str = ""
    expires_at: float = 0.0
    token_id: str = ""
    # When a member minted it, that is when the management cluster last verified the user (the offline bound of
    # session/offline.py reports it; the bound itself counts from the expiry). Filled by KeySet.verify; ignored by Signer.mint (it stamps "now").
    issued_at: float = 0.0
    # A token for sessions of one pool (claim ``pol``, sent only when set): it acquires from that pool and
    # opens no session of its own.
    pool: str = ""
    # A deploy token names what it was granted for (claims ``act`` and ``dig``, sent only when set): the action,
    # "deploy" or "withdraw", and for a deployment the digest of the model text the session server asked for,
    # so a token granted to deploy one text cannot withdraw the model or record another text.
    action: str = ""
    digest: str = ""


def key_set_version(keys: Sequence[PublicKey]) -> str:
    """A short digest naming a public key set: heartbeat answers carry the cluster's, and a session server that
    holds another one fetches the set."""
    text = ";".join(f"{k.kid}:{k.accept_until:.0f}" for k in sorted(keys, key=lambda k: k.kid))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generate_key() -> tuple[str, str, str]:
    """A new Ed25519 key: ``(kid, private_pem, public_b64)``."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return os.urandom(8).hex(), private_pem, base64.b64encode(raw).decode()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Signer:
    """Mints tokens with one private key (management members only)."""

    def __init__(self, kid: str, private_pem: str) -> None:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("a token key must be an Ed25519 key")
        self.kid = kid
        self._key = key
        header = {"alg": _ALGORITHM, "kid": kid, "typ": "JWT"}
        self._header = _b64(json.dumps(header, separators=(",", ":")).encode())
        # claims without expiry -> (issued at, token, expires at), for mint_fresh.
        self._recent: dict[tuple[str, ...], tuple[float, str, float]] = {}

    def mint_fresh(self, claims: TokenClaims, ttl: float, *, now: float | None = None) -> tuple[str, float]:
        """``(token, expires_at)`` for ``claims`` valid ``ttl`` seconds from now: a token minted for the very
        same claims less than :data:`REUSE_WINDOW` ago, else a new one (``claims.expires_at`` is ignored).

        Safe to share: the token names the same user, cluster, server, model and domain, so it grants the
        caller (authenticated for this request, as the first one was) exactly what a new one would, and
        expires at most ``REUSE_WINDOW`` earlier. A rotated key means a new :class:`Signer`, so no token of a
        retired key is handed out again."""
        now = time.time() if now is None else now
        c = claims
        key = (
            c.kind,
            c.cluster_id,
            c.server,
            c.user,
            c.model,
            c.domain,
            c.token_id,
            c.pool,
            c.action,
            c.digest,
        )  # all but expiry
        recent = self._recent.get(key)
        if recent is not None and 0.0 <= now - recent[0] < REUSE_WINDOW:
            return recent[1], recent[2]
        expires = now + ttl
        token = self.mint(dataclasses.replace(claims, expires_at=expires))
        if len(self._recent) >= _RECENT_MAX:
            self._recent.clear()  # bounded whatever names clients route to; the next calls mint anew
        self._recent[key] = (now, token, expires)
        return token, expires

    def mint_session(
        self,
        ttl: float,
        *,
        cluster_id: str,
        server: str,
        user: str,
        model: str,
        domain: str,
        pool: str = "",
        now: float | None = None,
    ) -> tuple[str, float]:
        """:meth:`mint_fresh` for a session token, whose claims are built only when no recent token answers:
        building the frozen claims was a tenth of a route call that reuses a token (issue #16)."""
        now = time.time() if now is None else now
        recent = self._recent.get(("session", cluster_id, server, user, model, domain, "", pool, "", ""))
        if recent is not None and 0.0 <= now - recent[0] < REUSE_WINDOW:
            return recent[1], recent[2]
        claims = TokenClaims("session", cluster_id, server, user, model, domain, pool=pool)
        return self.mint_fresh(claims, ttl, now=now)

    def mint(self, claims: TokenClaims) -> str:
        """A compact JWS built directly: it is on the routing hot path, where PyJWT's per-call key handling
        costs about as much as the signature. ``KeySet.verify`` reads it with PyJWT."""
        if not claims.expires_at:
            raise ValueError("every token expires: give expires_at")
        payload: dict[str, object] = {
            "typ": claims.kind,
            "cid": claims.cluster_id,
            "srv": claims.server,
            "sub": claims.user,
            "mdl": claims.model,
            "dom": claims.domain,
            "jti": claims.token_id or os.urandom(16).hex(),
            "iat": int(time.time()),
            "exp": int(claims.expires_at),
        }
        if claims.pool:
            payload["pol"] = claims.pool
        if claims.action:
            payload["act"] = claims.action
        if claims.digest:
            payload["dig"] = claims.digest
        signing_input = self._header + b"." + _b64(json.dumps(payload, separators=(",", ":")).encode())
        return (signing_input + b"." + _b64(self._key.sign(signing_input))).decode()


def _expired() -> AuthenticationFailed:
    return AuthenticationFailed("the token has expired", hint="Connect via the domain again for a new token.")


def expired_error() -> AuthenticationFailed:
    """The error a session server answers an expired token with (``KeySet.verify``'s own)."""
    return _expired()


def _not_ours(why: str) -> ManagementSessionError:
    return ManagementSessionError(
        f"Token binding is invalid: {why}",
        hint="Connect via the domain again for a new token; if this persists, the session server has not yet "
        "received the cluster's current token keys (it fetches them with its heartbeats).",
    )


class KeySet:
    """Public token keys by ``kid``: what a session server checks tokens against."""

    def __init__(self, keys: Sequence[PublicKey], *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._keys: dict[str, tuple[PublicKey, Ed25519PublicKey]] = {}
        for k in keys:
            try:
                loaded = Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public_b64, validate=True))
            except ValueError as exc:
                raise ValueError(f"token key {k.kid!r} is not an Ed25519 public key: {exc}") from exc
            self._keys[k.kid] = (k, loaded)
        # Signature-checked payloads by token: a client reuses its token for every call of its sessions, and an
        # Ed25519 verification costs more than the rest of a cheap call.
        self._verified: dict[str, tuple[str, dict[str, Any]]] = {}
        # The claims a token was accepted with, by (token, kind, cluster id, server): building them again was a
        # fifth of a pooled acquire in the session server's app (issue #18). Only acceptances are kept, and
        # what can change with time is checked again on every use: the signing key still accepted, the expiry.
        # (The rest only becomes more lenient with time: a lifetime within bounds at first stays so.)
        self._accepted: dict[tuple[str, str, str, str | None], tuple[str, TokenClaims]] = {}

    @property
    def keys(self) -> tuple[PublicKey, ...]:
        return tuple(k for k, _ in self._keys.values())

    def verify(
        self,
        token: str,
        *,
        kind: str,
        cluster_id: str,
        server: str | None,
        on_expired: Callable[[TokenClaims], TokenClaims] | None = None,
    ) -> TokenClaims:
        """Check signature, expiry and binding; ``server=None`` accepts a token for any server of the cluster.

        ``on_expired``: a token valid in every respect but its expiry (by this key set's clock) is handed to it
        instead of being refused; it returns the claims it accepts or raises (a session server's offline bound,
        session/offline.py)."""
        now = self._clock()
        accepted = self._accepted.get((token, kind, cluster_id, server))
        if accepted is not None:
            self._key(accepted[0], now)
            claims = accepted[1]
            if claims.expires_at + MAX_CLOCK_SKEW >= now:
                return claims
            if on_expired is None:
                raise _expired()
            return on_expired(claims)
        cached = self._verified.get(token)
        if cached is None:
            kid, payload = self._check_signature(token, now, check_expiry=on_expired is None)
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.clear()
                self._accepted.clear()
            self._verified[token] = (kid, payload)
        else:
            # The signature was checked once; the key's acceptance and the expiry are checked every time.
            kid, payload = cached
            self._key(kid, now)
        expired = float(payload["exp"]) + MAX_CLOCK_SKEW < now
        if expired and on_expired is None:
            raise _expired()
        claims = self._bound(payload, now, kind=kind, cluster_id=cluster_id, server=server)
        if expired and on_expired is not None:
            return on_expired(claims)
        if len(self._accepted) >= _VERIFIED_MAX:
            self._accepted.clear()
        self._accepted[(token, kind, cluster_id, server)] = (kid, claims)
        return claims

    def _key(self, kid: str, now: float) -> Ed25519PublicKey:
        entry = self._keys.get(kid)
        if entry is None or (entry[0].accept_until and now > entry[0].accept_until):
            raise _not_ours("the token was not signed with a current key of this server's management cluster")
        return entry[1]

    def _check_signature(self, token: str, now: float, *, check_expiry: bool) -> tuple[str, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"the token is malformed ({exc})") from None
        # Only EdDSA: an HS256 token "signed" with a public key (algorithm confusion) is never considered.
        if header.get("alg") != _ALGORITHM:
            raise _not_ours("the token was not signed by a management member of this cluster")
        kid = str(header.get("kid"))
        key = self._key(kid, now)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                leeway=MAX_CLOCK_SKEW,
                options={"require": ["exp", "iat", "cid", "srv", "typ"], "verify_exp": check_expiry},
            )
        except jwt.ExpiredSignatureError:
            raise _expired() from None
        except jwt.InvalidSignatureError:
            raise _not_ours("the token's signature does not match its key") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"the token is malformed ({exc})") from None
        if not isinstance(payload["exp"], int | float):
            raise AuthenticationFailed("the token is malformed (exp is not a number)")
        return kid, payload

    def _bound(
        self, payload: dict[str, Any], now: float, *, kind: str, cluster_id: str, server: str | None
    ) -> TokenClaims:
        expires = float(payload["exp"])
        if expires > now + SESSION_TOKEN_TTL + MAX_CLOCK_SKEW:
            raise AuthenticationFailed("the token's lifetime is longer than any member grants")
        if payload.get("cid") != cluster_id:
            raise ManagementSessionError(
                "Token binding is invalid: the token is for another management cluster"
            )
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
            expires_at=float(expires),
            token_id=str(payload.get("jti", "")),
            issued_at=float(payload["iat"]) if isinstance(payload.get("iat"), int | float) else 0.0,
            pool=str(payload.get("pol", "")),
            action=str(payload.get("act", "")),
            digest=str(payload.get("dig", "")),
        )


def check_deploy_grant(claims: TokenClaims, action: str, digest: str, *, checked_by: str) -> None:
    """HG-7260 unless the deploy token was granted for ``action`` (and, when it names a digest, for the model
    text ``digest``). Tokens minted before the binding name no action and are refused too: they live 120 s."""
    if claims.action != action:
        granted = f"to {claims.action}" if claims.action else "before deploy tokens named their action"
        raise DeployTokenMismatch(
            f"Token binding is invalid: the deploy token for model {claims.model!r} on {claims.server!r} was "
            f"granted {granted}, not to {action} (checked by {checked_by})"
        )
    if claims.digest and claims.digest != digest:
        raise DeployTokenMismatch(
            f"Token binding is invalid: the deploy token for model {claims.model!r} on {claims.server!r} was "
            f"granted for the model text {claims.digest}, not {digest[:40]!r} (checked by {checked_by})"
        )
