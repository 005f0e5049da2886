"""The dialer against real loopback TCP: a member that accepts and never answers, a closed port, good and
wrong-cluster members. Assertions are about order of events and outcome; time only as a generous bound."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from hostgate.errors import NoMemberAnswered, WrongCluster
from hostgate.naming import first_answer, format_target, parse_target

BOUND = 5.0
CLUSTER = "prod-sea"


class Member:
    """A tiny line server: ``HELLO`` -> ``CLUSTER <id> MEMBER <name>``; or silent (accepts, never answers)."""

    def __init__(self, name: str, cluster: str = CLUSTER, *, silent: bool = False) -> None:
        self.name = name
        self.cluster = cluster
        self.silent = silent
        self.events: list[str] = []
        self.closed_by_peer = asyncio.Event()
        self.server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return format_target("127.0.0.1", port)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.events.append("accepted")
        try:
            if self.silent:
                await reader.read()  # until the client goes away
                self.events.append("closed by peer")
                self.closed_by_peer.set()
                return
            if (await reader.readline()).strip() == b"HELLO":
                writer.write(f"CLUSTER {self.cluster} MEMBER {self.name}\n".encode())
                await writer.drain()
                self.events.append("answered")
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def members() -> AsyncIterator[list[Member]]:
    started: list[Member] = []
    yield started
    for member in started:
        await member.stop()


async def member(started: list[Member], name: str, **kwargs: object) -> Member:
    m = Member(name, **kwargs)  # type: ignore[arg-type]
    await m.start()
    started.append(m)
    return m


@pytest.fixture
def closed_port() -> Iterator[str]:
    """An address that refuses connections: a socket bound (so nobody else gets the port), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield format_target("127.0.0.1", sock.getsockname()[1])


async def hello(address: str) -> str:
    """One whole request, as a client's attempt is: connect, ask, check the cluster, return the member."""
    host, port = parse_target(address, 9440)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"HELLO\n")
        await writer.drain()
        line = (await reader.readline()).decode().split()
        if len(line) != 4 or line[0] != "CLUSTER":
            raise ConnectionError(f"unexpected answer {line!r}")
        if line[1] != CLUSTER:
            raise WrongCluster(f"{address} belongs to cluster {line[1]}, not {CLUSTER}")
        return line[3]
    finally:
        writer.close()


async def test_a_silent_member_and_a_closed_port_are_passed_over_for_a_good_member(
    members: list[Member], closed_port: str
) -> None:
    silent = await member(members, "m1", silent=True)
    good = await member(members, "m3")
    async with asyncio.timeout(BOUND):
        address, name = await first_answer([silent.address, closed_port, good.address], hello, delay=0.05)
        # The silent member's connection was cancelled, so its socket closes and the server sees EOF.
        await silent.closed_by_peer.wait()
    assert (address, name) == (good.address, "m3")
    assert silent.events == ["accepted", "closed by peer"]
    assert good.events == ["accepted", "answered"]


async def test_a_closed_port_costs_no_stagger_delay(members: list[Member], closed_port: str) -> None:
    good = await member(members, "m2")
    async with asyncio.timeout(BOUND):
        assert await first_answer([closed_port, good.address], hello, delay=60.0) == (good.address, "m2")


async def test_only_silent_members_and_closed_ports_end_at_the_deadline_with_each_fault(
    members: list[Member], closed_port: str
) -> None:
    silent = await member(members, "m1", silent=True)
    async with asyncio.timeout(BOUND):
        with pytest.raises(NoMemberAnswered) as caught:
            await first_answer([silent.address, closed_port], hello, delay=0.05, deadline=0.3)
        await silent.closed_by_peer.wait()
    assert caught.value.message == (
        f"no management server answered ({silent.address}: no answer within the 0.3 s deadline; "
        f"{closed_port}: Connection refused)"
    )


async def test_a_member_of_another_cluster_is_reported(members: list[Member], closed_port: str) -> None:
    other = await member(members, "x1", cluster="prod-nyc")
    async with asyncio.timeout(BOUND):
        with pytest.raises(WrongCluster, match="belongs to cluster prod-nyc, not prod-sea"):
            await first_answer([other.address], hello)
        with pytest.raises(NoMemberAnswered) as caught:
            await first_answer([other.address, closed_port], hello, delay=60.0)
    assert f"{other.address}: [HG-5102] {other.address} belongs to cluster prod-nyc" in caught.value.message


async def test_a_good_member_wins_over_one_of_another_cluster(members: list[Member]) -> None:
    other = await member(members, "x1", cluster="prod-nyc")
    good = await member(members, "m2")
    async with asyncio.timeout(BOUND):
        assert await first_answer([other.address, good.address], hello, delay=60.0) == (good.address, "m2")


async def test_a_member_stopped_between_two_dials_is_passed_over(members: list[Member]) -> None:
    m1 = await member(members, "m1")
    m2 = await member(members, "m2")
    addresses = [m1.address, m2.address]
    async with asyncio.timeout(BOUND):
        assert await first_answer(addresses, hello, delay=60.0) == (m1.address, "m1")
        await m1.stop()
        assert await first_answer(addresses, hello, delay=60.0) == (m2.address, "m2")
