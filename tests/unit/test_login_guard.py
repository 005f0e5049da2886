"""LoginGuard's policy with an injected clock: backoff per user and per address, lockout, reset on success.

The HTTP behaviour (429 with Retry-After, /health under a flood, the log line) is in
tests/integration/test_hardening_http.py against a real member.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pytest

from hostgate.config.settings import SecuritySettings
from hostgate.errors import AuthenticationFailed, TooManyAttempts
from hostgate.management.cache import ConfigCache
from hostgate.management.login_guard import LoginGuard
from hostgate.management.records import UserRecord, user_key
from hostgate.management.security import Authenticator, hash_password
from tests.helpers._clock import ManualClock

R = TypeVar("R")
PASSWORD = "right-password-1"


class OneUser:
    """Stands in for ConfigCache's ``decode`` with one account (a unit test: no store)."""

    def __init__(self) -> None:
        self.raw = UserRecord("alice", hash_password(PASSWORD), ("admin",)).encode()

    def decode(self, key: str, decoder: Callable[[str, bytes], R]) -> R | None:
        return decoder(key, self.raw) if key == user_key("alice") else None


def _guard(**policy: Any) -> tuple[LoginGuard, ManualClock]:
    clock = ManualClock()
    settings = SecuritySettings(
        login_free_failures=2,
        login_backoff=1.0,
        login_backoff_max=8.0,
        lockout_failures=5,
        login_fail_delay=0.0,
        **policy,
    )
    return LoginGuard(Authenticator(cast(ConfigCache, OneUser())), settings, clock=clock), clock


def _try(guard: LoginGuard, user: str, password: str, source: str = "10.0.0.1") -> str:
    try:
        asyncio.run(guard.authenticate(user, password, source))
    except TooManyAttempts as exc:
        return f"429:{exc.retry_after:g}"
    except AuthenticationFailed:
        return "401"
    return "ok"


def test_backoff_doubles_after_the_free_failures_and_success_clears_it() -> None:
    guard, clock = _guard(lockout_seconds=60.0)
    assert [_try(guard, "alice", "wrong") for _ in range(3)] == ["401", "401", "401"]
    assert _try(guard, "alice", PASSWORD) == "429:1"  # blocked even with the right password
    clock.advance(1.01)
    assert _try(guard, "alice", "wrong") == "401"
    assert _try(guard, "alice", "wrong") == "429:2"
    clock.advance(2.01)
    assert _try(guard, "alice", PASSWORD) == "ok"
    assert _try(guard, "alice", "wrong") == "401"  # counts start again


def test_lockout_holds_the_user_for_lockout_seconds() -> None:
    guard, clock = _guard(lockout_seconds=300.0)
    for i in range(5):
        clock.advance(100.0 if i else 0.0)  # past every backoff: only the lockout is left
        assert _try(guard, "alice", "wrong", source=f"10.0.1.{i}") == "401"
    assert _try(guard, "alice", PASSWORD, source="10.9.9.9") == "429:300"
    clock.advance(301.0)
    assert _try(guard, "alice", PASSWORD, source="10.9.9.9") == "ok"


def test_source_backoff_covers_every_user_name_from_that_address() -> None:
    guard, _ = _guard()
    for i in range(3):
        assert _try(guard, f"guess{i}", "wrong") == "401"
    assert _try(guard, "guess9", "wrong").startswith("429")
    assert _try(guard, "alice", PASSWORD, source="10.0.0.2") == "ok"


def test_queue_is_bounded() -> None:
    guard, _ = _guard(login_workers=1, login_queue=0)

    async def two_at_once() -> list[str]:
        async def one(i: int) -> str:
            try:
                await guard.authenticate(f"u{i}", "wrong", f"10.1.0.{i}")
            except TooManyAttempts:
                return "429"
            except AuthenticationFailed:
                return "401"
            return "ok"

        return sorted(await asyncio.gather(one(1), one(2)))

    assert asyncio.run(two_at_once()) == ["401", "429"]


@pytest.mark.parametrize("name", ["login_workers", "max_body"])
def test_policy_values_are_checked(name: str, tmp_path: Any) -> None:
    from hostgate.config.settings import settings_from_mapping
    from hostgate.errors import ConfigError

    raw = {"server": {"member_name": "m1", "address": "127.0.0.1"}, "security": {name: 0}}
    with pytest.raises(ConfigError, match=f"security.{name}"):
        settings_from_mapping(raw, tmp_path, {}, "hostgate.toml")


def test_user_names_count_case_insensitively() -> None:
    guard, _ = _guard()
    for i, name in enumerate(("alice", "Alice", "ALICE")):
        assert _try(guard, name, "wrong", source=f"10.2.0.{i}") == "401"
    assert _try(guard, "aLiCe", PASSWORD, source="10.2.0.9").startswith("429")


def test_a_lockout_holds_a_remembered_password_too() -> None:
    # The gate's fast path (LoginGuard.remembered, issue #16) answers a recently verified password without
    # argon2: it must still yield to a lockout, or a locked account keeps working for whoever holds its password.
    guard, clock = _guard(lockout_seconds=300.0)
    assert _try(guard, "alice", PASSWORD) == "ok"  # argon2 once: remembered from here
    assert guard.remembered("alice", PASSWORD, "10.9.9.9") is not None
    for i in range(5):
        clock.advance(100.0 if i else 0.0)
        assert _try(guard, "alice", "wrong", source=f"10.0.1.{i}") == "401"
    assert guard.remembered("alice", PASSWORD, "10.9.9.9") is None
    assert _try(guard, "alice", PASSWORD, source="10.9.9.9") == "429:300"
