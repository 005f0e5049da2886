"""A lone SQLite management member and one session server as real processes, for tests that talk to them
over raw TLS sockets as well as through httpx (the hardening tests of issue #15).

    with lone_member(tmp_path, heartbeat_interval=30.0) as lab:
        with lab.connect(lab.member) as sock:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            status, headers, body = read_response(sock)

Processes, ports and readiness come from the lab (``hostgate.cli.lab``): every server gets free ports on its
own loopback address; only processes the lab started are signalled, by PID.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from hostgate.cli.lab import Installation, Member, installation, poll

__all__ = ["LoneMember", "lone_member", "read_response"]


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers (lower-case names) and JSON body of one HTTP/1.1 response (small: a coded error).

    Raises ``ConnectionError`` when the server closes before the end of the headers.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest[:length]) if length else {}


class LoneMember:
    """The installation, its member (``workhorse01``), its session server (``session01``) and a TLS context
    that trusts the cluster CA."""

    def __init__(self, inst: Installation) -> None:
        self.inst = inst
        self.member = inst.members[0]
        self.session = inst.session_servers[0]
        self.ctx = ssl.create_default_context(cafile=str(inst.ca_file))
        self.session_url = f"https://{self.session.address}:{self.session.port}"

    def connect(
        self, server: Member, port: int | None = None, *, timeout: float = 30.0, source: str | None = None
    ) -> ssl.SSLSocket:
        """A TLS connection to ``server`` (its API port unless ``port``), from ``source`` if given."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if source is not None:
                sock.bind((source, 0))
            sock.settimeout(timeout)
            sock.connect((server.address, port or server.port))
            return self.ctx.wrap_socket(sock, server_hostname=server.address)
        except BaseException:
            sock.close()
            raise


@contextlib.contextmanager
def lone_member(root: Path, *, heartbeat_interval: float, live_within: float = 60.0) -> Iterator[LoneMember]:
    """Install and start the member (SQLite store) and the session server; yield once the server is live."""
    with installation(root) as inst:
        first = inst.install_first(store="sqlite")
        first.start()
        first.wait_healthy()
        inst.write_hosts_file()
        inst.add_session_server(1, interval=heartbeat_interval)
        lab = LoneMember(inst)
        with httpx.Client(
            base_url=lab.member.url, verify=lab.ctx, auth=("admin", inst.password), timeout=30.0
        ) as api:
            poll("session01 live", lambda: api.get("/api/v1/session-servers").json()[0]["live"], live_within)
        yield lab
