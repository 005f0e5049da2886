"""CLI login tokens (``hostgate login``): a short-lived credential the CLI keeps instead of a password file.

A login token is a JWT (RFC 7519) signed with EdDSA by the cluster's active token key, the same Ed25519 keys that
sign session tokens (management/token_keys.py), and checked by any member against the public halves, so every
member accepts what one member issued. It is sent as ``Authorization: Bearer hgcli_<JWT>``: the prefix lets the
login gate (api/_auth.py) claim only these bearer values and lets secret scanners recognise a leaked one.

Its claims bind it to:

* the cluster (``cid``): another cluster's members refuse it, whatever keys they hold;
* the user (``sub``) and the user's current password hash (``pwv``, a digest of the argon2 hash, which gets a new
  salt with every change): a password change or the user's removal ends every login at once, on every member
  as soon as its in-memory copy shows the change;
* a short lifetime (``exp``; :data:`DEFAULT_TTL`, at most :data:`MAX_TTL`).

Not :class:`hostgate.tokens.KeySet`: that one checks *session* tokens for session servers (15-minute cap, bound
to a server); a login token never goes to a session server, and ``typ`` keeps the two kinds apart both ways.
Roles come from the stored account at each request, not from the token, so the principal is the same as for
Basic credentials. Directory (LDAP) accounts get no login token (``LoginNotOffered``): their password and
groups live in the directory, and a token would keep a disabled account or a removed group for its lifetime.

``hostgate logout`` ends a login on every member before it expires (``DELETE /api/v1/login`` with the token
itself): the token's id (``jti``) is recorded under :data:`REVOKED_PREFIX` with a store lease that runs out when
the token would have expired anyway, so the list holds only logins that could still be used and needs no pruning.
Every member's in-memory copy holds the prefix; a revoked id is refused (``LoginInvalid``) as soon as the copy
shows it, like a changed password.

After ``hostgate cluster rotate-keys`` a login token signed by the retired key is accepted while the retired
key's public half is served (15 min + 60 s), then refused (``LoginInvalid``: log in again).
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hostgate.errors import InvalidField, LoginExpired, LoginInvalid, LoginNotOffered
from hostgate.management.cache import ConfigCache
from hostgate.management.records import PREFIX, UserRecord, user_key
from hostgate.management.security import Principal
from hostgate.management.token_keys import TokenKeys
from hostgate.tokens import MAX_CLOCK_SKEW

__all__ = [
    "BEARER_PREFIX",
    "CLI_KIND",
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_TTL",
    "REVOKED_PREFIX",
    "CliTokens",
    "EndedLogin",
    "password_binding",
    "revoked_key",
]

CLI_KIND = "cli"
BEARER_PREFIX = "hgcli_"
DEFAULT_TTL = 3600.0
MIN_TTL = 60.0
# A stolen token file is worth at most this long; a working day covers one sitting without a password file.
MAX_TTL = 8 * 3600.0
_ALGORITHM = "EdDSA"
_VERIFIED_MAX = 10_000


REVOKED_PREFIX = PREFIX + "cli-logins/revoked/"


def revoked_key(jti: str) -> str:
    return REVOKED_PREFIX + jti


class EndedLogin(msgspec.Struct, frozen=True):
    """The record of a login ended by ``hostgate logout`` (its key names the token id)."""

    user: str
    expires_at: float  # when the token would have expired: the record's lease ends then


def password_binding(password_hash: str) -> str:
    """What a login token carries of the password: a digest of the stored argon2 hash (salted, so it changes
    with every password change, even to the same password). It reveals nothing usable: the hash itself stays
    in the store, and a guess cannot be tested against a digest of a salted hash without the salt."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class CliTokens:
    """Issues and checks login tokens on a member (from its in-memory copy: works without a quorum)."""

    def __init__(
        self,
        token_keys: TokenKeys,
        cache: ConfigCache,
        cluster_id: str,
        principal_of: Callable[[str], Principal],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = token_keys
        # How a verified login becomes a Principal: the member's Authenticator.principal, so that a login
        # token's holder has the profiles the grants give now (a revoked Administrator grant takes effect on
        # the next call, not at the token's expiry).
        self._principal_of = principal_of
        self._cache = cache
        self._cluster_id = cluster_id
        self._clock = clock
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._served: dict[str, Ed25519PublicKey] = {}
        self._served_version = ""
        # Signature-checked payloads by token: the CLI sends the same token with every call; an Ed25519
        # verification would cost more than a cheap call. Expiry, key and binding are checked every time.
        self._verified: dict[str, tuple[str, dict[str, Any]]] = {}

    def mint(self, principal: Principal, ttl: float | None = None) -> tuple[str, float]:
        """``(bearer value, expires_at)`` for ``principal``, who has just proved the password."""
        record = self._cache.decode(user_key(principal.name), UserRecord.decode)
        if record is None:
            raise LoginNotOffered(
                f"user {principal.name!r} is a directory account: `hostgate login` is offered to local accounts "
                "only (the directory alone can vouch for its password and groups)"
            )
        lifetime = DEFAULT_TTL if ttl is None else ttl
        if not (math.isfinite(lifetime) and MIN_TTL <= lifetime <= MAX_TTL):
            raise InvalidField(f"field 'ttl': {ttl!r} is outside {MIN_TTL:.0f}-{MAX_TTL:.0f} seconds")
        active = self._keys.record().active
        assert active is not None  # record() refuses a key set without one
        key = self._private.get(active.kid)
        if key is None:
            loaded = serialization.load_pem_private_key(active.private_pem.encode(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise LoginInvalid("the cluster's token key is not an Ed25519 key")
            key = self._private[active.kid] = loaded
        now = self._clock()
        expires = now + lifetime
        payload = {
            "typ": CLI_KIND,
            "cid": self._cluster_id,
            "sub": record.name,
            "pwv": password_binding(record.password_hash),
            # The token id: what `hostgate logout` records to end this login before it expires.
            "jti": os.urandom(16).hex(),
            "iat": int(now),
            "exp": int(expires),
        }
        token = jwt.encode(payload, key, algorithm=_ALGORITHM, headers={"kid": active.kid})
        return BEARER_PREFIX + token, float(int(expires))

    def verify(self, bearer: str) -> Principal:
        """The principal a ``hgcli_`` bearer value stands for; ``LoginExpired``/``LoginInvalid`` otherwise."""
        token = bearer.removeprefix(BEARER_PREFIX)
        now = self._clock()
        cached = self._verified.get(token)
        if cached is None:
            kid, payload = self._check_signature(token)
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.clear()
            self._verified[token] = (kid, payload)
        else:
            kid, payload = cached
            self._public_key(kid)  # still a served key (not retired past its tokens' lifetime)
        expires = float(payload["exp"])
        if expires + MAX_CLOCK_SKEW < now:
            raise LoginExpired(f"your login expired at {_when(expires)}; run `hostgate login`")
        if expires > now + MAX_TTL + MAX_CLOCK_SKEW:
            raise LoginInvalid("the login token lives longer than any member grants")
        name = str(payload["sub"])
        if self._cache.get(revoked_key(str(payload.get("jti", "")))) is not None:
            raise LoginInvalid(f"this login of user {name!r} was ended by `hostgate logout`")
        record = self._cache.decode(user_key(name), UserRecord.decode)
        if record is None:
            raise LoginInvalid(f"user {name!r} no longer exists; this login has ended")
        if payload.get("pwv") != password_binding(record.password_hash):
            raise LoginInvalid(f"the password of user {name!r} has changed since this login; it has ended")
        return self._principal_of(record.name)

    def ending(self, bearer: str) -> tuple[str, EndedLogin]:
        """``(record key, record)`` that ends the login ``bearer`` stands for (checked as :meth:`verify` does:
        only a login that is still good can be ended, and only by whoever holds it)."""
        principal = self.verify(bearer)
        _, payload = self._verified[bearer.removeprefix(BEARER_PREFIX)]
        jti = str(payload.get("jti", ""))
        if not jti:
            raise LoginInvalid("the login token is malformed (no token id)")
        return revoked_key(jti), EndedLogin(principal.name, float(payload["exp"]))

    def _public_key(self, kid: str) -> Ed25519PublicKey:
        # The served keys by kid, rebuilt only when the served set's version changes (TokenKeys.version is
        # memoised per stored key set): this runs on every request that carries a login token.
        version = self._keys.version()
        if version != self._served_version:
            self._served = {
                k.kid: Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public_b64, validate=True))
                for k in self._keys.public()
            }
            self._served_version = version
        loaded = self._served.get(kid)
        if loaded is not None:
            return loaded
        raise LoginInvalid(
            "this login was not signed by a current key of this cluster (a key retired since, or another "
            "cluster's)"
        )

    def _check_signature(self, token: str) -> tuple[str, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise LoginInvalid(f"the login token is malformed ({exc})") from None
        # Read unverified only to say why it is refused: another cluster's token names its own cluster.
        if claimed.get("cid") != self._cluster_id:
            raise LoginInvalid(
                f"this login is for cluster {str(claimed.get('cid'))[:80]!r}, not {self._cluster_id!r}"
            )
        if header.get("alg") != _ALGORITHM:  # never HS256 "signed" with a public key (algorithm confusion)
            raise LoginInvalid("the login token was not signed by a management member of this cluster")
        kid = str(header.get("kid"))
        key = self._public_key(kid)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "iat", "cid", "sub", "typ", "pwv"], "verify_exp": False},
            )
        except jwt.InvalidSignatureError:
            raise LoginInvalid("the login token's signature does not match its key") from None
        except jwt.PyJWTError as exc:
            raise LoginInvalid(f"the login token is malformed ({exc})") from None
        if payload.get("typ") != CLI_KIND:
            raise LoginInvalid(f"a {str(payload.get('typ'))[:40]} token is not a CLI login")
        if not isinstance(payload["exp"], int | float):
            raise LoginInvalid("the login token is malformed (exp is not a number)")
        return kid, payload
