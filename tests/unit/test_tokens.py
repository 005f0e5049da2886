"""Bound tokens: a token is good only for its cluster and its session server ("Token binding is invalid")."""

from __future__ import annotations

import time

import pytest

from hostgate import tokens
from hostgate.errors import AuthenticationFailed, ManagementSessionError

KEY = b"k" * 32


def _token(**kw: object) -> str:
    claims = dict(
        kind="session", cluster_id="c1", server="s1", user="u", model="m", expires_at=time.time() + 60
    )
    claims.update(kw)
    return tokens.mint(KEY, tokens.TokenClaims(**claims))  # type: ignore[arg-type]


def test_valid_token_round_trips_its_claims() -> None:
    claims = tokens.verify(KEY, _token(), kind="session", cluster_id="c1", server="s1")
    assert (claims.user, claims.model, claims.server) == ("u", "m", "s1")


@pytest.mark.parametrize(
    ("token_kw", "verify_kw", "error", "text"),
    [
        ({}, {"cluster_id": "c2"}, ManagementSessionError, "another management cluster"),
        ({}, {"server": "s2"}, ManagementSessionError, "Token binding is invalid"),
        ({"expires_at": time.time() - 5}, {}, AuthenticationFailed, "expired"),
        ({"kind": "server"}, {}, AuthenticationFailed, "cannot be used here"),
    ],
)
def test_bad_binding_is_refused(
    token_kw: dict[str, object], verify_kw: dict[str, str], error: type[Exception], text: str
) -> None:
    kw: dict[str, str | None] = {"cluster_id": "c1", "server": "s1", **verify_kw}
    with pytest.raises(error, match=text):
        tokens.verify(KEY, _token(**token_kw), kind="session", **kw)  # type: ignore[arg-type]


def test_token_signed_by_another_cluster_key_is_a_binding_error() -> None:
    with pytest.raises(ManagementSessionError, match="Token binding is invalid"):
        tokens.verify(b"x" * 32, _token(), kind="session", cluster_id="c1", server="s1")


def test_garbage_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationFailed, match="malformed"):
        tokens.verify(KEY, "not-a-token", kind="session", cluster_id="c1", server="s1")
