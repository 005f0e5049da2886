"""SessionRegistry in process: token checks, capacity, per-session serialisation, closing.

The host is an in-process ``HostSession`` that shows one screen (the registry's ``host_factory`` seam, the
one the server fills with the real drivers); the real drivers against real hosts are in
tests/session/test_host_gone.py and tests/hosts/. Every ordering below is made with events, never sleeps.

What the registry guarantees: a session counts towards capacity from the moment its open starts (so two
opens racing for the last place cannot both win); a refused open touches no host; calls on one session run
one at a time while other sessions go on; a session belongs to the user its token names; a session whose
host is gone after a call is closed (later calls: HG-4202); tokens are checked for server, cluster and expiry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostgate import tokens
from hostgate.errors import (
    AuthenticationFailed,
    HostDisconnected,
    HostgateError,
    HostTimeout,
    HostUnreachable,
    ModelNotFound,
    NotAuthorized,
    SessionNotFound,
    UsageError,
)
from hostgate.hosts import HostSession
from hostgate.hosts.base import Condition, Screen, as_predicate
from hostgate.models import HostSpec, Key
from hostgate.models.library import ModelLibrary, deploy_model
from hostgate.session.model_session import ModelSession
from hostgate.session.registry import SessionRegistry
from tests.helpers._clock import ManualClock

BOUND = 10.0
CLUSTER = "c-test"
MODEL = """\
format_version: 1
name: mini
host:
  type: vt
  address: 127.0.0.1
  port: 9
  terminal: {type: vt220, rows: 24, cols: 80}
  connect_timeout: 5
navigation:
  start: Menu
  home: Menu
entities:
  Menu:
    rules:
      - {text: MAIN MENU, row: 1}
