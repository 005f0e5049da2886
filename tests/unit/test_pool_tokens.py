"""The pool claim of session tokens (``pol``): carried, checked, and never shared between pools."""

from __future__ import annotations

import base64
import json
import time

from hostgate import tokens

_KID, _PRIVATE_PEM, _PUBLIC_B64 = tokens.generate_key()
SIGNER = tokens.Signer(_KID, _PRIVATE_PEM)
KEYS = tokens.KeySet([tokens.PublicKey(_KID, _PUBLIC_B64)])


def _claims(pool: str = "") -> tokens.TokenClaims:
    return tokens.TokenClaims("session", "c1", "s1", user="ada", pool=pool, expires_at=time.time() + 60)


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    found: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return found


def test_a_pool_token_names_its_pool_and_a_plain_one_carries_no_pool_claim() -> None:
    pooled = SIGNER.mint(_claims("orders"))
    assert KEYS.verify(pooled, kind="session", cluster_id="c1", server="s1").pool == "orders"
    plain = SIGNER.mint(_claims())
    assert "pol" not in _payload(plain)  # tokens without a pool look exactly as before
    assert KEYS.verify(plain, kind="session", cluster_id="c1", server="s1").pool == ""


def test_mint_fresh_never_hands_one_pools_token_to_another_pool() -> None:
    signer = tokens.Signer(_KID, _PRIVATE_PEM)
    orders, _ = signer.mint_fresh(_claims("orders"), 60)
    billing, _ = signer.mint_fresh(_claims("billing"), 60)
    plain, _ = signer.mint_fresh(_claims(), 60)
    assert len({orders, billing, plain}) == 3
    assert KEYS.verify(billing, kind="session", cluster_id="c1", server="s1").pool == "billing"
