"""Injectable time, so control loops and leases can be driven by tests."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "MonotonicClock"]


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class MonotonicClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


SYSTEM_CLOCK: Clock = MonotonicClock()
