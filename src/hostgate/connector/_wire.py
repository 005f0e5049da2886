"""HTTP/1.1 for session calls: small requests and answers on kept TLS connections to one session server.

A session's calls after the open are one small JSON request and one small JSON answer each, to one server, on a
connection kept alive between them. httpx and httpcore (h11 underneath) spent about 1.2 ms of CPU per call on
that in the session bench (py-spy, issue #16; the session server then spent less on its side of the same
call): a request, a response and a stream object per layer, h11's event machine, cookies, per-call header
normalisation. This module does only what such a call needs, on asyncio's streams and TLS:

- one write per request (request line, headers and body together);
- the answer's head read up to its blank line, then exactly ``Content-Length`` bytes (or the chunks of a
  chunked answer, RFC 9112 §7.1); an answer bigger than ``MAX_ANSWER`` is refused;
- connections kept for the next call unless the server said ``Connection: close``; a kept connection with
  bytes or the end of the stream waiting (the server closed it while idle) is not reused (httpcore's test);
- ``connect`` and ``read`` timeouts as before (asyncio.timeout around each phase);
- any failure (refused, reset, TLS, timeout, malformed answer, cancelled) closes that connection and raises
  :class:`WireError`; the caller turns it into ``SessionLost``. A request is never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from hostgate.connector._streams import _readable

__all__ = ["MAX_ANSWER", "Answer", "Wire", "WireError"]

MAX_ANSWER = 64 * 1024 * 1024  # the largest answer body accepted (a procedure's records)
_MAX_HEAD = 64 * 1024


class WireError(Exception):
    """The call failed on the way (no answer, or not a valid one); ``kind`` names what failed."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content: bytes


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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
        self._idle: list[_Conn] = []
        self._closed = False

    async def _connect(self) -> _Conn:
        while self._idle:
            reader, writer = self._idle.pop()
            if reader.at_eof() or writer.is_closing() or _readable(writer.get_extra_info("socket")):
                writer.close()
                continue
            return reader, writer
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await asyncio.open_connection(
                    self._host, self._port, ssl=self._ssl, server_hostname=self._host, limit=_MAX_HEAD
                )
        except TimeoutError:
            raise WireError("ConnectTimeout") from None
        except (OSError, ssl.SSLError) as exc:
            raise WireError(f"ConnectError: {exc}") from None

    async def request(self, method: str, target: str, head: bytes, body: bytes) -> Answer:
        """``method target`` with the prepared header lines ``head`` (each ending in CRLF) and ``body``."""
        if self._closed:
            raise WireError("closed")
        if not target.startswith("/") or any(c in target for c in " \r\n\t"):
            # The target carries ids the server handed out: never let one split the request line.
            raise WireError("invalid request target")
        reader, writer = await self._connect()
        kept = False
        try:
            writer.write(
                b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
                % (method.encode(), target.encode(), head, len(body), body)
            )
            async with asyncio.timeout(self._timeout):
                await writer.drain()
                status, length, chunked, close = _parse_head(await reader.readuntil(b"\r\n\r\n"))
                if chunked:
                    content = await _read_chunks(reader)
                elif length is not None:
                    if length > MAX_ANSWER:
                        raise WireError("answer too large")
                    content = await reader.readexactly(length)
                else:  # no length: the body runs to the end of the connection (RFC 9112 §6.3)
                    content = await _read_to_end(reader)
                    close = True
            kept = not close
            return Answer(status, content)
        except TimeoutError:
            raise WireError("ReadTimeout") from None
        except (
            OSError,
            ssl.SSLError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as exc:
            raise WireError(f"{type(exc).__name__}") from None
        finally:
            if kept and not self._closed:
                self._idle.append((reader, writer))
            else:
                writer.close()

    async def aclose(self) -> None:
        """Close every kept connection (idempotent)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


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


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        n = int(line.split(b";", 1)[0].strip(), 16)
        if n == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        size += n
        if size > MAX_ANSWER:
            raise ValueError("answer too large")
        chunks.append(await reader.readexactly(n))
        await reader.readexactly(2)


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        size += len(chunk)
        if size > MAX_ANSWER:
            raise ValueError("answer too large")
        parts.append(chunk)
    return b"".join(parts)
