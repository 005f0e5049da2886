"""HTTP/1.1 for the connector: small requests and answers on kept TLS connections to one server.

A session's calls (its open or acquire included) are one small JSON request and one small JSON answer each, to
one server, on a connection kept alive between them; so are a connector's calls to the management members
(``ClusterClient(wire=True)``). httpx and httpcore (h11 underneath) spent about 1.2 ms of CPU per call on
that in the session bench (py-spy, issue #16; the session server then spent less on its side of the same
call): a request, a response and a stream object per layer, h11's event machine, cookies, per-call header
normalisation. This module does only what such a call needs, as an asyncio protocol under the loop's own TLS
transport (issue #18: on asyncio's streams, with a timeout context per call, the same round trip took 10-50 µs
longer, client and server on one core, where it is the two processes' CPU and nothing else):

- one write per request (request line, headers and body together);
- the answer parsed as its bytes arrive: the head up to its blank line, then exactly ``Content-Length`` bytes
  (or the chunks of a chunked answer, RFC 9112 §7.1, or everything to the end of the connection when the
  answer has neither, §6.3); an answer bigger than ``MAX_ANSWER`` is refused;
- connections kept for the next call unless the server said ``Connection: close``; a kept connection that saw
  bytes or the end of the stream while idle (the server closed it), or whose socket has some waiting, is not
  reused (httpcore's test);
- ``connect`` and ``read`` timeouts as before: one timer on the loop per phase;
- any failure (refused, reset, TLS, timeout, malformed answer, cancelled) closes that connection and raises
  :class:`WireError`; the caller turns it into ``SessionLost``. A request is never sent twice.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import typing
from dataclasses import dataclass

__all__ = ["DEFAULT", "MAX_ANSWER", "Answer", "Wire", "WireError"]

MAX_ANSWER = 64 * 1024 * 1024  # the largest answer body accepted (a procedure's records)
_MAX_HEAD = 64 * 1024
_MAX_LINE = 4096  # a chunk-size line or a trailer line


class _Default:
    """The wire's own timeout (the default of ``Wire.request``'s ``timeout``, where ``None`` means no bound)."""


DEFAULT = _Default()


class WireError(Exception):
    """The call failed on the way (no answer, or not a valid one); ``kind`` names what failed."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content: bytes
    head: bytes = b""  # the status line and header lines, as received

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive; the first one), or None."""
        wanted = name.lower().encode("ascii")
        for line in self.head.split(b"\r\n")[1:]:
            key, sep, value = line.partition(b":")
            if sep and key.strip().lower() == wanted:
                return value.strip().decode("latin-1")
        return None


# What the parser waits for next.
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _TO_END, _DONE = range(8)


class _Connection(asyncio.Protocol):
    """One kept connection: at most one call at a time; its answer is parsed in ``data_received``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.socket: object = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._state = _DONE
        self._status = 0
        self._head = b""
        self._remaining = 0
        self._parts: list[bytes] = []
        self._size = 0
        self.close_after = False
        self.spoilt = False  # bytes, the end of the stream or a loss seen while no call waited
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None]  # done once the transport is gone

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.lost = asyncio.get_running_loop().create_future()
        self.transport = transport  # type: ignore[assignment]
        self.socket = transport.get_extra_info("socket")

    def connection_lost(self, exc: Exception | None) -> None:
        self.spoilt = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self._state == _TO_END and exc is None:
            self._finish()
        else:
            self._fail(type(exc).__name__ if exc is not None else "IncompleteReadError")
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def eof_received(self) -> bool:
        self.spoilt = True
        if self._state == _TO_END:
            self._finish()
        else:
            self._fail("IncompleteReadError")  # the stream ended before the answer did
        return False  # close the transport

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.spoilt = True  # an answer nobody asked for: the connection is out of step
            return
        self._buf += data
        try:
            self._parse()
        except (ValueError, WireError) as exc:
            self._fail(exc.args[0] if isinstance(exc, WireError) else type(exc).__name__)

    # -- a call
    async def drain(self) -> None:
        if self._paused and self.transport is not None and not self.transport.is_closing():
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def expect(self, waiter: asyncio.Future[Answer]) -> None:
        self._waiter = waiter
        self._state = _HEAD
        self._parts = []
        self._size = 0

    def _fail(self, kind: str) -> None:
        self._state = _DONE
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(WireError(kind))

    def _finish(self) -> None:
        self._state = _DONE
        if self._buf and not self.close_after:
            self.spoilt = True  # bytes beyond the answer
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(Answer(self._status, b"".join(self._parts), self._head))

    def _take(self, n: int) -> None:
        self._size += n
        if self._size > MAX_ANSWER:
            raise WireError("answer too large")
        self._parts.append(bytes(self._buf[:n]))
        del self._buf[:n]

    def _take_remaining(self) -> bool:
        """Take what is buffered of the ``_remaining`` bytes owed; True once none are owed."""
        n = min(self._remaining, len(self._buf))
        if n:
            self._take(n)
            self._remaining -= n
        return not self._remaining

    def _line(self) -> bytes | None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > _MAX_LINE:
                raise ValueError("line too long")
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _parse(self) -> None:
        buf = self._buf
        while True:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise WireError("LimitOverrunError")
                    return
                head = bytes(buf[: end + 4])
                status, length, chunked, close = _parse_head(head)
                del buf[: end + 4]
                self._status = status
                self._head = head
                self.close_after = close
                if chunked:
                    self._state = _CHUNK_SIZE
                elif length is not None:
                    if length > MAX_ANSWER:
                        raise WireError("answer too large")
                    self._remaining = length
                    self._state = _BODY
                else:  # no length: the body runs to the end of the connection (RFC 9112 §6.3)
                    self.close_after = True
                    self._state = _TO_END
            elif state == _BODY:
                if self._take_remaining():
                    self._finish()
                return
            elif state == _TO_END:
                if buf:
                    self._take(len(buf))
                return
            elif state == _CHUNK_SIZE:
                line = self._line()
                if line is None:
                    return
                n = int(line.split(b";", 1)[0].strip(), 16)
                if n < 0:
                    raise ValueError("negative chunk size")
                if n == 0:
                    self._state = _TRAILER
                else:
                    self._remaining = n
                    self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                if not self._take_remaining():
                    return
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                del buf[:2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                line = self._line()
                if line is None:
                    return
                if not line:
                    self._finish()
                    return
            else:
                return


class Wire:
    """Calls to one server ``host:port`` over TLS (``ssl_context``, verified for ``host``)."""

    def __init__(
        self, host: str, port: int, ssl_context: ssl.SSLContext, *, connect_timeout: float, timeout: float
    ) -> None:
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._closed = False

    async def _connect(self, loop: asyncio.AbstractEventLoop, connect_timeout: float) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            transport = conn.transport
            if conn.spoilt or transport is None or transport.is_closing() or _readable(conn.socket):
                if transport is not None:
                    transport.close()
                continue
            return conn
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl, server_hostname=self._host
                )
        except TimeoutError as exc:
            raise WireError("ConnectTimeout") from exc
        except (OSError, ssl.SSLError) as exc:
            raise WireError(f"ConnectError: {exc}") from exc  # the cause: a refused port, a certificate
        return conn

    async def request(
        self,
        method: str,
        target: str,
        head: bytes,
        body: bytes,
        *,
        timeout: float | _Default | None = DEFAULT,
        connect_timeout: float | None = None,
    ) -> Answer:
        """``method target`` with the prepared header lines ``head`` (each ending in CRLF) and ``body``.

        ``timeout`` (seconds for the answer; ``None``: no bound, for a wait bounded by the server, as a pool's
        max wait) and ``connect_timeout`` replace the wire's own for this call."""
        if self._closed:
            raise WireError("closed")
        if not target.startswith("/") or any(c in target for c in " \r\n\t"):
            # The target carries ids the server handed out: never let one split the request line.
            raise WireError("invalid request target")
        loop = asyncio.get_running_loop()
        conn = await self._connect(
            loop, self._connect_timeout if connect_timeout is None else connect_timeout
        )
        transport = conn.transport
        assert transport is not None
        waiter: asyncio.Future[Answer] = loop.create_future()
        bound = self._timeout if isinstance(timeout, _Default) else timeout
        timer = loop.call_later(bound, _expire, waiter) if bound is not None else None
        kept = False
        try:
            conn.expect(waiter)
            transport.write(
                b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
                % (method.encode(), target.encode(), head, len(body), body)
            )
            await conn.drain()
            answer = await waiter
            kept = not conn.close_after
            return answer
        finally:
            if timer is not None:
                timer.cancel()
            if kept and not self._closed:
                self._idle.append(conn)
            else:
                transport.close()

    async def aclose(self) -> None:
        """Close every kept connection (idempotent)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            if conn.transport is not None:
                conn.transport.close()
        lost = [conn.lost for conn in idle if conn.transport is not None]
        if lost:
            # Closed means gone: the TLS close is sent and the socket released before this returns (bounded).
            await asyncio.wait(lost, timeout=1.0)


def _readable(sock: typing.Any) -> bool:
    """Bytes (or the end of the stream) wait on ``sock``: a kept connection not to reuse (httpcore's test)."""
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(WireError("ReadTimeout"))


def _parse_head(raw: bytes) -> tuple[int, int | None, bool, bool]:
    """Status, Content-Length, chunked, Connection: close of an answer head (ValueError when malformed)."""
    lines = raw.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ValueError("not an HTTP/1.x answer")
    status = int(rest[:3])
    length: int | None = None
    chunked = False
    close = version == b"HTTP/1.0"
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("malformed header line")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
            if length < 0:
                raise ValueError("negative Content-Length")
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif key == b"connection":
            close = b"close" in value.lower()
    if 100 <= status < 200 or status in (204, 304):
        length = 0
    return status, length, chunked, close
