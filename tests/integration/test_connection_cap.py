"""A member keeps a connection per session server that heartbeats to it: 1,000 session servers must fit.

bench/routing.py found the member refusing heartbeats (503, HG-1030) from 1,000 session servers over kept
connections: the default ``[security] max_connections`` was 1,000 and counts every open connection. The default
is now 4,096, and since every connection is a file descriptor the server raises its soft ``RLIMIT_NOFILE`` to the
hard limit at start (a shell's soft limit of 1,024 would cut the cap short with failing ``accept()`` calls) and
logs the cap it enforces. A real member, started with a soft limit of 512, then 1,100 TLS connections held open
at once, each asking for ``/health`` (runtime/limits.py).
"""

from __future__ import annotations

import asyncio
import resource
import ssl
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from hostgate.cli.lab import Installation, Member, installation, poll

pytestmark = [pytest.mark.slow]

CONNECTIONS = 1_100  # more than the old default cap (1,000)
LOW_SOFT_LIMIT = 512


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Installation, Member]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 600:
        pytest.skip(
            f"the hard open-file limit ({hard}) is too low for {CONNECTIONS} connections and a server"
        )
    with installation(tmp_path_factory.mktemp("cap")) as inst:
        m = inst.install_first(store="sqlite")
        # This test is about the cap, not the slow-request guard: opening 1,100 TLS connections on a loaded
        # 2-core machine takes longer than the default 10 s within which each must send its request headers,
        # and the first ones were closed before their request (ConnectionResetError under load).
        config = m.data_dir / "hostgate.toml"
        doc = tomllib.loads(config.read_text())
        doc.setdefault("security", {})["header_timeout"] = 300.0
        config.write_text(tomli_w.dumps(doc))
        # The member inherits this process's limits: start it with a low soft limit, as a login shell gives.
        resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT_LIMIT, hard))
        try:
            m.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        m.wait_healthy(deadline=120)
        yield inst, m


def _nofile_limits(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no 'Max open files' line in /proc/PID/limits")


def test_the_server_raises_its_soft_open_file_limit_and_logs_its_cap(
    member: tuple[Installation, Member],
) -> None:
    _, m = member
    soft, hard = _nofile_limits(m.pid)
    assert soft == hard, (soft, hard)
    poll(
        "the connection cap in the member's log",
        lambda: "connection cap 4096 per HTTP face" in m.log_tail(200),
    )


async def _hold_connections(m: Member, count: int) -> list[bytes]:
    ctx = ssl.create_default_context(cafile=str(m.data_dir / "ca.pem"))
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(32)  # handshakes in flight; all connections stay open together

    async def open_one() -> None:
        async with slots:
            opened.append(
                await asyncio.open_connection(m.address, m.port, ssl=ctx, server_hostname=m.address)
            )

    try:
        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(count))), 300)

        async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
            writer.write(f"GET /api/v1/health HTTP/1.1\r\nHost: {m.address}\r\n\r\n".encode())
            await writer.drain()
            return await reader.readline()  # the status line

        return await asyncio.wait_for(asyncio.gather(*(ask(r, w) for r, w in opened)), 300)
    finally:
        # abort(): no TLS close_notify to wait for; then wait until every socket is really closed, or the loop
        # would end first and leave them to the garbage collector (ResourceWarning in whichever test runs next).
        for _, writer in opened:
            writer.transport.abort()
        await asyncio.gather(*(w.wait_closed() for _, w in opened), return_exceptions=True)


def test_more_connections_than_the_old_default_cap_are_all_served(
    member: tuple[Installation, Member],
) -> None:
    _, m = member
    statuses = asyncio.run(_hold_connections(m, CONNECTIONS))
    refused = [s for s in statuses if not s.startswith(b"HTTP/1.1 200")]
    assert len(statuses) == CONNECTIONS and not refused, (len(refused), refused[:3])
