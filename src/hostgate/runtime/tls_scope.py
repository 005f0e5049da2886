"""uvicorn's HTTP protocols (httptools and h11), plus the ASGI TLS extension, a header-read timeout and a
connection cap.

**Client certificate.** uvicorn (0.54) verifies a client certificate during the handshake
(``ssl_cert_reqs=CERT_OPTIONAL`` with the cluster CA) but does not tell the application which one was presented:
its scope has no ``extensions.tls``. Session-server heartbeats are authenticated by that certificate, so these
protocols fill in the ASGI TLS extension (https://asgi.readthedocs.io/en/latest/specs/tls.html):
``scope["extensions"]["tls"]["client_cert_chain"]`` is ``[PEM]`` of the verified peer certificate, or ``[]``
when none was presented. asyncio (and uvloop) call ``connection_made`` once the TLS handshake has completed, so
the peer certificate is known there; it is the same for every request on the connection.

**Slow headers** (issue #15, finding 8: 300 connections trickling headers were held 25 s and more). uvicorn's
protocols have a keep-alive timer but none for reading a request: a client sending one header byte at a time
holds its connection (and a file descriptor, a TLS object) for ever. Here a timer of ``header_timeout`` seconds
runs from the moment a connection is made, or a keep-alive connection receives the first byte of its next
request, until the parser has the whole request line and headers (a head that arrives whole in one read, as
nearly all do, is never timed: the timer is armed only when the bytes read leave it unfinished); when it fires
the connection gets ``408``
(coded HG-1031, RFC 9110 §15.5.9) and is closed. Bodies are not covered: they are read only after
authentication and are capped (``hostgate._bodies``).

**Connection cap.** Beyond ``max_connections`` open connections a new one is answered ``503`` (coded HG-1030,
``Retry-After``) and closed at once, before any of its bytes are read (uvicorn's own ``limit_concurrency``
answers an uncoded text 503 and counts only requests that complete their headers).

**One write per answer** (issue #16). uvicorn's httptools protocol writes a response's head when the app sends
``http.response.start`` and its body when the app sends ``http.response.body``: two writes to the TLS transport,
so two TLS records, two encryptions and two ``send`` calls for every JSON answer, where a bare 204 costs one.
The cycle's transport is therefore :class:`_OneWritePerStep`, which holds what is written until the event loop
next runs its callbacks (``call_soon``) and then writes it as one: a head and the body the app sends right after
it (no ``await`` that suspends in between: uvicorn's ``send`` does not, unless writing is paused) go out as one
record. Nothing waits longer than the current step of the loop, and a complete answer not even that: uvicorn
reports the response complete from the app's last ``send``, and what is held is written there (issue #18: the
client then reads its answer while the app's epilogue runs here). Past ``_HOLD_MAX`` bytes held, writes go
straight through, so the transport's flow control (``pause_writing``) still sees a large body as it did.

Both raw answers carry the face's identity headers (the connector treats an answer without its cluster's
``X-Hostgate-Cluster-Id`` as another cluster's).

The parsers differ only in how "between requests" and "headers complete" are seen, so the protections live in
one mixin (:class:`_Hardening`) and each protocol supplies :meth:`_head_pending`: httptools (the default,
issue #16: about twice h11's request rate here) from its parser callbacks, h11 from its connection state.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hostgate.errors import HostgateError, RequestHeaderTimeout, ServerBusy

__all__ = ["HttpParser", "TlsScopeH11Protocol", "TlsScopeHttpToolsProtocol", "hardened_protocol"]

HttpParser = Literal["httptools", "h11", "lean"]


# Held at most this much before a write goes straight through (a head and a JSON answer are far smaller).
_HOLD_MAX = 64 * 1024


class _OneWritePerStep:
    """A transport whose writes within one step of the event loop reach the real transport as one write.

    Order is kept: ``close``, ``write_eof`` and every write past ``_HOLD_MAX`` write what is held first;
    ``abort`` drops it, as the real transport drops its buffer. Everything else is the real transport's.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        held = self._held
        if held is None:
            if len(data) > _HOLD_MAX:
                self._transport.write(data)
                return
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        if len(held) + len(data) > _HOLD_MAX:
            self._held = None
            self._transport.write(held)
            self._transport.write(data)
            return
        self._held = held + data

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(lines))

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def is_closing(self) -> bool:  # asked on every data_received: no __getattr__ detour
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + (len(self._held) if self._held else 0)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Hardening:
    if TYPE_CHECKING:  # what the mixin uses of uvicorn's protocols (both define these)
        loop: asyncio.AbstractEventLoop
        transport: asyncio.Transport
        connections: set[Any]
    # Class attributes, set per server by ``hardened_protocol`` (uvicorn builds the protocol from a class).
    header_timeout: ClassVar[float | None] = None
    max_connections: ClassVar[int | None] = None
    identity_headers: ClassVar[tuple[tuple[str, str], ...]] = ()

    _header_timer: asyncio.TimerHandle | None = None
    # The ASGI TLS extension of this connection's requests; None on a plain-TCP connection.
    _tls_extension: dict[str, Any] | None = None

    def _head_pending(self) -> bool:
        """True while no request is in progress on this connection (waiting for, or reading, a request head)."""
        raise NotImplementedError

    def _accept(self, transport: asyncio.Transport) -> bool:
        """After uvicorn's ``connection_made``: refuse beyond the cap, start the header clock, note the peer
        certificate. False when the connection was refused."""
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            self._refuse(
                ServerBusy(f"this server has {self.max_connections} connections open, its limit"),
                503,
                retry_after=1,
            )
            return False
        self._arm_header_timer()
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            self._tls_extension = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else []}
        return True

    def _arm_header_timer(self) -> None:
        if self.header_timeout is not None and self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._head_pending():
            return
        self._refuse(
            RequestHeaderTimeout(
                f"the request line and headers did not arrive within {self.header_timeout:g} s"
            ),
            408,
        )

    def _refuse(self, error: HostgateError, status: int, *, retry_after: int | None = None) -> None:
        """Answer with a coded error outside the parser (no request was parsed, so uvicorn cannot send one)
        and close."""
        body = json.dumps({**error.to_payload(), "request_id": ""}).encode()
        reason = HTTPStatus(status).phrase
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("connection", "close"),
            *self.identity_headers,
        ]
        if retry_after is not None:
            headers.append(("retry-after", str(retry_after)))
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()


