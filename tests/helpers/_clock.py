"""The one manual clock of the test suite: time moves only when a test says so.

It satisfies :class:`hostgate._clock.Clock` (``monotonic()`` and ``wall()``), the protocol every clock-driven
part of hostgate takes as a parameter (routing liveness, the login guard, leases, the dialer's last-good
memory), so a test can step past a deadline without sleeping.

    clock = ManualClock()
    router = Router(clock=clock)
    clock.advance(2.9)
"""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """A :class:`hostgate._clock.Clock` whose monotonic and wall time both read ``now``; it never moves by itself
    and never moves back."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (not negative: monotonic time never goes back); the new time."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        self.now += seconds
        return self.now
