"""One thread per session for drivers built on blocking libraries (tnz, ibm5250).

Every call of a session runs on its own thread, in submission order, so the library never sees two
threads and the event loop awaiting the session never blocks. tnz additionally needs an asyncio loop of its
own on that thread (it drives a private loop synchronously and must never run on a thread that is already
running one): ``with_loop=True`` creates it there and closes it when the session ends.
"""

from __future__ import annotations

import asyncio
import itertools
from abc import abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hostgate.errors import HostDisconnected, HostUnreachable, KeyNotSupported
from hostgate.hosts._liveness import Pollable, probe
from hostgate.hosts.base import Condition, Fill, HostSession, Input, Screen, TypeText, as_predicate
from hostgate.models import HOST_KEYS, HostSpec, HostType, Key

__all__ = ["DRAIN_TIMEOUT", "SessionThread", "ThreadedSession", "closed_text"]

# How long a driver that saw the host close keeps reading what the host sent before it (the last screen):
# bytes already in the socket buffer take microseconds; the bound only matters for a broken library.
DRAIN_TIMEOUT = 1.0
_WORDS_MAX = 300

T = TypeVar("T")
_numbers = itertools.count(1)


class SessionThread:
    def __init__(self, kind: str, *, with_loop: bool) -> None:
        self._with_loop = with_loop
        self.loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"hostgate-{kind}-{next(_numbers)}", initializer=self._start
        )
        self.closed = False

    def _start(self) -> None:
        if self._with_loop:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)

    async def run(self, func: Callable[[], T]) -> T:
        """Run ``func`` on the session's thread and return (or raise) its result."""
        return await asyncio.wrap_future(self._executor.submit(func))

    async def close(self, final: Callable[[], None]) -> None:
        """Run ``final`` on the thread, then close its loop and end the thread (idempotent)."""
        if self.closed:
            return
        self.closed = True
        # Shielded: cancelling the caller (a server stopping, an event loop shutting down while a pool signs a
        # session off in the background) would otherwise cancel the job while it still waits behind the
        # thread's current call, and the loop, its self-pipe and the host connection would be left to the
        # garbage collector (ResourceWarning: unclosed event loop / socket). The job runs whatever happens; a
        # cancelled caller just does not wait for it (the thread ends once it is done).
        job = asyncio.wrap_future(self._executor.submit(self._finish, final))
        try:
            await asyncio.shield(job)
        finally:
            self._executor.shutdown(wait=job.done())

    def _finish(self, final: Callable[[], None]) -> None:
        try:
            final()
        finally:
            loop = self.loop
            if loop is not None:
                # Let aborted transports run their connection_lost callbacks before the loop goes away
                # (otherwise -X dev reports unclosed transports).
                loop.run_until_complete(asyncio.sleep(0))
                loop.run_until_complete(asyncio.sleep(0))
                asyncio.set_event_loop(None)
                loop.close()
                self.loop = None


def closed_text(reason: str, lines: tuple[str, ...] | None, seen: tuple[str, ...] | None) -> str:
    """``the host closed the connection (reason): "its words"``, quoting the screen the host showed last when
    the caller has not seen it yet (a host that answers "NO AVAILABLE DEVICE" and hangs up), so the error
    says why. A screen the caller already saw (a host killed mid-session) is not repeated."""
    text = "the host closed the connection"
    if reason:
        text += f" ({reason})"
    if lines is not None and lines != seen:
        words = " / ".join(" ".join(line.split()) for line in lines if line.strip())
        if len(words) > _WORDS_MAX:
            words = words[: _WORDS_MAX - 3] + "..."
        if words:
            text += f': "{words}"'
    return text


