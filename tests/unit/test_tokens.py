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
