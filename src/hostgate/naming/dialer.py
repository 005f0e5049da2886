"""The staggered dialer every hostgate client uses to reach one of several addresses.

KB 7021563: "An attempt is made to contact the first address in the list. If no response is received, the
next address is tried, and so forth." hostgate does that without ever *waiting* on a dead member: attempts
start in order, each ``delay`` seconds after the previous one (RFC 8305 section 5, Connection Attempt Delay),
or at once when an attempt has already failed (a refused connection costs no delay); the first attempt that
returns a valid **answer** wins and the others are cancelled. An attempt is a whole request, not just
``connect()``, because a member that accepts TCP and never answers (SIGSTOP) must be skipped too.

:class:`LastGood` remembers, per alias, which address answered last, so the next connection tries it first
for a short while instead of starting again at a member that may be down. :func:`dial` puts the two together,
and takes the delay from an :class:`~hostgate.naming.stagger.AttemptDelay` (learned from the alias's answer
times, RFC 8305 section 8) or a fixed number.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import HostgateError, NoMemberAnswered, WrongCluster
from hostgate.naming.stagger import DEFAULT_DELAY, AttemptDelay

__all__ = ["AttemptFault", "LastGood", "dial", "first_answer"]

T = TypeVar("T")

log = logging.getLogger("hostgate.naming")


@dataclass(frozen=True, slots=True)
class AttemptFault:
    address: str
    fault: str


class LastGood:
    """Remembers, per alias, the address that answered last, for ``ttl`` seconds, so it is tried first.

    The TTL is short on purpose: the alias's own order (round-robin DNS, KB step 2) should spread new clients
    again once the remembered member has had its turn. Safe to share between the tasks of one event loop.
    """

    def __init__(self, ttl: float = 30.0, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}

    def order(self, alias: str, addresses: Sequence[str]) -> list[str]:
        """``addresses`` with the remembered one (if fresh and still among them) moved to the front."""
        ordered = list(addresses)
        remembered = self.get(alias)
        if remembered is not None and remembered in ordered:
            ordered.remove(remembered)
            ordered.insert(0, remembered)
        return ordered

    def get(self, alias: str) -> str | None:
        """The remembered address of ``alias``, or ``None`` when there is none or it has expired."""
        entry = self._entries.get(alias)
        if entry is None:
            return None
        if self._clock.monotonic() - entry[1] >= self._ttl:
            del self._entries[alias]
            return None
        return entry[0]

    def remember(self, alias: str, address: str) -> None:
        self._entries[alias] = (address, self._clock.monotonic())

    def forget(self, alias: str) -> None:
        self._entries.pop(alias, None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HostgateError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"timed out ({exc})" if str(exc) else "timed out"
    if isinstance(exc, OSError) and exc.errno:
        # asyncio words a refusal "Connect call failed ('10.0.0.1', 9440)"; the errno says what happened.
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class _Won(Generic[T]):
    address: str
    answer: T
    elapsed: float  # from the winning attempt's own start to its answer
    hedges: int  # attempts started while an earlier one was still running


async def first_answer(
    addresses: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    *,
    delay: float = DEFAULT_DELAY,
    deadline: float = 10.0,
    what: str = "management server",
) -> tuple[str, T]:
    """Run ``attempt(address)`` staggered over ``addresses``; return the first success as (address, answer).

    Attempts start in the given order (a repeated address is tried once): the first at once, each next one
    ``delay`` seconds after the previous start or as soon as an attempt fails, whichever comes first.
    ``attempt`` raises to say "this address did not give a valid answer". When two attempts succeed in the
    same instant the one earlier in the list wins. Every attempt still running when this returns or raises
    is cancelled and awaited.

    Raises ``NoMemberAnswered`` listing each address's fault, in list order, when every attempt failed or
    ``deadline`` seconds passed; ``WrongCluster`` when every address that answered said it belongs to another
    cluster (a mix of faults is ``NoMemberAnswered``, which lists the wrong-cluster ones too).
    """
    won = await _race(addresses, attempt, delay=delay, deadline=deadline, what=what)
    return won.address, won.answer


async def _race(
    addresses: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    *,
    delay: float,
    deadline: float,
    what: str,
) -> _Won[T]:
    order = list(dict.fromkeys(addresses))
    if not order:
        raise NoMemberAnswered(f"no address to try for the {what}")
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    rank = {address: i for i, address in enumerate(order)}
    faults: dict[str, str] = {}
    wrong_cluster: dict[str, WrongCluster] = {}
    pending: dict[asyncio.Task[T], str] = {}
    started_at: dict[str, float] = {}
    started = 0
    hedges = 0
    next_start = loop.time()

    async def run(address: str) -> T:
        return await attempt(address)

    try:
        while True:
            now = loop.time()
            if now >= stop_at:
                break
            if started < len(order) and now >= next_start:
                address = order[started]
                started += 1
                if pending:
                    hedges += 1
                started_at[address] = now
                pending[asyncio.create_task(run(address))] = address
                next_start = now + delay
                continue
            if not pending:
                break
            wake = stop_at if started >= len(order) else min(next_start, stop_at)
            done, _ = await asyncio.wait(pending, timeout=wake - now, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: rank[pending[t]]):
                address = pending.pop(task)
                if task.cancelled():
                    faults[address] = "attempt was cancelled"
                    continue
                exc = task.exception()
                if exc is None:
                    return _Won(address, task.result(), loop.time() - started_at[address], hedges)
                if not isinstance(exc, Exception):
                    raise exc
                if isinstance(exc, WrongCluster):
                    wrong_cluster[address] = exc
                faults[address] = _describe(exc)
                log.debug("%s %s failed: %s", what, address, faults[address])
            if done:
                # RFC 8305: a failed attempt lets the next one start without waiting out the delay.
                next_start = loop.time()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    for address in pending.values():
        faults[address] = f"no answer within the {deadline:g} s deadline"
    for address in order[started:]:
        faults[address] = "not tried before the deadline"
    ordered = [AttemptFault(a, faults[a]) for a in order if a in faults]
    listing = "; ".join(f"{f.address}: {f.fault}" for f in ordered)
    if wrong_cluster and len(wrong_cluster) == len(order):
        first = wrong_cluster[next(a for a in order if a in wrong_cluster)]
        if len(order) == 1:
            raise first
        raise WrongCluster(f"every {what} that answered belongs to another cluster ({listing})") from first
    raise NoMemberAnswered(f"no {what} answered ({listing})")


async def dial(
    alias: str,
    addresses: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    *,
    last_good: LastGood | None = None,
    delay: float | AttemptDelay = DEFAULT_DELAY,
    deadline: float = 10.0,
    what: str = "management server",
) -> tuple[str, T]:
    """:func:`first_answer` over ``addresses`` with ``alias``'s last good address first; remembers the winner.

    ``delay`` is a fixed stagger, or an :class:`AttemptDelay` that gives this alias's delay and learns from
    the winning attempt's answer time (and counts the hedges). When nothing answers, the alias's remembered
    address is forgotten so the next call starts afresh.
    """
    ordered = last_good.order(alias, addresses) if last_good is not None else list(addresses)
    pacer = delay if isinstance(delay, AttemptDelay) else None
    stagger = delay.delay(alias) if isinstance(delay, AttemptDelay) else delay
    try:
        won = await _race(ordered, attempt, delay=stagger, deadline=deadline, what=what)
    except (NoMemberAnswered, WrongCluster):
        if last_good is not None:
            last_good.forget(alias)
        raise
    if pacer is not None:
        pacer.observe(alias, won.elapsed)
        pacer.count(hedges=won.hedges)
    if last_good is not None:
        last_good.remember(alias, won.address)
    return won.address, won.answer
