"""The staggered dialer every hostgate client uses to reach one of several addresses.

KB 7021563: "An attempt is made to contact the first address in the list. If no response is received, the
next address is tried, and so forth." hostgate does that without ever *waiting* on a dead member: attempts
start in order, each ``delay`` seconds after the previous one (RFC 8305 section 5, Connection Attempt Delay),
or at once when the previous attempt has already failed; the first attempt that returns a valid **answer**
wins and the others are cancelled. An attempt is a whole request, not just ``connect()``, because a member
that accepts TCP and never answers (SIGSTOP) must be skipped too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hostgate.errors import HostgateError, NoMemberAnswered, WrongCluster

__all__ = ["AttemptFault", "LastGood", "first_answer"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AttemptFault:
    address: str
    fault: str


class LastGood:
    """Remembers, per alias, the address that answered last, for a short time, so it is tried first."""

    def __init__(self, ttl: float = 30.0) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[str, float]] = {}

    def order(self, alias: str, addresses: Sequence[str]) -> list[str]:
        entry = self._entries.get(alias)
        ordered = list(addresses)
        if entry and entry[0] in ordered and time.monotonic() - entry[1] < self._ttl:
            ordered.remove(entry[0])
            ordered.insert(0, entry[0])
        return ordered

    def remember(self, alias: str, address: str) -> None:
        self._entries[alias] = (address, time.monotonic())

    def forget(self, alias: str) -> None:
        self._entries.pop(alias, None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HostgateError):
        return str(exc)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer before the deadline"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


async def first_answer(
    addresses: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    *,
    delay: float = 0.25,
    deadline: float = 10.0,
    what: str = "management server",
) -> tuple[str, T]:
    """Run ``attempt(address)`` staggered over ``addresses``; return ``(address, answer)`` of the first success.

    ``attempt`` raises to say "this address did not give a valid answer". ``WrongCluster`` from an attempt is
    kept and reported if nothing else answers. When every attempt fails, or ``deadline`` passes, raises
    ``NoMemberAnswered`` listing each address's fault.
    """
    if not addresses:
        raise NoMemberAnswered(f"no address to try for the {what}")
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    faults: dict[str, str] = {}
    pending: dict[asyncio.Task[T], str] = {}
    remaining = list(addresses)
    failed_event = asyncio.Event()
    wrong_cluster: list[WrongCluster] = []

    def start_next() -> None:
        address = remaining.pop(0)
        task = asyncio.ensure_future(attempt(address))
        pending[task] = address

    try:
        start_next()
        while pending or remaining:
            now = loop.time()
            if now >= stop_at:
                break
            # Wait for a result, the stagger delay (to start the next attempt), or the deadline.
            timeout = min(delay, stop_at - now) if remaining else stop_at - now
            done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            failed_now = False
            for task in done:
                address = pending.pop(task)
                exc = task.exception()
                if exc is None:
                    return address, task.result()
                if isinstance(exc, WrongCluster):
                    wrong_cluster.append(exc)
                faults[address] = _describe(exc)
                failed_now = True
            if remaining and (not done or failed_now or not pending):
                start_next()
        for address in pending.values():
            faults.setdefault(address, "no answer before the deadline")
        for address in remaining:
            faults.setdefault(address, "not tried before the deadline")
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        failed_event.set()
    if wrong_cluster and len(wrong_cluster) == len(faults):
        raise wrong_cluster[0]
    listing = "; ".join(f"{addr}: {fault}" for addr, fault in faults.items())
    raise NoMemberAnswered(f"no {what} answered ({listing})")
