"""Session pools: host sessions signed on ahead of time and parked at a startup entity (VHI session pools).

A :class:`Pool` keeps sessions of one model, each connected, signed on and at ``startup_entity``, so a client
gets one in about a millisecond instead of a host logon. The rules it keeps:

- **Sizes.** Sessions in every state (warming, idle, busy, returning, checking) never exceed
  ``max_concurrent``. ``initial_idle`` sessions are warmed at start; afterwards the pool warms sessions while
  fewer than ``min_idle`` are idle (or warming), and signs off idle ones beyond ``max_idle``. ``apply`` changes
  max concurrent / min idle / max idle while the pool runs (schedules, issue #18, plug in there).
- **Fair queue.** When no idle session is free, a client waits in one FIFO queue of at most ``max_pending``
  (beyond: PoolQueueFull HG-4302 at once) for up to ``max_wait`` seconds (then PoolWaitTimeout HG-4303). A
  session that comes free goes to the head of the queue: a newcomer never takes it while others wait.
- **Variable lists.** Each session holds one entry of each list (host credentials) while it lives; the entry is
  free again once the session is signed off. When a list has no free entry the pool cannot grow: a client
  that no idle, warming or returning session can serve gets PoolVariablesExhausted (HG-4304) naming the list
  at once, not a plain timeout after ``max_wait``. Values are never logged.
- **Healing.** A session whose host dropped it is replaced without a client seeing it: at hand-out (the socket
  is polled, ``HostSession.connected``, about a microsecond), at each health check (``run_cycle``: an idle
  session must still show, or be navigable back to, the startup entity) and on release.
- **Release** navigates back to the startup entity; a session that cannot get there, was dropped, or is due
  for recycling (``recycle_uses`` hand-outs or ``recycle_after`` seconds) is signed off and replaced.

Time: idle timeouts, health-check intervals and recycling read the injected clock (``run_cycle`` decides, so
tests step a :class:`~hostgate._clock.Clock`); a client's ``max_wait`` is a real asyncio timeout, since it
bounds how long a caller is actually kept waiting.

    pool = Pool(settings, opener)
    pool.start()                          # warms initial_idle sessions in the background
    session = await pool.acquire("ada")   # at settings.startup_entity
    ...
    pool.release(session)                 # navigated back and parked again
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import (
    HostgateError,
    PoolClosed,
    PoolDrained,
    PoolQueueFull,
    PoolVariablesExhausted,
    PoolWaitTimeout,
    UsageError,
)
from hostgate.messages import PoolStatus
from hostgate.session.model_session import ModelSession
from hostgate.session.pool_config import PoolSettings, PoolSizes, VariableList

__all__ = ["WAIT_BUCKETS", "Opener", "Pool", "PooledSession", "State"]

log = logging.getLogger("hostgate.session.pools")

# Upper bounds (seconds) of the acquire-wait histogram (Prometheus-style ``le`` buckets).
WAIT_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, math.inf)
# How long navigating a released or checked session back to the startup entity may take.
RETURN_TIMEOUT = 30.0

Opener = Callable[[Mapping[str, str]], Awaitable[tuple[ModelSession, str]]]
"""Builds a not yet opened session of the pool's model with these variables: ``(runtime, model digest)``."""


