"""An httpcore network backend on asyncio's own streams, for the session calls' keep-alive connections.

httpx reaches the network through httpcore's AnyIO backend, whose TLS is anyio's pure-Python ``TLSStream``
with a cancel scope around every read and write: about 30 % of the connector's CPU per session call on the
session bench (py-spy, issue #16), where a call is one small request and answer on a kept connection. asyncio's
streams do the same with the loop's own TLS transport and ``asyncio.timeout``. httpx and httpcore keep doing
everything else (pooling, HTTP/1.1, timeouts per phase, errors): only the byte stream changes.

A handshake that fails or is cancelled (the caller's deadline) aborts its socket at once, as
``_transport._ClosingStream`` does for the dialer's backend.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import typing

import httpcore
import httpx

__all__ = ["asyncio_transport"]


def _readable(sock: typing.Any) -> bool:
    """Bytes (or the end of the stream) wait on ``sock``: a kept connection not to reuse (httpcore's test)."""
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    # Plain try/except, not a context manager per call: this is the per-call path being made cheap.
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        # Not wait_closed(): a TLS close waits for the peer's close_notify, and a stopped peer never sends it.
        self._writer.transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except BaseException as exc:
            self._writer.transport.abort()
            if isinstance(exc, TimeoutError):
                raise httpcore.ConnectTimeout(str(exc)) from exc
            if isinstance(exc, OSError):  # ssl.SSLError included
                raise httpcore.ConnectError(str(exc)) from exc
            raise
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info in ("ssl_object", "socket"):
            return self._writer.get_extra_info(info)
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "is_readable":
            # The transport moves what arrives into the stream's buffer, so look there too.
            if self._reader.at_eof() or self._writer.transport.is_closing():
                return True
            return _readable(self._writer.get_extra_info("socket"))
        return None


class _Backend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _Stream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("session servers are reached over TCP")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def asyncio_transport(ssl_context: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """An httpx transport (TLS with ``ssl_context``) whose connections are asyncio streams."""
    transport = httpx.AsyncHTTPTransport(verify=ssl_context)
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=_Backend())
    return transport
