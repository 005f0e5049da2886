"""A linearizability checker for recorded histories of single objects (registers, CAS flags, records).

The search is Wing & Gong's with Lowe's just-in-time linearization and Porcupine's memoisation
(github.com/anishathalye/porcupine, ``checker.go``): call and return events sit in one list ordered by real
time; the search walks it, and at each call tries to linearize that operation next (apply it to the model
state; it must produce the recorded output). Linearized operations are lifted out of the list, so the walk
meets a *return* only when its operation could not be placed before that instant: then it backtracks. A
``(linearized set, state)`` pair already explored is never explored again, which keeps histories of a few
hundred concurrent operations cheap.

Operations that failed ambiguously (timeout, no member answered: the write may or may not have been applied)
have ``output=UNKNOWN`` and return time ``math.inf``: they may take effect at any point after their call, or
(linearized last, where nobody observes them) not at all. A definite failure (the server said no and changed
nothing) should simply be left out of the history, or recorded as the output the model expects (a CAS that
answered "did not match" is ``False``).

Histories are checked per object (linearizability is compositional: Herlihy & Wing 1990, section 3.3).

    ops = [Op(0, ("write", "A"), None, 0.0, 1.0), Op(1, ("read",), "A", 2.0, 3.0)]
    assert check(REGISTER, ops, initial=None).ok
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RECORD",
    "REGISTER",
    "UNKNOWN",
    "CheckResult",
    "Model",
    "Op",
    "check",
    "format_op",
]


class _Unknown:
    """The output of an operation whose answer never arrived (it may or may not have been applied)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: who, what (a tuple the model understands), what came back, and when (monotonic s)."""

    client: int
    input: tuple[Any, ...]
    output: Any
    call: float
    ret: float = math.inf
    note: str = ""

    @property
    def ambiguous(self) -> bool:
        return self.output is UNKNOWN


# step(state, input, output) -> (output matches, next state). Called with output=UNKNOWN for ambiguous ops.
Step = Callable[[Any, tuple[Any, ...], Any], tuple[bool, Any]]


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    step: Step


def _register_step(state: Any, inp: tuple[Any, ...], out: Any) -> tuple[bool, Any]:
    """A read/write/compare-and-set register. ``("cas", expected, new)`` answers True when it swapped."""
    kind = inp[0]
    if kind == "write":
        return True, inp[1]
    if kind == "read":
        return out is UNKNOWN or out == state, state
    if kind == "cas":
        swapped = state == inp[1]
        if out is UNKNOWN:
            return True, inp[2] if swapped else state
        return out == swapped, inp[2] if swapped else state
    raise ValueError(f"register: unknown operation {inp!r}")


def _record_step(state: Any, inp: tuple[Any, ...], out: Any) -> tuple[bool, Any]:
    """A record of named fields (a frozenset of (field, value) pairs): ``("set", field, value)`` answers the
    whole record after the change (the domain record that ``domain add-server`` returns); ``("read",)``
    answers the whole record."""
    kind = inp[0]
    if kind == "read":
        return out is UNKNOWN or out == state, state
    if kind == "set":
        updated = frozenset({(f, v) for f, v in state if f != inp[1]} | {(inp[1], inp[2])})
        return out is UNKNOWN or out == updated, updated
    raise ValueError(f"record: unknown operation {inp!r}")


REGISTER = Model("register", _register_step)
RECORD = Model("record", _record_step)


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    operations: int
    explored: int
    # When not ok: the longest prefix of operations the search could linearize, and the operations it could
    # not place next (what a person reads first when a trial fails).
    longest: tuple[Op, ...] = ()
    stuck: tuple[Op, ...] = ()
    timed_out: bool = False

    def explain(self) -> str:
        if self.ok:
            return f"linearizable ({self.operations} operations)"
        head = "search gave up (budget)" if self.timed_out else "NOT linearizable"
        lines = [f"{head}: {self.operations} operations, {self.explored} states explored"]
        lines.append("longest linearizable prefix (last 8):")
        lines += [f"  {format_op(op)}" for op in self.longest[-8:]]
        lines.append("could not place next:")
        lines += [f"  {format_op(op)}" for op in self.stuck[:8]]
        return "\n".join(lines)


def format_op(op: Op) -> str:
    ret = "inf" if math.isinf(op.ret) else f"{op.ret:.3f}"
    note = f" ({op.note})" if op.note else ""
    return f"client {op.client} [{op.call:.3f}, {ret}] {op.input!r} -> {op.output!r}{note}"


@dataclass(slots=True, eq=False)
class _Node:
    op_id: int
    is_call: bool
    prev: _Node | None = None
    next: _Node | None = None
    match: _Node | None = field(default=None, repr=False)  # a call's return


def _build(ops: Sequence[Op]) -> _Node:
    events: list[tuple[float, int, int]] = []
    for i, op in enumerate(ops):
        if op.ret < op.call:
            raise ValueError(f"operation returns before its call: {op!r}")
        # At equal times a call sorts before a return: the two operations count as concurrent (the stricter
        # order would reject histories whose clock cannot tell the two instants apart).
        events.append((op.call, 0, i))
        events.append((op.ret, 1, i))
    events.sort()
    head = _Node(-1, False)
    calls: dict[int, _Node] = {}
    last = head
    for _, kind, i in events:
        node = _Node(i, kind == 0, prev=last)
        last.next = node
        last = node
        if kind == 0:
            calls[i] = node
        else:
            calls[i].match = node
    return head


def _lift(call: _Node) -> None:
    for node in (call, call.match):
        assert node is not None and node.prev is not None
        node.prev.next = node.next
        if node.next is not None:
            node.next.prev = node.prev


def _unlift(call: _Node) -> None:
    for node in (call.match, call):
        assert node is not None and node.prev is not None
        node.prev.next = node
        if node.next is not None:
            node.next.prev = node


def check(model: Model, ops: Sequence[Op], *, initial: Hashable, budget: int = 2_000_000) -> CheckResult:
    """Is ``ops`` (one object's history) linearizable with respect to ``model`` starting from ``initial``?

    ``budget`` bounds the states explored; a search that exhausts it reports ``ok=False, timed_out=True``
    (never a silent pass).
    """
    ops = list(ops)
    head = _build(ops)
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[_Node, Hashable]] = []
    linearized = 0
    state: Hashable = initial
    node = head.next
    explored = 0
    best: list[int] = []
    while head.next is not None:
        if explored > budget:
            return CheckResult(False, len(ops), explored, timed_out=True)
        assert node is not None
        if node.is_call:
            op = ops[node.op_id]
            matches, after = model.step(state, op.input, op.output)
            explored += 1
            if matches:
                bit = 1 << node.op_id
                key = (linearized | bit, after)
                if key not in seen:
                    seen.add(key)
                    stack.append((node, state))
                    linearized |= bit
                    state = after
                    _lift(node)
                    if len(stack) > len(best):
                        best = [n.op_id for n, _ in stack]
                    node = head.next
                    continue
            node = node.next
        else:
            # The operation returning here could not be linearized before it returned: undo the last choice.
            if not stack:
                placed = set(best)
                stuck = _frontier(ops, placed)
                return CheckResult(False, len(ops), explored, tuple(ops[i] for i in best), stuck)
            call, state = stack.pop()
            linearized &= ~(1 << call.op_id)
            _unlift(call)
            node = call.next
    return CheckResult(True, len(ops), explored)


def _frontier(ops: Sequence[Op], placed: set[int]) -> tuple[Op, ...]:
    """The unplaced operations that could come next in real time (no unplaced operation returned before)."""
    rest = [op for i, op in enumerate(ops) if i not in placed]
    if not rest:
        return ()
    first_return = min(op.ret for op in rest)
    return tuple(sorted((op for op in rest if op.call <= first_return), key=lambda op: op.call))