class State(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    RETURNING = "returning"
    CHECKING = "checking"


@dataclass(slots=True, eq=False)
class PooledSession:
    """One signed-on host session of a pool."""

    id: str
    runtime: ModelSession
    model_digest: str
    created: float
    entries: tuple[int, ...]  # its entry of each variable list (settings.variable_lists order)
    state: State = State.IDLE
    uses: int = 0
    since: float = 0.0  # when it entered its state
    checked: float = 0.0  # last health check (or arrival in the idle list)
    holder: str = ""


class Pool:
    """The sessions of one pool on one session server (event-loop thread only; see the module docstring)."""

    def __init__(self, settings: PoolSettings, opener: Opener, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.sizes = settings.sizes
        self._open = opener
        self._clock = clock
        self._sessions: dict[str, PooledSession] = {}
        self._idle: deque[PooledSession] = deque()  # the right end was parked last
        self._waiters: deque[asyncio.Future[PooledSession]] = deque()
        self._free: list[deque[int]] = [deque(range(len(v))) for v in settings.variable_lists]
        self._warming = 0
        self._tasks: set[asyncio.Task[None]] = set()  # warming and returning: cancelled by close()
        self._closing: set[asyncio.Task[None]] = set()  # sign-offs: close() waits for them
        self._last_failure = ""
        self._closed = False
        # Drained (``hostgate pool drain``, or its definition deleted or replaced): no hand-outs, no warming;
        # idle sessions are signed off at once, busy ones when they come back (issue #18).
        self.draining = False
        self._exhausted: VariableList | None = None  # the list that stopped the last attempt to grow
        self.created = self.failed = self.replaced = self.recycled = self.reclaimed = 0
        self.acquired = self.waited = self.timed_out = self.refused = 0
        self._wait_counts = [0] * len(WAIT_BUCKETS)
        self._wait_sum = 0.0

    # -- figures -------------------------------------------------------------------------------------------
    def count(self, state: State) -> int:
        return sum(1 for s in self._sessions.values() if s.state is state)

    @property
    def total(self) -> int:
        """Sessions in every state, warming ones included (what max_concurrent caps)."""
        return len(self._sessions) + self._warming

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def pending(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    def status(self) -> PoolStatus:
        s, z = self.settings, self.sizes
        running = 0
        histogram: dict[str, int] = {}
        for bound, n in zip(WAIT_BUCKETS, self._wait_counts, strict=True):
            running += n
            histogram["+Inf" if math.isinf(bound) else f"{bound:g}"] = running
        return PoolStatus(
            s.name,
            s.model,
            s.startup_entity,
            z.max_concurrent,
            z.min_idle,
            z.max_idle,
            s.max_pending,
            s.max_wait,
            idle=len(self._idle),
            busy=self.count(State.BUSY),
            warming=self._warming,
            returning=self.count(State.RETURNING) + self.count(State.CHECKING),
            pending=self.pending,
            created=self.created,
            failed=self.failed,
            replaced=self.replaced,
            recycled=self.recycled,
            reclaimed=self.reclaimed,
            acquired=self.acquired,
            waited=self.waited,
            timed_out=self.timed_out,
            refused=self.refused,
            wait_seconds_sum=round(self._wait_sum, 6),
            wait_histogram=histogram,
            variable_lists_free={v.name: len(f) for v, f in zip(s.variable_lists, self._free, strict=True)},
        )

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Warm ``initial_idle`` sessions in the background (then keep ``min_idle``)."""
        wanted = min(self.settings.initial_idle, self.sizes.max_concurrent)
        for _ in range(wanted):
            if not self._spawn():
                break
        self._reconcile()

    def apply(self, sizes: PoolSizes) -> None:
        """New max concurrent / min idle / max idle from now on: idle sessions above the new bounds are signed
        off at once, busy ones when they come back; the pool grows to the new min idle."""
        why = sizes.check()
        if why is not None:
            raise UsageError(f"pool {self.settings.name}: {why}")
        self.sizes = sizes
        self._trim()
        self._reconcile()

    def drain(self, why: str = "drained") -> None:
        """Hand out nothing more: waiting clients get PoolDrained, idle sessions are signed off now, busy ones
        when their holders give them back (or their lease runs out). ``finished`` once none is left."""
        self.draining = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(
                    PoolDrained(f"pool {self.settings.name} is {why}: it hands out no sessions")
                )
        self._waiters.clear()
        while self._idle:
            self._retire(self._idle.popleft(), f"the pool is {why}")

    def resume(self) -> None:
        """Undo ``drain``: the pool warms to its min idle again."""
        self.draining = False
        self._reconcile()

    @property
    def finished(self) -> bool:
        """Drained and no session left (warming, idle, busy or returning), and the last sign-off done: a pool
        taken as finished while a session still signs off is let go by its service, whose close() then does
        not wait for that sign-off (it ran on past a server's or a test's event loop)."""
        return self.draining and not self._sessions and not self._warming and not self._closing

    def sessions(self) -> list[PooledSession]:
        return list(self._sessions.values())

    async def close(self) -> None:
        """Stop: waiting clients get PoolClosed, every session is signed off (busy ones too: the caller took
        them from their clients first)."""
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosed(f"pool {self.settings.name} was stopped"))
        self._waiters.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._closing, return_exceptions=True)
        sessions = list(self._sessions.values())
        self._sessions.clear()
        self._idle.clear()
        await asyncio.gather(*(s.runtime.close() for s in sessions), return_exceptions=True)

    # -- hand-out ------------------------------------------------------------------------------------------
    async def acquire(self, holder: str = "") -> PooledSession:
        """A session at the startup entity, now or after waiting in the queue (see the module docstring)."""
        if self._closed:
            raise PoolClosed(f"pool {self.settings.name} is stopped")
        if self.draining:
            raise PoolDrained(f"pool {self.settings.name} is drained: it hands out no sessions")
        loop = asyncio.get_running_loop()
        started = loop.time()
        if not self.pending:
            found = self._take_idle()
            if found is not None:
                self._reconcile()
                return self._handed(found, holder, 0.0, queued=False)
        if self.pending >= self.settings.max_pending:
            self.refused += 1
            raise PoolQueueFull(
                f"pool {self.settings.name}: all {self.sizes.max_concurrent} sessions are in use and "
                f"{self.pending} client(s) already wait (max_pending {self.settings.max_pending})"
            )
        waiter: asyncio.Future[PooledSession] = loop.create_future()
        self._waiters.append(waiter)
        self._reconcile()
        try:
            await asyncio.wait({waiter}, timeout=max(0.0, started + self.settings.max_wait - loop.time()))
        except asyncio.CancelledError:
            # The client went away while waiting: a session handed to it meanwhile goes back to the pool.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())
            waiter.cancel()
            raise
        if not waiter.done():
            waiter.cancel()  # _reconcile skips it
            self.timed_out += 1
            raise self._timeout_error()
        return self._handed(waiter.result(), holder, loop.time() - started, queued=True)

    def _handed(self, session: PooledSession, holder: str, waited: float, *, queued: bool) -> PooledSession:
        session.holder = holder
        self.acquired += 1
        self.waited += queued
        self._wait_sum += waited
        for i, bound in enumerate(WAIT_BUCKETS):
            if waited <= bound:
                self._wait_counts[i] += 1
                break
        return session

    def _timeout_error(self) -> HostgateError:
        s = self.settings
        listed = self._exhausted
        if listed is not None and self.total < self.sizes.max_concurrent:
            return PoolVariablesExhausted(
                f"pool {s.name}: variable list {listed.name!r} ({listed.source}) has no free entry: each of "
                f"its {len(listed)} entries is held by a session of the pool, and none came free within "
                f"{s.max_wait:g} s"
            )
        return PoolWaitTimeout(
            f"pool {s.name}: no session came free within {s.max_wait:g} s ({self.total} of max_concurrent "
            f"{self.sizes.max_concurrent} in use, {self.pending} client(s) still waiting)"
        )

    def _take_idle(self) -> PooledSession | None:
        """The most recently parked idle session that is still connected; dropped ones are replaced."""
        while self._idle:
            session = self._idle.pop()
            if session.runtime.connected:
                session.state = State.BUSY
                session.since = self._clock.monotonic()
                session.uses += 1
                return session
            self.replaced += 1
            self._retire(session, "its host dropped it while idle")
        return None

    # -- release -------------------------------------------------------------------------------------------
    def release(self, session: PooledSession, *, healthy: bool = True, reclaimed: bool = False) -> None:
        """Give a handed-out session back (idempotent): it is navigated back to the startup entity in the
        background, or replaced. ``healthy=False``: its host connection is known to be gone."""
        if self._sessions.get(session.id) is not session or session.state is not State.BUSY:
            return
        self.reclaimed += reclaimed
        session.state = State.RETURNING
        session.holder = ""
        session.since = self._clock.monotonic()
        self._task(self._return(session, healthy))

    async def _return(self, session: PooledSession, healthy: bool) -> None:
        why = self._due(session) if healthy else "its host connection is gone"
        if why is None:
            why = await self._to_startup(session)
        if why is None and not session.runtime.connected:
            # Dropped after it was brought back: a health check that already ran would not see it in the list.
            why = "its host dropped it"
        if why is not None or self._closed or self.draining:
            if why is not None and not why.startswith("recycled"):
                self.replaced += 1
            self._retire(session, why or ("the pool is drained" if self.draining else "the pool is stopping"))
        else:
            self._park(session)
        self._trim()
        self._reconcile()

    def _due(self, session: PooledSession) -> str | None:
        s = self.settings
        if s.recycle_uses and session.uses >= s.recycle_uses:
            self.recycled += 1
            return f"recycled after {session.uses} uses"
        if s.recycle_after and self._clock.monotonic() - session.created >= s.recycle_after:
            self.recycled += 1
            return f"recycled after {s.recycle_after:g} s"
        return None

    async def _to_startup(self, session: PooledSession) -> str | None:
        """None once the session shows the startup entity, else why it cannot be kept."""
        if not session.runtime.connected:
            return "its host dropped it"
        target = self.settings.startup_entity
        try:
            async with asyncio.timeout(RETURN_TIMEOUT):
                if (await session.runtime.current_entity()).name != target:
                    await session.runtime.set_current_entity(target)
        except (HostgateError, TimeoutError) as exc:
            code = getattr(exc, "code", "timeout")
            return f"it could not be brought back to {target} ({code})"
        return None

    def _park(self, session: PooledSession, *, checked_only: bool = False) -> None:
        """Into the idle list; a health check does not restart the session's idle time."""
        session.state = State.IDLE
        session.checked = self._clock.monotonic()
        if not checked_only:
            session.since = session.checked
        self._idle.append(session)

    # -- upkeep --------------------------------------------------------------------------------------------
    async def run_cycle(self) -> str:
        """One upkeep pass: idle timeouts, recycling by age, dropped sessions, due health checks, growth to
        min idle. Returns a one-line account of what it decided."""
        now = self._clock.monotonic()
        s, done = self.settings, []
        timed_out = aged = dropped = 0
        for session in list(self._idle):
            reason = None
            if not session.runtime.connected:
                reason, dropped = "its host dropped it while idle", dropped + 1
                self.replaced += 1
            elif s.recycle_after and now - session.created >= s.recycle_after:
                reason, aged = f"recycled after {s.recycle_after:g} s", aged + 1
                self.recycled += 1
            elif len(self._idle) > self.sizes.min_idle and now - session.since >= s.idle_timeout:
                reason, timed_out = f"idle for {s.idle_timeout:g} s", timed_out + 1
            if reason is not None:
                self._idle.remove(session)
                self._retire(session, reason)
        due = [x for x in self._idle if now - x.checked >= s.health_check_interval]
        for session in due:
            self._idle.remove(session)
            session.state = State.CHECKING
        results = await asyncio.gather(*(self._to_startup(x) for x in due))
        failed = 0
        for session, why in zip(due, results, strict=True):
            if why is None and not session.runtime.connected:
                why = "its host dropped it"  # during the check, after it answered
            if why is None and not self._closed and not self.draining:
                self._park(session, checked_only=True)
                self._idle.rotate(1)  # checked, not used: back at the cold end
            else:
                failed += 1
                self.replaced += 1
                self._retire(session, f"health check: {why or 'the pool is stopping'}")
        self._trim()
        self._reconcile()
        if dropped:
            done.append(f"replacing {dropped} dropped by the host")
        if failed:
            done.append(f"replacing {failed} that failed the health check")
        if aged:
            done.append(f"recycled {aged}")
        if timed_out:
            done.append(f"signed off {timed_out} idle past idle_timeout")
        if due and not failed:
            done.append(f"{len(due)} passed the health check")
        state = (
            f"pool {s.name}: {len(self._idle)} idle, {self.count(State.BUSY)} busy, {self._warming} warming, "
            f"{self.pending} waiting"
        )
        return state + ("; " + ", ".join(done) if done else "")

    def _reconcile(self) -> None:
        """Serve waiters from idle sessions (head of the queue first), then warm what the queue and min idle
        need, within max_concurrent. Never awaits: called after every change."""
        if self._closed or self.draining:
            return
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        while self._waiters and self._idle:
            found = self._take_idle()
            if found is None:
                break
            self._waiters.popleft().set_result(found)
            while self._waiters and self._waiters[0].done():
                self._waiters.popleft()
        want = max(self.pending - self._warming, self.sizes.min_idle - len(self._idle) - self._warming, 0)
        for _ in range(min(want, self.sizes.max_concurrent - self.total)):
            if not self._spawn():
                break
        self._fail_unservable()

    def _fail_unservable(self) -> None:
        """Waiters for whom no session can come because a variable list has no free entry get
        PoolVariablesExhausted now, not after max_wait: the pool is below max concurrent, so the list, not the
        queue, is what stops them, and waiting would only hide which list to grow. Sessions on their way back
        (warming, returning, checking) still serve the oldest waiters; the newest beyond those are refused."""
        listed = self._exhausted
        if listed is None or self.total >= self.sizes.max_concurrent or not self._waiters:
            return
        coming = self._warming + self.count(State.RETURNING) + self.count(State.CHECKING)
        live = [w for w in self._waiters if not w.done()]
        excess = live[coming:] if coming < len(live) else []
        if not excess:
            return
        s = self.settings
        for waiter in excess:
            waiter.set_exception(
                PoolVariablesExhausted(
                    f"pool {s.name}: variable list {listed.name!r} ({listed.source}) has no free entry: each of "
                    f"its {len(listed)} entries is held by a session of the pool"
                )
            )
        self._waiters = deque(w for w in self._waiters if not w.done())

    def _trim(self) -> None:
        """Sign off idle sessions above max idle, or while the pool is above max concurrent."""
        while self._idle and (
            len(self._idle) > self.sizes.max_idle or self.total > self.sizes.max_concurrent
        ):
            self._retire(self._idle.popleft(), "above the pool's max idle / max concurrent")

    # -- making and ending sessions ------------------------------------------------------------------------
    def _spawn(self) -> bool:
        """Start warming one session; False when a variable list has no free entry."""
        if self._closed or self.draining:
            return False
        for listed, free in zip(self.settings.variable_lists, self._free, strict=True):
            if not free:
                if self._exhausted is not listed:
                    log.warning(
                        "pool %s cannot grow: variable list %r (%s) has no free entry (%d, all in use)",
                        self.settings.name,
                        listed.name,
                        listed.source,
                        len(listed),
                    )
                self._exhausted = listed
                return False
        self._exhausted = None
        entries = tuple(free.popleft() for free in self._free)
        self._warming += 1
        self._task(self._warm(entries))
        return True

    async def _warm(self, entries: tuple[int, ...]) -> None:
        s = self.settings
        variables = dict(s.variables)
        for listed, index in zip(s.variable_lists, entries, strict=True):
            variables.update(listed.entries[index])
        try:
            runtime, digest = await self._open(variables)
            try:
                if (await runtime.open()).name != s.startup_entity:
                    await runtime.set_current_entity(s.startup_entity)
            except BaseException:
                await runtime.close()
                raise
        except asyncio.CancelledError:
            self._warming -= 1
            self._give_back(entries)
            raise
        except Exception as exc:
            self._warming -= 1
            self._give_back(entries)
            self.failed += 1
            # The error's own message: hidden fields are masked in screens, variable values never quoted.
            error = exc if isinstance(exc, HostgateError) else None
            text = str(error or type(exc).__name__)
            # Upkeep tries again every tick: the same failure again is logged at DEBUG, a new one as a warning.
            level = logging.DEBUG if text == self._last_failure else logging.WARNING
            self._last_failure = text
            log.log(level, "pool %s: a session could not be made ready: %s", s.name, text)
            self._fail_hopeless(error)
            return  # no retry from here: run_cycle grows the pool again (a dead host is not hammered)
        self._warming -= 1
        self._last_failure = ""
        now = self._clock.monotonic()
        session = PooledSession(uuid.uuid4().hex, runtime, digest, now, entries, State.IDLE, 0, now, now)
        self._sessions[session.id] = session
        self.created += 1
        if self._closed or self.draining:
            self._retire(session, "the pool is drained" if self.draining else "the pool is stopping")
            return
        self._idle.append(session)
        self._reconcile()
        self._trim()

    def _fail_hopeless(self, error: HostgateError | None) -> None:
        """Waiters for whom no session is coming (none exists, none warms) get the host's error now rather
        than a timeout after max_wait."""
        if self._sessions or self._warming or error is None:
            return
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()

    def _retire(self, session: PooledSession, why: str) -> None:
        """Sign the session off in the background and free its variable entries."""
        if self._sessions.pop(session.id, None) is None:
            return
        self._give_back(session.entries)
        log.info("pool %s: session %s signed off: %s", self.settings.name, session.id, why)
        self._task(session.runtime.close(), into=self._closing)

    def _give_back(self, entries: tuple[int, ...]) -> None:
        for free, index in zip(self._free, entries, strict=True):
            free.append(index)

    def _task(self, work: Coroutine[Any, Any, None], *, into: set[asyncio.Task[None]] | None = None) -> None:
        task = asyncio.get_running_loop().create_task(work)
        (self._tasks if into is None else into).add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pool %s: background work failed", self.settings.name, exc_info=task.exception())
