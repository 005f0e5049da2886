"""Failed logins and lockouts in the audit trail, without turning a password-guessing flood into store writes.

The login guard (login_guard.py) exists to keep failed logins cheap; an audit entry per failure would make each
guess cost a store write (the amplification its docstring warns about). So, per user name and source address:
the first failure is recorded at once (``login.failed``), further failures within ``WINDOW`` seconds are only
counted, and the count is recorded as one ``login.failed`` entry (detail ``count``, ``since``, ``last``) once the
window has passed (a timer on the event loop, or the next failure), when that user and address log in, or when
the guard closes. A flood therefore costs at most one entry per user and address a minute. Each
lockout is recorded at once (``login.lockout``). Memory is bounded: at most ``TRACKED`` pairs are held; when
more arrive, the oldest pair's count is recorded early.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import AuthenticationFailed, TooManyAttempts
from hostgate.management.audit import AuditTrail

__all__ = ["TRACKED", "WINDOW", "LoginAudit"]

WINDOW = 60.0
TRACKED = 10_000


@dataclass(slots=True)
class _Window:
    opened: float  # wall clock of the failure recorded at once
    count: int = 0  # failures since, not yet recorded
    last: float = 0.0


class LoginAudit:
    def __init__(self, trail: AuditTrail, *, clock: Clock = SYSTEM_CLOCK, window: float = WINDOW) -> None:
        self._trail = trail
        self._clock = clock
        self._window = window
        self._open: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    def failed(self, user: str, source: str, why: str) -> None:
        now = self._clock.wall()
        self._flush(lambda w: now - w.opened >= self._window)
        key = (user.lower(), source)
        window = self._open.get(key)
        if window is not None:
            window.count += 1
            window.last = now
            return
        self._trail.record(
            actor=user,
            action="login.failed",
            target=user,
            source=source,
            outcome=AuthenticationFailed.code,
            detail={"reason": why},
        )
        self._open[key] = _Window(now)
        while len(self._open) > TRACKED:
            self._write(*self._open.popitem(last=False))
        self._arm()

    def _arm(self) -> None:
        """Write the counts of windows that have passed even when no further failure comes by."""
        if self._timer is not None or not self._open:
            return
        oldest = next(iter(self._open.values()))
        delay = max(0.0, oldest.opened + self._window - self._clock.wall()) + 0.1
        with contextlib.suppress(RuntimeError):  # no running loop: the next failure or close() writes them
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._clock.wall()
        self._flush(lambda w: now - w.opened >= self._window)
        self._arm()

    def locked_out(self, user: str, source: str, failures: int, seconds: float) -> None:
        self._trail.record(
            actor=user,
            action="login.lockout",
            target=user,
            source=source,
            outcome=TooManyAttempts.code,
            detail={"failures": str(failures), "seconds": f"{seconds:g}"},
        )

    def succeeded(self, user: str, source: str) -> None:
        if not self._open:
            return  # the usual case, on every authenticated request: nothing to look up
        window = self._open.pop((user.lower(), source), None)
        if window is not None:
            self._write((user.lower(), source), window)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush(lambda w: True)

    def _flush(self, due: Callable[[_Window], bool]) -> None:
        # Windows are kept in the order they opened: the due ones are at the front.
        while self._open:
            key, window = next(iter(self._open.items()))
            if not due(window):
                return
            del self._open[key]
            self._write(key, window)

    def _write(self, key: tuple[str, str], window: _Window) -> None:
        if window.count == 0:
            return
        user, source = key
        self._trail.record(
            actor=user,
            action="login.failed",
            target=user,
            source=source,
            outcome=AuthenticationFailed.code,
            detail={
                "count": str(window.count),
                "since": f"{window.opened:.3f}",
                "last": f"{window.last:.3f}",
            },
        )
