"""Local accounts: argon2 password hashes kept in the replicated store, checked against the in-memory copy.

Directories (LDAP / Active Directory, management/ldap/) are asked after the local accounts, for a user name
that has no local account (``Authenticator.directories``; the login guard runs it off the event loop).
Every Principal is built by ``Authenticator.principal``, which gives it the ``admin`` role exactly when the
cluster's grants make the user a cluster-wide Administrator (management/grants.py): ``is_admin`` and
``require_admin`` are the grants' answer, not a second truth.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hostgate.errors import AuthenticationFailed, NotAuthorized, UsageError
from hostgate.management.cache import ConfigCache
from hostgate.management.grants import DECODE_GRANT_INDEX, GrantIndex, Grants, Profile, Subject
from hostgate.management.ldap import DirectoryAuthenticator, LdapSettings
from hostgate.management.ldap.config import LDAP_KEY
from hostgate.management.records import GRANTS_KEY, UserRecord, user_key

__all__ = [
    "ADMIN_ROLE",
    "REMEMBER_VERIFIED",
    "Authenticator",
    "Principal",
    "hash_password",
    "validate_new_password",
]

ADMIN_ROLE = "admin"
_HASHER = argon2.PasswordHasher()
# A real hash, verified against when the user does not exist, so a wrong user name costs the same time as a
# wrong password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash("hostgate-no-such-user")
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# How long a password verified by argon2 is recognised from memory (a keyed digest of it) before argon2 runs
# again: short, so that a remembered password never outlives a change the member cannot see (issue #16).
REMEMBER_VERIFIED = 60.0
# The digests' key: random per process, so a memory dump's digests cannot be tested offline against guesses
# without it, and nothing derived from a password hash is reused as a key.
_DIGEST_KEY = secrets.token_bytes(32)


# One decoder object: ConfigCache memoises by (key, decoder), and ``UserRecord.decode`` is a new bound method
# (hashed anew) at every attribute access.
_DECODE_USER = UserRecord.decode


# Keyed BLAKE2b (RFC 7693, a MAC with a key): a third of the cost of HMAC-SHA256 through OpenSSL 3 here, paid
# on every authenticated request. Copied from a keyed state made once: setting the key up per call was more
# than half of it (issue #16).
_DIGEST_STATE = hashlib.blake2b(key=_DIGEST_KEY, digest_size=32)


def _digest(password: str) -> bytes:
    state = _DIGEST_STATE.copy()
    state.update(password.encode())
    return state.digest()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def validate_new_password(password: str) -> None:
    if len(password) < 8:
        raise UsageError("the password must have at least 8 characters")
    if password != password.strip():
        raise UsageError("the password must not start or end with white space")


def validate_user_name(name: str) -> None:
    if not _USER_RE.match(name):
        raise UsageError(f"{name!r} is not a valid user name (letters, digits, '.', '_', '-'; at most 64)")


@dataclass(frozen=True, slots=True)
class _Verified:
    """A password argon2 verified for an account, as remembered (never the password itself).

    Valid while the account's stored record equals ``record`` (a new password, a changed role or a removed
    account ends it) and for ``REMEMBER_VERIFIED`` seconds from ``at``; ``principal`` is what the grants in
    ``grants`` (the grant index object the copy held) made of it, rebuilt when the copy holds other grants."""

    record: UserRecord
    digest: bytes  # keyed BLAKE2b of the password (_digest), compared in constant time
    at: float
    grants: GrantIndex | None
    principal: Principal


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    roles: tuple[str, ...]
    # A directory user's groups (nested ones included), for grants to groups; empty for local accounts:
    # their names (the directory's group_name_attribute, cn by default) and their DNs.
    groups: tuple[str, ...] = ()
    group_dns: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def require_admin(self) -> None:
        if not self.is_admin:
            raise NotAuthorized(f"user {self.name!r} is not an Administrator of this cluster")


class Authenticator:
    """Checks user name + password against the replicated accounts (from memory: works without a quorum)."""

    def __init__(
        self,
        cache: ConfigCache,
        *,
        remember_for: float = REMEMBER_VERIFIED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._remember_for = remember_for
        self._clock = clock
        # Successful verifications, by the account's store key (_Verified), so that a busy client pays neither
        # argon2 nor the grant evaluation on every request (issue #16: the remembered-password path was a
        # third of a route call's CPU). Still checked per request: the password sent must give the same digest
        # (compared in constant time), within ``remember_for`` seconds of its argon2 check, and the stored
        # record must be the one verified; other grants rebuild the principal (no argon2).
        self._verified: dict[str, _Verified] = {}
        self.directories = DirectoryAuthenticator(self.ldap_settings)
        self.grants = Grants(cache)

    def principal(
        self, name: str, groups: tuple[str, ...] = (), group_dns: tuple[str, ...] = ()
    ) -> Principal:
        """The one place a Principal is made: ``admin`` role iff a cluster-wide Administrator grant applies
        (to the user or one of its groups), so every ``require_admin`` follows the grants."""
        held = self.grants.cluster_profile(Subject(name, groups, group_dns))
        roles = (ADMIN_ROLE,) if held is Profile.ADMINISTRATOR else ("user",)
        return Principal(name, roles, groups, group_dns)

    def ldap_settings(self) -> LdapSettings:
        """The directories as replicated (validated when written), from memory."""
        return self._cache.decode(LDAP_KEY, LdapSettings.decode) or LdapSettings()

    def authenticate(self, name: str, password: str) -> Principal:
        """All three steps in the calling thread (blocking: argon2 takes ~0.1 s and 64 MiB)."""
        record, known = self.recall(name, password)
        if known is not None:
            return known
        return self.admit(record, password, self.verify(record, password))

    # The steps, for callers that run argon2 off the event loop (api/_auth.py): ``recall`` and ``admit`` read
    # and write this object (event loop only), ``verify`` touches nothing shared (any thread).

    def recall(self, name: str, password: str) -> tuple[UserRecord | None, Principal | None]:
        """The user's record, and the principal when this very password was verified before (cheap)."""
        key = user_key(name) if name else ""
        record = self._cache.decode(key, _DECODE_USER) if name else None
        if record is None:
            # No local account: a directory login recently verified with this password (management/ldap/).
            identity = self.directories.recall(name, password) if name else None
            if identity is None:
                return None, None
            return None, self.principal(identity.user, identity.groups, identity.group_dns)
        known = self._verified.get(key)
        if (
            known is None
            # The record verified, still stored (a reloaded copy holds an equal one): same hash, same roles.
            or not (known.record is record or known.record == record)
            or not 0.0 <= self._clock() - known.at < self._remember_for
            or not hmac.compare_digest(known.digest, _digest(password))
        ):
            return record, None
        grants = self._cache.decode(GRANTS_KEY, DECODE_GRANT_INDEX)
        if known.grants is not grants:  # the grants changed since: what do they make of the user now?
            known = replace(known, grants=grants, principal=self.principal(record.name))
            self._verified[key] = known
        return record, known.principal

    @staticmethod
    def verify(record: UserRecord | None, password: str) -> bool:
        """argon2 against the record's hash (or a dummy one, so a wrong user name costs the same time)."""
        if record is None:
            with contextlib.suppress(VerificationError):
                _HASHER.verify(_DUMMY_HASH, password)
            return False
        try:
            return _HASHER.verify(record.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def admit(self, record: UserRecord | None, password: str, verified: bool) -> Principal:
        if record is None or not verified:
            raise AuthenticationFailed("wrong user name or password")
        if len(self._verified) > 10_000:
            self._verified.clear()
        grants = self._cache.decode(GRANTS_KEY, DECODE_GRANT_INDEX)
        principal = self.principal(record.name)
        self._verified[user_key(record.name)] = _Verified(
            record, _digest(password), self._clock(), grants, principal
        )
        return principal
