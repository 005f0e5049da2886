"""Every driver keeps the HostSession contract, against a real host of its kind driven through its sample
model: 3270 (tnz → mainframe-mocker), 5250 (ibm5250 → mainframe-mocker), VT (telnetlib3 + pyte → a curses
program under telnetlib3-server)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest

from hostgate.errors import FieldNotWritable, HostDisconnected, HostTimeout, KeyNotSupported
from hostgate.hosts import HostSession, Key, Screen, open_session
from hostgate.hosts._liveness import probe
from hostgate.models import HostType, Model
from tests.helpers.hosts import HostProcess, MainframeHost, VtHost, sample_model
from tests.helpers.proxy import TcpRelay
from tests.hosts.drive import entity, read_all, run, sign_on

KINDS = ["3270", "5250", "vt"]


@dataclass
class Target:
    kind: str
    model: Model
    host: HostProcess

    @property
    def block_mode(self) -> bool:
        return self.kind != "vt"


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest) -> Target:
    host: HostProcess = request.getfixturevalue(f"host_{request.param}")
    model = sample_model(f"demo{request.param}")
    spec = dataclasses.replace(model.host, address="127.0.0.1", port=host.port)
    return Target(request.param, dataclasses.replace(model, host=spec), host)


@pytest.fixture
async def session(target: Target) -> AsyncIterator[HostSession]:
    opened = open_session(target.model.host, keyboard_timeout=3.0)
    try:
        yield opened
    finally:
        await opened.disconnect()


async def test_connect_shows_the_sign_on_screen(target: Target, session: HostSession) -> None:
    await session.connect()
    screen = await session.wait_until(entity(target.model, "SignOn").matches, 10)
    assert session.connected
    assert (screen.rows, screen.cols) == (24, 80)
    assert len(screen.lines) == 24 and all(len(line) == 80 for line in screen.lines)
    assert target.model.recognize(screen) == target.model.entity("SignOn")
    assert screen.find("SIGN ON") == (1, 37)
    assert screen.cursor == (10, 34)
    assert not screen.keyboard_locked


async def test_block_mode_fields_carry_their_attributes(target: Target, session: HostSession) -> None:
    if not target.block_mode:
        pytest.skip("VT screens have no fields")
    screen = await session.connect()
    user = screen.field_at(10, 34)
    password = screen.field_at(12, 34)
    assert user is not None and (user.row, user.col, user.length) == (10, 34, 8)
    assert not user.protected and not user.hidden
    assert password is not None and password.hidden and not password.protected
    assert screen.field_at(10, 21) is None or screen.field_at(10, 21).protected  # type: ignore[union-attr]


async def test_hidden_password_never_appears_in_a_snapshot(target: Target, session: HostSession) -> None:
    await session.connect()
    await session.wait_until(entity(target.model, "SignOn").matches, 10)
    await session.fill_field(10, 34, "ADA")
    await session.send_key(Key.TAB)
    await session.fill_field(12, 34, "SECRETPW")
    screen = await session.wait_ready(5)
    assert screen.at(10, 34, 3) == "ADA"
    assert "SECRETPW" not in screen.text
    assert screen.at(12, 34, 8).strip() == ""
    field = screen.field_at(12, 34)
    assert field is None or (field.hidden and field.text.strip() == "")


async def test_sign_on_fills_fields_and_enter_reaches_the_menu(target: Target, session: HostSession) -> None:
    screen = await sign_on(session, target.model)
    menu = entity(target.model, "Menu")
    message = menu.attribute("message")
    assert message is not None and message.read(screen) == "HGT0100I WELCOME ADA"


async def test_wrong_password_stays_on_sign_on_with_a_message(target: Target, session: HostSession) -> None:
    await session.connect()
    await session.wait_until(entity(target.model, "SignOn").matches, 10)
    screen = await run(session, target.model, "SignOn", "signon", {"password": "WRONG"})
    sign_on_entity = entity(target.model, "SignOn")
    assert target.model.recognize(screen) == sign_on_entity
    message = sign_on_entity.attribute("message")
    assert message is not None
    assert "USER ID OR PASSWORD IS INCORRECT" in str(message.read(screen))


async def test_form_fill_and_enter_round_trip(target: Target, session: HostSession) -> None:
    await sign_on(session, target.model)
    await run(session, target.model, "Menu", "open_form")
    screen = await run(
        session, target.model, "CustomerForm", "save", {"number": "123", "name": "GRACE", "city": "PARIS"}
    )
    form = entity(target.model, "CustomerForm")
    result = form.attribute("result")
    assert result is not None and result.read(screen) == "SAVED 123 GRACE OF PARIS"


async def test_pf_keys_go_back_and_sign_off(target: Target, session: HostSession) -> None:
    await sign_on(session, target.model)
    await run(session, target.model, "Menu", "open_form")
    screen = await run(session, target.model, "CustomerForm", "back")
    assert target.model.recognize(screen) == target.model.entity("Menu")
    screen = await run(session, target.model, "Menu", "signoff")
    assert target.model.recognize(screen) == target.model.entity("SignOn")


async def test_recordset_pages_through_every_record(target: Target, session: HostSession) -> None:
    await sign_on(session, target.model)
    screen = await run(session, target.model, "Menu", "open_list")
    customers = entity(target.model, "CustomerList").recordset("customers")
    assert customers is not None and not customers.at_end(screen)
    records, pages = await read_all(session, target.model, "CustomerList", "customers")
    assert pages == 3
    assert [r["number"] for r in records] == list(range(1, 41))
    assert records[0] == {"number": 1, "name": "CUSTOMER 01", "city": "CITY1"}
    assert records[-1] == {"number": 40, "name": "CUSTOMER 40", "city": "CITY0"}
    assert customers.scroll_back is not None
    await session.send_key(customers.scroll_back)
    screen = await session.wait_until("PAGE 2 OF 3", 5)
    assert customers.read_page(screen)[0]["number"] == 18


async def test_wait_until_times_out_with_a_coded_error(target: Target, session: HostSession) -> None:
    await session.connect()
    started = time.monotonic()
    with pytest.raises(HostTimeout) as caught:
        await session.wait_until("THIS TEXT NEVER APPEARS", 0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert caught.value.code == "HG-7003"
    assert "THIS TEXT NEVER APPEARS" in caught.value.message


async def test_keys_the_host_type_lacks_are_refused(target: Target, session: HostSession) -> None:
    await session.connect()
    missing = {"3270": Key.ESCAPE, "5250": Key.PA1, "vt": Key.PA1}[target.kind]
    with pytest.raises(KeyNotSupported):
        await session.send_key(missing)


async def test_writing_outside_an_input_field_is_refused(target: Target, session: HostSession) -> None:
    await session.connect()
    await session.wait_until(entity(target.model, "SignOn").matches, 10)
    with pytest.raises(FieldNotWritable):
        await session.fill_field(1, 2, "X")  # the protected title line (VT: not where the cursor is)
    with pytest.raises(FieldNotWritable):
        await session.fill_field(30, 1, "X")
    if target.block_mode:
        with pytest.raises(FieldNotWritable):
            await session.fill_field(10, 34, "TOO-LONG-FOR-8")


async def test_calls_after_disconnect_raise_host_disconnected(target: Target, session: HostSession) -> None:
    await session.connect()
    await session.disconnect()
    await session.disconnect()  # idempotent
    assert not session.connected
    with pytest.raises(HostDisconnected):
        await session.snapshot()
    with pytest.raises(HostDisconnected):
        await session.send_key(Key.ENTER)


async def test_sessions_are_independent(target: Target) -> None:
    first = open_session(target.model.host)
    second = open_session(target.model.host)
    try:
        await sign_on(first, target.model)
        screen = await second.connect()
        await second.wait_until(entity(target.model, "SignOn").matches, 10)
        assert isinstance(screen, Screen)
        assert target.model.recognize(await first.snapshot()) == target.model.entity("Menu")
    finally:
        await first.disconnect()
        await second.disconnect()


# How a host can go away under an open session: its process killed (SIGKILL: the kernel closes its sockets),
# or the host alive but the connection closed politely (FIN) or reset (RST) on its side.
ENDINGS = ["sigkill", "fin", "rst"]
# What the caller does next: read the screen, ask whether the session is connected, press a local key (no
# host round trip: nothing but a liveness check can notice) or an attention key.
PROBES = ["snapshot", "connected", "tab", "enter"]
NOTICE_WITHIN = 1.0


@pytest.fixture(params=ENDINGS)
def ending(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def doomed_target(target: Target, ending: str) -> Iterator[tuple[Target, Callable[[], None]]]:
    """A target whose host can be ended: its own host process for SIGKILL, a relay for FIN/RST."""
    if ending == "sigkill":
        host: HostProcess = MainframeHost(target.kind).start() if target.block_mode else VtHost().start()
        with host:
            spec = dataclasses.replace(target.model.host, port=host.port)
            yield dataclasses.replace(target, model=dataclasses.replace(target.model, host=spec)), host.kill
        return
    with TcpRelay(target.model.host.port) as relay:
        spec = dataclasses.replace(target.model.host, port=relay.port)

        def end() -> None:
            relay.end_all(reset=ending == "rst")

        yield dataclasses.replace(target, model=dataclasses.replace(target.model, host=spec)), end


async def _probe(session: HostSession, probe: str) -> None:
    """Do ``probe`` once; HostDisconnected once the driver knows the host is gone."""
    if probe == "snapshot":
        await session.snapshot()
    elif probe == "connected":
        if not session.connected:
            raise HostDisconnected("connected turned False")
    elif probe == "tab":
        await session.send_key(Key.TAB)
    else:
        await session.send_key(Key.ENTER)


@pytest.mark.parametrize("probe", PROBES)
async def test_a_host_gone_under_an_open_session_is_noticed_within_a_second(
    doomed_target: tuple[Target, Callable[[], None]], probe: str
) -> None:
    target, end = doomed_target
    session = open_session(target.model.host, keyboard_timeout=3.0)
    try:
        await sign_on(session, target.model)
        assert session.connected
        end()
        started = time.monotonic()
        with pytest.raises(HostDisconnected) as caught:
            while time.monotonic() - started < NOTICE_WITHIN:
                await _probe(session, probe)
                await asyncio.sleep(0.01)  # poll interval: lets the event loop run between probes
        noticed = time.monotonic() - started
        assert noticed < NOTICE_WITHIN, f"noticed after {noticed:.2f} s"
        assert caught.value.code == "HG-7002"
        # Once noticed, it stays noticed: every kind of call says so at once.
        assert not session.connected
        for later in PROBES:
            with pytest.raises(HostDisconnected):
                await _probe(session, later)
    finally:
        await session.disconnect()


async def test_connected_notices_a_host_gone_without_the_event_loop_running(
    doomed_target: tuple[Target, Callable[[], None]],
) -> None:
    """``connected`` asks the socket itself: no reader task or library loop has to run first (this busy
    loop never yields to the event loop on purpose)."""
    target, end = doomed_target
    session = open_session(target.model.host, keyboard_timeout=3.0)
    try:
        await sign_on(session, target.model)
        end()
        started = time.monotonic()
        while session.connected and time.monotonic() - started < NOTICE_WITHIN:
            pass
        assert not session.connected, "still connected a second after the host went away"
    finally:
        await session.disconnect()


async def test_a_telnet_nop_from_the_host_neither_blocks_nor_ends_a_call(target: Target) -> None:
    """Hosts send telnet NOPs as keepalives (RFC 854 ``IAC NOP``): bytes to read that are no record. The
    liveness check reads them without waiting for a record that is not coming."""
    with TcpRelay(target.model.host.port) as relay:
        model = dataclasses.replace(
            target.model, host=dataclasses.replace(target.model.host, port=relay.port)
        )
        session = open_session(model.host, keyboard_timeout=3.0)
        try:
            await sign_on(session, model)
            relay.inject(b"\xff\xf1")  # IAC NOP
            # Wait until the bytes are at the driver's socket, so the next call is the one that meets them.
            arrived = time.monotonic() + 10
            while not probe(session._socket()).pending and time.monotonic() < arrived:  # type: ignore[attr-defined]
                await asyncio.sleep(0.005)  # poll interval
            started = time.monotonic()
            screen = await session.snapshot()
            assert time.monotonic() - started < NOTICE_WITHIN
            assert model.recognize(screen) == model.entity("Menu")
            assert session.connected
            await run(session, model, "Menu", "open_form")
        finally:
            await session.disconnect()


def test_sample_models_cover_every_host_type() -> None:
    assert {sample_model(f"demo{kind}").host.type for kind in KINDS} == set(HostType)
