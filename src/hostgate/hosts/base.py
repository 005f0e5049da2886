"""The contract every terminal driver keeps: :class:`HostSession`, and what it shows: :class:`Screen`.

Positions are 1-based (row 1, column 1 is the top-left cell), like the model. A screen is an immutable
snapshot; the driver never hands out its live buffers.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from hostgate.models import HostSpec, Key

__all__ = ["Condition", "Field", "Fill", "HostSession", "Input", "Screen", "TypeText", "as_predicate"]


@dataclass(frozen=True, slots=True)
class Field:
    """A field of a block-mode (3270/5250) screen: where its data starts (the cell after its attribute
    byte), how long it is, and its attributes. ``text`` is blank for a hidden field."""

    row: int
    col: int
    length: int
    protected: bool
    hidden: bool = False
    numeric: bool = False
    intensified: bool = False
    modified: bool = False
    text: str = ""

    def contains(self, row: int, col: int, cols: int) -> bool:
        start = (self.row - 1) * cols + self.col - 1
        at = (row - 1) * cols + col - 1
        return start <= at < start + self.length


@dataclass(frozen=True, slots=True)
class Screen:
    """What the terminal shows: ``lines`` (each exactly ``cols`` wide; hidden fields blanked), the fields
    (none on VT hosts), the cursor and whether the keyboard is locked. A :class:`hostgate.models.ScreenLike`."""

    rows: int
    cols: int
    lines: tuple[str, ...]
    cursor: tuple[int, int]
    fields: tuple[Field, ...] = ()
    keyboard_locked: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text

    def at(self, row: int, col: int, length: int) -> str:
        """``length`` characters from (row, col) on one row."""
        return self.lines[row - 1][col - 1 : col - 1 + length]

    def find(self, text: str) -> tuple[int, int] | None:
        """The (row, col) where ``text`` first appears (within one row), or None."""
        for row, line in enumerate(self.lines, start=1):
            at = line.find(text)
            if at >= 0:
                return row, at + 1
        return None

    def field_at(self, row: int, col: int) -> Field | None:
        return next((f for f in self.fields if f.contains(row, col, self.cols)), None)


Condition = Callable[[Screen], bool] | str | re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Fill:
    """An input of :meth:`HostSession.perform`: ``fill_field(row, col, text)``."""

    row: int
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class TypeText:
    """An input of :meth:`HostSession.perform`: ``type_text(text)``."""

    text: str


Input = Fill | TypeText | Key
"""One input of :meth:`HostSession.perform` (a :class:`~hostgate.models.Key` is ``send_key(key)``)."""


def as_predicate(condition: Condition) -> Callable[[Screen], bool]:
    """A text is "shown somewhere on the screen"; a compiled pattern is searched in the rows joined by
    newlines; a callable is used as it is."""
    if isinstance(condition, str):
        return lambda screen: any(condition in line for line in screen.lines)
    if isinstance(condition, re.Pattern):
        pattern = condition
        return lambda screen: pattern.search(screen.text) is not None
    return condition


class HostSession(ABC):
    """One connection to a terminal host, driven by async methods. Blocking libraries (tnz, ibm5250) run on
    a thread of their own per session, so a session never blocks the event loop that awaits it.

    Contract for every driver (tests/hosts/test_conformance.py holds each to it):

    - ``connect()`` returns the first screen once the host has sent it and the keyboard is unlocked;
      HostUnreachable (HG-7001) if the host refuses, does not answer within ``spec.connect_timeout``, or
      TLS fails.
    - Any call after the host closed the connection raises HostDisconnected (HG-7002); so does a wait
      during which it closes. Every call checks the socket first (hosts/_liveness.py), so a call answered
      from the screen already held notices a close too; ``connected`` turns False the same way.
    - A host that shows a screen and hangs up: the error quotes that screen if the caller has not read it
      (``connect()``: HostUnreachable, e.g. "NO AVAILABLE DEVICE").
    - ``send_key()`` with an attention key (Enter, PFn, ...) first waits up to ``keyboard_timeout`` for
      the keyboard to unlock, else KeyboardLocked (HG-7004); it returns once the key is sent, not when
      the host has answered: follow it with ``wait_until``/``wait_ready``.
    - ``wait_until()`` returns the first screen, taken while the keyboard is unlocked, on which the
      condition holds; HostTimeout (HG-7003) after ``timeout`` seconds.
    - Hidden (non-display) fields are blank in every snapshot, whatever was typed into them.
    - Calls on one session are serialised; sessions are independent of each other.
    - ``disconnect()`` is idempotent and releases the thread, the loop and the socket.

        async with open_session(model.host) as host:
            screen = await host.connect()
            await host.fill_field(10, 34, "ADA")
            await host.send_key(Key.ENTER)
            screen = await host.wait_until("MAIN MENU", timeout=5)
    """

    def __init__(self, spec: HostSpec, *, keyboard_timeout: float = 5.0) -> None:
        self.spec = spec
        self.keyboard_timeout = keyboard_timeout

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True between a successful ``connect()`` and ``disconnect()`` or the host closing (the socket is
        polled, so a close is seen even when no call has read it; safe from any thread)."""

    @abstractmethod
    async def connect(self) -> Screen:
        """Open the connection and return the first screen (see the class contract)."""

    @abstractmethod
    async def snapshot(self) -> Screen:
        """The screen as it is now (data already received is applied first)."""

    @abstractmethod
    async def type_text(self, text: str) -> None:
        """Type ``text`` at the cursor, as an operator would."""

    @abstractmethod
    async def fill_field(self, row: int, col: int, text: str) -> None:
        """Replace the content of the input field starting at (row, col) with ``text``.

        FieldNotWritable (HG-7005) if no input field starts there (VT: if the cursor is not there, since a
        VT host decides where typing goes)."""

    @abstractmethod
    async def send_key(self, key: Key) -> None:
        """Press ``key``; KeyNotSupported (HG-7006) if this kind of host has no such key."""

    @abstractmethod
    async def wait_until(self, condition: Condition, timeout: float) -> Screen:
        """Wait for a screen on which ``condition`` holds (see :func:`as_predicate`)."""

    async def perform(self, inputs: Sequence[Input], condition: Condition, timeout: float) -> Screen:
        """The inputs in order, then ``wait_until(condition, timeout)``: what one model operation does.

        Same rules and errors as those calls one by one (every input checks the socket first, a key waits for
        the keyboard, the first failing input stops the rest); a driver on a thread of its own does them in
        one trip to that thread instead of one per call."""
        for step in inputs:
            if isinstance(step, Fill):
                await self.fill_field(step.row, step.col, step.text)
            elif isinstance(step, TypeText):
                await self.type_text(step.text)
            else:
                await self.send_key(step)
        return await self.wait_until(condition, timeout)

    async def wait_ready(self, timeout: float) -> Screen:
        """Wait until the host is ready for input (keyboard unlocked; VT: output has settled)."""
        return await self.wait_until(lambda _screen: True, timeout)

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the connection (idempotent)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()
