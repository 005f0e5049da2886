"""The Session pools and Web services pages, and the idle timeout, in a real browser (Debian's Chromium through
Playwright) against a real member, a real session server and the 3270 test host.

Given a lone member (SQLite; the three-member alias and failover are tests/console/test_console_browser.py's),
session server session01 in domain ``prod`` serving model demo3270 of the mock 3270 host, and pool ``orders``
on ``prod`` (stored sign-on credentials, min idle 1): the pools page shows session01's idle session as its
heartbeats report it, without a reload; a schedule set from the page shows in the week view; a bad definition
is refused next to its fields; the Web services page links the Explorer, the model's OpenAPI and WSDL; a
User-profile login sees no pool form and its forged POST is refused; and, with a short ``[console]
idle_timeout``, a console left open (its status bar polling) is sent to the login page. axe-core finds no
serious or critical violation on these pages. ``HOSTGATE_CONSOLE_SCREENSHOTS=1`` writes their screenshots.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from hostgate.cli.lab import Installation, installation, poll
from tests.console.test_console_browser import check_accessibility, login, post_from_page, screenshot
from tests.helpers.browser import browser, new_context, playwright_driver
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import write_model

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

__all__ = ["browser", "host_3270", "playwright_driver"]  # fixtures, imported for pytest

ALIAS = "vhi-prod-sea"
VIEWER_PASSWORD = "viewer-password-1"
IDLE = 4.0  # seconds: the short idle timeout of the last test


def _api(inst: Installation, method: str, path: str, body: object = None) -> httpx.Response:
    auth = base64.b64encode(f"admin:{inst.password}".encode()).decode()
    return httpx.request(
        method,
        f"{inst.members[0].url}/api/v1{path}",
        json=body,
        headers={"Authorization": f"Basic {auth}"},
        verify=ssl.create_default_context(cafile=str(inst.ca_file)),
        timeout=30,
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("console-pools")
    with installation(root / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        server = inst.add_session_server(1, ALIAS, interval=1.0)
        # Through the server's management session, so that the cluster records the deployment (the web
        # services publish recorded deployments; `model deploy --data-dir` records nothing).
        model = write_model(root, "demo3270", host_3270.port)
        creds = ["--ca-file", str(inst.ca_file), "--password-file", str(inst.password_file)]
        inst.hostgate("activatemodel", "--server", server.target, str(model), *creds, timeout=120)
        assert _api(inst, "POST", "/domains", {"name": "prod"}).status_code == 201
        added = _api(inst, "PUT", "/domains/prod/servers/session01", {"weight": 1, "priority": 1})
        assert added.status_code == 200, added.text
        pool = {
            "name": "orders",
            "domain": "prod",
            "model": "demo3270",
            "startup_entity": "CustomerList",
            "max_concurrent": 2,
            "initial_idle": 1,
            "min_idle": 1,
            "variable_lists": [
                {
                    "name": "creds",
                    "columns": ["userid", "password"],
                    "secret_entries": [["ADA", "LOVELACE"]] * 2,
                }
            ],
        }
        made = _api(inst, "POST", "/cluster/pools", pool)
        assert made.status_code == 201, made.text
        viewer = _api(inst, "POST", "/users", {"name": "viewer", "password": VIEWER_PASSWORD})
        assert viewer.status_code == 201, viewer.text
        grant = {"profile": "user", "subject_kind": "user", "subject": "viewer", "scope_kind": "cluster"}
        assert _api(inst, "POST", "/grants", grant).status_code in (200, 201)
        yield inst


@pytest.fixture(scope="module")
def admin_page(browser: Browser, lab: Installation) -> Iterator[Page]:
    context = new_context(browser)
    page = context.new_page()
    login(page, lab.members[0].url, "admin", lab.password)
    yield page
    context.close()


def test_pools_page_shows_live_figures_and_the_week_view(admin_page: Page, lab: Installation) -> None:
    base = lab.members[0].url
    admin_page.goto(f"{base}/console/pools")
    expect(admin_page.get_by_role("heading", name="Pool orders")).to_be_visible()
    row = admin_page.locator("#live-orders tbody tr", has_text="session01")
    # The pool warms on session01 (a signed-on session of the 3270 host); its heartbeat reports it, and the
    # live region shows it without a reload.
    expect(row.locator("td").nth(1)).to_have_text("1", timeout=60_000)
    expect(row).to_contain_text("live")
    section = admin_page.locator("section", has=admin_page.get_by_role("heading", name="Pool orders"))
    section.get_by_text("Change pool orders").click()
    section.get_by_label("Time zone").fill("Europe/Paris")
    section.get_by_label("Schedule rules, one per line").fill(
        "mon-fri 08:00-18:00 max_idle=2\nsat,sun 00:00-24:00 min_idle=0 max_idle=1"
    )
    section.get_by_role("button", name="Save the schedule of pool orders").click()
    expect(admin_page.locator(".done")).to_contain_text("schedule of 2 rule(s) in Europe/Paris set")
    grid = admin_page.get_by_role("table", name=re.compile("Sizes in force for pool orders"))
    expect(grid).to_be_visible()
    expect(grid.locator("thead th")).to_have_count(8)  # Hour + seven days
    expect(grid.locator("tbody tr")).to_have_count(24)
    # Every cell has text (the sizes), and rule cells name their rule: not colour alone.
    assert grid.locator("td.ruled").count() == grid.locator("td.ruled", has_text="rule").count() > 0
    nine = grid.locator("tbody tr", has=admin_page.locator('th[scope="row"]', has_text="09:00"))
    texts = nine.locator("td").all_inner_texts()
    days = grid.locator("thead th").all_inner_texts()[1:]
    for day, text in zip(days, texts, strict=True):
        expected = "2 · 0–1 rule 2" if day.startswith(("Sat", "Sun")) else "2 · 1–2 rule 1"
        assert text == expected, (day, text)
    check_accessibility(admin_page)
    screenshot(admin_page, "pools")
    grid.scroll_into_view_if_needed()
    screenshot(admin_page, "pools-week")


def test_a_bad_definition_is_refused_next_to_its_fields(admin_page: Page, lab: Installation) -> None:
    admin_page.goto(f"{lab.members[0].url}/console/pools")
    admin_page.get_by_text("Define a new pool").click()
    admin_page.get_by_label("Pool name").fill("9lives")
    admin_page.get_by_label("Model").fill("demo3270")
    admin_page.get_by_label("Startup entity").fill("CustomerList")
    admin_page.get_by_label("On domain").select_option("prod")
    admin_page.get_by_label("Max concurrent").first.fill("many")
    admin_page.get_by_role("button", name="Define pool").click()
    field = admin_page.get_by_label("Max concurrent").first
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(admin_page.locator("#new-max_concurrent-error")).to_contain_text("HG-4331")
    expect(admin_page.get_by_label("Pool name")).to_have_value("9lives")  # kept for correction
    field.fill("2")
    admin_page.get_by_role("button", name="Define pool").click()
    expect(admin_page.locator("#new-name-error")).to_contain_text("identifiers")
    check_accessibility(admin_page)
    screenshot(admin_page, "pools-refused")
    assert [p["name"] for p in _api(lab, "GET", "/cluster/pools").json()] == ["orders"]


def test_web_services_page_links_the_explorer_and_the_models_documents(
    admin_page: Page, lab: Installation
) -> None:
    base = lab.members[0].url
    poll(
        "the deployment of demo3270 recorded",
        lambda: any(d["model"] == "demo3270" for d in _api(lab, "GET", "/deployments").json()),
        deadline=60,
    )
    admin_page.goto(f"{base}/console/webservices")
    row = admin_page.locator("tbody tr", has_text="demo3270")
    expect(row).to_contain_text("session01")
    expect(row).to_contain_text("prod")
    assert row.get_by_role("link", name="WSDL of demo3270").get_attribute("href") == "/ws/soap/demo3270?wsdl"
    openapi = row.get_by_role("link", name="OpenAPI document of demo3270").get_attribute("href")
    assert openapi == "/ws/v1/models/demo3270/openapi.json"
    expect(admin_page.get_by_role("link", name="Download this member's plugin-cfg.xml")).to_be_visible()
    check_accessibility(admin_page)
    screenshot(admin_page, "webservices")
    admin_page.get_by_role("link", name="Open the Web Services Explorer").click()
    expect(admin_page).to_have_url(re.compile(r"/ws/explorer"))


def test_pages_fit_a_phone(browser: Browser, lab: Installation) -> None:
    context = new_context(browser, width=390, height=844)
    page = context.new_page()
    login(page, lab.members[0].url, "admin", lab.password)
    for path in ("/console/pools", "/console/webservices"):
        page.goto(f"{lab.members[0].url}{path}")
        expect(page.locator("h1")).to_be_visible()
        wide = page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                             && !e.closest(".scroll"))
                .slice(0, 5).map(e => e.tagName + "." + e.className)"""
        )
        assert not wide, f"{path} is wider than a phone's screen: {wide}"
    page.goto(f"{lab.members[0].url}/console/pools")
    screenshot(page, "pools-phone")
    context.close()


