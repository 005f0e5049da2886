"""The Capture page in a real browser (Debian's Chromium through Playwright) against a real member process whose
``[capture] hosts`` lists the real 3270 and VT test hosts (issue #22).

3270: sign on by typing into the page (the password into the non-display field: masked in the page, never in
its text), mark SignOn and Menu (the operation between them with its value choices), drag over a region of the
menu to define an attribute, download the model and check it with ``hostgate model check``. VT: drag over a
region to mark it as an attribute. Each page passes axe-core with no serious or critical violation; with
``HOSTGATE_CONSOLE_SCREENSHOTS=1`` the 3270 test writes docs/console/capture.png.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from hostgate.cli.lab import Member, installation
from tests.console.test_console_browser import check_accessibility, login, screenshot
from tests.helpers.browser import browser, new_context, playwright_driver
from tests.helpers.hosts import HostProcess, host_3270, host_vt

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

__all__ = ["browser", "host_3270", "host_vt", "playwright_driver"]  # the fixtures, imported for pytest

PASSWORD = "LOVELACE"


@pytest.fixture(scope="module")
def member(
    tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess, host_vt: HostProcess
) -> Iterator[tuple[Member, str]]:
    root = tmp_path_factory.mktemp("console-capture")
    with installation(root / "lab") as inst:
        first = inst.install_first(store="sqlite")
        config = first.data_dir / "hostgate.toml"
        settings = tomllib.loads(config.read_text())
        settings["capture"] = {"hosts": [f"127.0.0.1:{host_3270.port}", f"127.0.0.1:{host_vt.port}"]}
        config.write_text(tomli_w.dumps(settings))
        first.start()
        first.wait_healthy()
        yield first, inst.password


@pytest.fixture
def page(browser: Browser, member: tuple[Member, str]) -> Iterator[Page]:
    m, password = member
    context = new_context(browser)
    p = context.new_page()
    login(p, m.url, "admin", password)
    yield p
    context.close()


def _start(page: Page, base: str, host: HostProcess, kind: str) -> None:
    page.goto(f"{base}/console/capture")
    check_accessibility(page)
    page.get_by_label("Host").select_option(f"127.0.0.1:{host.port}")
    page.get_by_label("Type", exact=True).select_option(kind)
    page.get_by_label("Model name").fill("webcap")
    page.get_by_role("button", name="Connect and capture").click()
    expect(page.locator("#screen .cell").first).to_be_visible()


def _drag(page: Page, row: int, first: int, last: int) -> None:
    start = page.locator(f'#screen .cell[data-r="{row}"][data-c="{first}"]')
    end = page.locator(f'#screen .cell[data-r="{row}"][data-c="{last}"]')
    start.hover()
    page.mouse.down()
    end.hover()
    page.mouse.up()


def _mark(page: Page, name: str) -> None:
    page.locator("#entity-name").fill(name)
    page.get_by_role("button", name="Mark entity").click()
    expect(page.locator("#proposal h3").first).to_have_text(f"New entity {name}")
    page.get_by_role("button", name=f"Add entity {name}").click()
    expect(page.locator("#cap-status")).to_contain_text(f"entity {name} captured")


def test_capture_the_3270_sign_on_and_menu_in_the_page(
    page: Page, member: tuple[Member, str], host_3270: HostProcess, tmp_path: Path
) -> None:
    base = member[0].url
    _start(page, base, host_3270, "3270")
    expect(page.locator("#screen-text")).to_contain_text("SIGN ON")
    _mark(page, "SignOn")
    screen = page.locator("#screen")
    screen.focus()
    page.keyboard.type("ADA")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    expect(page.locator("#pending")).to_contain_text("**** (hidden field)")
    expect(page.locator("#screen .cell.masked").first).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#screen-text")).to_contain_text("MAIN MENU")
    page.locator("#entity-name").fill("Menu")
    page.get_by_role("button", name="Mark entity").click()
    expect(page.locator("#prop-op")).to_have_value("to_menu")
    page.locator("#prop-op").fill("signon")
    expect(page.locator("#prop-values select").nth(1)).to_be_disabled()  # the hidden value: a hidden variable
    page.get_by_role("button", name="Add entity Menu").click()
    expect(page.locator("#cap-status")).to_contain_text("entity Menu captured (operation SignOn.signon)")
    _drag(page, 1, 2, 10)
    expect(page.locator("#attr-row")).to_have_value("1")
    expect(page.locator("#attr-col")).to_have_value("2")
    expect(page.locator("#attr-length")).to_have_value("9")
    page.locator("#attr-name").fill("heading")
    page.get_by_role("button", name="Add attribute").click()
    expect(page.locator("#cap-status")).to_have_text("attribute heading added to Menu")
    check_accessibility(page)
    _drag(page, 5, 4, 16)  # a selection shown in the screenshot
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "capture")
    assert PASSWORD not in page.content()
    with page.expect_download() as caught:
        page.locator("#download").click()
    path = tmp_path / "webcap.yaml"
    caught.value.save_as(path)
    text = path.read_text()
    assert PASSWORD not in text and "heading:" in text
    check = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "model", "check", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    page.get_by_role("button", name="End capture").click()
    expect(page.get_by_role("button", name="Connect and capture")).to_be_visible()


def test_drag_a_vt_region_into_an_attribute(
    page: Page, member: tuple[Member, str], host_vt: HostProcess
) -> None:
    _start(page, member[0].url, host_vt, "vt")
    _drag(page, 1, 1, 12)
    expect(page.locator("#attr-length")).to_have_value("12")
    page.locator("#attr-name").fill("banner")
    page.get_by_role("button", name="Add attribute").click()
    expect(page.locator("#cap-status")).to_contain_text("attribute banner marked")
    expect(page.locator("#entities")).to_contain_text("marked here: banner (1,1) ×12")
    check_accessibility(page)
    page.get_by_role("button", name="End capture").click()
    expect(page.get_by_role("button", name="Connect and capture")).to_be_visible()
