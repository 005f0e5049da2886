"""Bound tokens: signed by members with Ed25519, checked by session servers against public keys only.

A token is good only for its cluster and its session server ("Token binding is invalid"), always expires, and
nothing but the private key of a current key of the set can make one.
"""

from __future__ import annotations

import base64
import time

import jwt
import pytest

from hostgate import tokens
from hostgate.errors import AuthenticationFailed, ManagementSessionError
from hostgate.management.records import TokenKey, TokenKeySet
from hostgate.management.token_keys import RETIRED_KEY_LIFETIME, public_keys

KID, PRIVATE, PUBLIC = tokens.generate_key()
SIGNER = tokens.Signer(KID, PRIVATE)
KEYS = tokens.KeySet([tokens.PublicKey(KID, PUBLIC)])


def _claims(**kw: object) -> dict[str, object]:
    claims: dict[str, object] = dict(
        kind="session", cluster_id="c1", server="s1", user="u", model="m", expires_at=time.time() + 60
    )
    claims.update(kw)
    return claims


def _token(**kw: object) -> str:
    return SIGNER.mint(tokens.TokenClaims(**_claims(**kw)))  # type: ignore[arg-type]


def _verify(token: str, keys: tokens.KeySet = KEYS, **kw: str | None) -> tokens.TokenClaims:
    args: dict[str, str | None] = {"cluster_id": "c1", "server": "s1", **kw}
    return keys.verify(token, kind="session", **args)  # type: ignore[arg-type]


def test_valid_token_round_trips_its_claims() -> None:
    claims = _verify(_token())
    assert (claims.user, claims.model, claims.server) == ("u", "m", "s1")
    assert jwt.get_unverified_header(_token()) == {"alg": "EdDSA", "kid": KID, "typ": "JWT"}


@pytest.mark.parametrize(
    ("token_kw", "verify_kw", "error", "text"),
    [
        ({}, {"cluster_id": "c2"}, ManagementSessionError, "another management cluster"),
        ({}, {"server": "s2"}, ManagementSessionError, "Token binding is invalid"),
        ({"expires_at": time.time() - 120}, {}, AuthenticationFailed, "expired"),
        ({"kind": "server"}, {}, AuthenticationFailed, "cannot be used here"),
        ({"expires_at": time.time() + 86400}, {}, AuthenticationFailed, "longer than any member grants"),
    ],
)
def test_bad_binding_is_refused(
    token_kw: dict[str, object], verify_kw: dict[str, str], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        _verify(_token(**token_kw), **verify_kw)


def test_token_signed_by_another_key_is_a_binding_error() -> None:
    kid, private, _ = tokens.generate_key()
    with pytest.raises(ManagementSessionError, match="Token binding is invalid"):
        _verify(tokens.Signer(kid, private).mint(tokens.TokenClaims(**_claims())))  # type: ignore[arg-type]
    # Same kid, other private key: the signature does not match.
    with pytest.raises(ManagementSessionError, match="signature"):
        _verify(tokens.Signer(KID, private).mint(tokens.TokenClaims(**_claims())))  # type: ignore[arg-type]


def _payload(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"typ": "session", "cid": "c1", "srv": "s1", "sub": "u", "iat": now, **extra}


def test_a_token_without_expiry_is_refused() -> None:
    # Only a member's private key can sign it; even then, a token that never expires is refused.
    raw = jwt.encode(_payload(), PRIVATE, algorithm="EdDSA", headers={"kid": KID})
    with pytest.raises(AuthenticationFailed, match="exp"):
        _verify(raw)
    with pytest.raises(ValueError, match="expires"):
        SIGNER.mint(tokens.TokenClaims(kind="session", cluster_id="c1", server="s1"))


def test_the_public_key_cannot_sign_hs256_algorithm_confusion() -> None:
    # What a session server holds is public; an HS256 "signature" keyed with it must not pass.
    for secret in (PUBLIC.encode(), base64.b64decode(PUBLIC)):
        forged = jwt.encode(
            _payload(exp=int(time.time()) + 60), secret, algorithm="HS256", headers={"kid": KID}
        )
        with pytest.raises(ManagementSessionError, match="not signed by a management member"):
            _verify(forged)


def test_garbage_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationFailed, match="malformed"):
        _verify("not-a-token")


def test_a_retired_key_is_accepted_until_its_tokens_expire_then_dropped() -> None:
    now = time.time()
    new_kid, new_private, new_public = tokens.generate_key()
    record = TokenKeySet(
        (
            TokenKey(new_kid, new_private, new_public, now),
            TokenKey(KID, PRIVATE, PUBLIC, now - 10, retired_at=now),
        )
    )
    served = public_keys(record, now + 1)
    assert [(k.kid, k.accept_until) for k in served] == [(new_kid, 0.0), (KID, now + RETIRED_KEY_LIFETIME)]
    old_token = _token()
    assert _verify(old_token, tokens.KeySet(served)).user == "u"
    # Past its lifetime the retired key is no longer served, and a set that still holds it refuses it.
    assert [k.kid for k in public_keys(record, now + RETIRED_KEY_LIFETIME + 1)] == [new_kid]
    late = tokens.KeySet(served, clock=lambda: now + RETIRED_KEY_LIFETIME + 1)
    with pytest.raises(ManagementSessionError, match="current key"):
        _verify(old_token, late)


