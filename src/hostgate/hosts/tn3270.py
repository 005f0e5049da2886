"""3270 hosts through tnz (TN3270/TN3270E, TLS), one thread and one private asyncio loop per session.

What tnz needs, learnt the hard way (shared/reference/field-notes.md):

- It drives a private asyncio loop synchronously: never on a thread that runs a loop. Each session gets a
  thread with ``asyncio.new_event_loop()``, closed when the session ends.
- ``TNZ_LOGGING`` unset makes it write ``./tnz.log``; we default it to empty (a user who sets it keeps it).
- ``terminal_type`` defaults to IBM-DYNAMIC sized from the tty; we pin the model's type and size.
- ``capable_color`` must be True or hosts that ask for colour get a monochrome reply.
- ``scrstr()`` shows text typed into hidden (non-display) fields: snapshots blank them by field attribute.
- AID keys raise "PWAIT Input Inhibit" while the keyboard is locked: we wait for the unlock first.
- Its TLS context checks the host name only when ``SESSION_SSL_VERIFY=hostname`` is set in the environment and
  never reads a private CA file: a 3270 host was accepted with any certificate of a trusted CA, whatever name
  it carried (issue #21). ``_Terminal`` hands tnz the context the 5250 and VT drivers use (``hosts/_tls.py``).
- It notices a closed connection only while its loop runs (``wait()``): every call polls the socket first and
  runs the loop when the host sent something or hung up (``_refresh``), so a snapshot or a local key never
  answers from the screen of a host that is gone.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable

from hostgate.errors import (
    FieldNotWritable,
    HostDisconnected,
    HostTimeout,
    HostUnreachable,
    InvalidValue,
    KeyboardLocked,
)
from hostgate.hosts._keepalive import keep_alive
from hostgate.hosts._liveness import Pollable, probe
from hostgate.hosts._tls import host_context
from hostgate.hosts._worker import DRAIN_TIMEOUT, ThreadedSession
from hostgate.hosts.base import Condition, Field, Screen
from hostgate.models import HostSpec, HostType, Key

os.environ.setdefault("TNZ_LOGGING", "")
from tnz import tnz as _tnz

__all__ = ["Tn3270Session"]


class _Terminal(_tnz.Tnz):  # type: ignore[misc]  # tnz ships no type information
    """tnz's terminal with hostgate's TLS context: verified against the system's CAs or the model's
    ``tls_ca_file``, the certificate naming ``host.address``, TLS 1.2 at least (``hosts/_tls.py``)."""

    def __init__(self, name: str, context: ssl.SSLContext | None) -> None:
        super().__init__(name=name)
        self._hostgate_context = context

    # tnz 0.6.8's Tnz.__create_context, name-mangled; connect() calls it for a secure connection only.
    # tests/hosts/test_tls.py fails (a wrong-name certificate accepted) if a tnz upgrade renames it.
    def _Tnz__create_context(self, verifycert: object = None) -> ssl.SSLContext | None:
        return self._hostgate_context


_AID_METHODS: dict[Key, str] = {Key.ENTER: "enter", Key.CLEAR: "clear", Key.ATTN: "attn"}
_AID_METHODS |= {Key(f"PF{i}"): f"pf{i}" for i in range(1, 25)}
_AID_METHODS |= {Key(f"PA{i}"): f"pa{i}" for i in range(1, 4)}
_LOCAL_METHODS: dict[Key, str] = {
    Key.TAB: "key_tab",
    Key.BACKTAB: "key_backtab",
    Key.HOME: "key_home",
    Key.UP: "key_curup",
    Key.DOWN: "key_curdown",
    Key.LEFT: "key_curleft",
    Key.RIGHT: "key_curright",
    Key.BACKSPACE: "key_backspace",
    Key.DELETE: "key_delete",
    Key.ERASE_EOF: "key_eraseeof",
}


def _hidden(attr: int) -> bool:
    return attr & 0x0C == 0x0C


class Tn3270Session(ThreadedSession):
    """A 3270 session (see :class:`HostSession` for the contract)."""

    kind = "3270"
    host_type = HostType.TN3270
    with_loop = True
    # tnz applies each complete record in data_received, while its loop reads (Tnz._data_received): bytes it
    # has not applied are still in the socket, where the liveness poll sees them.
    settled_cache = True

    def __init__(self, spec: HostSpec, *, keyboard_timeout: float = 5.0) -> None:
        if spec.type is not HostType.TN3270:
            raise ValueError(f"Tn3270Session needs a 3270 host, not {spec.type.value}")
        super().__init__(spec, keyboard_timeout=keyboard_timeout)
        self._tnz: _tnz.Tnz | None = None

    async def snapshot(self) -> Screen:
        return await self._call(self._snapshot)

    def _socket(self) -> Pollable | None:
        term = self._tnz
        transport = term._transport if term is not None else None
        if transport is None:
            return None
        sock: Pollable | None = transport.get_extra_info("socket")
        return sock

    # -- on the session thread -----------------------------------------------------------------------
    def _connect_sync(self) -> Screen:
        spec = self.spec
        term = _Terminal(f"hostgate-{spec.address}-{spec.port}", host_context(spec, self.where))
        term.terminal_type = spec.terminal.type
        term.capable_color = True
        term.amaxrow, term.amaxcol = spec.terminal.rows, spec.terminal.cols
        term.encoding = spec.encoding
        self._tnz = term
        term.connect(spec.address, spec.port, secure=spec.tls, verifycert=spec.tls_verify)
        deadline = time.monotonic() + spec.connect_timeout
        while True:
            if term.seslost:
                if not term.updated:  # refused, reset or TLS failure before any screen
                    raise HostUnreachable(f"cannot connect to {self.where}: {self._lost_reason(term)}")
                # It showed a screen, kept the keyboard locked and hung up: a refusal ("no available
                # device", "logon rejected"); the error quotes the screen.
                raise self._lost_error(self._lost_reason(term))
            if term.updated and not self._locked(term):
                keep_alive(self._socket())  # type: ignore[arg-type]  # TransportSocket passes setsockopt on
                return self._snapshot()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HostUnreachable(f"{self.where} sent no screen within {spec.connect_timeout:g} s")
            term.wait(remaining)

    @staticmethod
    def _lost_reason(term: _tnz.Tnz) -> str:
        """Why tnz says the session was lost ("" for a plain close)."""
        lost = term.seslost
        if isinstance(lost, tuple) and len(lost) > 1 and lost[1] is not None:
            return str(lost[1]) or type(lost[1]).__name__
        return ""

    @staticmethod
    def _locked(term: _tnz.Tnz) -> bool:
        return bool(term.pwait or term.system_lock_wait)

    def _term(self) -> _tnz.Tnz:
        term = self._tnz
        if term is None:
            raise HostDisconnected(f"{self.where}: not connected")
        if term.seslost:
            raise self._lost_error(self._lost_reason(term))
        return term

    def _refresh(self) -> None:
        term = self._tnz
        if term is None:
            raise HostDisconnected(f"{self.where}: not connected")
        if not term.seslost:
            seen = probe(self._socket())
            if seen.gone:
                # Run the loop until tnz has applied what came before the close and seen the close.
                deadline = time.monotonic() + DRAIN_TIMEOUT
                while not term.seslost and (remaining := deadline - time.monotonic()) > 0:
                    term.wait(remaining)
                if not term.seslost:
                    raise self._lost_error()
            elif seen.pending:
                term.wait(0)
        self._term()

    def _screen_lines(self) -> tuple[str, ...] | None:
        term = self._tnz
        return self._render(term).lines if term is not None and term.updated else None

    def _snapshot(self) -> Screen:
        return self._render(self._term())

    def _render(self, term: _tnz.Tnz) -> Screen:
        rows, cols, size = term.maxrow, term.maxcol, term.buffer_size
        chars = list(term.scrstr(0, 0, rstrip=False).replace("\x00", " "))
        fields = list(term.fields())
        built: list[Field] = []
        for i, (faddr, fattr) in enumerate(fields):
            chars[faddr] = " "
            start = (faddr + 1) % size
            following = fields[(i + 1) % len(fields)][0]
            length = (following - faddr - 1) % size if len(fields) > 1 else size - 1
            positions = [(start + k) % size for k in range(length)]
            if _hidden(fattr):
                for pos in positions:
                    chars[pos] = " "
            built.append(
                Field(
                    row=start // cols + 1,
                    col=start % cols + 1,
                    length=length,
                    protected=bool(fattr & 0x20),
                    hidden=_hidden(fattr),
                    numeric=bool(fattr & 0x10),
                    intensified=fattr & 0x0C == 0x08,
                    modified=bool(fattr & 0x01),
                    text="".join(chars[pos] for pos in positions),
                )
            )
        text = "".join(chars)
        lines = tuple(text[r * cols : (r + 1) * cols] for r in range(rows))
        cursor = (term.curadd // cols + 1, term.curadd % cols + 1)
        return Screen(rows, cols, lines, cursor, tuple(built), self._locked(term))

    def _await_unlock(self, term: _tnz.Tnz, what: str) -> None:
        deadline = time.monotonic() + self.keyboard_timeout
        while self._locked(term):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KeyboardLocked(
                    f"{self.where} kept the keyboard locked for {self.keyboard_timeout:g} s ({what})"
                )
            term.wait(remaining)
            term = self._term()

    def _type(self, text: str) -> None:
        term = self._term()
        self._await_unlock(term, "typing")
        self._key_data(term, text)

    def _key_data(self, term: _tnz.Tnz, text: str) -> None:
        try:
            typed = term.key_data(text)
        except _tnz.TnzError as exc:
            raise KeyboardLocked(f"{self.where} refused input: {exc}") from exc
        except UnicodeEncodeError as exc:
            # tnz encodes with the terminal's EBCDIC code page (cp037 by default): a character it lacks is the
            # caller's value, not a fault of the host or of hostgate (a 500 before; issue #19's fuzzing).
            bad = exc.object[exc.start : exc.end]
            raise InvalidValue(
                f"{self.where}: {bad!r} is not in the terminal's code page ({exc.encoding}); nothing was typed"
            ) from None
        if typed != len(text):
            row, col = divmod(term.curadd, term.maxcol)
            raise FieldNotWritable(
                f"{self.where}: only {typed} of {len(text)} characters could be typed (stopped at row {row + 1}, column {col + 1})"
            )

    def _fill(self, row: int, col: int, text: str) -> None:
        term = self._term()
        rows, cols = term.maxrow, term.maxcol
        if not (1 <= row <= rows and 1 <= col <= cols):
            raise FieldNotWritable(f"row {row}, column {col} is outside the {rows}x{cols} screen")
        addr = (row - 1) * cols + col - 1
        faddr, fattr = term.field(addr)
        if faddr == addr or (faddr >= 0 and fattr & 0x20):
            raise FieldNotWritable(f"row {row}, column {col} of {self.where} is not in an input field")
        if faddr >= 0:
            end = next((a for a, _ in term.fields(addr)), faddr)
            room = (end - addr) % term.buffer_size or term.buffer_size
            if len(text) > room:
                raise FieldNotWritable(
                    f"{len(text)} characters do not fit the {room} left in the field at row {row}, column {col}"
                )
        self._await_unlock(term, "filling a field")
        term.curadd = addr
        term.key_eraseeof()
        self._key_data(term, text)

    def _key(self, key: Key) -> None:
        term = self._term()
        local = _LOCAL_METHODS.get(key)
        if local is not None:
            self._await_unlock(term, key.value)
            getattr(term, local)()
            return
        self._await_unlock(term, key.value)
        try:
            getattr(term, _AID_METHODS[key])()
        except _tnz.TnzError as exc:
            raise KeyboardLocked(f"{self.where} refused {key.value}: {exc}") from exc

    def _wait(self, predicate: Callable[[Screen], bool], timeout: float, condition: Condition) -> Screen:
        term = self._term()
        deadline = time.monotonic() + timeout
        while True:
            if not self._locked(term):
                screen = self._snapshot()
                if predicate(screen):
                    return screen
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "the keyboard stayed locked" if self._locked(term) else "the condition never held"
                raise HostTimeout(
                    f"{self.where}: waited {timeout:g} s for {describe_condition(condition)}; {state}"
                )
            term.wait(remaining)
            term = self._term()

    def _shutdown_sync(self) -> None:
        term, self._tnz = self._tnz, None
        if term is not None:
            term.shutdown()


def describe_condition(condition: Condition) -> str:
    if isinstance(condition, str):
        return repr(condition)
    pattern = getattr(condition, "pattern", None)
    if isinstance(pattern, str):
        return f"/{pattern}/"
    return getattr(condition, "__name__", "a condition")
