"""5250 hosts through ibm5250 (TN5250/TN5250E), blocking sockets on one thread per session.

ibm5250 0.1.4 quirks worked around here (shared/reference/field-notes.md):

- The device type is hard-coded to ``IBM-3477-FG`` (27x132). We set the model's terminal type on the
  connection before negotiating (a private attribute, ``_negotiated_ttype``; the version is pinned), so a
  24x80 ``IBM-3179-2`` model gets 24x80 screens.
- ``Terminal.wait_for_text()`` prints the whole screen to stdout, and the other ``wait_for_*`` poll with
  ``time.sleep``. We never call them: :meth:`Tn5250Session.wait_until` waits on the socket with
  ``select`` and applies each record as it arrives.
- ``read_field_by_label()`` does not read protected output fields; hostgate reads by position from the
  screen text instead (the model's attributes), which covers protected text too.
- TLS defaults to no certificate check; we pass the verifying context of ``hosts/_tls.py`` (shared with VT).
- A receive timeout in the middle of a record drops the bytes read so far; waits therefore only read once
  ``select`` reports data, with the model's connect timeout as the per-record socket timeout.
- ``TN5250Connection.connect()`` leaks its socket when the TCP connect fails (a ResourceWarning per refused
  connection) and is IPv4-only: :class:`_Connection` replaces it.
- Negotiation retries up to 40 reads, each with the full socket timeout (40 x the connect timeout against a
  host that accepts and stays silent): a watchdog shuts the socket down at the connect deadline.
- ``connected`` stays True until a receive fails: every call polls the socket first and reads what is
  pending, through to the close when the host hung up (``_refresh``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import ibm5250
from ibm5250 import AID, TN5250Connection

from hostgate.errors import (
    FieldNotWritable,
    HostDisconnected,
    HostProtocolError,
    HostTimeout,
    HostUnreachable,
    KeyboardLocked,
)
from hostgate.hosts._keepalive import keep_alive
from hostgate.hosts._liveness import Pollable, probe
from hostgate.hosts._tls import host_context
from hostgate.hosts._worker import ThreadedSession
from hostgate.hosts.base import Condition, Field, Screen
from hostgate.hosts.tn3270 import describe_condition
from hostgate.models import HostSpec, HostType, Key

__all__ = ["Tn5250Session"]

_AIDS: dict[Key, int] = {
    Key.ENTER: AID.ENTER,
    Key.CLEAR: AID.CLEAR,
    Key.HELP: AID.HELP,
    Key.PRINT: AID.PRINT,
    Key.SYSREQ: AID.SYSREQ,
    Key.PAGE_UP: AID.PAGE_UP,
    Key.PAGE_DOWN: AID.PAGE_DOWN,
}
_AIDS |= {Key(f"PF{i}"): getattr(AID, f"F{i}") for i in range(1, 25)}
_EOR = b"\xff\xef"


class _Connection(TN5250Connection):  # type: ignore[misc]  # ibm5250 ships no type information
    """ibm5250's connection with a connect() that closes its socket on failure and resolves IPv6 too, and
    the model's terminal type instead of the hard-coded IBM-3477-FG."""

    def __init__(self, host: str, port: int, terminal_type: str, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self._negotiated_ttype = terminal_type

    def connect(self) -> None:
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ibm5250.ConnectionError(f"TCP connect failed: {exc}") from exc
        try:
            raw.settimeout(self.timeout)
            keep_alive(raw)
            self._sock = (
                self._tls_context.wrap_socket(raw, server_hostname=self.host) if self.use_tls else raw
            )
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise ibm5250.ConnectionError(f"TLS handshake failed: {exc}") from exc
        self._negotiate()


class Tn5250Session(ThreadedSession):
    """A 5250 session (see :class:`HostSession` for the contract)."""

    kind = "5250"
    host_type = HostType.TN5250

    def __init__(self, spec: HostSpec, *, keyboard_timeout: float = 5.0) -> None:
        if spec.type is not HostType.TN5250:
            raise ValueError(f"Tn5250Session needs a 5250 host, not {spec.type.value}")
        super().__init__(spec, keyboard_timeout=keyboard_timeout)
        self._term: ibm5250.Terminal | None = None

    async def snapshot(self) -> Screen:
        return await self._call(lambda: self._snapshot(self._live()))

    # -- on the session thread -----------------------------------------------------------------------
    def _connect_sync(self) -> Screen:
        spec = self.spec
        context = host_context(spec, self.where)
        term = ibm5250.Terminal(
            spec.address,
            spec.port,
            rows=spec.terminal.rows,
            cols=spec.terminal.cols,
            timeout=spec.connect_timeout,
            use_tls=spec.tls,
            tls_context=context,
        )
        term._conn = _Connection(
            spec.address,
            spec.port,
            spec.terminal.type,
            timeout=spec.connect_timeout,
            use_tls=spec.tls,
            tls_context=context,
        )
        self._term = term
        expired = threading.Event()

        def watchdog() -> None:
            expired.set()
            sock = term._conn._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(spec.connect_timeout, watchdog)
        timer.start()
        try:
            term.connect()
        except ibm5250.IBM5250Error as exc:
            if expired.is_set():
                raise HostUnreachable(
                    f"{self.where} did not complete the connection within {spec.connect_timeout:g} s"
                ) from exc
            raise self._connect_error(exc) from exc
        except (ssl.SSLError, OSError) as exc:
            raise HostUnreachable(f"cannot connect to {self.where}: {exc}") from exc
        finally:
            timer.cancel()
        return self._wait(lambda _s: True, spec.connect_timeout, "the first screen")

    def _connect_error(self, exc: Exception) -> Exception:
        if isinstance(exc, ibm5250.RecvTimeout):
            return HostUnreachable(f"{self.where} sent no screen within {self.spec.connect_timeout:g} s")
        if isinstance(exc, ibm5250.NegotiationError):
            return HostProtocolError(f"{self.where}: telnet negotiation failed: {exc}")
        if isinstance(exc, ibm5250.ConnectionError):
            return HostUnreachable(f"cannot connect to {self.where}: {exc}")
        return HostProtocolError(f"{self.where}: {exc}")

    def _live(self) -> ibm5250.Terminal:
        term = self._term
        if term is None:
            raise HostDisconnected(f"{self.where}: the session is not connected")
        if not term._conn.connected:
            raise self._lost_error()
        return term

    def _socket(self) -> Pollable | None:
        term = self._term
        sock: socket.socket | None = term._conn._sock if term is not None else None
        return sock

    def _refresh(self) -> None:
        term = self._live()
        if probe(self._socket()).quiet:
            return
        # The host sent something or hung up: take what the kernel holds without blocking (a stray telnet
        # NOP must not hold the call for a socket timeout), apply the whole records among it (the last
        # screen comes before the close), then report the close.
        conn = term._conn
        closed = self._read_available(conn)
        while _EOR in conn._recv_buf and conn.connected:
            self._pump(term, 0)
        if closed is not None:
            conn.close()
            raise self._lost_error(closed)

    def _read_available(self, conn: TN5250Connection) -> str | None:
        """Move the bytes waiting in the socket into ibm5250's buffer; None, or why the connection ended."""
        sock = conn._sock
        if sock is None:
            return ""
        sock.settimeout(0.0)
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    return None
                except OSError as exc:
                    return str(exc) or type(exc).__name__
                if not data:
                    return ""
                conn._recv_buf.extend(data)
        finally:
            sock.settimeout(conn.timeout)

    def _screen_lines(self) -> tuple[str, ...] | None:
        term = self._term
        return self._snapshot(term).lines if term is not None else None

    def _pump(self, term: ibm5250.Terminal, timeout: float) -> None:
        """Apply the next record from the host if one arrives within ``timeout`` seconds."""
        conn = term._conn
        if _EOR not in conn._recv_buf:
            sock = conn._sock
            if sock is None:
                raise self._lost_error()
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not pending and not select.select([sock], [], [], max(timeout, 0.0))[0]:
                return
        try:
            term._recv_and_apply()
        except ibm5250.RecvTimeout:
            return
        except ibm5250.ConnectionError as exc:
            conn.close()
            raise self._lost_error(_reason(exc)) from exc
        except ibm5250.IBM5250Error as exc:
            raise HostProtocolError(f"{self.where} sent a data stream ibm5250 cannot read: {exc}") from exc

    def _snapshot(self, term: ibm5250.Terminal) -> Screen:
        scr = term.screen
        rows, cols = scr.rows, scr.cols
        lines = tuple(line.ljust(cols)[:cols] for line in scr.get_all_rows())
        fields = tuple(
            Field(
                row=f.row,
                col=f.col,
                length=f.length,
                protected=f.is_protected,
                hidden=f.is_non_display,
                numeric=f.is_numeric,
                intensified=f.attribute & 0x07 == 0x02,
                modified=f.mdt,
                # get_text blanks non-display positions, so hidden fields stay hidden here too.
                text=scr.get_text(f.row, f.col, f.length) if f.length else "",
            )
            for f in scr.fields
        )
        return Screen(rows, cols, lines, (scr.cursor_row, scr.cursor_col), fields, scr.keyboard_locked)

    def _await_unlock(self, term: ibm5250.Terminal, what: str) -> None:
        deadline = time.monotonic() + self.keyboard_timeout
        while term.screen.keyboard_locked:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KeyboardLocked(
                    f"{self.where} kept the keyboard locked for {self.keyboard_timeout:g} s ({what})"
                )
            self._pump(term, remaining)

    def _fill(self, row: int, col: int, text: str) -> None:
        term = self._live()
        scr = term.screen
        if not (1 <= row <= scr.rows and 1 <= col <= scr.cols):
            raise FieldNotWritable(f"row {row}, column {col} is outside the {scr.rows}x{scr.cols} screen")
        field = scr.find_input_field_at(row, col)
        if field is None:
            raise FieldNotWritable(f"row {row}, column {col} of {self.where} is not in an input field")
        offset = (row - field.row) * scr.cols + col - field.col
        if offset + len(text) > field.writable_length:
            room = field.writable_length - offset
            raise FieldNotWritable(
                f"{len(text)} characters do not fit the {room} left in the field at row {row}, column {col}"
            )
        self._await_unlock(term, "filling a field")
        before = scr.get_field_text(field)[:offset].ljust(offset) if offset else ""
        try:
            term.type_into(field, before + text)
        except ibm5250.IBM5250Error as exc:
            raise FieldNotWritable(f"row {row}, column {col} of {self.where}: {exc}") from exc

    def _type(self, text: str) -> None:
        term = self._live()
        self._fill(term.screen.cursor_row, term.screen.cursor_col, text)

    def _key(self, key: Key) -> None:
        term = self._live()
        scr = term.screen
        inputs = sorted(scr.input_fields, key=lambda f: f.data_pos)
        if key in (Key.TAB, Key.BACKTAB, Key.HOME):
            if inputs:
                here = scr.cursor_pos
                if key is Key.TAB:
                    target = next((f for f in inputs if f.data_pos > here), inputs[0])
                elif key is Key.BACKTAB:
                    target = next((f for f in reversed(inputs) if f.data_pos < here), inputs[-1])
                else:
                    target = inputs[0]
                term.move_cursor(target.row, target.col)
            return
        moves = {Key.UP: (-1, 0), Key.DOWN: (1, 0), Key.LEFT: (0, -1), Key.RIGHT: (0, 1)}
        if key in moves:
            dr, dc = moves[key]
            pos = ((scr.cursor_row - 1 + dr) * scr.cols + scr.cursor_col - 1 + dc) % (scr.rows * scr.cols)
            term.move_cursor(pos // scr.cols + 1, pos % scr.cols + 1)
            return
        self._await_unlock(term, key.value)
        try:
            if key is Key.ATTN:
                term.send_attn(wait=False)
            else:
                term.send_key(_AIDS[key], wait=False)
        except ibm5250.ConnectionError as exc:
            term._conn.close()
            raise self._lost_error(_reason(exc)) from exc

    def _wait(self, predicate: Callable[[Screen], bool], timeout: float, condition: Condition) -> Screen:
        term = self._live()
        deadline = time.monotonic() + timeout
        while True:
            if not term.screen.keyboard_locked:
                screen = self._snapshot(term)
                if predicate(screen):
                    return screen
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = (
                    "the keyboard stayed locked"
                    if term.screen.keyboard_locked
                    else "the condition never held"
                )
                raise HostTimeout(
                    f"{self.where}: waited {timeout:g} s for {describe_condition(condition)}; {state}"
                )
            self._pump(term, remaining)

    def _shutdown_sync(self) -> None:
        term, self._term = self._term, None
        if term is not None:
            term.close()


def _reason(exc: Exception) -> str:
    """ibm5250's words for a lost connection, minus the plain close (which the message already says)."""
    text = str(exc)
    return "" if text == "Server closed the connection" else text
