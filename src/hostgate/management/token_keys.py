"""The cluster's token keys: members sign with the active private key; session servers get only public keys.

The key set is one store record (``TOKEN_KEYS_KEY``), so every member signs with the same key and rotation is
one compare-and-set. What session servers receive (:meth:`TokenKeys.public`) holds the active key and each
retired key until the last token it could have signed has expired; they fetch it when the version their
heartbeat answer names differs from theirs (``GET /api/v1/token-keys``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from hostgate import tokens
from hostgate.errors import CompareFailed, HostgateError, StoreUnavailable
from hostgate.management.cache import ConfigCache
from hostgate.management.records import SIGNING_KEY, TOKEN_KEYS_KEY, TokenKey, TokenKeySet
from hostgate.management.security import Principal
from hostgate.store.base import Store

__all__ = ["RETIRED_KEY_LIFETIME", "TokenKeys", "ensure_token_keys", "new_key_set", "public_keys"]

log = logging.getLogger("hostgate.management.token_keys")
# A retired key signed its last token just before rotation; that token lives this long (plus clock skew).
RETIRED_KEY_LIFETIME = tokens.SESSION_TOKEN_TTL + tokens.MAX_CLOCK_SKEW


def new_key(now: float) -> TokenKey:
    kid, private_pem, public_b64 = tokens.generate_key()
    return TokenKey(kid, private_pem, public_b64, now)


def new_key_set(now: float) -> TokenKeySet:
    return TokenKeySet((new_key(now),))


def public_keys(record: TokenKeySet, now: float) -> tuple[tokens.PublicKey, ...]:
    """The active key and the retired keys whose tokens may still be alive."""
    out = []
    for k in record.keys:
        until = k.retired_at + RETIRED_KEY_LIFETIME if k.retired_at else 0.0
        if until and until <= now:
            continue
        out.append(tokens.PublicKey(k.kid, k.public_b64, until))
    return tuple(out)


# One decoder object: ConfigCache memoises by (key, decoder); a bound classmethod is new at every access.
_DECODE_KEYS = TokenKeySet.decode


class TokenKeys:
    """This member's view of the key set (from the in-memory copy) and its one write, rotation."""

    def __init__(self, store: Store, cache: ConfigCache, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self._signer: tokens.Signer | None = None
        self._signer_of: TokenKeySet | None = None  # the record self._signer was chosen from
        self._version: tuple[TokenKeySet, float, str] | None = None  # (record, valid until, version)
        self._checked: TokenKeySet | None = None  # the stored record last found to have an active key

    def record(self) -> TokenKeySet:
        rec = self.cache.decode(TOKEN_KEYS_KEY, _DECODE_KEYS)
        if rec is not None and rec is self._checked:
            return rec  # every route call and heartbeat asks: the search for the active key once per record
        if rec is None or rec.active is None:
            raise StoreUnavailable("the cluster's token keys are not loaded yet")
        self._checked = rec
        return rec

    def signer(self) -> tokens.Signer:
        """The active key's signer, memoised: loading a PEM key per routing would cost more than signing."""
        record = self.record()
        if self._signer is not None and self._signer_of is record:
            return self._signer  # the same stored key set: no search for its active key (every route call)
        active = record.active
        assert active is not None  # record() checked
        if self._signer is None or self._signer.kid != active.kid:
            self._signer = tokens.Signer(active.kid, active.private_pem)
        self._signer_of = record
        return self._signer

    def public(self) -> tuple[tokens.PublicKey, ...]:
        return public_keys(self.record(), self.clock())

    def version(self) -> str:
        """The public key set's version; every heartbeat answer carries it, so it is worked out once per stored
        key set and kept until the first retired key it lists expires (``public_keys`` drops it then)."""
        record, now = self.record(), self.clock()
        memo = self._version
        if memo is not None and memo[0] is record and now < memo[1]:
            return memo[2]
        keys = public_keys(record, now)
        valid_until = min((k.accept_until for k in keys if k.accept_until), default=math.inf)
        version = tokens.key_set_version(keys)
        self._version = (record, valid_until, version)
        return version

    async def rotate(self, principal: Principal) -> tuple[tokens.PublicKey, ...]:
        """A new key signs from now on; the old one is retired (accepted until its tokens expire); keys retired
        longer ago than that are dropped from the store."""
        principal.require_admin()
        for _ in range(5):
            kv = await self.store.get(TOKEN_KEYS_KEY)
            if kv is None:
                raise StoreUnavailable("the cluster's token keys are missing from the store")
            now = self.clock()
            current = TokenKeySet.decode(TOKEN_KEYS_KEY, kv.value)
            kept = tuple(
                TokenKey(k.kid, k.private_pem, k.public_b64, k.created_at, k.retired_at or now)
                for k in current.keys
                if not k.retired_at or k.retired_at + RETIRED_KEY_LIFETIME > now
            )
            rotated = TokenKeySet((new_key(now), *kept))
            try:
                revision = await self.store.compare_and_set(TOKEN_KEYS_KEY, rotated.encode(), kv.mod_revision)
            except CompareFailed:
                continue
            await self.cache.wait_for_revision(revision)
            log.info("token keys rotated by %s: %s signs from now on", principal.name, rotated.keys[0].kid)
            return public_keys(rotated, now)
        raise CompareFailed("the token keys kept changing while rotating; try again")


async def ensure_token_keys(store: Store, cache: ConfigCache) -> str:
    """Migration of a store made by an earlier version: create the key set if missing, and delete the old
    symmetric signing key (every session server held it, so it must not sign or verify anything any more).
    Best effort: without a majority it says so and the next start tries again. Returns the decision."""
    try:
        decision = "token keys present"
        if cache.get(TOKEN_KEYS_KEY) is None:
            try:
                revision = await store.compare_and_set(TOKEN_KEYS_KEY, new_key_set(time.time()).encode(), 0)
                await cache.wait_for_revision(revision)
                decision = "created the cluster's Ed25519 token keys (store made by an earlier version)"
            except CompareFailed:
                decision = "token keys created meanwhile by another member"
        if cache.get(SIGNING_KEY) is not None:
            await store.delete(SIGNING_KEY)
            decision += "; deleted the old shared HS256 signing key"
        return decision
    except HostgateError as exc:
        return f"token keys not migrated yet ({exc}); the next start tries again"
