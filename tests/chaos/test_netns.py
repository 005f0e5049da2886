"""The namespaces the nemesis partitions with: loopback addresses really cross the veths, a cut really cuts,
a heal really heals, and nothing is left behind."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.chaos.netns import Netns, netns_unavailable_reason

_REASON = netns_unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"partitions are skipped: {_REASON}")

# Listens on the member's address inside its namespace, prints the port, answers one line per connection.
_SERVER = """
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen()
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hello\\n"); c.close()
"""
_CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(c.recv(16).decode().strip())
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.fixture
def netns() -> Iterator[Netns]:
    ns = Netns(members=2, sessions=1)
    try:
        ns.create()
        yield ns
    finally:  # also when the test fails: processes inside are killed, namespaces and veths deleted
        ns.destroy()


def _dial(ns: Netns, netns_name: str, address: str, port: int, timeout: float) -> str:
    proc = subprocess.run(
        [*ns.exec_prefix(netns_name), sys.executable, "-c", _CLIENT, address, str(port), str(timeout)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.stdout.strip()


def test_loopback_addresses_cross_the_veths_and_a_cut_cuts(netns: Netns) -> None:
    server = subprocess.Popen(
        [*netns.exec_prefix(netns.member_ns(0)), sys.executable, "-c", _SERVER, netns.member_address(0)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        # From the hub (clients), from the other member, and from the member itself.
        assert _dial(netns, netns.hub, netns.member_address(0), port, 10) == "hello"
        assert _dial(netns, netns.member_ns(1), netns.member_address(0), port, 10) == "hello"
        assert _dial(netns, netns.member_ns(0), netns.member_address(0), port, 10) == "hello"
        netns.cut(0)
        # Dropped, not refused: the client sees silence (a timeout), as with a pulled cable.
        assert _dial(netns, netns.hub, netns.member_address(0), port, 1) == "TimeoutError"
        assert _dial(netns, netns.member_ns(1), netns.member_address(0), port, 1) == "TimeoutError"
        netns.heal(0)
        assert _dial(netns, netns.hub, netns.member_address(0), port, 10) == "hello"
    finally:
        server.kill()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


def test_destroy_leaves_nothing() -> None:
    ns = Netns(members=1, sessions=0)
    ns.create()
    names = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    assert {ns.hub, ns.member_ns(0)} <= names
    ns.destroy()
    names = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    assert not {n for n in names if n.startswith(ns.prefix)}
