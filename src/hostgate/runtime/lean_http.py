"""The session server's HTTP/1.1: an ASGI protocol of its own on llhttp (httptools), under uvicorn's server.

Issue #18 (bench/pools.py): a pooled acquire is one small request and one small JSON answer on a kept TLS
connection, and the round trip was the goal's whole budget. Against the same app on the same loop and TLS,
uvicorn's httptools protocol took about 120 µs more per round trip than a protocol that only parses the request,
runs the app in a task and writes the answer (measured across two cores: 320 against 200 µs): a request-response
cycle object, an ``asyncio.Event`` and a flow-control object per request, a keep-alive timer re-armed on every
answer, validation and lower-casing of every header twice, and a write held for a further turn of the loop. This
protocol keeps what a server owes its clients and does the rest once:

- **Parsing** is llhttp's (httptools, the parser uvicorn uses): request line, headers, ``Content-Length`` and
  chunked bodies, and every refusal of a malformed request (answered ``400``, coded HG-1032, and closed); a
  request line and headers beyond 64 KiB are refused the same way (llhttp sets no bound of its own).
- **ASGI 3** (HTTP scope 2.3): the scope uvicorn builds (``server``, ``client``, ``scheme``, ``root_path``,
  ``state``, the raw and decoded path, the TLS extension of :mod:`hostgate.runtime.tls_scope`); ``receive``
  gives the body as it arrives (``Expect: 100-continue`` is answered when the app first asks for it; an app
  that answers first, refusing the request unread, closes the connection after its answer) and
  ``http.disconnect`` once the answer is complete or the client is gone; ``send`` takes the start and body
  messages.
- **Answers:** the head (``Date`` and ``Server`` as uvicorn sends them, then the app's headers, each checked
  for characters that would split it) is written with the first body message, so an answer in one message is
  one write, at once. Without ``Content-Length`` the body is chunked (HTTP/1.1) or runs to the close (1.0);
  ``HEAD``, 1xx, 204 and 304 answers carry no body; a body longer or shorter than its ``Content-Length`` is the
  app's error, and the connection is closed rather than left out of step.
- **Connections:** keep-alive (HTTP/1.1 unless ``Connection: close``; 1.0 never), closed after
  ``timeout_keep_alive`` idle seconds; pipelined requests are parsed and answered one after the other, reading
  paused while one waits; request bodies beyond 64 KiB buffered pause reading until the app takes them;
  writing waits while the transport's buffer is full (``pause_writing``).
- **Hardening** is :class:`hostgate.runtime.tls_scope._Hardening`, as for uvicorn's protocols: the connection
  cap (503, HG-1030), the header timeout (408, HG-1031), the face's identity headers on those raw answers.
- **Failures:** an app that raises before it answers gets ``500`` (HG-1000, logged once with the traceback);
  one that raises or returns mid-answer has its connection closed. (The faces' own error boundary answers every
  exception first: this is the last line.)
- **Shutdown:** uvicorn's server drives it as it drives its own protocols (``connections``, ``tasks``,
  ``shutdown()``): an idle connection is closed at once, a busy one after its answer.

What it does not do, and refuses: protocol upgrades (a request asking for one is served as a plain request and
its connection closed after the answer, as uvicorn does without a WebSocket library); HTTP/2 is not spoken.
``[session] http = "uvicorn"`` serves the session face with uvicorn's protocol instead (``[server] http``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections import deque
from http import HTTPStatus
from typing import Any

import httptools

from hostgate.errors import InternalError, MalformedRequest
from hostgate.runtime.tls_scope import _Hardening

__all__ = ["LeanHttpProtocol"]

log = logging.getLogger("hostgate.http")

_HIGH_WATER = 64 * 1024  # request body bytes buffered before reading pauses
_MAX_HEAD = 64 * 1024  # request line and headers, bytes: beyond it the request is refused (HG-1032)
# RFC 9110 §5.1 token characters only in a header name; no control characters (CR, LF, NUL) in a value.
_BAD_NAME = re.compile(rb'[\x00-\x1f\x7f()<>@,;:\[\]={} \t\\"]')
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode("ascii")) for s in HTTPStatus}
_NO_BODY = frozenset({204, 304})


def _status_line(status: int) -> bytes:
    line = _STATUS.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


class _Exchange:
    """One request and its answer."""

    __slots__ = (
        "body",
        "chunked",
        "complete",
        "conn",
        "delivered",
        "disconnected",
        "expect_100",
        "head",
        "head_only",
        "keep_alive",
        "more_body",
        "remaining",
        "scope",
        "started",
        "waiter",
    )

    def __init__(
        self, conn: LeanHttpProtocol, scope: dict[str, Any], keep_alive: bool, expect_100: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_100 = expect_100
        self.body = bytearray()
        self.more_body = True
        self.delivered = False  # the last of the body was given to the app
        self.waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.started = False
        self.complete = False
        self.head: bytes | None = None  # the answer's head, written with its first body message
        self.head_only = scope["method"] == "HEAD"  # and, once the answer starts, a status without a body
        self.chunked = False
        self.remaining: int | None = None  # Content-Length still owed; None: not given

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self) -> dict[str, Any]:
        conn = self.conn
        if self.expect_100 and not self.started and not conn.transport.is_closing():
            self.expect_100 = False
            conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        # After the whole body was given, a receive waits for the end (Starlette's streaming answers listen for
        # the client's disconnect this way): only the answer's completion or the client's going ends it.
        while (
            not self.disconnected
            and not self.complete
            and (self.delivered or (not self.body and self.more_body))
        ):
            conn.resume_reading()
            self.waiter = conn.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        body, self.body = bytes(self.body), bytearray()
        if self.more_body:
            conn.resume_reading()
        else:
            self.delivered = True
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            self._start(int(message["status"]), message.get("headers", ()))
            self.started = True  # after the head is built: a refused header still gets the coded 500
            return
        if kind != "http.response.body":
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        if self.complete:
            raise RuntimeError("the answer is already complete")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self.head_only:
            body = b""
        elif self.chunked:
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
        elif self.remaining is not None:
            self.remaining -= len(body)
            if self.remaining < 0 or (not more and self.remaining):
                # The connection would be out of step with what the head promised: end it.
                conn.transport.close()
                raise RuntimeError("the answer's body does not match its Content-Length")
        head, self.head = self.head, None
        data = head + body if head is not None else body
        if data:
            conn.transport.write(data)
        if not more:
            conn.answered(self)

    def _start(self, status: int, headers: Any) -> None:
        conn = self.conn
        parts = [_status_line(status)]
        for name, value in conn.server_state.default_headers:
            parts += (name, b": ", value, b"\r\n")
        length: int | None = None
        chunked = False
        close = False
        for name, value in headers:
            if _BAD_NAME.search(name) or _BAD_VALUE.search(value):
                raise RuntimeError("an answer header has a character HTTP does not allow there")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            elif name == b"connection" and b"close" in value.lower():
                close = True
            parts += (name, b": ", value, b"\r\n")
        if close or (self.expect_100 and self.more_body):
            # Answered without "100 Continue" and before its body: the client may send the body or may not,
            # so what follows on this connection is ambiguous. It is closed after the answer (RFC 9110 §10.1.1).
            self.keep_alive = False
        bodyless = self.head_only or status in _NO_BODY or status < 200
        if not bodyless and length is None and not chunked:
            if self.scope["http_version"] == "1.1":
                chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False  # the body runs to the close (RFC 9112 §6.3)
        if not self.keep_alive and not close:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        self.head = b"".join(parts)
        self.head_only = bodyless  # HEAD, 1xx, 204, 304: whatever body the app sends is not written
        self.chunked = chunked and not bodyless
        self.remaining = None if bodyless or chunked else length


class LeanHttpProtocol(_Hardening, asyncio.Protocol):
    """One connection. Built by uvicorn's server as its own protocols are (``config.http`` set to the class
    :func:`hostgate.runtime.tls_scope.hardened_protocol` makes)."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.loop = _loop or asyncio.get_event_loop()
        self.app = config.loaded_app
        self.root_path: str = config.root_path
        self.timeout_keep_alive: float = config.timeout_keep_alive
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.app_state = app_state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._read_paused = False
        self._keep_alive_timer: asyncio.TimerHandle | None = None
        self._phase = "idle"  # "head" while a request line and headers arrive, "body" until the request ends
        self._url = b""
        self._head_size = 0  # bytes of the request line and headers so far (llhttp itself sets no bound)
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_100 = False
        self._current: _Exchange | None = None  # the request being answered
        self._parsing: _Exchange | None = None  # the request whose body is arriving (the last one begun)
        self._waiting: deque[_Exchange] = deque()  # pipelined requests behind the current one
        self._closing_after = False  # an upgrade asked for, or the server shuts down: close after the answer

    # -- asyncio.Protocol ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        self.server = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else None
        self.client = (str(peername[0]), int(peername[1])) if isinstance(peername, tuple) else None
        self.scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
        self._accept(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._disarm_header_timer()
        self._cancel_keep_alive()
        for exchange in (self._current, self._parsing, *self._waiting):
            if exchange is not None and not exchange.complete:
                exchange.disconnected = True
                exchange.wake()
        self._waiting.clear()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self.write_paused = False

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; what was asked is still answered until then

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport.is_closing():  # refused (503), cut (408) or answered 400: nothing more is served
            return
        self._cancel_keep_alive()
        between = self._phase != "body" and self._current is None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Served as a plain request (no protocol is switched to); nothing after it on this connection.
            self._closing_after = True
            self.pause_reading()
            if self._current is None:
                transport.close()
            return
        except httptools.HttpParserError as exc:
            self._malformed(exc)
            return
        # The header timer (tls_scope): armed only when these bytes left a request head unfinished.
        if between and self._phase == "head" and not transport.is_closing():
            self._arm_header_timer()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- llhttp callbacks ----------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._phase = "head"
        self._url = b""
        self._head_size = 0
        self._headers = []
        self._expect_100 = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > _MAX_HEAD:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > _MAX_HEAD:
            raise _HeadTooLarge
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_100 = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._disarm_header_timer()
        parser = self.parser
        version = parser.get_http_version()
        url = httptools.parse_url(self._url)
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": self.root_path,
            "path": self.root_path + path,
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
            "state": self.app_state.copy(),
        }
        if self._tls_extension is not None:
            scope["extensions"] = {"tls": self._tls_extension}
        keep_alive = version == "1.1" and parser.should_keep_alive() and not self._closing_after
        exchange = _Exchange(self, scope, keep_alive, self._expect_100)
        self._parsing = exchange
        if self._current is None:
            self._begin(exchange)
        else:
            self._waiting.append(exchange)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        exchange = self._parsing
        if exchange is None or exchange.complete:
            return  # answered already (refused before its body was read): the rest is read and dropped
        exchange.body += body
        if len(exchange.body) > _HIGH_WATER:
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        self._phase = "idle"
        exchange = self._parsing
        if exchange is not None:
            exchange.more_body = False
            exchange.wake()

    # -- the exchange --------------------------------------------------------------------------------------
    def _begin(self, exchange: _Exchange) -> None:
        self._current = exchange
        task = self.loop.create_task(self._run(exchange))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, exchange: _Exchange) -> None:
        try:
            await self.app(exchange.scope, exchange.receive, exchange.send)
        except Exception:
            request_id = exchange.scope.get("state", {}).get("request_id", "")
            log.exception(
                "%s %s failed outside the face's error boundary (request %s)",
                exchange.scope["method"],
                exchange.scope["path"][:200],
                request_id or "-",
            )
            if not exchange.started and not exchange.disconnected:
                self._refuse(
                    InternalError(f"the server failed on this request (request {request_id or '-'})"), 500
                )
            else:
                self.transport.close()
        else:
            if not exchange.complete and not exchange.disconnected:
                log.error(
                    "%s %s: the app returned before its answer was complete",
                    exchange.scope["method"],
                    exchange.scope["path"][:200],
                )
                if not exchange.started:
                    self._refuse(InternalError("the server gave no answer to this request"), 500)
                else:
                    self.transport.close()
        finally:
            if self._current is exchange and not exchange.complete:
                self._current = None

    def answered(self, exchange: _Exchange) -> None:
        """The answer's last byte is written: the next request, the keep-alive clock, or the close."""
        exchange.complete = True
        exchange.body = bytearray()  # what the app did not read is not kept (the rest is read and dropped)
        exchange.wake()
        self.server_state.total_requests += 1
        self._current = None
        transport = self.transport
        if transport.is_closing():
            return
        if not exchange.keep_alive or self._closing_after:
            transport.close()
            return
        if self._waiting:
            self._begin(self._waiting.popleft())
            if not self._waiting:
                self.resume_reading()
            return
        self.resume_reading()
        if self._phase == "head":
            self._arm_header_timer()  # a pipelined head still arriving gets its deadline now
        elif self._phase == "idle":
            self._keep_alive_timer = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_expired)

    def _head_pending(self) -> bool:
        # Only an idle connection is cut off by the header timer (never one whose answer is being written).
        return self._phase != "body" and self._current is None

    def _malformed(self, exc: Exception) -> None:
        self.pause_reading()
        if self._current is None:
            self._refuse(MalformedRequest(f"the request is not valid HTTP/1.1 ({_describe(exc)})"), 400)
        else:
            self._closing_after = True  # the answer being written is finished first, then the connection ends

    def _keep_alive_expired(self) -> None:
        self._keep_alive_timer = None
        if self._current is None and self._phase == "idle" and not self.transport.is_closing():
            self.transport.close()

    def _cancel_keep_alive(self) -> None:
        if self._keep_alive_timer is not None:
            self._keep_alive_timer.cancel()
            self._keep_alive_timer = None

    # -- flow ----------------------------------------------------------------------------------------------
    def pause_reading(self) -> None:
        if not self._read_paused and not self.transport.is_closing():
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if (
            self._read_paused
            and not self._waiting
            and not self._closing_after
            and not self.transport.is_closing()
        ):
            parsing = self._parsing
            if parsing is not None and len(parsing.body) > _HIGH_WATER:
                return
            self._read_paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        if self.write_paused and not self.transport.is_closing():
            if self._drained is None or self._drained.done():
                self._drained = self.loop.create_future()
            await self._drained

    # -- uvicorn's server ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The server stops: an idle connection is closed now, a busy one after its answer."""
        if self._current is None:
            self.transport.close()
        else:
            self._closing_after = True


class _HeadTooLarge(Exception):
    """Raised in a parser callback: llhttp stops, and the request is refused whole."""


def _describe(exc: Exception) -> str:
    """llhttp's reason ("Invalid method encountered"); a scope that cannot be built (a path not in ASCII, a URL
    llhttp's URL parser refuses) says so without the internals of the callback that failed."""
    if isinstance(exc, httptools.HttpParserCallbackError):
        if isinstance(exc.__context__, _HeadTooLarge):
            return f"its request line and headers are larger than {_MAX_HEAD // 1024} KiB"
        return "its request line or headers cannot be read"
    return (str(exc) or type(exc).__name__)[:120]
