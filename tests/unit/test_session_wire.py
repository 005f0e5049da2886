"""The session calls' HTTP/1.1 (connector/_wire.py) against a real TLS server on loopback: a kept connection
is reused, one the server closed is not (a new one is opened, the call succeeds), ``Connection: close`` and
chunked answers are read right, a silent server is a read timeout, a server that hangs up mid-answer is a
WireError (never a half answer), and the server's certificate is checked."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.connector._wire import Wire, WireError
from tests.helpers.tls import loopback_tls

HEAD = b"Host: x\r\nContent-Type: application/json\r\n"


@dataclass
class Server:
    port: int = 0
    ca_file: Path = Path()
    connections: int = 0
    mode: str = "length"  # length | chunked | close-header | idle-close | silent | cut
    requests: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


async def _serve(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    server.connections += 1
    server.writers.append(writer)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            server.requests.append(head + await reader.readexactly(length))
            if server.mode == "silent":
                continue
            body = b'{"n": %d}' % server.connections
            if server.mode == "chunked":
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                writer.write(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (3, body[:3], len(body) - 3, body[3:]))
            elif server.mode == "cut":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + body)
                await writer.drain()
                writer.close()
                return
            else:
                close = b"connection: close\r\n" if server.mode == "close-header" else b""
                writer.write(b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (close, len(body), body))
            await writer.drain()
            if server.mode in ("close-header", "idle-close"):
                writer.close()
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    tls = loopback_tls(tmp_path)
    state = Server(ca_file=tls.ca_file)
    listener = await asyncio.start_server(
        lambda r, w: _serve(state, r, w), "127.0.0.1", 0, ssl=tls.server_context
    )
    state.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield state
        for writer in state.writers:
            writer.transport.abort()


def _wire(server: Server, ca_file: Path | None = None, timeout: float = 5.0) -> Wire:
    tls = ssl.create_default_context(cafile=str(ca_file or server.ca_file))
    return Wire("127.0.0.1", server.port, tls, connect_timeout=5.0, timeout=timeout)


async def test_a_kept_connection_is_reused_and_the_request_is_whole(server: Server) -> None:
    wire = _wire(server)
    try:
        answers = [await wire.request("POST", "/a?b=c", HEAD, b'{"k": 1}') for _ in range(3)]
    finally:
        await wire.aclose()
    assert [(a.status, a.content) for a in answers] == [(200, b'{"n": 1}')] * 3
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /a?b=c HTTP/1.1\r\nHost: x\r\n")
    assert server.requests[0].endswith(b'Content-Length: 8\r\n\r\n{"k": 1}')


@pytest.mark.parametrize("mode", ["close-header", "idle-close"])
async def test_a_connection_the_server_closed_is_not_reused(server: Server, mode: str) -> None:
    server.mode = mode
    wire = _wire(server)
    try:
        assert (await wire.request("GET", "/x", HEAD, b"")).content == b'{"n": 1}'
        deadline = asyncio.get_running_loop().time() + 10
        while not server.writers[0].transport.is_closing():  # the server has closed its side
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)  # poll interval
        assert (await wire.request("GET", "/x", HEAD, b"")).content == b'{"n": 2}'
    finally:
        await wire.aclose()
    assert server.connections == 2


async def test_a_chunked_answer_is_read_whole(server: Server) -> None:
    server.mode = "chunked"
    wire = _wire(server)
    try:
        assert (await wire.request("GET", "/x", HEAD, b"")).content == b'{"n": 1}'
        assert (await wire.request("GET", "/x", HEAD, b"")).content == b'{"n": 1}'
    finally:
        await wire.aclose()


async def test_a_silent_server_is_a_read_timeout(server: Server) -> None:
    server.mode = "silent"
    wire = _wire(server, timeout=0.3)
    try:
        with pytest.raises(WireError, match="ReadTimeout"):
            await wire.request("GET", "/x", HEAD, b"")
    finally:
        await wire.aclose()


async def test_an_answer_cut_short_is_an_error_not_half_an_answer(server: Server) -> None:
    server.mode = "cut"
    wire = _wire(server)
    try:
        with pytest.raises(WireError, match="IncompleteReadError"):
            await wire.request("GET", "/x", HEAD, b"")
    finally:
        await wire.aclose()


async def test_the_server_certificate_is_checked(server: Server, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(pki.create_ca("c2").cert_pem)
    wire = _wire(server, ca_file=other)
    try:
        with pytest.raises(WireError, match="ConnectError"):
            await wire.request("GET", "/x", HEAD, b"")
    finally:
        await wire.aclose()
    assert server.requests == []


@pytest.mark.parametrize("target", ["/api/v1/sessions/x\r\nX-Evil: 1", "/a b", "no-slash", "/a\nb"])
async def test_a_target_that_would_split_the_request_line_is_refused_before_connecting(target: str) -> None:
    # Port 9 on loopback: nothing is ever sent, the check comes before the connection.
    wire = Wire("127.0.0.1", 9, ssl.create_default_context(), connect_timeout=1.0, timeout=1.0)
    with pytest.raises(WireError, match="invalid request target"):
        await wire.request("GET", target, b"", b"")
