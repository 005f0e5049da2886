"""uvicorn's HTTP protocol, plus the ASGI TLS extension, a header-read timeout and a connection cap.

**Client certificate.** uvicorn (0.54) verifies a client certificate during the handshake
(``ssl_cert_reqs=CERT_OPTIONAL`` with the cluster CA) but does not tell the application which one was presented:
its scope has no ``extensions.tls``. Session-server heartbeats are authenticated by that certificate, so this
protocol fills in the ASGI TLS extension (https://asgi.readthedocs.io/en/latest/specs/tls.html):
``scope["extensions"]["tls"]["client_cert_chain"]`` is ``[PEM]`` of the verified peer certificate, or ``[]``
when none was presented. asyncio calls ``connection_made`` once the TLS handshake has completed, so the peer
certificate is known there; it is the same for every request on the connection.

**Slow headers** (issue #15, finding 8: 300 connections trickling headers were held 25 s and more). uvicorn's h11
protocol has a keep-alive timer but none for reading a request: a client sending one header byte at a time
holds its connection (and a file descriptor, a TLS object) for ever. Here a timer of ``header_timeout`` seconds
runs from the moment a connection is made, or a keep-alive connection receives the first byte of its next
request, until h11 has the whole request line and headers; when it fires the connection gets ``408`` (coded
HG-1031, RFC 9110 §15.5.9) and is closed. Bodies are not covered: they are read only after authentication and
are capped (``hostgate._bodies``).

**Connection cap.** Beyond ``max_connections`` open connections a new one is answered ``503`` (coded HG-1030,
``Retry-After``) and closed at once, before any of its bytes are read (uvicorn's own ``limit_concurrency``
answers an uncoded text 503 and counts only requests that complete their headers).

Both raw answers carry the face's identity headers (the connector treats an answer without its cluster's
``X-Hostgate-Cluster-Id`` as another cluster's). uvicorn picks the h11 protocol here (httptools is not
installed); a server that installs httptools must subclass its protocol the same way.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hostgate.errors import HostgateError, RequestHeaderTimeout, ServerBusy

__all__ = ["TlsScopeH11Protocol", "hardened_protocol"]


class TlsScopeH11Protocol(H11Protocol):
    # Class attributes, set per server by ``hardened_protocol`` (uvicorn builds the protocol from a class).
    header_timeout: ClassVar[float | None] = None
    max_connections: ClassVar[int | None] = None
    identity_headers: ClassVar[tuple[tuple[str, str], ...]] = ()

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            self._refuse(
                ServerBusy(f"this server has {self.max_connections} connections open, its limit"),
                503,
                retry_after=1,
            )
            return
        self._arm_header_timer()
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": chain}
            await inner(scope, receive, send)

        self.app = app

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

    def _arm_header_timer(self) -> None:
        if self.header_timeout is not None and self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self._refuse(
            RequestHeaderTimeout(
                f"the request line and headers did not arrive within {self.header_timeout:g} s"
            ),
            408,
        )

    def _refuse(self, error: HostgateError, status: int, *, retry_after: int | None = None) -> None:
        """Answer with a coded error outside h11 (no request was parsed, so h11 cannot send one) and close."""
        body = json.dumps({**error.to_payload(), "request_id": ""}).encode()
        reason = {408: "Request Timeout", 503: "Service Unavailable"}[status]
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


def hardened_protocol(
    *, header_timeout: float, max_connections: int, identity: Mapping[str, str]
) -> type[TlsScopeH11Protocol]:
    """The protocol class for one uvicorn server (its limits and identity headers as class attributes)."""
    return type(
        "HardenedTlsScopeH11Protocol",
        (TlsScopeH11Protocol,),
        {
            "header_timeout": header_timeout,
            "max_connections": max_connections,
            "identity_headers": tuple(identity.items()),
        },
    )
