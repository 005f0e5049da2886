"""The Connection Attempt Delay of the staggered dialer, learned per alias from the answer times seen.

RFC 8305 section 5 starts the next attempt 250 ms after the previous one by default, and section 8 allows
"historical RTT data" to pick it, with a floor of 10 ms ("Minimum Connection Attempt Delay") and, as the
recommended ceiling here, the 250 ms default ("Maximum Connection Attempt Delay" is 2 s in the RFC; hostgate
never waits longer than its fixed default did). Members on a LAN answer in milliseconds, so waiting 250 ms for a
member that hangs (SIGSTOP, a frozen VM) is most of the cost of a failover.

The delay for an alias is ``FACTOR x p99`` of its recent answer times (the winning attempt's time from its own
start to its answer, TLS handshake included), clamped to [10 ms, 250 ms]:

- **p99**, because an attempt still unanswered past the delay gets a duplicate (a hedge, "The Tail at Scale",
  Dean and Barroso 2013: hedge after the p95 to spend ~5 % extra load; our budget is < 1 %, hence p99).
- **FACTOR 2**, because the p99 of a short window is a noisy estimate (with 128 samples it is the second
  largest) and a loaded machine's answer times come in bursts: a busy moment slows every answer at once,
  and a delay right at the p99 would hedge the whole burst. Doubling costs little when members answer in a
  few ms (2 x 15 ms is still far below 250 ms) and keeps healthy duplicates rare (``bench/failover.py``
  counts them). Slow answers feed the window too, so a burst raises the delay for the calls that follow.
- Without enough history (fewer than ``MIN_SAMPLES`` answers in the last ``MAX_AGE`` seconds) the delay is
  RFC 8305's 250 ms: a first call knows nothing about the members, and old samples may describe another
  network (a laptop that moved, a cluster behind a new WAN link).

Writes stay safe when hedged (Idempotency-Key, docs/architecture.md "Hedged writes"); hedging less is about
load, not correctness.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from hostgate._clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_DELAY", "MIN_DELAY", "AttemptDelay", "DelayStats"]

DEFAULT_DELAY = 0.25  # RFC 8305 section 8, recommended Connection Attempt Delay; our ceiling
MIN_DELAY = 0.010  # RFC 8305 section 8, Minimum Connection Attempt Delay
FACTOR = 2.0
QUANTILE = 0.99
WINDOW = 128
MIN_SAMPLES = 16
MAX_AGE = 300.0
MAX_ALIASES = 256


@dataclass(frozen=True, slots=True)
class DelayStats:
    """What the dialer did for one :class:`AttemptDelay`: calls dialled and extra attempts started while an
    earlier one was still running (hedges: duplicates when every member is healthy)."""

    calls: int
    hedges: int


class AttemptDelay:
    """The adaptive Connection Attempt Delay, per alias (see the module docstring for the rule).

    >>> pacer = AttemptDelay()
    >>> pacer.delay("vhi-prod-sea")          # nothing seen yet: RFC 8305's default
    0.25
    >>> for _ in range(20):
    ...     pacer.observe("vhi-prod-sea", 0.004)
    >>> pacer.delay("vhi-prod-sea")          # 2 x 4 ms, raised to the 10 ms floor
    0.01

    Memory is bounded: ``WINDOW`` samples per alias, the ``MAX_ALIASES`` most recently used aliases. Safe to
    share between threads (the sync connector runs each session's calls on a loop thread of its own).
    """

    def __init__(
        self,
        *,
        floor: float = MIN_DELAY,
        cap: float = DEFAULT_DELAY,
        factor: float = FACTOR,
        quantile: float = QUANTILE,
        window: int = WINDOW,
        min_samples: int = MIN_SAMPLES,
        max_age: float = MAX_AGE,
        max_aliases: int = MAX_ALIASES,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not 0 < floor <= cap:
            raise ValueError("need 0 < floor <= cap")
        if not 0 < quantile <= 1 or factor <= 0 or window < 1 or not 1 <= min_samples <= window:
            raise ValueError("bad quantile, factor, window or min_samples")
        self.floor = floor
        self.cap = cap
        self._given_floor = floor
        self.factor = factor
        self.quantile = quantile
        self.window = window
        self.min_samples = min_samples
        self.max_age = max_age
        self.max_aliases = max_aliases
        self._clock = clock
        self._samples: OrderedDict[str, deque[tuple[float, float]]] = OrderedDict()
        self._calls = 0
        self._hedges = 0
        self._lock = threading.Lock()

    def observe(self, alias: str, seconds: float) -> None:
        """Record that an attempt for ``alias`` got its answer ``seconds`` after it started."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        with self._lock:
            samples = self._samples.get(alias)
            if samples is None:
                samples = self._samples[alias] = deque(maxlen=self.window)
                while len(self._samples) > self.max_aliases:
                    self._samples.popitem(last=False)
            else:
                self._samples.move_to_end(alias)
            samples.append((self._clock.monotonic(), seconds))

    def delay(self, alias: str) -> float:
        """The delay before the next attempt of a call to ``alias`` starts while earlier ones still run."""
        with self._lock:
            samples = self._samples.get(alias)
            if not samples:
                return self.cap
            oldest = self._clock.monotonic() - self.max_age
            while samples and samples[0][0] < oldest:
                samples.popleft()
            if len(samples) < self.min_samples:
                return self.cap
            times = sorted(seconds for _, seconds in samples)
        # The nearest-rank quantile: the smallest sample with at least `quantile` of the samples at or below.
        rank = max(1, math.ceil(self.quantile * len(times)))
        return min(self.cap, max(self.floor, self.factor * times[rank - 1]))

    def set_cap(self, cap: float) -> None:
        """Change the ceiling (and no-history delay): ``[naming] connect_delay`` of a server's settings, applied
        to the process-wide delay its clients share. The floor never exceeds the cap."""
        if not cap > 0:
            raise ValueError("need 0 < cap")
        with self._lock:
            self.cap = cap
            self.floor = min(self._given_floor, cap)

    def count(self, *, hedges: int) -> None:
        """Record one dialled call that started ``hedges`` attempts while an earlier one was still running."""
        with self._lock:
            self._calls += 1
            self._hedges += hedges

    @property
    def stats(self) -> DelayStats:
        return DelayStats(self._calls, self._hedges)