class ThreadedSession(HostSession):
    """The plumbing shared by thread-backed drivers: one :class:`SessionThread`, serialised calls, a
    session that can connect once, and HostDisconnected for calls on a closed session.

    Liveness: the libraries notice a closed connection only when they read, so every call first polls the
    socket (:mod:`hostgate.hosts._liveness`, one system call) on the session thread and lets the driver
    apply pending bytes or drain to the close (``_refresh``); ``connected`` polls too, from any thread.

    Speed (issue #16, bench/sessions.py): a trip to the session thread and back costs more than what most
    calls do there, so :meth:`perform` runs a whole operation's inputs and its wait in one trip; and a driver
    whose library applies every complete record as it reads it (``settled_cache``) answers a wait from the
    screen its last wait returned while nothing happened since: no call in between, the keyboard unlocked,
    and the socket polled quiet (no byte pending, not closed), so the host cannot have changed it."""

    kind = "host"
    host_type: HostType
    with_loop = False
    settled_cache = False

    def __init__(self, spec: HostSpec, *, keyboard_timeout: float = 5.0) -> None:
        super().__init__(spec, keyboard_timeout=keyboard_timeout)
        self._thread: SessionThread | None = None
        self._used = False
        self._lost = False
        self._seen: tuple[str, ...] | None = None  # the lines of the last screen handed to the caller
        self._closed: str | None = None  # how the host closed the connection, once it has
        self._up = False  # connect() succeeded
        self._settled: Screen | None = None  # what the last call's wait returned, until the next call

    @property
    def where(self) -> str:
        return f"{self.kind} host {self.spec.address}:{self.spec.port}"

    @property
    def connected(self) -> bool:
        if self._thread is None or self._lost or not self._up:
            return False
        if probe(self._socket()).gone:
            # Sticky: the host is gone even if the library has not read the close yet.
            self._lost = True
            return False
        return True

    async def connect(self) -> Screen:
        if self._used:
            raise HostUnreachable(f"{self.where}: a session connects once; open a new one")
        self._used = True
        self._thread = SessionThread(self.kind, with_loop=self.with_loop)
        try:
            screen = await self._thread.run(self._connect_sync)
        except HostDisconnected as exc:
            # Closed before the first usable screen: the host refused the session (no device, rejected
            # logon); exc quotes what it showed.
            await self.disconnect()
            why = self._closed or exc.message
            raise HostUnreachable(f"cannot connect to {self.where}: {why}") from exc
        except BaseException:
            await self.disconnect()
            raise
        # Not marked seen: if the host hangs up right after its first screen (a VT host that printed "no
        # sessions available"), that screen is the reason and belongs in the error.
        self._up = True
        return screen

    async def disconnect(self) -> None:
        thread, self._thread = self._thread, None
        self._lost = True
        if thread is not None:
            await thread.close(self._shutdown_sync)

    async def _call(self, func: Callable[[], T], *, settles: bool = False) -> T:
        """Run ``func`` on the session thread after ``_refresh``; ``settles``: it returns the screen of a
        finished wait (kept for the next wait while nothing happens, see the class docstring)."""
        thread = self._thread
        if thread is None or thread.closed:
            raise HostDisconnected(f"{self.where}: the session is not connected")
        self._settled = None

        def checked() -> T:
            self._refresh()
            return func()

        try:
            result = await thread.run(checked)
        except HostDisconnected:
            self._lost = True
            raise
        if isinstance(result, Screen):
            self._seen = result.lines
            if settles and self.settled_cache and not result.keyboard_locked:
                self._settled = result
        return result

    def _still(self, predicate: Callable[[Screen], bool]) -> Screen | None:
        """The settled screen if it is still what the terminal shows and ``predicate`` holds on it."""
        screen = self._settled
        if screen is None or self._lost or self._thread is None or self._thread.closed:
            return None
        if not probe(self._socket()).quiet:  # bytes to apply, or the host is gone: ask the library
            return None
        return screen if predicate(screen) else None

    def _lost_error(self, reason: str = "") -> HostDisconnected:
        """On the session thread, once the library saw the close: HostDisconnected quoting the host's last
        screen if the caller has not seen it."""
        self._lost = True
        self._closed = closed_text(reason, self._screen_lines(), self._seen)
        return HostDisconnected(f"{self.where}: {self._closed}")

    async def type_text(self, text: str) -> None:
        await self._call(lambda: self._type(text))

    async def fill_field(self, row: int, col: int, text: str) -> None:
        await self._call(lambda: self._fill(row, col, text))

    async def send_key(self, key: Key) -> None:
        if key not in HOST_KEYS[self.host_type]:
            raise KeyNotSupported(f"key {key.value} does not exist on a {self.kind} terminal")
        await self._call(lambda: self._key(key))

    async def wait_until(self, condition: Condition, timeout: float) -> Screen:
        predicate = as_predicate(condition)
        still = self._still(predicate)
        if still is not None:
            return still
        return await self._call(lambda: self._wait(predicate, timeout, condition), settles=True)

    async def perform(self, inputs: Sequence[Input], condition: Condition, timeout: float) -> Screen:
        predicate = as_predicate(condition)

        # One socket check for the trip (_call's _refresh), not one per input: the inputs only edit the
        # terminal's buffer until the attention key is sent, and a host that closes meanwhile is seen by the
        # wait (tnz and ibm5250 read the close there), so the call still ends in HostDisconnected.
        def run() -> Screen:
            for step in inputs:
                if isinstance(step, Fill):
                    self._fill(step.row, step.col, step.text)
                elif isinstance(step, TypeText):
                    self._type(step.text)
                else:
                    if step not in HOST_KEYS[self.host_type]:
                        raise KeyNotSupported(f"key {step.value} does not exist on a {self.kind} terminal")
                    self._key(step)
            return self._wait(predicate, timeout, condition)

        return await self._call(run, settles=True)

    # -- on the session thread (the subclass's terminal library) ----------------------------------------
    @abstractmethod
    def _socket(self) -> Pollable | None:
        """The connection's socket (any thread may poll it), None once the library dropped it."""

    @abstractmethod
    def _refresh(self) -> None:
        """Before every call: apply what the host sent meanwhile; HostDisconnected if it closed."""

    @abstractmethod
    def _screen_lines(self) -> tuple[str, ...] | None:
        """The lines the terminal shows (hidden fields blank), also after the close; None if none yet."""

    @abstractmethod
    def _type(self, text: str) -> None: ...

    @abstractmethod
    def _fill(self, row: int, col: int, text: str) -> None: ...

    @abstractmethod
    def _key(self, key: Key) -> None: ...

    @abstractmethod
    def _wait(self, predicate: Callable[[Screen], bool], timeout: float, condition: Condition) -> Screen: ...

    @abstractmethod
    def _connect_sync(self) -> Screen:
        """On the session thread: connect and return the first screen."""

    @abstractmethod
    def _shutdown_sync(self) -> None:
        """On the session thread: close the connection (must not raise)."""