def test_a_user_login_sees_no_pool_form_and_its_post_is_refused(browser: Browser, lab: Installation) -> None:
    context = new_context(browser)
    page = context.new_page()
    login(page, lab.members[0].url, "viewer", VIEWER_PASSWORD)
    for path in ("/console/pools", "/console/webservices"):
        page.goto(f"{lab.members[0].url}{path}")
        expect(page.locator("h1")).to_be_visible()
        assert page.locator("main form[method=post]").count() == 0, path
        check_accessibility(page)
    expect(page.get_by_role("heading", name="Pool orders")).to_have_count(0)  # on the web services page
    page.goto(f"{lab.members[0].url}/console/pools")
    expect(page.get_by_role("heading", name="Pool orders")).to_be_visible()
    csrf = page.locator('form.logout input[name="csrf"]').input_value()
    refused = post_from_page(page, "/console/pools/delete", {"pool": "orders", "csrf": csrf})
    assert refused["status"] == 403 and refused["body"]["code"] == "HG-3002"
    assert [p["name"] for p in _api(lab, "GET", "/cluster/pools").json()] == ["orders"]
    context.close()


def test_an_idle_console_is_sent_to_the_login_page(browser: Browser, lab: Installation) -> None:
    """Regression: a console left open stayed logged in for 8 hours, its status bar polling every second."""
    member = lab.members[0]
    member.terminate()
    config = member.data_dir / "hostgate.toml"
    text = config.read_text()
    assert "idle_timeout = 1800.0" in text  # install writes every setting
    config.write_text(text.replace("idle_timeout = 1800.0", f"idle_timeout = {IDLE}"))
    member.start()
    member.wait_healthy()
    context = new_context(browser)
    page = context.new_page()
    login(page, member.url, "admin", lab.password)
    last_activity = time.monotonic()  # before the request: the member records the activity after this
    page.goto(f"{member.url}/console/pools")  # a live page: it polls its regions and the status bar
    expect(page.get_by_role("heading", name="Pool orders")).to_be_visible()
    # No action from here: only the console's own polling, which must not keep the session alive.
    expect(page).to_have_url(re.compile(r"/console/login\?next=(/|%2F)console(/|%2F)pools$"), timeout=60_000)
    idle_for = time.monotonic() - last_activity
    print(f"sent to the login page after {idle_for:.1f} s without activity (idle timeout {IDLE:g} s)")
    # A session may end up to a tenth of the timeout early (the recorded time's step, console/sessions.py).
    assert idle_for >= IDLE * 0.9
    login(page, member.url, "admin", lab.password)  # and a new login works
    context.close()
