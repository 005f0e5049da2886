"""The checker itself, on small hand-made histories: it must say yes to linearizable ones and no to the rest."""

from __future__ import annotations

import math
import random

import pytest

from tests.chaos.linearizability import RECORD, REGISTER, UNKNOWN, Op, check

INF = math.inf


def w(client: int, value: str, call: float, ret: float = INF) -> Op:
    return Op(client, ("write", value), None if not math.isinf(ret) else UNKNOWN, call, ret)


def r(client: int, value: object, call: float, ret: float) -> Op:
    return Op(client, ("read",), value, call, ret)


def cas(client: int, old: object, new: object, out: object, call: float, ret: float = INF) -> Op:
    return Op(client, ("cas", old, new), out, call, ret)


def test_sequential_history_is_linearizable() -> None:
    ops = [w(0, "A", 0, 1), r(1, "A", 2, 3), w(0, "B", 4, 5), r(1, "B", 6, 7)]
    assert check(REGISTER, ops, initial=None).ok


def test_stale_hedged_write_from_the_issue_is_not_linearizable() -> None:
    # Issue #14: rename A acknowledged, rename B acknowledged after A, then the register reads A (the hedged
    # duplicate of A landed after B). No order of these three operations explains the read.
    ops = [w(0, "A", 0.0, 1.0), w(1, "B", 2.0, 3.0), r(2, "A", 4.0, 5.0)]
    result = check(REGISTER, ops, initial="vhi-prod-sea")
    assert not result.ok
    assert "NOT linearizable" in result.explain()
    assert any(op.input == ("read",) for op in result.stuck)


def test_read_of_a_value_nobody_wrote_is_not_linearizable() -> None:
    assert not check(REGISTER, [w(0, "A", 0, 1), r(1, "Z", 2, 3)], initial=None).ok


def test_concurrent_writes_may_land_in_either_order() -> None:
    ops = [w(0, "A", 0, 10), w(1, "B", 1, 9), r(2, "A", 11, 12)]
    assert check(REGISTER, ops, initial=None).ok
    ops = [w(0, "A", 0, 10), w(1, "B", 1, 9), r(2, "B", 11, 12)]
    assert check(REGISTER, ops, initial=None).ok


def test_reads_must_not_go_back_in_time() -> None:
    # A read saw B, a later read (in real time) saw the older A: not linearizable even though each value
    # was written by someone.
    ops = [w(0, "A", 0, 1), w(1, "B", 2, 10), r(2, "B", 3, 4), r(3, "A", 5, 6)]
    assert not check(REGISTER, ops, initial=None).ok


def test_ambiguous_write_may_have_happened() -> None:
    # The write of B timed out (no answer): it may have been applied at any time after its call...
    ops = [w(0, "A", 0, 1), w(1, "B", 2), r(2, "B", 5, 6)]
    assert check(REGISTER, ops, initial=None).ok


def test_ambiguous_write_may_not_have_happened() -> None:
    ops = [w(0, "A", 0, 1), w(1, "B", 2), r(2, "A", 5, 6)]
    assert check(REGISTER, ops, initial=None).ok


def test_ambiguous_write_cannot_take_effect_before_its_call() -> None:
    ops = [w(0, "A", 0, 1), r(2, "B", 2, 3), w(1, "B", 5)]
    assert not check(REGISTER, ops, initial=None).ok


def test_ambiguous_write_takes_effect_once() -> None:
    # B (ambiguous) then A acknowledged after B was seen; a later read of B would need B applied twice.
    ops = [w(1, "B", 0), r(2, "B", 1, 2), w(0, "A", 3, 4), r(2, "B", 5, 6)]
    assert not check(REGISTER, ops, initial=None).ok


