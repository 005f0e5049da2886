"""Speed of the session path without losing its rules (issue #16): a model operation is one trip to the
session's thread, and a wait answered from the screen the last wait returned is only ever answered while
the host cannot have changed it (the socket polled quiet)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hostgate.errors import HostDisconnected
from hostgate.hosts import Key, Screen, open_session
from hostgate.hosts._liveness import Pollable
from hostgate.hosts._worker import SessionThread, ThreadedSession
from hostgate.models import HostType, load_model
from hostgate.session.model_session import ModelSession
from tests.helpers.hosts import HostProcess, MainframeHost, sample_spec
from tests.helpers.models import model_text

# Trips to the session thread per Menu.open_form (its fill and Enter, the wait for CustomerForm, and the
# wait for a settled screen before it): 4 when every driver call was its own trip.
TRIPS = {"3270": 1, "5250": 2}  # ibm5250 may buffer what it read: its settled screen is not reused


def _count_trips(thread: SessionThread) -> list[int]:
    trips = [0]
    run = thread.run

    async def counted(func: Callable[[], Any]) -> Any:
        trips[0] += 1
        return await run(func)

    thread.run = counted  # type: ignore[method-assign]
    return trips


@pytest.mark.parametrize("kind", sorted(TRIPS))
async def test_an_operation_is_one_trip_to_the_session_thread(
    kind: str, request: pytest.FixtureRequest
) -> None:
    host: HostProcess = request.getfixturevalue(f"host_{kind}")
    model = load_model(model_text(f"demo{kind}", host.port))
    driver = open_session(model.host)
    runtime = ModelSession(model, driver, {"userid": "ADA", "password": "LOVELACE"})
    assert (await runtime.open()).name == "Menu"
    try:
        assert isinstance(driver, ThreadedSession) and driver._thread is not None
        trips = _count_trips(driver._thread)
        assert (await runtime.perform_entity_operation("open_form")).name == "CustomerForm"
        assert trips[0] == TRIPS[kind]
        trips[0] = 0
        assert (await runtime.perform_entity_operation("back")).name == "Menu"
        assert trips[0] == TRIPS[kind]
        assert (await runtime.current_entity()).name == "Menu"  # the host still shows it
    finally:
        await runtime.close()


@pytest.mark.parametrize("kind", sorted(TRIPS))
async def test_an_operation_after_the_host_died_is_host_disconnected(kind: str) -> None:
    # The trip checks the socket once before its inputs: a host killed after the settled screen (which the
    # next operation's first wait reuses) is still reported by that operation, not answered from the screen.
    with MainframeHost(kind).start() as host:
        model = load_model(model_text(f"demo{kind}", host.port))
        runtime = ModelSession(model, open_session(model.host), {"userid": "ADA", "password": "LOVELACE"})
        assert (await runtime.open()).name == "Menu"
        try:
            host.kill()
            with pytest.raises(HostDisconnected):
                await runtime.perform_entity_operation("open_form")
            assert not runtime.connected
        finally:
            await runtime.close()


class _Wire(ThreadedSession):
    """A thread-backed driver on one end of a socket pair: the test plays the host on the other end."""

    kind = "3270"
    host_type = HostType.TN3270
    settled_cache = True

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sample_spec("demo3270", 1))
        self.sock = sock
        self.waits = 0
        self.screen = Screen(24, 80, ("MENU".ljust(80),) + (" " * 80,) * 23, (1, 1))

    async def snapshot(self) -> Screen:
        return await self._call(lambda: self.screen)

    def _socket(self) -> Pollable | None:
        return self.sock

    def _refresh(self) -> None:
        try:
            closed = self.sock.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return
        if closed:
            raise HostDisconnected("the host closed the connection")

    def _screen_lines(self) -> tuple[str, ...] | None:
        return self.screen.lines

    def _type(self, text: str) -> None: ...

    def _fill(self, row: int, col: int, text: str) -> None: ...

    def _key(self, key: Key) -> None: ...

    def _wait(self, predicate: Callable[[Screen], bool], timeout: float, condition: Any) -> Screen:
        self.waits += 1
        return self.screen

    def _connect_sync(self) -> Screen:
        return self.screen

    def _shutdown_sync(self) -> None:
        self.sock.close()


@pytest.fixture
def wire() -> Iterator[tuple[_Wire, socket.socket]]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield _Wire(ours), theirs


async def test_a_settled_screen_is_reused_only_while_the_host_is_quiet(
    wire: tuple[_Wire, socket.socket],
) -> None:
    driver, host = wire
    await driver.connect()
    try:
        await driver.wait_until("MENU", 1)
        await driver.wait_until("MENU", 1)
        assert driver.waits == 1  # nothing happened: the screen the last wait returned
        host.send(b"\x00")  # the host said something the library has not applied
        await driver.wait_until("MENU", 1)
        assert driver.waits == 2
        driver.sock.recv(16)
        await driver.send_key(Key.TAB)  # any call: the screen may have changed
        await driver.wait_until("MENU", 1)
        assert driver.waits == 3
        await driver.wait_until("NOT SHOWN", 1)  # the condition is checked on the reused screen too
        assert driver.waits == 4
    finally:
        await driver.disconnect()


async def test_a_settled_screen_is_not_reused_once_the_host_closed(wire: tuple[_Wire, socket.socket]) -> None:
    driver, host = wire
    await driver.connect()
    try:
        await driver.wait_until("MENU", 1)
        host.close()
        with pytest.raises(HostDisconnected):
            await driver.wait_until("MENU", 1)
        assert not driver.connected
    finally:
        await driver.disconnect()
