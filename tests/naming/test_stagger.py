"""The adaptive Connection Attempt Delay (RFC 8305 section 8): the estimator with a manual clock, and the
dialer using it with fake attempts (order of events and outcome; time only as a generous bound)."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from hostgate.naming import AttemptDelay, DelayStats, dial
from hostgate.naming.stagger import DEFAULT_DELAY, MIN_DELAY
from tests.naming.test_dialer import BOUND, LONG, Attempts, answer, hang, refuse


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now


def learned(times: list[float], **kwargs: float) -> AttemptDelay:
    pacer = AttemptDelay(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]
    for seconds in times:
        pacer.observe("vhi", seconds)
    return pacer


def test_without_history_the_delay_is_rfc_8305s_default() -> None:
    assert DEFAULT_DELAY == 0.25 and MIN_DELAY == 0.010
    assert AttemptDelay().delay("vhi") == 0.25
    assert learned([0.004] * 15).delay("vhi") == 0.25  # fewer than MIN_SAMPLES (16): not enough to go by


def test_fast_members_bring_the_delay_down_to_the_10_ms_floor() -> None:
    assert learned([0.004] * 16).delay("vhi") == MIN_DELAY


def test_the_delay_is_twice_the_p99_of_the_recent_answer_times() -> None:
    assert learned([0.030] * 50).delay("vhi") == pytest.approx(0.060)
    # 100 samples 1..100 ms: the nearest-rank p99 is 99 ms, so 198 ms.
    assert learned([i / 1000 for i in range(1, 101)]).delay("vhi") == pytest.approx(0.198)


def test_one_slow_answer_in_a_full_window_does_not_raise_the_delay_but_two_do() -> None:
    # 128 samples: the p99 is the second largest, so one outlier (a descheduled moment) is ignored...
    pacer = learned([0.005] * 127 + [0.200])
    assert pacer.delay("vhi") == pytest.approx(0.010)
    # ...and a second one is a pattern: the delay follows it, up to the 250 ms cap.
    pacer.observe("vhi", 0.200)
    assert pacer.delay("vhi") == DEFAULT_DELAY


def test_the_window_keeps_only_the_latest_answers() -> None:
    pacer = learned([0.100] * 128)
    assert pacer.delay("vhi") == pytest.approx(0.200)
    for _ in range(126):
        pacer.observe("vhi", 0.020)
    assert pacer.delay("vhi") == pytest.approx(0.200)  # two slow samples left: the p99 is still one
    pacer.observe("vhi", 0.020)
    assert pacer.delay("vhi") == pytest.approx(0.040)


def test_old_answers_expire_and_the_delay_goes_back_to_the_default() -> None:
    clock = ManualClock()
    pacer = AttemptDelay(clock=clock, max_age=300.0)
    for _ in range(20):
        pacer.observe("vhi", 0.004)
    clock.now += 299.0
    assert pacer.delay("vhi") == MIN_DELAY
    clock.now += 2.0
    assert pacer.delay("vhi") == DEFAULT_DELAY


def test_aliases_are_learned_apart_and_memory_is_bounded() -> None:
    pacer = AttemptDelay(clock=ManualClock(), max_aliases=2)
    for alias, seconds in (("lan", 0.003), ("wan", 0.080), ("third", 0.003)):
        for _ in range(20):
            pacer.observe(alias, seconds)
    assert pacer.delay("wan") == pytest.approx(0.160)
    assert pacer.delay("third") == MIN_DELAY
    assert pacer.delay("lan") == DEFAULT_DELAY  # least recently used alias dropped


def test_nonsense_times_are_ignored_and_bad_settings_refused() -> None:
    pacer = learned([0.004] * 16)
    for bad in (-1.0, math.nan, math.inf):
        pacer.observe("vhi", bad)
    assert pacer.delay("vhi") == MIN_DELAY
    with pytest.raises(ValueError):
        AttemptDelay(floor=0.3, cap=0.25)
    with pytest.raises(ValueError):
        AttemptDelay(min_samples=200, window=128)


async def test_dial_waits_the_learned_delay_for_a_hung_member_and_counts_the_hedge() -> None:
    # A cap far longer than the test's bound: waiting it out instead of the learned 20 ms fails the test.
    pacer = learned([0.010] * 20, cap=LONG)
    attempts = Attempts(a=hang, b=answer("b"))
    async with asyncio.timeout(BOUND):
        assert await dial("vhi", ["a", "b"], attempts, delay=pacer) == ("b", "b")
    assert attempts.started() == ["a", "b"]
    assert attempts.started_at["b"] - attempts.started_at["a"] >= 0.020
    assert pacer.stats == DelayStats(calls=1, hedges=1)


async def test_a_refused_member_is_no_hedge_and_a_healthy_call_sends_one_request() -> None:
    pacer = learned([0.010] * 20, cap=LONG)
    async with asyncio.timeout(BOUND):
        assert await dial("vhi", ["a", "b"], Attempts(a=refuse, b=answer("b")), delay=pacer) == ("b", "b")
        healthy = Attempts(a=answer("a"), b=answer("b"))
        assert await dial("vhi", ["a", "b"], healthy, delay=pacer) == ("a", "a")
    assert healthy.started() == ["a"]
    assert pacer.stats == DelayStats(calls=2, hedges=0)


async def test_dial_learns_from_the_winning_attempts_answer_time() -> None:
    pacer = AttemptDelay(clock=ManualClock(), min_samples=1, cap=LONG)

    async def slow() -> str:
        await asyncio.sleep(0.05)  # the answer time being measured, not synchronisation
        return "slow"

    async with asyncio.timeout(BOUND):
        await dial("vhi", ["a"], Attempts(a=slow), delay=pacer)
    assert 0.1 <= pacer.delay("vhi") < BOUND  # 2 x (>= 50 ms)
    assert AttemptDelay().delay("vhi") == DEFAULT_DELAY  # each pacer learns on its own


def test_threads_may_share_a_pacer() -> None:
    """The sync connector calls from a loop thread per session: observing while another thread computes a
    delay must not break the window ("deque mutated during iteration")."""
    pacer = AttemptDelay(clock=ManualClock())
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20_000):
                pacer.observe("vhi", 0.001 * (i % 7 + n))
                pacer.delay("vhi")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
