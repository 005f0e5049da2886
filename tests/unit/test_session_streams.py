"""The session calls' byte streams (connector/_streams.py: asyncio streams under httpx) against a real TLS
server on loopback: a kept connection is reused, one the server closed is not (a new one is opened, the call
succeeds), a silent server is a ReadTimeout, and the server's certificate is checked."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hostgate import pki
from hostgate.connector._streams import asyncio_transport
from tests.helpers.tls import loopback_tls


@dataclass
class Server:
    url: str
    ca_file: Path
    connections: int = 0
    close_after_answer: bool = False
    silent: bool = False
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


async def _serve(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    server.connections += 1
    server.writers.append(writer)
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")  # a request without a body
            if server.silent:
                continue
            body = b'{"n": %d}' % server.connections
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            await writer.drain()
            if server.close_after_answer:  # a keep-alive timeout: closed without "Connection: close"
                writer.close()
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    tls = loopback_tls(tmp_path)
    state = Server("", tls.ca_file)
    listener = await asyncio.start_server(
        lambda r, w: _serve(state, r, w), "127.0.0.1", 0, ssl=tls.server_context
    )
    state.url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield state
        for writer in state.writers:
            writer.transport.abort()


def _client(ca_file: Path, timeout: float = 5.0) -> httpx.AsyncClient:
    tls = ssl.create_default_context(cafile=str(ca_file))
    return httpx.AsyncClient(verify=tls, transport=asyncio_transport(tls), timeout=timeout)


async def test_a_kept_connection_is_reused(server: Server) -> None:
    async with _client(server.ca_file) as http:
        answers = [(await http.get(f"{server.url}/x")).json() for _ in range(3)]
    assert answers == [{"n": 1}] * 3
    assert server.connections == 1


async def test_a_connection_the_server_closed_is_not_reused(server: Server) -> None:
    server.close_after_answer = True
    async with _client(server.ca_file) as http:
        assert (await http.get(f"{server.url}/x")).json() == {"n": 1}
        deadline = asyncio.get_running_loop().time() + 10
        while not server.writers[0].transport.is_closing():  # the server has closed its side
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)  # poll interval
        assert (await http.get(f"{server.url}/x")).json() == {"n": 2}
    assert server.connections == 2


async def test_a_silent_server_is_a_read_timeout(server: Server) -> None:
    server.silent = True
    async with _client(server.ca_file, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{server.url}/x")


async def test_the_server_certificate_is_checked(server: Server, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(pki.create_ca("c2").cert_pem)
    async with _client(other) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{server.url}/x")
