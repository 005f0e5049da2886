"""The console in a real browser (Debian's Chromium through Playwright) against three real etcd members.

Given a 3-member lab cluster reached through one alias that names every member (tests/console/alias_browser.py):
log in; the status bar shows the cluster name and the serving member; a rename on one member's console shows
in the status bar of a console served by another member without a reload; a domain is created; a User-profile
login sees no change buttons and its forged POST is refused (HG-3002); kill -9 of the serving member and the
next navigation works through another member without logging in again. axe-core (served from the pinned
axe-playwright-python package, injected by the test: no CDN) finds no serious or critical violation on any
page. With ``HOSTGATE_CONSOLE_SCREENSHOTS=1`` the same tests write the screenshots in docs/console/ (so a plain
test run never changes the tree).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostgate.cli.lab import Installation, installation, poll, start_cluster
from tests.console.alias_browser import ALIAS_FALLBACK_REASON, alias_browser
from tests.helpers.browser import new_context, playwright_driver, require_chromium

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, Playwright, expect

pytestmark = [pytest.mark.slow, pytest.mark.etcd, pytest.mark.timeout(900)]

__all__ = ["playwright_driver"]  # the fixture, imported for pytest

ALIAS = "console-alias.test"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
VIEWER_PASSWORD = "viewer-password-1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("console-lab")) as inst:
        start_cluster(inst, 3)
        inst.add_session_server(1)  # session01, registered through the alias (the lab's hosts file)
        pw = inst.root / "viewer.pw"
        pw.write_text(VIEWER_PASSWORD + "\n")
        inst.hostgate("user", "add", "viewer", "--new-password-file", str(pw), *inst.client_args())
        # The User profile, cluster-wide: reads everything a User may, changes nothing.
        grant = [a for a in inst.client_args() if a != "--password-file" and not a.endswith("admin.pw")]
        inst.hostgate(
            "grant", "add", "user", "--user", "viewer", *grant, "--password-file", str(inst.password_file)
        )
        yield inst


@pytest.fixture(scope="module")
def chromium(
    playwright_driver: Playwright, tmp_path_factory: pytest.TempPathFactory, lab: Installation
) -> Iterator[Browser]:
    executable = require_chromium()
    addresses = [m.address for m in lab.members]
    browser = alias_browser(playwright_driver, executable, tmp_path_factory.mktemp("alias"), ALIAS, addresses)
    if browser is None:
        browser = playwright_driver.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
    try:
        yield browser
    finally:
        browser.close()


def alias_url(lab: Installation) -> str:
    from tests.console.alias_browser import can_use_alias

    if can_use_alias():
        return f"https://{ALIAS}:{lab.api_port}"
    return lab.members[0].url  # the fallback (see ALIAS_FALLBACK_REASON)


def login(page: Page, base: str, user: str = "admin", password: str = "") -> None:
    page.goto(f"{base}/console/overview")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator('[data-status="user"]')).to_have_text(user)


def bar(page: Page, name: str) -> str:
    return page.locator(f'.statusbar [data-status="{name}"]').inner_text()


def post_from_page(page: Page, path: str, form: dict[str, str]) -> dict[str, Any]:
    """POST ``form`` from inside the page (same origin, its cookies): status and JSON body."""
    answer: dict[str, Any] = page.evaluate(
        """async ([path, form]) => {
            const r = await fetch(path, {method: "POST", body: new URLSearchParams(form),
                                         headers: {Accept: "application/json"}});
            return {status: r.status, body: await r.json()};
        }""",
        [path, form],
    )
    return answer


def check_accessibility(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{page.url}: " + "; ".join(
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in bad
    )


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("HOSTGATE_CONSOLE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture(scope="module")
def admin_page(chromium: Browser, lab: Installation) -> Iterator[Page]:
    context = new_context(chromium)
    page = context.new_page()
    login(page, alias_url(lab), "admin", lab.password)
    yield page
    context.close()


def test_login_shows_cluster_name_and_serving_member(chromium: Browser, lab: Installation) -> None:
    context = new_context(chromium)
    page = context.new_page()
    page.goto(f"{alias_url(lab)}/console/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "login")
    login(page, alias_url(lab), "admin", lab.password)
    assert bar(page, "cluster") == "vhi-prod-sea"
    assert bar(page, "member") in {m.name for m in lab.members}
    cookie = next(c for c in context.cookies() if c["name"] == "__Host-hgconsole")
    assert (
        cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    )
    context.close()


def test_every_page_is_accessible(admin_page: Page, lab: Installation) -> None:
    for path, shot in [
        ("/console/overview", "overview"),
        ("/console/cluster", "cluster"),
        ("/console/domains", "domains"),
        ("/console/security", "security"),
        ("/console/audit", "audit"),
        ("/console/pools", "pools-empty"),
        ("/console/webservices", "webservices-empty"),
        # Not the alias check: the member would look the test's alias up with the system resolver (the name is
        # only in the browser's private hosts file), which may ask a DNS server off this machine.
        # tests/console/test_console_http.py renders it against a hosts file.
    ]:
        admin_page.goto(f"{alias_url(lab)}{path}")
        expect(admin_page.locator("h1")).to_be_visible()
        check_accessibility(admin_page)
        screenshot(admin_page, shot)


def test_rename_shows_on_another_members_console(
    admin_page: Page, chromium: Browser, lab: Installation
) -> None:
    serving = bar(admin_page, "member")
    other = next(m for m in lab.members if m.name != serving)
    watcher_context = new_context(chromium)
    watcher = watcher_context.new_page()
    login(watcher, other.url, "admin", lab.password)
    assert bar(watcher, "member") == other.name
    assert bar(watcher, "cluster") == "vhi-prod-sea"

    admin_page.goto(f"{alias_url(lab)}/console/cluster")
    admin_page.get_by_label("New cluster name").fill("vhi-prod-east")
    admin_page.get_by_role("button", name="Rename").click()
    expect(admin_page.locator(".done")).to_contain_text("vhi-prod-east")
    renamed_at = time.monotonic()
    # No reload on the watcher: its status bar polls the status twin once a second.
    expect(watcher.locator('.statusbar [data-status="cluster"]')).to_have_text(
        "vhi-prod-east", timeout=15_000
    )
    seen_after = time.monotonic() - renamed_at
    print(f"rename seen on {other.name}'s console after {seen_after:.2f} s")
    assert seen_after < 5.0, f"the rename took {seen_after:.2f} s to reach another member's console"
    screenshot(admin_page, "cluster")
    watcher_context.close()


def test_create_domain(admin_page: Page, lab: Installation) -> None:
    admin_page.goto(f"{alias_url(lab)}/console/domains")
    expect(admin_page.locator("main")).to_contain_text("No domains yet")
    admin_page.get_by_label("New domain").fill("prod")
    admin_page.get_by_role("button", name="Create domain").click()
    expect(admin_page.get_by_role("heading", name="Domain prod")).to_be_visible()
    expect(admin_page.locator(".done")).to_contain_text("domain prod created")
    # A bad name is refused next to the form that caused it, with its code.
    admin_page.get_by_label("New domain").fill("prod")
    admin_page.get_by_role("button", name="Create domain").click()
    expect(admin_page.locator("form .error")).to_contain_text("already exists")
    # The registered session server joins the domain and gets all of its new sessions once it is live.
    section = admin_page.locator("section", has=admin_page.get_by_role("heading", name="Domain prod"))
    section.get_by_label("Server").select_option("session01")
    section.get_by_label("Weight").fill("250")
    section.get_by_role("button", name="Add or update server").click()
    expect(admin_page.locator(".done")).to_contain_text("session01 in domain prod: weight 250, priority 1")
    row = admin_page.locator("section", has_text="Domain prod").locator("tbody tr", has_text="session01")
    expect(row).to_contain_text("100 %", timeout=30_000)  # live (heartbeats): the live region refreshes
    check_accessibility(admin_page)
    screenshot(admin_page, "domains")


def test_user_profile_cannot_change_anything(chromium: Browser, lab: Installation) -> None:
    context = new_context(chromium)
    page = context.new_page()
    login(page, alias_url(lab), "viewer", VIEWER_PASSWORD)
    assert bar(page, "profile") == "User"
    for path in ("/console/cluster", "/console/domains"):
        page.goto(f"{alias_url(lab)}{path}")
        expect(page.locator("h1")).to_be_visible()
        # No change buttons: only the logout form posts.
        assert page.locator("main form[method=post]").count() == 0, path
    csrf = page.locator('form.logout input[name="csrf"]').input_value()
    # The forged POSTs are sent by the page itself (fetch inside Chromium, through its resolver and cookies;
    # Playwright's own request API would resolve the alias outside the browser's private hosts file).
    refused = post_from_page(page, "/console/domains/create", {"name": "sneaky", "csrf": csrf})
    assert refused["status"] == 403 and refused["body"]["code"] == "HG-3002"
    no_token = post_from_page(page, "/console/cluster/rename", {"name": "x"})
    assert no_token["status"] == 403 and no_token["body"]["code"] == "HG-3300"
    page.goto(f"{alias_url(lab)}/console/domains")
    expect(page.locator("main")).not_to_contain_text("sneaky")
    context.close()


def test_logout_on_one_member_ends_the_session_on_every_member(chromium: Browser, lab: Installation) -> None:
    here = new_context(chromium)
    page = here.new_page()
    login(page, alias_url(lab), "admin", lab.password)
    serving = bar(page, "member")
    other = next(m for m in lab.members if m.name != serving)
    session = next(c for c in here.cookies() if c["name"] == "__Host-hgconsole")
    # The same session cookie, sent straight to another member (its address, not the alias).
    there = new_context(chromium)
    there.add_cookies(
        [
            {
                "name": session["name"],
                "value": session["value"],
                "url": other.url,
                "secure": True,
                "httpOnly": True,
            }
        ]
    )
    elsewhere = there.new_page()
    elsewhere.goto(f"{other.url}/console/overview")
    assert bar(elsewhere, "member") == other.name and bar(elsewhere, "user") == "admin"
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))  # not the poll's own redirect (console.js)

    def refused_there() -> bool:
        elsewhere.goto(f"{other.url}/console/overview")
        return "/console/login" in elsewhere.url

    poll(f"the logged-out session to be refused by {other.name}", refused_there, deadline=30.0, interval=0.1)
    here.close()
    there.close()


def test_no_poll_races_a_sent_form(chromium: Browser, lab: Installation) -> None:
    """Regression: the status poll kept running while a sent form's answer was pending; after a logout its
    401 sent the browser to ``/console/login?next=...`` instead of the logout's own answer (seen under load).
    The form is sent but its navigation held back (prevented), so the page stays to be looked at."""
    context = new_context(chromium)
    page = context.new_page()
    login(page, alias_url(lab), "admin", lab.password)
    page.evaluate("document.querySelector('form.logout').addEventListener('submit', e => e.preventDefault())")
    page.get_by_role("button", name="Log out").click()
    # console.js stops polling once a form is sent, and says so on the page.
    expect(page.locator("body")).to_have_attribute("data-leaving", "1")
    context.close()


def test_kill_the_serving_member_and_keep_working(admin_page: Page, lab: Installation) -> None:
    from tests.console.alias_browser import can_use_alias

    if not can_use_alias():
        pytest.skip(ALIAS_FALLBACK_REASON)
    admin_page.goto(f"{alias_url(lab)}/console/overview")
    serving = bar(admin_page, "member")
    victim = next(m for m in lab.members if m.name == serving)
    victim.kill9()

    def next_page_served_elsewhere() -> bool:
        admin_page.goto(f"{alias_url(lab)}/console/domains")
        return "/console/login" not in admin_page.url and bar(admin_page, "member") != serving

    poll("a console page served by another member", next_page_served_elsewhere, deadline=60.0, interval=0.2)
    assert bar(admin_page, "user") == "admin"  # no second login
    # And it can still change things (two of three members: a majority).
    admin_page.get_by_label("New domain").fill("after-failover")
    admin_page.get_by_role("button", name="Create domain").click()
    expect(admin_page.get_by_role("heading", name="Domain after-failover")).to_be_visible(timeout=60_000)
    # The dead member shows as unhealthy, and only it offers a Remove button; removing it is one click.
    admin_page.goto(f"{alias_url(lab)}/console/cluster")
    remove = admin_page.get_by_role("button", name=f"Remove member {victim.name}")
    expect(remove).to_be_visible(timeout=30_000)  # the live region refreshes as the probes see it down
    assert admin_page.get_by_role("button", name=re.compile(r"^Remove member ")).count() == 1
    screenshot(admin_page, "member-down")
    remove.click()
    expect(admin_page.locator(".done")).to_contain_text(f"member {victim.name} removed", timeout=60_000)
    expect(admin_page.locator("#live-members tbody tr")).to_have_count(2)


def test_phone_layout_and_keyboard_only_login(chromium: Browser, lab: Installation) -> None:
    context = new_context(chromium, width=390, height=844)
    page = context.new_page()
    page.goto(f"{alias_url(lab)}/console/overview")
    # Keyboard only: the login form has the focus on its user name at once, and is sent without a pointer.
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(lab.password)
    page.keyboard.press("Enter")
    expect(page.locator('[data-status="user"]')).to_have_text("admin")
    # On every other page, the first Tab reaches the skip link (past the navigation, to the content).
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for path in ("/console/overview", "/console/domains", "/console/cluster"):
        page.goto(f"{alias_url(lab)}{path}")
        expect(page.locator("h1")).to_be_visible()
        # Wide tables scroll inside their own box; the page itself never scrolls sideways on a phone.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                             && !e.closest(".scroll"))
                .slice(0, 5).map(e => e.tagName + "." + e.className)"""
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone's screen: {wide}"
    page.goto(f"{alias_url(lab)}/console/overview")
    screenshot(page, "overview-phone")
    context.close()
