"""Hosts that fail: down, silent, dropping, dying, busy (keyboard locked). Each ends in a coded error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hostgate.errors import HostDisconnected, HostTimeout, HostUnreachable, KeyboardLocked
from hostgate.hosts import Key, open_session
from hostgate.models import HostSpec
from tests.helpers.hosts import HostProcess, MainframeHost, VtHost, sample_model, sample_spec
from tests.helpers.ports import free_port
from tests.hosts.drive import run, sign_on

KINDS = ["3270", "5250", "vt"]
BLOCK = ["3270", "5250"]


@pytest.fixture
def silent_host() -> Iterator[int]:
    """Accepts TCP connections and never says a word (a hung host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_host_down_is_unreachable_at_once(kind: str) -> None:
    session = open_session(sample_spec(f"demo{kind}", free_port()))
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as caught:
        await session.connect()
    assert time.monotonic() - started < 3
    assert caught.value.code == "HG-7001"
    assert not session.connected


@pytest.mark.parametrize("kind", KINDS)
async def test_silent_host_is_unreachable_after_the_connect_timeout(kind: str, silent_host: int) -> None:
    session = open_session(sample_spec(f"demo{kind}", silent_host, connect_timeout=1.0))
    started = time.monotonic()
    with pytest.raises(HostUnreachable):
        await session.connect()
    assert 0.9 < time.monotonic() - started < 4


@pytest.fixture(params=BLOCK)
def block_spec(request: pytest.FixtureRequest) -> tuple[str, HostSpec]:
    host: HostProcess = request.getfixturevalue(f"host_{request.param}")
    return request.param, sample_spec(f"demo{request.param}", host.port)


async def _open_menu_option(kind: str, spec: HostSpec, option: str, keyboard_timeout: float) -> object:
    model = sample_model(f"demo{kind}")
    import dataclasses

    model = dataclasses.replace(model, host=spec)
    session = open_session(spec, keyboard_timeout=keyboard_timeout)
    await sign_on(session, model)
    await session.fill_field(10, 19, option)
    await session.send_key(Key.ENTER)
    return session


async def test_host_dropping_mid_operation_raises_host_disconnected(block_spec: tuple[str, HostSpec]) -> None:
    kind, spec = block_spec
    session = await _open_menu_option(kind, spec, "5", 3.0)
    try:
        await session.wait_until("DROPPING SCREEN", 5)  # type: ignore[attr-defined]
        await session.send_key(Key.ENTER)  # type: ignore[attr-defined]
        with pytest.raises(HostDisconnected) as caught:
            await session.wait_until("NEVER", 5)  # type: ignore[attr-defined]
        assert caught.value.code == "HG-7002"
        assert not session.connected  # type: ignore[attr-defined]
        with pytest.raises(HostDisconnected):
            await session.snapshot()  # type: ignore[attr-defined]
    finally:
        await session.disconnect()  # type: ignore[attr-defined]


async def test_keyboard_left_locked_raises_keyboard_locked(block_spec: tuple[str, HostSpec]) -> None:
    kind, spec = block_spec
    session = await _open_menu_option(kind, spec, "4", 0.5)
    try:
        with pytest.raises(HostTimeout) as timed_out:
            await session.wait_until("LOCKED SCREEN", 1.0)  # type: ignore[attr-defined]
        assert "keyboard stayed locked" in timed_out.value.message
        screen = await session.snapshot()  # type: ignore[attr-defined]
        assert screen.keyboard_locked and "THE KEYBOARD STAYS LOCKED" in screen.text
        started = time.monotonic()
        with pytest.raises(KeyboardLocked) as caught:
            await session.send_key(Key.ENTER)  # type: ignore[attr-defined]
        assert 0.4 < time.monotonic() - started < 3
        assert caught.value.code == "HG-7004"
    finally:
        await session.disconnect()  # type: ignore[attr-defined]


async def test_slow_host_times_out_then_answers(block_spec: tuple[str, HostSpec]) -> None:
    kind, spec = block_spec
    session = await _open_menu_option(kind, spec, "3", 0.2)
    try:
        await session.wait_until("SLOW SCREEN", 5)  # type: ignore[attr-defined]
        await session.send_key(Key.ENTER)  # type: ignore[attr-defined]
        with pytest.raises(HostTimeout):
            await session.wait_until("SLOW REPLY DONE", 0.3)  # type: ignore[attr-defined]
        with pytest.raises(KeyboardLocked):
            await session.send_key(Key.ENTER)  # type: ignore[attr-defined]
        screen = await session.wait_until("SLOW REPLY DONE", 10)  # type: ignore[attr-defined]
        assert not screen.keyboard_locked
    finally:
        await session.disconnect()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", KINDS)
async def test_host_killed_mid_session_raises_host_disconnected(kind: str) -> None:
    host = MainframeHost(kind).start() if kind != "vt" else VtHost().start()
    with host:
        model = sample_model(f"demo{kind}")
        import dataclasses

        model = dataclasses.replace(model, host=dataclasses.replace(model.host, port=host.port))
        session = open_session(model.host, keyboard_timeout=2.0)
        try:
            await sign_on(session, model)
            host.kill()
            with pytest.raises(HostDisconnected):
                await run(session, model, "Menu", "open_form")
                await session.wait_until("NEVER", 5)
        finally:
            await session.disconnect()
