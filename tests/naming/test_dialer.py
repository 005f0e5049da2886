"""The staggered dialer with fake attempts: order of events and outcome, never wall-clock thresholds.

Where a test shows that something happens "at once" it uses a stagger delay far longer than the test's own
bound (60 s against 5 s): waiting out the delay would fail the test instead of only slowing it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from hostgate.errors import NoMemberAnswered, WrongCluster
from hostgate.naming import LastGood, dial, first_answer
from tests.helpers._clock import ManualClock

Behaviour = Callable[[], Awaitable[str]]
BOUND = 5.0  # a generous upper bound for a whole test, far below any delay it must not wait out
LONG = 60.0


async def hang() -> str:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def refuse() -> str:
    raise ConnectionRefusedError(111, "Connection refused")


def answer(text: str = "ok") -> Behaviour:
    async def run() -> str:
        return text

    return run


def wrong_cluster(cluster: str) -> Behaviour:
    async def run() -> str:
        raise WrongCluster(f"the server belongs to cluster {cluster}")

    return run


class Attempts:
    """Fake attempts by address; records ("start" | "answered" | "failed" | "cancelled", address) in order."""

    def __init__(self, **behaviours: Behaviour) -> None:
        self.behaviours = {address.replace("_", "."): b for address, b in behaviours.items()}
        self.events: list[tuple[str, str]] = []
        self.started_at: dict[str, float] = {}

    async def __call__(self, address: str) -> str:
        self.events.append(("start", address))
        self.started_at[address] = asyncio.get_running_loop().time()
        try:
            result = await self.behaviours[address]()
        except asyncio.CancelledError:
            self.events.append(("cancelled", address))
            raise
        except Exception:
            self.events.append(("failed", address))
            raise
        self.events.append(("answered", address))
        return result

    def started(self) -> list[str]:
        return [address for kind, address in self.events if kind == "start"]


async def test_the_first_address_that_answers_alone_is_the_only_one_tried() -> None:
    attempts = Attempts(a=answer("from a"), b=answer("from b"))
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempts, delay=LONG) == ("a", "from a")
    assert attempts.events == [("start", "a"), ("answered", "a")]


async def test_a_refused_address_moves_on_at_once_without_waiting_the_delay() -> None:
    attempts = Attempts(a=refuse, b=refuse, c=answer("from c"))
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b", "c"], attempts, delay=LONG) == ("c", "from c")
    assert attempts.events == [
        ("start", "a"),
        ("failed", "a"),
        ("start", "b"),
        ("failed", "b"),
        ("start", "c"),
        ("answered", "c"),
    ]


async def test_a_hung_member_is_overtaken_after_the_delay_and_cancelled_when_another_answers() -> None:
    attempts = Attempts(a=hang, b=answer("from b"))
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempts, delay=0.05) == ("b", "from b")
    assert attempts.events == [("start", "a"), ("start", "b"), ("answered", "b"), ("cancelled", "a")]


async def test_attempts_start_in_order_each_no_sooner_than_the_delay_after_the_previous() -> None:
    attempts = Attempts(a=hang, b=hang, c=hang, d=answer())
    delay = 0.05
    async with asyncio.timeout(BOUND):
        assert (await first_answer(["a", "b", "c", "d"], attempts, delay=delay))[0] == "d"
    assert attempts.started() == ["a", "b", "c", "d"]
    starts = [attempts.started_at[a] for a in "abcd"]
    assert all(later - earlier >= delay * 0.99 for earlier, later in itertools.pairwise(starts))
    assert sorted(e for e in attempts.events if e[0] == "cancelled") == [
        ("cancelled", "a"),
        ("cancelled", "b"),
        ("cancelled", "c"),
    ]


async def test_a_slow_answer_within_the_delay_wins_before_the_next_attempt_starts() -> None:
    async def slow() -> str:
        for _ in range(20):
            await asyncio.sleep(0)  # yields to the loop: slow in steps, not in seconds
        return "slow but fine"

    attempts = Attempts(a=slow, b=answer())
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempts, delay=LONG) == ("a", "slow but fine")
    assert attempts.started() == ["a"]


async def test_a_slow_first_member_still_wins_if_it_answers_before_the_later_ones() -> None:
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "a at last"

    async def b_releases_a_then_hangs() -> str:
        release.set()
        return await hang()

    attempts = Attempts(a=slow, b=b_releases_a_then_hangs)
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempts, delay=0.01) == ("a", "a at last")
    assert attempts.events == [("start", "a"), ("start", "b"), ("answered", "a"), ("cancelled", "b")]


async def test_an_older_attempt_failing_while_a_newer_one_runs_starts_the_next_at_once() -> None:
    fail_a = asyncio.Event()

    async def a_fails_once_b_runs() -> str:
        await fail_a.wait()
        raise ConnectionResetError(104, "Connection reset by peer")

    async def b_fails_a_then_hangs() -> str:
        fail_a.set()
        return await hang()

    attempts = Attempts(a=a_fails_once_b_runs, b=b_fails_a_then_hangs, c=answer("c"))
    delay = 1.0  # b must wait it out; c must not
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b", "c"], attempts, delay=delay) == ("c", "c")
    assert attempts.events == [
        ("start", "a"),
        ("start", "b"),
        ("failed", "a"),
        ("start", "c"),
        ("answered", "c"),
        ("cancelled", "b"),
    ]
    assert attempts.started_at["c"] - attempts.started_at["b"] < delay / 2


async def test_every_address_failing_lists_each_fault_in_list_order() -> None:
    async def reset() -> str:
        raise ConnectionResetError(104, "Connection reset by peer")

    async def bad_answer() -> str:
        raise ValueError("not a hostgate server")

    attempts = Attempts(a=refuse, b=reset, c=bad_answer)
    with pytest.raises(NoMemberAnswered) as caught:
        async with asyncio.timeout(BOUND):
            await first_answer(["a", "b", "c"], attempts, delay=LONG, what="management server")
    assert caught.value.message == (
        "no management server answered (a: Connection refused; b: Connection reset by peer; "
        "c: ValueError: not a hostgate server)"
    )


async def test_the_deadline_ends_hung_attempts_and_names_what_was_never_tried() -> None:
    attempts = Attempts(a=hang, b=hang, c=answer())
    with pytest.raises(NoMemberAnswered) as caught:
        async with asyncio.timeout(BOUND):
            await first_answer(["a", "b", "c"], attempts, delay=0.1, deadline=0.15)
    assert caught.value.message == (
        "no management server answered (a: no answer within the 0.15 s deadline; "
        "b: no answer within the 0.15 s deadline; c: not tried before the deadline)"
    )
    assert attempts.started() == ["a", "b"]
    assert {e for e in attempts.events if e[0] == "cancelled"} == {("cancelled", "a"), ("cancelled", "b")}


async def test_one_member_of_another_cluster_is_reported_as_wrong_cluster() -> None:
    attempts = Attempts(a=wrong_cluster("prod-nyc"))
    with pytest.raises(WrongCluster, match="belongs to cluster prod-nyc"):
        await first_answer(["a"], attempts)


async def test_every_member_of_another_cluster_is_wrong_cluster_listing_each() -> None:
    attempts = Attempts(a=wrong_cluster("x"), b=wrong_cluster("y"))
    with pytest.raises(WrongCluster) as caught:
        async with asyncio.timeout(BOUND):
            await first_answer(["a", "b"], attempts, delay=LONG)
    assert caught.value.code == "HG-5102"
    assert "a: [HG-5102] the server belongs to cluster x" in caught.value.message
    assert "b: [HG-5102] the server belongs to cluster y" in caught.value.message


async def test_a_wrong_cluster_among_other_faults_is_listed_in_no_member_answered() -> None:
    attempts = Attempts(a=wrong_cluster("x"), b=refuse)
    with pytest.raises(NoMemberAnswered) as caught:
        async with asyncio.timeout(BOUND):
            await first_answer(["a", "b"], attempts, delay=LONG)
    assert caught.value.message == (
        "no management server answered (a: [HG-5102] the server belongs to cluster x; b: Connection refused)"
    )


async def test_a_right_member_after_a_wrong_cluster_one_wins() -> None:
    attempts = Attempts(a=wrong_cluster("x"), b=answer("right"))
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempts, delay=LONG) == ("b", "right")


async def test_no_address_is_no_member_answered() -> None:
    with pytest.raises(NoMemberAnswered, match="no address to try for the session server"):
        await first_answer([], Attempts(), what="session server")


async def test_a_repeated_address_is_tried_once() -> None:
    attempts = Attempts(a=refuse, b=refuse)
    with pytest.raises(NoMemberAnswered) as caught:
        async with asyncio.timeout(BOUND):
            await first_answer(["a", "b", "a"], attempts, delay=LONG)
    assert attempts.started() == ["a", "b"]
    assert caught.value.message.count("a: ") == 1


async def test_an_attempt_that_raises_before_awaiting_is_a_fault_like_any_other() -> None:
    def attempt(address: str) -> Awaitable[str]:
        if address == "a":
            raise OSError(113, "No route to host")
        return answer("b")()

    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempt, delay=LONG) == ("b", "b")


async def test_an_attempt_cancelled_from_inside_is_a_fault_and_the_next_is_tried() -> None:
    async def cancelled_inside() -> str:
        raise asyncio.CancelledError

    attempts = Attempts(a=cancelled_inside, b=answer("b"))
    async with asyncio.timeout(BOUND):
        assert await first_answer(["a", "b"], attempts, delay=LONG) == ("b", "b")


async def test_cancelling_the_dial_cancels_every_running_attempt() -> None:
    both_started = asyncio.Event()

    async def b_starts_and_hangs() -> str:
        # Runs after Attempts recorded b's start, and b starts only after a did: both are running now.
        both_started.set()
        return await hang()

    attempts = Attempts(a=hang, b=b_starts_and_hangs)
    task = asyncio.create_task(first_answer(["a", "b"], attempts, delay=0.01))
    async with asyncio.timeout(BOUND):
        await both_started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert {e for e in attempts.events if e[0] == "cancelled"} == {("cancelled", "a"), ("cancelled", "b")}


# --- LastGood and dial ---------------------------------------------------------------------------------


def test_last_good_moves_the_remembered_address_first_until_its_ttl_passes() -> None:
    clock = ManualClock()
    last_good = LastGood(ttl=30.0, clock=clock)
    assert last_good.order("vhi", ["a", "b", "c"]) == ["a", "b", "c"]
    last_good.remember("vhi", "c")
    assert last_good.order("vhi", ["a", "b", "c"]) == ["c", "a", "b"]
    assert last_good.order("other", ["a", "b", "c"]) == ["a", "b", "c"]
    clock.advance(29.9)
    assert last_good.get("vhi") == "c"
    clock.advance(0.1)
    assert last_good.get("vhi") is None
    assert last_good.order("vhi", ["a", "b", "c"]) == ["a", "b", "c"]


def test_last_good_ignores_an_address_the_alias_no_longer_has() -> None:
    last_good = LastGood(clock=ManualClock())
    last_good.remember("vhi", "gone")
    assert last_good.order("vhi", ["a", "b"]) == ["a", "b"]
    last_good.forget("vhi")
    assert last_good.get("vhi") is None


async def test_dial_tries_the_last_good_member_first_the_next_time() -> None:
    last_good = LastGood(clock=ManualClock())
    first = Attempts(a=refuse, b=answer("b"))
    async with asyncio.timeout(BOUND):
        assert await dial("vhi", ["a", "b"], first, last_good=last_good, delay=LONG) == ("b", "b")
        second = Attempts(a=answer("a"), b=answer("b"))
        assert await dial("vhi", ["a", "b"], second, last_good=last_good, delay=LONG) == ("b", "b")
    assert second.started() == ["b"]


async def test_dial_forgets_the_last_good_member_when_nothing_answers() -> None:
    last_good = LastGood(clock=ManualClock())
    last_good.remember("vhi", "b")
    with pytest.raises(NoMemberAnswered):
        async with asyncio.timeout(BOUND):
            await dial("vhi", ["a", "b"], Attempts(a=refuse, b=refuse), last_good=last_good, delay=LONG)
    assert last_good.get("vhi") is None