"""
MENU = Screen(24, 80, ("MAIN MENU".ljust(80), *(" " * 80 for _ in range(23))), (2, 1))


class OneScreenHost(HostSession):
    """A host that shows the menu and never changes it; it can hold a connect, refuse it, or go away."""

    def __init__(self, spec: HostSpec, lab: Hosts) -> None:
        super().__init__(spec)
        self.lab = lab
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> Screen:
        self.lab.connecting.set()
        await self.lab.allow_connect.wait()
        if self.lab.refuse:
            raise HostUnreachable("the test host refuses")
        self._connected = True
        return MENU

    def _alive(self) -> None:
        if not self._connected:
            raise HostDisconnected("the test host is gone")

    async def snapshot(self) -> Screen:
        self._alive()
        return MENU

    async def type_text(self, text: str) -> None:
        self._alive()

    async def fill_field(self, row: int, col: int, text: str) -> None:
        self._alive()

    async def send_key(self, key: Key) -> None:
        self._alive()

    async def wait_until(self, condition: Condition, timeout: float) -> Screen:
        self._alive()
        if as_predicate(condition)(MENU):
            return MENU
        raise HostTimeout("the test host shows only its menu")

    async def disconnect(self) -> None:
        self._connected = False
        self.lab.disconnects += 1

    def go_away(self) -> None:
        self._connected = False


@dataclass
class Hosts:
    """The host factory and what the test controls: whether connects pass, fail, or wait."""

    opened: list[OneScreenHost] = field(default_factory=list)
    connecting: asyncio.Event = field(default_factory=asyncio.Event)
    allow_connect: asyncio.Event = field(default_factory=asyncio.Event)
    refuse: bool = False
    disconnects: int = 0

    def __post_init__(self) -> None:
        self.allow_connect.set()

    def __call__(self, spec: HostSpec) -> HostSession:
        host = OneScreenHost(spec, self)
        self.opened.append(host)
        return host


@dataclass
class Lab:
    registry: SessionRegistry
    hosts: Hosts
    signer: tokens.Signer
    clock: ManualClock

    def token(
        self, user: str = "ada", model: str = "mini", server: str = "s1", cluster: str = CLUSTER
    ) -> str:
        claims = tokens.TokenClaims(
            "session", cluster, server, user=user, model=model, expires_at=self.clock.wall() + 60
        )
        return self.signer.mint(claims)

    def claims(self, user: str = "ada", model: str = "mini") -> tokens.TokenClaims:
        return self.registry.claims(self.token(user, model))


def _lab(tmp_path: Path, capacity: int) -> Lab:
    source = tmp_path / "mini.yaml"
    source.write_text(MODEL)
    deploy_model(source, tmp_path / "models")
    kid, private_pem, public_b64 = tokens.generate_key()
    # Starts at the real time: PyJWT checks a token's first use against the system clock itself.
    clock = ManualClock(now=time.time())
    keys = tokens.KeySet([tokens.PublicKey(kid, public_b64)], clock=clock.wall)
    hosts = Hosts()
    registry = SessionRegistry(
        "s1", CLUSTER, keys, capacity, ModelLibrary(tmp_path / "models"), host_factory=hosts
    )
    return Lab(registry, hosts, tokens.Signer(kid, private_pem), clock)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    lab = _lab(tmp_path, capacity=2)
    try:
        yield lab
    finally:
        await lab.registry.close_all()


# --- tokens ----------------------------------------------------------------------------------------------------


async def test_a_token_is_checked_for_server_cluster_and_expiry(lab: Lab) -> None:
    assert lab.claims().user == "ada"
    with pytest.raises(HostgateError, match="session server 's2'"):
        lab.registry.claims(lab.token(server="s2"))
    with pytest.raises(HostgateError, match="another management cluster"):
        lab.registry.claims(lab.token(cluster="other"))
    token = lab.token()
    lab.registry.claims(token)
    lab.clock.advance(3600)  # well past its expiry and any clock skew: a token seen before is refused too
    with pytest.raises(AuthenticationFailed):
        lab.registry.claims(token)


# --- opening and capacity ----------------------------------------------------------------------------------


async def test_an_open_session_belongs_to_its_user(lab: Lab) -> None:
    ada = lab.claims("ada")
    session = await lab.registry.open(ada, "mini")
    assert session.info().connected is True and session.info().entity == "Menu"
    assert lab.registry.get(ada, session.id) is session
    with pytest.raises(NotAuthorized):
        lab.registry.get(lab.claims("bob"), session.id)
    with pytest.raises(NotAuthorized):
        await lab.registry.close(lab.claims("bob"), session.id)
    with pytest.raises(SessionNotFound) as missing:
        lab.registry.get(ada, "no-such-session")
    assert missing.value.code == "HG-4202"


async def test_a_refused_open_touches_no_host(lab: Lab) -> None:
    with pytest.raises(NotAuthorized):
        await lab.registry.open(lab.claims(model="mini"), "other")  # the token is for another model
    with pytest.raises(UsageError):
        await lab.registry.open(lab.claims(model=""), "")  # no model named anywhere
    with pytest.raises(ModelNotFound):
        await lab.registry.open(lab.claims(model=""), "nope")
    assert lab.hosts.opened == [] and lab.registry.active == 0


async def test_an_open_in_progress_holds_its_place_so_a_racing_open_is_refused(tmp_path: Path) -> None:
    lab = _lab(tmp_path, capacity=1)
    lab.hosts.allow_connect.clear()
    first = asyncio.create_task(lab.registry.open(lab.claims(), "mini"))
    async with asyncio.timeout(BOUND):
        await lab.hosts.connecting.wait()  # the first open is connecting to its host, not yet done
    assert lab.registry.active == 1
    with pytest.raises(UsageError, match="capacity of 1") as full:
        await lab.registry.open(lab.claims(), "mini")
    assert full.value.hint and len(lab.hosts.opened) == 1
    lab.hosts.allow_connect.set()
    async with asyncio.timeout(BOUND):
        session = await first
    assert lab.registry.active == 1 and list(lab.registry.sessions) == [session.id]
    await lab.registry.close_all()


async def test_a_failed_open_gives_its_place_back(tmp_path: Path) -> None:
    lab = _lab(tmp_path, capacity=1)
    lab.hosts.refuse = True
    with pytest.raises(HostUnreachable):
        await lab.registry.open(lab.claims(), "mini")
    assert lab.registry.active == 0 and lab.registry.sessions == {}
    lab.hosts.refuse = False
    session = await lab.registry.open(lab.claims(), "mini")
    assert lab.registry.active == 1 and session.runtime.connected
    await lab.registry.close_all()


# --- calls ---------------------------------------------------------------------------------------------------


async def test_calls_on_one_session_run_one_at_a_time_and_other_sessions_go_on(lab: Lab) -> None:
    ada = lab.claims()
    one = await lab.registry.open(ada, "mini")
    two = await lab.registry.open(ada, "mini")
    inside = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def slow(runtime: ModelSession) -> str:
        order.append("slow starts")
        inside.set()
        await release.wait()
        order.append("slow ends")
        return "slow"

    async def quick(runtime: ModelSession) -> str:
        order.append("quick")
        return (await runtime.current_entity()).name

    held = asyncio.create_task(lab.registry.call(ada, one.id, slow))
    async with asyncio.timeout(BOUND):
        await inside.wait()
        queued = asyncio.create_task(lab.registry.call(ada, one.id, quick))
        # Another session is not held up by the first one's call.
        assert await lab.registry.call(ada, two.id, quick) == "Menu"
        assert order == ["slow starts", "quick"] and not queued.done()
        release.set()
        assert (await held, await queued) == ("slow", "Menu")
    assert order == ["slow starts", "quick", "slow ends", "quick"]
    assert (one.operations, two.operations) == (2, 1)


async def test_close_waits_for_the_call_in_progress_and_later_calls_are_not_found(lab: Lab) -> None:
    ada = lab.claims()
    session = await lab.registry.open(ada, "mini")
    inside = asyncio.Event()
    release = asyncio.Event()

    async def slow(runtime: ModelSession) -> bool:
        inside.set()
        await release.wait()
        return runtime.connected

    call = asyncio.create_task(lab.registry.call(ada, session.id, slow))
    async with asyncio.timeout(BOUND):
        await inside.wait()
        closing = asyncio.create_task(lab.registry.close(ada, session.id))
        queued = asyncio.create_task(lab.registry.call(ada, session.id, slow))
        release.set()
        assert await call is True  # the host was still connected for the whole call
        await closing
        with pytest.raises(SessionNotFound):
            await queued
    assert not session.runtime.connected and lab.registry.active == 0
    with pytest.raises(SessionNotFound):
        await lab.registry.close(ada, session.id)


async def test_a_session_whose_host_went_away_is_closed_after_the_call(lab: Lab) -> None:
    ada = lab.claims()
    session = await lab.registry.open(ada, "mini")
    lab.hosts.opened[0].go_away()
    with pytest.raises(HostDisconnected):
        await lab.registry.call(ada, session.id, lambda runtime: runtime.current_entity())
    assert session.id not in lab.registry.sessions and lab.registry.active == 0
    with pytest.raises(SessionNotFound):
        await lab.registry.call(ada, session.id, lambda runtime: runtime.current_entity())


async def test_an_error_with_the_host_still_there_keeps_the_session(lab: Lab) -> None:
    ada = lab.claims()
    session = await lab.registry.open(ada, "mini")

    async def fails(runtime: ModelSession) -> None:
        raise UsageError("a bad request for this entity")

    with pytest.raises(UsageError):
        await lab.registry.call(ada, session.id, fails)
    assert lab.registry.get(ada, session.id) is session and session.operations == 0


async def test_close_all_disconnects_every_host(lab: Lab) -> None:
    ada = lab.claims()
    await lab.registry.open(ada, "mini")
    await lab.registry.open(lab.claims("bob"), "mini")
    await lab.registry.close_all()
    assert lab.registry.sessions == {} and lab.registry.active == 0
    assert not any(h.connected for h in lab.hosts.opened) and lab.hosts.disconnects == 2
