"""VT hosts (character-mode applications over telnet) through telnetlib3 and a pyte screen, on the caller's
event loop (both are asyncio-friendly, so no thread is needed).

Workarounds (shared/reference/field-notes.md):

- telnetlib3's pty server maps TERM ``vt100`` to ``ansi``; models default to ``vt220``, which survives.
- pyte ignores DEC special graphics (``ESC ( 0``, curses line drawing) while its stream's ``use_utf8`` is
  on. We decode the bytes ourselves (UTF-8 or Latin-1, per the model) and feed text to a stream with
  ``use_utf8`` off, so UTF-8 text and line drawing both work.
- pyte lacks REP (``CSI n b``, repeat the last character, which ncurses emits for runs): the screen here
  implements it.
- Device status and attribute queries (``CSI 6 n``, ``CSI c``) are answered to the host, as a terminal does.
- A VT host has no keyboard lock. "Ready" means: the host has answered the last input (sent output after
  it, or ``reply_grace`` seconds passed without any) and its output has been quiet for ``settle`` seconds.
  Without the first half, a wait for "the sign-on screen or the menu" right after Enter would see the old
  sign-on screen before the host had even read the key.
- A VT host decides where typing goes, so ``fill_field`` needs the cursor to be where the field starts.
- The reader task sees the host's close only when the event loop gets to it; every call also polls the
  socket (:mod:`hostgate.hosts._liveness`) and, when the host hung up, lets the reader finish applying what
  came before the close, so no call answers from the screen of a host that is gone.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ssl
import time
from typing import Any

import pyte
import telnetlib3

from hostgate.errors import FieldNotWritable, HostDisconnected, HostTimeout, HostUnreachable, KeyNotSupported
from hostgate.hosts._keepalive import keep_alive
from hostgate.hosts._liveness import Pollable, probe
from hostgate.hosts._tls import host_context
from hostgate.hosts._worker import DRAIN_TIMEOUT, closed_text
from hostgate.hosts.base import Condition, HostSession, Screen, as_predicate
from hostgate.hosts.tn3270 import describe_condition
from hostgate.models import HOST_KEYS, HostSpec, HostType, Key

__all__ = ["VtSession"]

_KEYS: dict[Key, str] = {
    Key.ENTER: "\r",
    Key.TAB: "\t",
    Key.BACKTAB: "\x1b[Z",
    Key.HOME: "\x1b[1~",
    Key.END: "\x1b[4~",
    Key.PAGE_UP: "\x1b[5~",
    Key.PAGE_DOWN: "\x1b[6~",
    Key.BACKSPACE: "\x7f",
    Key.DELETE: "\x1b[3~",
    Key.ESCAPE: "\x1b",
    Key.PF1: "\x1bOP",
    Key.PF2: "\x1bOQ",
    Key.PF3: "\x1bOR",
    Key.PF4: "\x1bOS",
    Key.PF5: "\x1b[15~",
    Key.PF6: "\x1b[17~",
    Key.PF7: "\x1b[18~",
    Key.PF8: "\x1b[19~",
    Key.PF9: "\x1b[20~",
    Key.PF10: "\x1b[21~",
    Key.PF11: "\x1b[23~",
    Key.PF12: "\x1b[24~",
}
_ARROWS = {Key.UP: "A", Key.DOWN: "B", Key.RIGHT: "C", Key.LEFT: "D"}
# pyte keeps private (DEC) modes shifted left by 5 and has no name for DECCKM (private mode 1).
_DECCKM = 1 << 5


class _VtScreen(pyte.Screen):
    """A pyte screen that implements REP and sends terminal replies back to the host."""

    def __init__(self, columns: int, lines: int, reply: Any) -> None:
        super().__init__(columns, lines)
        self._reply = reply
        self._last = " "

    def draw(self, data: str) -> None:
        super().draw(data)
        if data:
            self._last = data[-1]

    def repeat_last_character(self, count: int = 1, *args: Any, **kwargs: Any) -> None:
        self.draw(self._last * max(count, 1))

    def write_process_input(self, data: str) -> None:
        self._reply(data)


class _VtStream(pyte.Stream):
    def __init__(self, screen: _VtScreen) -> None:
        self.csi = {**pyte.Stream.csi, "b": "repeat_last_character"}  # before attach() builds the dispatch
        super().__init__(screen)


class VtSession(HostSession):
    """A VT session (see :class:`HostSession` for the contract). ``settle``: seconds of quiet output after
    which the screen counts as ready; ``reply_grace``: how long input may go unanswered before the screen
    counts as ready anyway."""

    def __init__(
        self, spec: HostSpec, *, keyboard_timeout: float = 5.0, settle: float = 0.1, reply_grace: float = 1.0
    ) -> None:
        if spec.type is not HostType.VT:
            raise ValueError(f"VtSession needs a VT host, not {spec.type.value}")
        super().__init__(spec, keyboard_timeout=keyboard_timeout)
        self.settle = settle
        self.reply_grace = reply_grace
        self._sent_at = 0.0
        self._writer: Any = None
        self._reader_task: asyncio.Task[None] | None = None
        self._screen = _VtScreen(spec.terminal.cols, spec.terminal.rows, self._reply)
        self._stream = _VtStream(self._screen)
        self._stream.use_utf8 = False
        self._decoder = codecs.getincrementaldecoder("utf-8" if spec.encoding == "utf8" else "latin-1")(
            "replace"
        )
        self._changed = asyncio.Event()
        self._last_data = 0.0
        self._received = False
        self._used = False
        self._up = False
        self._lost: str | None = None  # why the connection ended ("" for a plain close by the host)
        self._seen: tuple[str, ...] | None = None  # the lines of the last screen handed to the caller
        self._closed: str | None = None  # how the host closed the connection, once noticed

    @property
    def where(self) -> str:
        return f"VT host {self.spec.address}:{self.spec.port}"

    @property
    def connected(self) -> bool:
        if self._writer is None or self._lost is not None or not self._up:
            return False
        if probe(self._socket()).gone:
            self._lost = ""  # sticky; the reader will apply what came before the close
            return False
        return True

    def _socket(self) -> Pollable | None:
        writer = self._writer
        transport = writer.transport if writer is not None else None
        if transport is None or transport.is_closing():
            return None
        sock: Pollable | None = transport.get_extra_info("socket")
        return sock

    async def connect(self) -> Screen:
        if self._used:
            raise HostUnreachable(f"{self.where}: a session connects once; open a new one")
        self._used = True
        spec = self.spec
        context = host_context(spec, self.where)
        try:
            reader, writer = await asyncio.wait_for(
                telnetlib3.open_connection(
                    spec.address,
                    spec.port,
                    client_factory=telnetlib3.TelnetClient,
                    encoding=False,
                    term=spec.terminal.type,
                    cols=spec.terminal.cols,
                    rows=spec.terminal.rows,
                    connect_minwait=0.0,
                    connect_maxwait=min(1.0, spec.connect_timeout),
                    ssl=context,
                ),
                spec.connect_timeout,
            )
        except TimeoutError as exc:
            raise HostUnreachable(f"{self.where} did not answer within {spec.connect_timeout:g} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise HostUnreachable(f"cannot connect to {self.where}: {exc}") from exc
        self._writer = writer
        keep_alive(self._socket())  # type: ignore[arg-type]  # a TransportSocket: setsockopt passes through
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        try:
            screen = await self._wait(lambda s: self._received, spec.connect_timeout, "the first screen")
        except HostTimeout as exc:
            await self.disconnect()
            raise HostUnreachable(f"{self.where} sent no screen within {spec.connect_timeout:g} s") from exc
        except HostDisconnected as exc:
            # It wrote something ("no sessions available") and hung up: a refusal, quoted.
            await self.disconnect()
            raise HostUnreachable(f"cannot connect to {self.where}: {self._closed or exc.message}") from exc
        except BaseException:
            await self.disconnect()
            raise
        # Not marked seen: if the host hangs up right after its first screen (it printed "no sessions
        # available"), that screen is the reason and belongs in the error.
        self._seen = None
        self._up = True
        return screen

    async def _read(self, reader: Any) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    self._lost = ""
                    break
                self._stream.feed(self._decoder.decode(bytes(data)))
                self._received = True
                self._last_data = time.monotonic()
                self._changed.set()
        except (OSError, EOFError) as exc:
            self._lost = str(exc) or type(exc).__name__
        finally:
            self._changed.set()

    def _reply(self, text: str) -> None:
        """A terminal's own answer (cursor position report, ...): not input the host must answer."""
        if self._writer is not None and self._lost is None:
            self._writer.write(text.encode("utf-8" if self.spec.encoding == "utf8" else "latin-1", "replace"))

    def _send_text(self, text: str) -> None:
        self._sent_at = time.monotonic()
        self._reply(text)

    async def _check(self) -> None:
        if self._writer is None:
            raise HostDisconnected(f"{self.where}: the session is not connected")
        if self._lost is None and probe(self._socket()).gone:
            self._lost = ""
        if self._lost is not None:
            task = self._reader_task
            if task is not None and not task.done():
                # The host hung up: let the reader apply what it sent before the close (its last words).
                await asyncio.wait({task}, timeout=DRAIN_TIMEOUT)
            if self._closed is None:
                self._closed = closed_text(self._lost, self._snapshot().lines, self._seen)
            raise HostDisconnected(f"{self.where}: {self._closed}")

    def _snapshot(self) -> Screen:
        screen = self._screen
        lines = tuple(line.ljust(screen.columns)[: screen.columns] for line in screen.display)
        cursor = (screen.cursor.y + 1, screen.cursor.x + 1)
        return Screen(screen.lines, screen.columns, lines, cursor)

    async def snapshot(self) -> Screen:
        await self._check()
        screen = self._snapshot()
        self._seen = screen.lines
        return screen

    async def type_text(self, text: str) -> None:
        await self._check()
        self._send_text(text)
        await self._writer.drain()

    async def fill_field(self, row: int, col: int, text: str) -> None:
        await self._check()
        screen = self._screen
        if not (1 <= row <= screen.lines and 1 <= col <= screen.columns):
            raise FieldNotWritable(
                f"row {row}, column {col} is outside the {screen.lines}x{screen.columns} screen"
            )
        try:
            # The host moves the cursor (after a Tab, say) in its own time: give it keyboard_timeout.
            await self._wait(lambda s: s.cursor == (row, col), self.keyboard_timeout, "the cursor")
        except HostTimeout as exc:
            cursor = (screen.cursor.y + 1, screen.cursor.x + 1)
            raise FieldNotWritable(
                f"{self.where}: typing goes where the host puts the cursor ({cursor[0]}, {cursor[1]}), "
                f"not at row {row}, column {col}; move it with keys (Tab) first"
            ) from exc
        await self.type_text(text)

    async def send_key(self, key: Key) -> None:
        if key not in HOST_KEYS[HostType.VT]:
            raise KeyNotSupported(f"key {key.value} does not exist on a VT terminal")
        await self._check()
        if key in _ARROWS:
            # In application cursor mode (DECCKM, set by curses) arrows are sent as SS3 sequences.
            prefix = "\x1bO" if _DECCKM in self._screen.mode else "\x1b["
            sequence = prefix + _ARROWS[key]
        else:
            sequence = _KEYS[key]
        self._send_text(sequence)
        await self._writer.drain()

    async def wait_until(self, condition: Condition, timeout: float) -> Screen:
        return await self._wait(as_predicate(condition), timeout, condition)

    async def _wait(self, predicate: Any, timeout: float, condition: Condition) -> Screen:
        deadline = time.monotonic() + timeout
        while True:
            await self._check()
            now = time.monotonic()
            quiet = now - self._last_data
            answered = self._last_data > self._sent_at or now - self._sent_at >= self.reply_grace
            if not answered:
                quiet = min(quiet, now - self._sent_at - self.reply_grace)
            if self._received and answered and quiet >= self.settle:
                screen = self._snapshot()
                if predicate(screen):
                    self._seen = screen.lines
                    return screen
                pause = deadline - now
            else:
                pause = min(self.settle - quiet, deadline - now)
            if deadline - now <= 0:
                raise HostTimeout(f"{self.where}: waited {timeout:g} s for {describe_condition(condition)}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(pause, 0.001))

    async def disconnect(self) -> None:
        writer, self._writer = self._writer, None
        task, self._reader_task = self._reader_task, None
        if self._lost is None:
            self._lost = "the session was closed"
        if writer is not None:
            writer.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
