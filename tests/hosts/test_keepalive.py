"""TCP keepalive on every driver's connection to its host (issue #21), read back from the live socket of a real
connection: a real 3270 and 5250 host (mainframe-mocker) and a VT host (telnetlib3-server), on loopback."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from hostgate.hosts import open_session
from hostgate.hosts._keepalive import KEEPCNT, KEEPIDLE, KEEPINTVL
from tests.helpers.hosts import HostProcess, sample_spec

HOSTS = {"3270": "host_3270", "5250": "host_5250", "vt": "host_vt"}


@pytest.mark.parametrize("kind", sorted(HOSTS))
async def test_every_driver_keeps_its_host_connection_alive(
    kind: str, request: pytest.FixtureRequest
) -> None:
    host: HostProcess = request.getfixturevalue(HOSTS[kind])
    session = open_session(sample_spec(f"demo{kind}", host.port))
    try:
        await session.connect()
        sock: Any = session._socket()  # type: ignore[attr-defined]  # each driver's live socket
        assert sock is not None
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPIDLE
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == KEEPINTVL
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == KEEPCNT
    finally:
        await session.disconnect()
