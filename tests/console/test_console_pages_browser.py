"""The Sessions and Models pages in a real browser (Debian's Chromium through Playwright) against a real member,
a real session server and the 3270 test host.

Given a model whose sessions stay on the sign-on screen, activated from the Models page's form: a client opens
a session and types a password into the non-display field; the Sessions page lists it, its screen shows the
user id and a masked run where the password is (the password is nowhere in the page), and "End this session"
ends it and the list no longer has it. On the Models page the model is deactivated and activated again. A
User-profile login sees neither End nor Deactivate buttons, and its forged POSTs are refused (HG-3002). Each
page passes axe-core with no serious or critical violation; with ``HOSTGATE_CONSOLE_SCREENSHOTS=1`` the same
tests write docs/console/sessions.png, session-screen.png and models.png.

One member (SQLite) is enough here: what these pages show comes from the session servers and the deployment
records, not from the members' replication (tests/console/test_console_browser.py covers that with three).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostgate.connector import connect_to_model_via_domain
from tests.console.test_console_browser import check_accessibility, login, post_from_page, screenshot
from tests.console.test_console_pages_live import MODEL, PASSWORD_TYPED, USERID_TYPED, stay_on_sign_on
from tests.helpers.browser import browser, new_context, playwright_driver
from tests.helpers.hosts import MainframeHost
from tests.helpers.lone_member import LoneMember, lone_member
from tests.helpers.models import model_text

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

__all__ = ["browser", "playwright_driver"]  # the fixtures, imported for pytest

VIEWER_PASSWORD = "viewer-password-1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoneMember, str]]:
    root = tmp_path_factory.mktemp("console-pages")
    with MainframeHost("3270").start() as host, lone_member(root / "lab", heartbeat_interval=1.0) as lab:
        inst = lab.inst
        inst.hostgate("domain", "create", "scr", *inst.client_args())
        inst.hostgate("domain", "add-server", "scr", "session01", *inst.client_args())
        pw = inst.root / "viewer.pw"
        pw.write_text(VIEWER_PASSWORD + "\n")
        inst.hostgate("user", "add", "viewer", "--new-password-file", str(pw), *inst.client_args())
        inst.hostgate("grant", "add", "user", "--user", "viewer", *inst.client_args())
        yield lab, model_text("demo3270", host.port, name=MODEL, extra=stay_on_sign_on)


@pytest.fixture(scope="module")
def admin_page(browser: Browser, lab: tuple[LoneMember, str]) -> Iterator[Page]:
    member, _ = lab
    context = new_context(browser)
    page = context.new_page()
    login(page, member.member.url, "admin", member.inst.password)
    yield page
    context.close()


def activate_from_the_form(page: Page, base: str, text: str) -> None:
    page.goto(f"{base}/console/models")
    form = page.locator('form[action="/console/models/activate"]')
    form.get_by_label("Model name").fill(MODEL)
    form.get_by_label("On").select_option("server:session01")
    form.get_by_label("Model text").fill(text)
    form.get_by_role("button", name="Activate").click()
    expect(page.locator(".done")).to_have_text(f"model {MODEL} activated on session01")
    expect(page.get_by_role("heading", name=f"Model {MODEL}")).to_be_visible()


def test_view_a_live_sessions_masked_screen_and_end_it(admin_page: Page, lab: tuple[LoneMember, str]) -> None:
    member, text = lab
    inst, base = member.inst, member.member.url
    activate_from_the_form(admin_page, base, text)
    with connect_to_model_via_domain(
        member.member.target, "scr", MODEL, user="admin", password=inst.password, ca_file=inst.ca_file,
        hosts_file=Path(inst.root / "hosts"),
    ) as session:  # fmt: skip
        session.set_attributes({"userid": USERID_TYPED, "password": PASSWORD_TYPED})
        admin_page.goto(f"{base}/console/sessions")
        row = admin_page.locator("tr", has_text=session.id)
        expect(row).to_contain_text(MODEL)
        expect(row).to_contain_text("admin")
        check_accessibility(admin_page)
        screenshot(admin_page, "sessions")

        row.get_by_role("link", name=f"View the screen of session {session.id}").click()
        expect(admin_page.locator("pre.screen")).to_contain_text(USERID_TYPED)
        rows = admin_page.locator("pre.screen").inner_text().rstrip("\n").split("\n")
        assert len(rows) == 24 and all(len(r) == 80 for r in rows), [len(r) for r in rows]
        assert "SIGN ON" in rows[0] and USERID_TYPED in rows[9]
        masked = admin_page.locator("pre.screen .masked")
        expect(masked).to_have_count(1)
        expect(masked).to_have_text("*" * 8)
        assert PASSWORD_TYPED not in admin_page.content()
        check_accessibility(admin_page)
        screenshot(admin_page, "session-screen")

        admin_page.get_by_role("button", name=f"End session {session.id} of admin").click()
        expect(admin_page).to_have_url(re.compile(r"/console/sessions\?done="))
        expect(admin_page.locator(".done")).to_have_text(f"session {session.id} on session01 ended")
        expect(admin_page.locator("#live-sessions")).not_to_contain_text(session.id)
        with pytest.raises(Exception, match="HG-420"):
            session.current_entity()


def test_deactivate_then_activate_a_model(admin_page: Page, lab: tuple[LoneMember, str]) -> None:
    member, text = lab
    base = member.member.url
    admin_page.goto(f"{base}/console/models")
    if admin_page.get_by_role("heading", name=f"Model {MODEL}").count() == 0:
        activate_from_the_form(admin_page, base, text)
    check_accessibility(admin_page)
    screenshot(admin_page, "models")
    admin_page.get_by_role("button", name=f"Deactivate model {MODEL} on session01").click()
    expect(admin_page.locator(".done")).to_have_text(f"model {MODEL} deactivated on session01")
    expect(admin_page.locator("#live-models")).to_contain_text("No model is deployed.")
    activate_from_the_form(admin_page, base, text)
    expect(admin_page.locator("#live-models")).to_contain_text("session01")


def test_a_user_profile_sees_no_buttons_and_its_posts_are_refused(
    browser: Browser, lab: tuple[LoneMember, str]
) -> None:
    member, _ = lab
    base = member.member.url
    context = new_context(browser)
    page = context.new_page()
    login(page, base, "viewer", VIEWER_PASSWORD)
    for path in ("/console/sessions", "/console/models"):
        page.goto(f"{base}{path}")
        expect(page.locator("h1")).to_be_visible()
        assert page.locator("main form[method=post]").count() == 0, path
        check_accessibility(page)
    csrf = page.locator('form.logout input[name="csrf"]').input_value()
    for path, form in (
        ("/console/sessions/end", {"server": "session01", "id": "x"}),
        ("/console/models/deactivate", {"model": MODEL, "target": "server:session01"}),
    ):
        refused = post_from_page(page, path, {**form, "csrf": csrf})
        assert refused["status"] == 403 and refused["body"]["code"] == "HG-3002", path
    context.close()
