"""What the routing hot path remembers (issue #16), and where that memory ends.

* ``Authenticator``: a password verified by argon2 is recognised from a keyed digest for a short while only
  (``REMEMBER_VERIFIED``), never for a wrong password, a changed password or a removed user;
* ``Signer.mint_fresh``: a token minted for the same claims within ``REUSE_WINDOW`` is handed out again, never
  for other claims, and never by the signer of another (rotated) key.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TypeVar, cast

from hostgate import tokens
from hostgate.management.cache import ConfigCache
from hostgate.management.records import UserRecord, user_key
from hostgate.management.security import REMEMBER_VERIFIED, Authenticator, hash_password

R = TypeVar("R")
PASSWORD = "right-password-1"


class Accounts:
    """Stands in for ConfigCache's ``decode`` (a unit test: no store); ``raw`` may be replaced or removed."""

    def __init__(self) -> None:
        self.raw: bytes | None = UserRecord("alice", hash_password(PASSWORD), ("admin",)).encode()

    def decode(self, key: str, decoder: Callable[[str, bytes], R]) -> R | None:
        return decoder(key, self.raw) if key == user_key("alice") and self.raw is not None else None


def _verified_once() -> tuple[Authenticator, Accounts, list[float]]:
    accounts, now = Accounts(), [1000.0]
    auth = Authenticator(cast(ConfigCache, accounts), clock=lambda: now[0])
    assert auth.authenticate("alice", PASSWORD).name == "alice"  # argon2 once
    return auth, accounts, now


def test_a_verified_password_is_recalled_only_for_a_short_while() -> None:
    auth, _, now = _verified_once()
    now[0] += REMEMBER_VERIFIED - 1
    assert auth.recall("alice", PASSWORD)[1] is not None
    # Before issue #16: remembered for the life of the process.
    now[0] += 2
    record, known = auth.recall("alice", PASSWORD)
    assert record is not None and known is None  # argon2 again
    assert auth.authenticate("alice", PASSWORD).name == "alice"
    assert auth.recall("alice", PASSWORD)[1] is not None


def test_a_wrong_changed_or_removed_password_is_never_recalled() -> None:
    auth, accounts, _ = _verified_once()
    assert auth.recall("alice", PASSWORD + "x")[1] is None
    assert auth.recall("alice", PASSWORD[:-1])[1] is None
    accounts.raw = UserRecord("alice", hash_password("another-password-2"), ("admin",)).encode()
    assert auth.recall("alice", PASSWORD)[1] is None  # the new hash has no entry
    accounts.raw = None
    assert auth.recall("alice", PASSWORD) == (None, None)


KID, PRIVATE, PUBLIC = tokens.generate_key()
KEYS = tokens.KeySet([tokens.PublicKey(KID, PUBLIC)])


def _claims(model: str = "m") -> tokens.TokenClaims:
    return tokens.TokenClaims(kind="session", cluster_id="c1", server="s1", user="u", model=model)


def test_a_token_is_reused_within_the_window_only_for_the_same_claims() -> None:
    signer = tokens.Signer(KID, PRIVATE)
    t0 = time.time()
    token, expires = signer.mint_fresh(_claims(), 900.0, now=t0)
    assert expires == t0 + 900.0
    again = signer.mint_fresh(_claims(), 900.0, now=t0 + tokens.REUSE_WINDOW / 2)
    assert again == (token, expires)  # one signature for both
    assert signer.mint_fresh(_claims("other"), 900.0, now=t0)[0] != token
    later, later_expires = signer.mint_fresh(_claims(), 900.0, now=t0 + tokens.REUSE_WINDOW)
    assert later != token and later_expires == t0 + tokens.REUSE_WINDOW + 900.0
    claims = KEYS.verify(later, kind="session", cluster_id="c1", server="s1")
    assert (claims.user, claims.model, claims.expires_at) == ("u", "m", int(later_expires))


def test_a_new_key_s_signer_never_hands_out_the_old_key_s_token() -> None:
    first = tokens.Signer(KID, PRIVATE)
    token, _ = first.mint_fresh(_claims(), 900.0, now=5000.0)
    kid, private, _ = tokens.generate_key()
    assert tokens.Signer(kid, private).mint_fresh(_claims(), 900.0, now=5000.0)[0] != token


def test_the_reuse_key_names_every_claim_but_the_expiry() -> None:
    # Signer.mint_fresh keys its memory by these fields: a claim added to TokenClaims must be added there too,
    # or two callers differing only in it would share a token.
    # issued_at, like expires_at, is not a claim a caller chooses: mint stamps it (the offline bound reads it).
    names = {f.name for f in dataclasses.fields(tokens.TokenClaims)}
    assert names == {
        "kind",
        "cluster_id",
        "server",
        "user",
        "model",
        "domain",
        "token_id",
        "expires_at",
        "issued_at",
        "pool",
        "action",
        "digest",
    }


def test_mint_session_shares_mint_fresh_s_memory_and_nothing_else() -> None:
    # Signer.mint_session looks the reuse key up before building claims (the route path): it must be the very
    # key mint_fresh files a session token under, and differ in every claim a caller chooses.
    signer = tokens.Signer(KID, PRIVATE)
    t0 = time.time()
    claims = tokens.TokenClaims(kind="session", cluster_id="c1", server="s1", user="u", model="m", domain="d")
    token, expires = signer.mint_fresh(claims, 900.0, now=t0)
    same = {"cluster_id": "c1", "server": "s1", "user": "u", "model": "m", "domain": "d"}
    assert signer.mint_session(900.0, **same, now=t0 + 0.5) == (token, expires)
    for field, other in [*((k, v + "x") for k, v in same.items()), ("pool", "p")]:
        assert signer.mint_session(900.0, **{**same, field: other}, now=t0 + 0.5)[0] != token, field
    # Values in other claims' places are other claims (a key built in another order would share them).
    swapped = tokens.TokenClaims(
        kind="session", cluster_id="c1", server="u", user="s1", model="d", domain="m"
    )
    theirs, _ = signer.mint_fresh(swapped, 900.0, now=t0)
    assert signer.mint_session(900.0, **same, now=t0 + 0.5)[0] != theirs
    fresh, _ = signer.mint_session(900.0, **same, now=t0 + tokens.REUSE_WINDOW)
    assert fresh != token
    got = KEYS.verify(fresh, kind="session", cluster_id="c1", server="s1")
    assert (got.user, got.model, got.domain) == ("u", "m", "d")
