"""An httpx transport whose TLS handshakes close their socket when cancelled.

The staggered dialer cancels the attempts that lost the race; one of them is often stuck in the TLS handshake
with a member that accepts TCP and never answers (SIGSTOP). httpcore's AnyIO stream closes its socket when
``start_tls`` fails with an ``Exception`` but not when it is cancelled (httpcore 1.0.9,
``_backends/anyio.py``), which leaves the socket to the garbage collector and a ``ResourceWarning``. This
backend wraps the stream so a cancelled handshake closes it at once.
"""

from __future__ import annotations

import contextlib
import ssl
import typing

import httpcore
import httpx

__all__ = ["closing_transport"]


class _ClosingStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            with contextlib.suppress(BaseException):  # cleanup only; the original error is what matters
                await self._inner.aclose()
            raise

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _ClosingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClosingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def closing_transport(ssl_context: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=ssl_context)
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=_ClosingBackend())
    return transport
