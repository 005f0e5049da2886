"""The retry loop of the etcd store and the leader monitor it leans on.

Retries (all bounded by ``write_timeout``, backoff 20-50 ms, never a fixed sleep):

- A request the member refused before proposing it (no leader, connection refused) is retried: this is what
  carries a write across a leader election, which on loopback takes about a second.
- Requests that are safe to repeat (reads, ``put``, ``delete``, lease calls: :attr:`Mode.READ`,
  :attr:`Mode.REPEATABLE`) are also restarted when the member's leader changes while they are in flight: a
  proposal forwarded to a leader that just died is lost and would otherwise hang until the deadline. ``put``
  and ``delete`` are therefore *at least once* across a leader failure (the same value may be written twice;
  ``delete`` may then answer ``False``).
- ``compare_and_set``/``compare_and_delete`` (:attr:`Mode.CHECKED`) are exactly once: caught by a leader
  change, they are sent again only after a linearizable read by the new leader shows they never applied;
  when the outcome stays unknown they raise ``QuorumLost`` saying so, and the caller re-reads. Membership
  changes (:attr:`Mode.ONCE`) are never sent twice.
- Under a write guard (``store.guard``, hedged writes) every request is also bounded by the client's deadline.
- A member that has had no leader for longer than ``election_grace`` (default 3 s; an election on loopback
  or a LAN takes 1-2 s) makes writes fail with ``QuorumLost`` at once instead of after ``write_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
from aetcd import rpc

from hostgate.errors import QuorumLost, StoreError, StoreUnavailable
from hostgate.store.etcd_channel import SecureClient
from hostgate.store.etcd_faults import Fault, classify, give_up, past_deadline, translate
from hostgate.store.guard import active_guard

__all__ = ["Attempt", "LeaderMonitor", "Mode", "Requests"]

T = TypeVar("T")
Attempt = Callable[[SecureClient, float], Awaitable[T]]

_BACKOFF_FIRST = 0.02
_BACKOFF_MAX = 0.05
_UNHEALTHY_BACKOFF = 0.25
_LEADER_POLL = 0.025


class Mode(enum.Enum):
    READ = "read"  # no side effect: restart freely
    REPEATABLE = "repeatable"  # same end state if applied twice (put, delete, lease calls)
    CHECKED = "checked"  # resent only once a later leader shows it did not apply (compare-and-set)
    ONCE = "once"  # never resent once it may have reached the leader (membership changes)


class _LeaderChanged(Exception):
    """The member's leader changed while a restartable request was in flight."""


class _NotApplied(Exception):
    """The leader changed under a compare-and-X, and a later leader's linearizable read shows it never applied."""