class TlsScopeHttpToolsProtocol(_Hardening, HttpToolsProtocol):
    """uvicorn's httptools protocol, hardened (the default)."""

    # "idle" between requests (and before the first), "head" while llhttp reads a request line and headers,
    # "body" from the complete head until llhttp reports the message complete.
    _phase: str = "idle"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Each request's cycle writes through this (uvicorn hands it ``self.transport``): head and body as one.
        self.transport = cast(asyncio.Transport, _OneWritePerStep(transport, self.loop))
        self._accept(transport)

    def _head_pending(self) -> bool:
        # A response still being written (a pipelined head arriving meanwhile) must not be interleaved with a
        # raw 408: only an idle connection is cut off, as h11's IDLE state gives the h11 protocol.
        cycle = self.cycle
        return self._phase != "body" and (cycle is None or cycle.response_complete)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # refused (503) or cut (408): nothing it sends is served
            return
        between = self._phase != "body" and (self.cycle is None or self.cycle.response_complete)
        super().data_received(data)
        # A keep-alive connection's next request started with these bytes: its headers get the same deadline,
        # from now. Armed only when they did not bring the whole head (a request in one read, the usual case,
        # needs no timer: issue #18); a pipelined request's partial head behind a whole one is covered too.
        if between and self._phase == "head" and not self.transport.is_closing():
            self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"
        if self._tls_extension is not None:
            # Set on the scope as it is built, once per request: no wrapper coroutine around the app.
            self.scope["extensions"] = {"tls": self._tls_extension}  # type: ignore[dict-item]

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = "idle"
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # The answer is whole (uvicorn calls this from the app's last ``send``): write it now, not after the
        # app's own epilogue (error boundary, request metrics) and a further turn of the loop. Across two
        # cores the client reads it while this server finishes the request (issue #18).
        cast(_OneWritePerStep, self.transport)._flush()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


class TlsScopeH11Protocol(_Hardening, H11Protocol):
    """uvicorn's h11 protocol, hardened (``[server] http = "h11"``: pure Python, no C extension)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._accept(transport) or self._tls_extension is None:
            return
        tls = self._tls_extension
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            # h11's scope is built inside uvicorn's event handling, with no hook: wrap the app instead.
            if scope.get("type") == "http":
                scope.setdefault("extensions", {})["tls"] = tls
            await inner(scope, receive, send)

        self.app = app

    def _head_pending(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # refused (503) or cut (408): nothing it sends is served
            return
        # A keep-alive connection's next request starts with this byte: its headers get the same deadline.
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # h11 has the request line and every header
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


_PROTOCOLS: dict[str, type[_Hardening]] = {
    "httptools": TlsScopeHttpToolsProtocol,
    "h11": TlsScopeH11Protocol,
}


def hardened_protocol(
    *,
    header_timeout: float,
    max_connections: int,
    identity: Mapping[str, str],
    http: HttpParser = "httptools",
) -> type[asyncio.Protocol]:
    """The protocol class for one uvicorn server (its limits and identity headers as class attributes).
    ``lean``: hostgate's own (runtime/lean_http.py, the session face); the others are uvicorn's, hardened."""
    if http == "lean":
        from hostgate.runtime.lean_http import LeanHttpProtocol  # it builds on this module's _Hardening

        base: type[_Hardening] = LeanHttpProtocol
    else:
        base = _PROTOCOLS[http]
    return type(
        f"Hardened{base.__name__}",
        (base,),
        {
            "header_timeout": header_timeout,
            "max_connections": max_connections,
            "identity_headers": tuple(identity.items()),
        },
    )
