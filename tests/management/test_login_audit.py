"""Failed logins and lockouts in the audit trail (management/login_audit.py), from the real LoginGuard with an
injected clock, into a real SqliteStore: each lockout at once, failures per user and address rate-limited, so a
password-guessing flood costs at most one entry per user and address a minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostgate.config.settings import SecuritySettings
from hostgate.errors import AuthenticationFailed, TooManyAttempts
from hostgate.management.audit_query import Query
from hostgate.management.audit_records import AuditEntry
from hostgate.management.login_audit import LoginAudit
from hostgate.management.login_guard import LoginGuard
from tests.helpers._clock import ManualClock
from tests.helpers.inprocess import InProcessMember, start_member

WRONG = "Wrong-Guess-Never-Stored-42"


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    try:
        yield m
    finally:
        await m.close()


def _guard(m: InProcessMember, clock: ManualClock, **policy: float) -> LoginGuard:
    settings = SecuritySettings(login_free_failures=1000, login_fail_delay=0.0, **policy)  # type: ignore[arg-type]
    return LoginGuard(m.service.auth, settings, clock=clock, audit=m.service.audit)


async def _fail(guard: LoginGuard, user: str, source: str) -> str:
    try:
        await guard.authenticate(user, WRONG, source)
    except AuthenticationFailed:
        return "401"
    except TooManyAttempts:
        return "429"
    return "ok"


async def _logins(m: InProcessMember) -> list[AuditEntry]:
    assert await m.service.audit.flush(30.0)
    page = await m.service.audit.read(Query(limit=1000, action="login", oldest_first=True))
    return list(page.entries)


async def test_bad_passwords_leave_failure_entries_and_one_lockout_entry(member: InProcessMember) -> None:
    clock = ManualClock(1_800_000_000.0)
    guard = _guard(member, clock, lockout_failures=4, lockout_seconds=300.0)
    try:
        answers = [await _fail(guard, "admin", "10.0.0.7") for _ in range(6)]
        assert answers == ["401"] * 4 + ["429"] * 2  # locked out after the 4th
        clock.advance(61.0)  # past the rate limit's window: the next failure anywhere writes the count
        assert await _fail(guard, "operator", "10.0.0.8") == "401"
    finally:
        guard.close()
    entries = await _logins(member)
    summary = [(e.action, e.actor, e.source, e.outcome, dict(e.detail)) for e in entries]
    assert summary == [
        ("login.failed", "admin", "10.0.0.7", "HG-3001", {"reason": "local account"}),
        ("login.lockout", "admin", "10.0.0.7", "HG-3003", {"failures": "4", "seconds": "300"}),
        (
            "login.failed",
            "admin",
            "10.0.0.7",
            "HG-3001",
            {"count": "3", "since": "1800000000.000", "last": "1800000000.000"},
        ),
        ("login.failed", "operator", "10.0.0.8", "HG-3001", {"reason": "local account"}),
    ]
    stored, _ = await member.store.get_prefix("")
    assert not [kv for kv in stored if WRONG.encode() in kv.value]  # no guessed password is ever kept


async def test_a_guessing_flood_costs_one_entry_per_user_and_address_a_minute(
    member: InProcessMember,
) -> None:
    clock = ManualClock(1_800_000_000.0)
    guard = _guard(member, clock, lockout_failures=100_000)
    written_before = member.service.audit.written
    try:
        for i in range(30):
            clock.advance(1.0)  # 30 guesses in 30 s: one window
            assert await _fail(guard, f"user{i % 2}", "10.0.0.9") == "401"
        assert await member.service.audit.flush(30.0)
        assert member.service.audit.written - written_before == 2  # the first failure of each user, at once
    finally:
        guard.close()  # writes the counts still open
    entries = await _logins(member)
    assert [(e.actor, dict(e.detail).get("count")) for e in entries] == [
        ("user0", None),
        ("user1", None),
        ("user0", "14"),
        ("user1", "14"),
    ]


async def test_a_successful_login_closes_its_window(member: InProcessMember) -> None:
    clock = ManualClock(1_800_000_000.0)
    guard = _guard(member, clock, lockout_failures=100)
    try:
        for _ in range(3):
            await _fail(guard, "admin", "10.0.0.5")
        await guard.authenticate("admin", "correct-horse-battery", "10.0.0.5")
    finally:
        guard.close()
    entries = await _logins(member)
    assert [dict(e.detail).get("count") for e in entries] == [None, "2"]


async def test_a_window_is_written_once_it_passes_even_without_further_failures(
    member: InProcessMember,
) -> None:
    audit = LoginAudit(member.service.audit, window=0.3)  # the real clock; a short window
    try:
        for _ in range(3):
            audit.failed("admin", "10.0.0.3", "local account")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20.0
        while len(entries := await _logins(member)) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.05)  # poll interval, bounded by the deadline
        assert [dict(e.detail).get("count") for e in entries] == [None, "2"]
    finally:
        audit.close()