class LeaderMonitor:
    """Samples the member's leader while requests are in flight (one poller for all of them).

    A request forwarded to a leader that then dies is lost and would wait for its deadline. Each subscriber's
    baseline is the first sample taken after it subscribed; a later sample naming another leader (or none)
    sets its event.
    """

    def __init__(self, probe: Callable[[], Awaitable[int]], interval: float) -> None:
        self._probe = probe
        self._interval = interval
        self._subscribers: dict[asyncio.Event, int | None] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[asyncio.Event]:
        changed = asyncio.Event()
        self._subscribers[changed] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="etcd-leader-monitor")
        try:
            yield changed
        finally:
            self._subscribers.pop(changed, None)

    async def _poll(self) -> None:
        while self._subscribers:
            try:
                leader: int | None = await self._probe()
            except (grpc.aio.AioRpcError, StoreError):
                leader = None
            if leader is not None:
                for event, baseline in list(self._subscribers.items()):
                    if baseline is None:
                        self._subscribers[event] = leader
                    elif baseline != leader:
                        event.set()
            await asyncio.sleep(self._interval)  # sampling period while requests wait, not synchronisation

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Requests:
    """One client's requests to etcd: the connection, the retry loop, and how long the member has been
    leaderless. ``write_timeout`` bounds every request, retries included."""

    # Each request's duration by kind (read, write), retries included (Store.time_requests; hostgate/metrics.py).
    timer: Callable[[str, float], None] | None = None

    def __init__(
        self, client: SecureClient, *, write_timeout: float, status_timeout: float, election_grace: float
    ) -> None:
        self._client = client
        self._write_timeout = write_timeout
        self._status_timeout = status_timeout
        self._monitor = LeaderMonitor(self.leader, _LEADER_POLL)
        self._election_grace = min(election_grace, write_timeout)
        self._leaderless_since: float | None = None
        self._leaderless_task: asyncio.Task[None] | None = None
        self._closed = False

    async def connected(self) -> SecureClient:
        if self._closed:
            raise StoreUnavailable("the etcd store object is closed")
        await self._client.connect()
        return self._client

    async def leader_and_term(self) -> tuple[int, int]:
        client = await self.connected()
        timeout = min(0.5, self._status_timeout)
        resp = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=timeout)
        return int(resp.leader), int(resp.raftTerm)

    async def leader(self) -> int:
        return (await self.leader_and_term())[0]

    async def request(
        self,
        what: str,
        attempt: Attempt[T],
        mode: Mode,
        *,
        needs_leader: bool = True,
        timeout: float | None = None,
        not_applied: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        """Run ``attempt(client, timeout)`` until it answers, retrying what is safe, within write_timeout."""
        timer = self.timer
        if timer is None:
            return await self._request(what, attempt, mode, needs_leader, timeout, not_applied)
        started = time.perf_counter()
        try:
            return await self._request(what, attempt, mode, needs_leader, timeout, not_applied)
        finally:
            timer("read" if mode is Mode.READ else "write", time.perf_counter() - started)

    async def _request(
        self,
        what: str,
        attempt: Attempt[T],
        mode: Mode,
        needs_leader: bool,
        timeout: float | None,
        not_applied: Callable[[], Awaitable[bool]] | None,
    ) -> T:
        loop = asyncio.get_running_loop()
        budget = self._write_timeout if timeout is None else timeout
        guard = active_guard()
        bounded = False  # the client's deadline, not write_timeout, ends this request
        if guard is not None:
            left = guard.check(what)
            if left < budget:
                budget, bounded = left, True
        deadline = loop.time() + budget
        backoff = _BACKOFF_FIRST
        last, last_exc = Fault.OTHER, None
        uncertain = False  # an earlier attempt of this write may have been applied
        client = await self.connected()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if bounded:
                    raise past_deadline(what, uncertain=uncertain)
                raise give_up(what, last, last_exc, uncertain=uncertain, budget=budget)
            try:
                if mode is Mode.ONCE:
                    result = await attempt(client, remaining)
                elif mode is Mode.CHECKED:
                    assert not_applied is not None
                    result = await self._checked(attempt, client, remaining, not_applied)
                else:
                    result = await self._restartable(attempt, client, remaining)
                if needs_leader:
                    self._leaderless_since = None
                return result
            except _LeaderChanged:
                last, last_exc = Fault.TIMEOUT, None
                uncertain = uncertain or mode is Mode.REPEATABLE
                continue
            except _NotApplied:
                last, last_exc = Fault.TIMEOUT, None
                continue
            except grpc.aio.UsageError as exc:  # the channel was closed under the request
                raise StoreUnavailable(f"{what}: the etcd store object was closed") from exc
            except grpc.aio.AioRpcError as exc:
                fault = classify(exc)
                last, last_exc = fault, exc
                if fault is Fault.OTHER:
                    raise translate(exc, what) from exc
                if fault is Fault.NO_LEADER:
                    self._note_no_leader(what)
                elif fault in (Fault.LOST, Fault.TIMEOUT):
                    if mode in (Mode.ONCE, Mode.CHECKED):
                        if bounded and deadline - loop.time() <= 0.05:
                            raise past_deadline(what, uncertain=True) from exc
                        raise give_up(what, fault, exc, uncertain=True, budget=budget) from exc
                    uncertain = uncertain or mode is Mode.REPEATABLE
            remaining = deadline - loop.time()
            if remaining > 0:
                pause = _UNHEALTHY_BACKOFF if last is Fault.UNHEALTHY else backoff
                await asyncio.sleep(min(pause, remaining))  # retry back-off, bounded by write_timeout
                backoff = min(backoff * 1.5, _BACKOFF_MAX)

    async def _restartable(self, attempt: Attempt[T], client: SecureClient, timeout: float) -> T:
        async with self._monitor.watching() as changed:
            task = asyncio.ensure_future(attempt(client, timeout))
            waiter = asyncio.ensure_future(changed.wait())
            try:
                await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                        await task
            if task.cancelled():
                raise _LeaderChanged
            return task.result()

    async def _checked(
        self,
        attempt: Attempt[T],
        client: SecureClient,
        timeout: float,
        not_applied: Callable[[], Awaitable[bool]],
    ) -> T:
        """One compare-and-X attempt that is abandoned only when it provably never applied.

        When the leader changes under it, the key is read linearizably, i.e. by a leader that has committed in
        a later term. An entry of the old term that this read does not show can never commit any more (Raft's
        leader completeness), so a key still at the expected revision means the attempt is dead and may be sent
        again. Otherwise the attempt's own answer is awaited (up to its deadline: outcome unknown).
        """
        async with self._monitor.watching() as changed:
            task = asyncio.ensure_future(attempt(client, timeout))
            check: asyncio.Future[bool] | None = None
            try:
                waiter = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if not task.done():
                    check = asyncio.ensure_future(not_applied())
                    await asyncio.wait((task, check), return_when=asyncio.FIRST_COMPLETED)
                    if (
                        not task.done()
                        and not check.cancelled()
                        and check.exception() is None
                        and check.result()
                    ):
                        raise _NotApplied
                return await task
            finally:
                for fut in (task, check):
                    if fut is not None and not fut.done():
                        fut.cancel()
                        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError, StoreError):
                            await fut

    def _note_no_leader(self, what: str) -> None:
        """Fail at once when the member has been leaderless for longer than an election takes."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._leaderless_since is None:
            self._leaderless_since = now
            if self._leaderless_task is None or self._leaderless_task.done():
                self._leaderless_task = asyncio.create_task(self._track_leaderless(), name="etcd-leaderless")
        elif now - self._leaderless_since >= self._election_grace:
            raise QuorumLost(
                f"{what}: the store's member has had no leader for {now - self._leaderless_since:.1f} s; "
                "a majority of members is down or cut off"
            )

    async def _track_leaderless(self) -> None:
        """While the member reports no leader, keep asking, so the next request knows for how long.

        A rising raft term means an election is under way (our members run with ``--pre-vote``, so an
        isolated member's term stands still): the grace period then starts again.
        """
        term: int | None = None
        while self._leaderless_since is not None:
            await asyncio.sleep(0.1)  # sampling period while leaderless
            with contextlib.suppress(grpc.aio.AioRpcError, StoreError):
                leader, current = await self.leader_and_term()
                if leader:
                    self._leaderless_since = None
                elif term is not None and current > term and self._leaderless_since is not None:
                    self._leaderless_since = asyncio.get_running_loop().time()
                term = current

    async def close(self) -> None:
        self._closed = True
        self._leaderless_since = None
        if self._leaderless_task is not None:
            self._leaderless_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leaderless_task
        await self._monitor.close()
        await self._client.close()
