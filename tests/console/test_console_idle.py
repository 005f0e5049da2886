"""The console's idle timeout (issue #20): a login ends after ``[console] idle_timeout`` seconds without a
person's activity, on every member; activity on any member slides it; the console's own polling does not.

In process (tests/helpers/inprocess.py: the real service over a real SQLite store) with the console's clock
injected, so "30 minutes idle" takes no time. Two members share one store, each with its own in-memory copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hostgate.api.app import create_app
from hostgate.config.settings import ConsoleSettings, load_settings
from hostgate.console import mount_console
from hostgate.console.sessions import SESSIONS_PREFIX, ConsoleSession
from hostgate.errors import ConfigError
from hostgate.management.cache import ConfigCache
from hostgate.management.records import PREFIX
from hostgate.management.service import ManagementService
from tests.console.test_console_http import log_in
from tests.helpers.inprocess import InProcessMember, start_member

IDLE = 1800.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def client(service: ManagementService, clock: Clock, host: str) -> httpx.AsyncClient:
    app = create_app(service)
    mount_console(app, service, app.state.login_guard, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"https://{host}")


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path)
    yield m
    await m.close()


def stored(member: InProcessMember) -> ConsoleSession:
    found = [ConsoleSession.decode(k, v) for k, v in member.cache.items(SESSIONS_PREFIX)]
    assert len(found) == 1
    return found[0]


def last_active(cache: ConfigCache) -> float:
    return max(ConsoleSession.decode(k, v).last_active for k, v in cache.items(SESSIONS_PREFIX))


async def test_an_idle_session_is_sent_to_the_login_page_and_polling_is_not_activity(
    member: InProcessMember,
) -> None:
    """Regression: console sessions lasted 8 hours from login whatever the activity; a console left open
    (its status bar polling every second) stayed logged in."""
    clock = Clock()
    async with client(member.service, clock, "m1") as c:
        await log_in(c)
        assert stored(member).idle_timeout == IDLE  # the default, [console] idle_timeout
        clock.now += IDLE - 100
        assert (await c.get("/console/domains")).status_code == 200  # activity: the timeout starts again
        assert await member.cache.wait_until(lambda: stored(member).last_active == clock.now, 5.0)
        clock.now += IDLE - 100  # past the first timeout counted from login, not from the activity
        assert (await c.get("/console/overview")).status_code == 200
        # Now only the console's own polling for longer than the timeout: the status bar's and a live page's.
        base = clock.now
        for step in range(1, 5):
            clock.now = base + step * (IDLE / 4) - 1
            assert (await c.get("/console/status.json")).status_code == 200
            assert (await c.get("/console/overview", headers={"X-Hostgate-Poll": "1"})).status_code == 200
        clock.now = base + IDLE + 1
        page = await c.get("/console/overview")
        assert page.status_code == 303 and page.headers["location"] == "/console/login?next=/console/overview"
        twin = await c.get("/console/status.json")
        assert twin.status_code == 401 and twin.json()["code"] == "HG-3360"
        assert "without activity" in twin.json()["message"]
        login = await c.get("/console/login")
        assert login.status_code == 200 and 'name="password"' in login.text


async def test_activity_on_one_member_slides_the_timeout_on_every_member(member: InProcessMember) -> None:
    clock = Clock()
    cache = ConfigCache(member.store, PREFIX)
    await cache.start()
    server = dataclasses.replace(member.settings.server, member_name="m2")
    m2 = ManagementService(dataclasses.replace(member.settings, server=server), member.store, cache)
    try:
        async with client(member.service, clock, "m1") as on_m1, client(m2, clock, "m1") as on_m2:
            token = await log_in(on_m1)
            on_m2.cookies = on_m1.cookies  # the same browser (and host name: the alias), another member
            assert await cache.wait_until(lambda: bool(cache.items(SESSIONS_PREFIX)), 5.0)
            for _ in range(3):  # an hour and a half of work, all of it on m2
                clock.now += IDLE / 2
                created = await on_m2.post(
                    "/console/domains/create", data={"name": f"d{int(clock.now)}", "csrf": token}
                )
                assert created.status_code == 303 and "done=" in created.headers["location"], created.headers
                for copy in (member.cache, cache):  # each member's copy has the new last activity
                    assert await copy.wait_until(lambda c=copy: last_active(c) == clock.now, 5.0)
            clock.now += IDLE - 1
            assert (await on_m1.get("/console/status.json")).status_code == 200  # m1 saw m2's activity
            clock.now += 2
            assert (await on_m1.get("/console/status.json")).json()["code"] == "HG-3360"
            assert (await on_m2.get("/console/status.json")).json()["code"] == "HG-3360"
    finally:
        await cache.close()


async def test_a_configured_timeout_applies_and_zero_means_none(member: InProcessMember) -> None:
    clock = Clock()
    member.service.settings = dataclasses.replace(member.settings, console=ConsoleSettings(idle_timeout=60))
    async with client(member.service, clock, "m1") as c:
        await log_in(c)
        clock.now += 61
        assert (await c.get("/console/status.json")).json()["code"] == "HG-3360"
    member.service.settings = dataclasses.replace(member.settings, console=ConsoleSettings(idle_timeout=0))
    async with client(member.service, clock, "m1") as c:
        await log_in(c)
        clock.now += 8 * 3600 - 10  # no idle timeout: only the absolute limit from login
        assert (await c.get("/console/status.json")).status_code == 200
        clock.now += 20
        assert (await c.get("/console/status.json")).json()["code"] == "HG-3301"


def test_the_setting_from_the_file_and_the_environment_and_its_bounds(tmp_path: Path) -> None:
    good = '[server]\nmember_name = "w1"\naddress = "127.0.0.1"\ncluster_id = "abc"\n'
    (tmp_path / "hostgate.toml").write_text(good)
    assert load_settings(tmp_path, env={}).console.idle_timeout == IDLE
    (tmp_path / "hostgate.toml").write_text(good + "[console]\nidle_timeout = 600\n")
    assert load_settings(tmp_path, env={}).console.idle_timeout == 600.0
    env = {"HOSTGATE_CONSOLE_IDLE_TIMEOUT": "5"}
    assert load_settings(tmp_path, env=env).console.idle_timeout == 5.0
    for bad in ("-1", "nan", "28801"):
        with pytest.raises(ConfigError) as caught:
            load_settings(tmp_path, env={"HOSTGATE_CONSOLE_IDLE_TIMEOUT": bad})
        assert "console.idle_timeout" in caught.value.message