def test_key_set_record_round_trips() -> None:
    record = TokenKeySet((TokenKey(KID, PRIVATE, PUBLIC, 1.0),))
    assert TokenKeySet.decode("k", record.encode()) == record
    assert record.active is not None and record.active.kid == KID


def test_a_token_verified_once_is_still_checked_for_expiry_and_key_retirement() -> None:
    now = [time.time()]
    until = now[0] + 30
    keys = tokens.KeySet([tokens.PublicKey(KID, PUBLIC, until)], clock=lambda: now[0])
    token = _token(expires_at=now[0] + 600)
    assert _verify(token, keys).user == "u"
    assert _verify(token, keys).user == "u"  # the remembered signature check
    now[0] = until + 1  # the key's retirement period is over: refused although remembered
    with pytest.raises(ManagementSessionError, match="current key"):
        _verify(token, keys)
    active = tokens.KeySet([tokens.PublicKey(KID, PUBLIC)], clock=lambda: now[0])
    short = _token(expires_at=now[0] + 5)
    assert _verify(short, active).user == "u"
    now[0] += 5 + tokens.MAX_CLOCK_SKEW + 1
    with pytest.raises(AuthenticationFailed, match="expired"):
        _verify(short, active)


def test_an_accepted_token_is_checked_again_for_binding_expiry_and_key_on_every_use() -> None:
    # KeySet remembers the claims it accepted a token with (issue #18: building them again was a fifth of a
    # pooled acquire in the app). What the remembered acceptance must not carry over: another binding, the
    # token's expiry, its key's retirement, a key set without its key.
    now = [time.time()]
    until = now[0] + 300
    keys = tokens.KeySet([tokens.PublicKey(KID, PUBLIC, until)], clock=lambda: now[0])
    token = _token(expires_at=now[0] + 120)
    assert _verify(token, keys) is _verify(token, keys)  # remembered
    with pytest.raises(ManagementSessionError, match="session server 's1', not 's2'"):
        _verify(token, keys, server="s2")
    with pytest.raises(ManagementSessionError, match="another management cluster"):
        _verify(token, keys, cluster_id="c2")
    with pytest.raises(AuthenticationFailed, match="cannot be used here"):
        keys.verify(token, kind="pool-admin", cluster_id="c1", server="s1")
    assert _verify(token, keys, server=None).server == "s1"  # any server of the cluster: its own binding
    with pytest.raises(ManagementSessionError, match="current key"):  # a set installed without its key
        _verify(token, tokens.KeySet([tokens.PublicKey(*tokens.generate_key()[::2])], clock=lambda: now[0]))

    now[0] += 120 + tokens.MAX_CLOCK_SKEW + 1  # expired: refused, or handed to the offline bound
    with pytest.raises(AuthenticationFailed, match="expired"):
        _verify(token, keys)
    offline: list[tokens.TokenClaims] = []
    accepted = keys.verify(
        token, kind="session", cluster_id="c1", server="s1", on_expired=lambda c: offline.append(c) or c
    )
    assert offline == [accepted] and accepted.user == "u"
    with pytest.raises(AuthenticationFailed, match="expired"):  # not remembered as accepted by the bound
        _verify(token, keys)
    now[0] = until + 1  # the key's retirement period is over
    with pytest.raises(ManagementSessionError, match="current key"):
        keys.verify(token, kind="session", cluster_id="c1", server="s1", on_expired=lambda c: c)


def test_a_refused_token_is_not_remembered_as_accepted() -> None:
    now = [time.time()]
    keys = tokens.KeySet([tokens.PublicKey(KID, PUBLIC)], clock=lambda: now[0])
    too_long = _token(expires_at=now[0] + tokens.SESSION_TOKEN_TTL + tokens.MAX_CLOCK_SKEW + 30)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed, match="longer than any member grants"):
            _verify(too_long, keys)
    with pytest.raises(ManagementSessionError, match="not 's2'"):
        _verify(_token(), keys, server="s2")
    with pytest.raises(ManagementSessionError, match="not 's2'"):
        _verify(_token(), keys, server="s2")
    # Accepted only by the offline bound (expired when first seen): the next check asks the bound again.
    late = _token(expires_at=now[0] - tokens.MAX_CLOCK_SKEW - 1)
    asked: list[str] = []

    def bound(claims: tokens.TokenClaims) -> tokens.TokenClaims:
        asked.append(claims.user)
        return claims

    for _ in range(2):
        keys.verify(late, kind="session", cluster_id="c1", server="s1", on_expired=bound)
    assert asked == ["u", "u"]
    with pytest.raises(AuthenticationFailed, match="expired"):
        _verify(late, keys)