def test_compare_and_set() -> None:
    ok = [cas(0, None, 1, True, 0, 1), cas(1, None, 2, False, 2, 3), r(2, 1, 4, 5)]
    assert check(REGISTER, ok, initial=None).ok
    # Both swaps from the same old value answered True: one of them must have seen the other's value.
    both = [cas(0, None, 1, True, 0, 5), cas(1, None, 2, True, 0, 5)]
    assert not check(REGISTER, both, initial=None).ok


def test_failed_create_for_a_value_nobody_else_wrote_is_not_linearizable() -> None:
    # "already exists" for a unique name no other client created: the create answered False but a final
    # read finds it, so the create was applied after all (a hedged duplicate answered first).
    ops = [cas(0, False, True, False, 0, 1), r(9, True, 2, 3)]
    assert not check(REGISTER, ops, initial=False).ok


def test_acknowledged_create_lost() -> None:
    ops = [cas(0, False, True, True, 0, 1), r(9, False, 2, 3)]
    assert not check(REGISTER, ops, initial=False).ok


def test_record_set_answers_the_whole_record() -> None:
    start = frozenset({("s1", 1), ("s2", 1)})
    ops = [
        Op(0, ("set", "s1", 5), frozenset({("s1", 5), ("s2", 1)}), 0, 1),
        Op(1, ("set", "s2", 7), frozenset({("s1", 5), ("s2", 7)}), 2, 3),
        Op(2, ("read",), frozenset({("s1", 5), ("s2", 7)}), 4, 5),
    ]
    assert check(RECORD, ops, initial=start).ok
    stale = [*ops[:2], Op(0, ("set", "s2", 9), frozenset({("s1", 1), ("s2", 9)}), 6, 7)]
    assert not check(RECORD, stale, initial=start).ok


def test_equal_timestamps_count_as_concurrent() -> None:
    ops = [w(0, "A", 0, 1), r(1, None, 1, 2)]
    assert check(REGISTER, ops, initial=None).ok


def test_rejects_operation_returning_before_its_call() -> None:
    with pytest.raises(ValueError, match="returns before"):
        check(REGISTER, [w(0, "A", 5, 1)], initial=None)


def _random_linearizable_history(rng: random.Random, n: int) -> list[Op]:
    """Operations applied one at a time at random instants, each with a random window around it."""
    state: object = None
    ops: list[Op] = []
    t = 0.0
    for i in range(n):
        t += rng.random()
        at = t
        call, ret = at - rng.random() * 3, at + rng.random() * 3
        if rng.random() < 0.5:
            value = f"v{i}"
            state = value
            ops.append(w(i % 4, value, call, ret))
        else:
            ops.append(r(i % 4, state, call, ret))
    return ops


@pytest.mark.parametrize("seed", range(20))
def test_random_linearizable_histories_pass(seed: int) -> None:
    rng = random.Random(seed)
    ops = _random_linearizable_history(rng, 60)
    result = check(REGISTER, ops, initial=None)
    assert result.ok, result.explain()


@pytest.mark.parametrize("seed", range(20))
def test_random_histories_with_a_stale_read_fail(seed: int) -> None:
    rng = random.Random(seed)
    ops = _random_linearizable_history(rng, 60)
    # Append, well after everything, two sequential writes and a read of the first: always a violation.
    end = max(op.ret for op in ops) + 1
    ops += [w(0, "X", end, end + 1), w(1, "Y", end + 2, end + 3), r(2, "X", end + 4, end + 5)]
    assert not check(REGISTER, ops, initial=None).ok


def test_a_few_hundred_concurrent_operations_are_cheap() -> None:
    rng = random.Random(7)
    ops = _random_linearizable_history(rng, 400)
    result = check(REGISTER, ops, initial=None)
    assert result.ok
    assert result.explored < 200_000


def test_an_exhausted_budget_is_never_a_pass() -> None:
    ops = [w(i, f"v{i}", 0) for i in range(12)] + [r(99, "nobody-wrote-this", 1, 2)]
    result = check(REGISTER, ops, initial=None, budget=50)
    assert not result.ok
    assert result.timed_out
    assert "gave up" in result.explain()
