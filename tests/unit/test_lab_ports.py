"""The lab's free ports: never one an outgoing connection can take as its source meanwhile, never one another
pytest-xdist worker hands out.

CI once lost a whole module's lab (test_trust, stop 29): its first member, on 127.0.0.1, never answered /health.
Every loopback connection the suite makes takes its source port on 127.0.0.1 from the kernel's ephemeral range,
and ``free_port`` handed out ports from that same range; a port picked a moment before a server binds it can
meanwhile be a live connection's source, and the bind fails (SO_REUSEADDR or not) for as long as it lives.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hostgate.cli import lab

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral() -> range:
    low, high = (int(x) for x in RANGE_FILE.read_text().split())
    return range(low, high + 1)


def test_an_outgoing_connections_source_port_blocks_a_listener_on_it() -> None:
    """The fault itself, on this machine: a connection's source port on 127.0.0.1 cannot then be listened on."""
    with (
        socket.create_server(("127.0.0.2", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        accepted, _ = server.accept()
        with accepted, socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            source = client.getsockname()
            assert source[0] == "127.0.0.1"
            assert source[1] in _ephemeral()
            with pytest.raises(OSError):
                listener.bind(source)


@pytest.mark.skipif(not RANGE_FILE.exists(), reason="needs Linux's /proc/sys/net/ipv4/ip_local_port_range")
def test_free_ports_are_outside_the_ephemeral_range_and_never_repeat() -> None:
    ports = [lab.free_port() for _ in range(300)]
    assert not [p for p in ports if p in _ephemeral()]
    assert len(set(ports)) == len(ports)
    assert all(p >= 1024 for p in ports)
    for port in ports:  # and each was free when handed out (nothing here has bound them since)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_free_port_skips_one_that_is_taken() -> None:
    lab.free_port()  # this process's cursor exists
    assert lab._cursor is not None
    taken = lab._cursor.next
    with socket.create_server(("127.0.0.1", taken)):
        got = lab.free_port()
    assert got != taken
    assert got in lab._lab_ports()


def _slice_of(worker: str | None) -> range:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    if worker is not None:
        env["PYTEST_XDIST_WORKER"] = worker
    out = subprocess.run(
        [sys.executable, "-c", "from hostgate.cli import lab; r = lab._lab_ports(); print(r.start, r.stop)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return range(int(out[0]), int(out[1]))


def test_each_xdist_worker_hands_out_its_own_ports() -> None:
    slices = [_slice_of(None), _slice_of("gw0"), _slice_of("gw1"), _slice_of("gw2")]
    for i, a in enumerate(slices):
        assert len(a) >= 1000
        for b in slices[i + 1 :]:
            assert not set(a) & set(b), (a, b)


def test_common_free_port_is_free_on_every_address() -> None:
    addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    with socket.create_server(("127.0.0.2", lab.free_port("127.0.0.2"))):
        port = lab.common_free_port(addresses)
    for address in addresses:
        with socket.socket() as s:
            s.bind((address, port))
