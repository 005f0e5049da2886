"""One way for tests to drive a real browser: Debian's Chromium through Playwright's ``executable_path``.

Nothing is downloaded (``playwright install`` is never run): `make sysdeps` installs the ``chromium`` package and
the pinned ``playwright`` wheel brings only its driver. The console (#20) and the Web Services Explorer (#19) use
the same fixtures, so there is one place that knows where the browser is and how it is started.

Under CI (``CI`` set) a missing Chromium is an error, not a skip: CI must not skip what it can run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")


def chromium_path() -> str | None:
    """The Chromium binary Debian installs, or None."""
    override = os.environ.get("HOSTGATE_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for candidate in _CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    return found


def require_chromium() -> str:
    """The Chromium path; skips (with the reason) outside CI, fails under CI when it is missing."""
    path = chromium_path()
    if path is None:
        message = "needs Debian's chromium package (`make sysdeps` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """A headless Chromium for the module. ``--no-sandbox`` because CI runs as root, where Chromium's sandbox
    refuses to start; the pages are our own, served on loopback."""
    executable = require_chromium()
    launched = playwright_driver.chromium.launch(
        executable_path=executable,
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )
    try:
        yield launched
    finally:
        launched.close()


def new_context(browser: Browser, *, width: int = 1280, height: int = 800) -> BrowserContext:
    """A fresh context (own cookies) that trusts the test CA's certificates: tests serve TLS with a private CA,
    so the context ignores HTTPS errors instead of installing that CA system-wide. Default deadlines are sized
    for a loaded 2-core machine."""
    context = browser.new_context(
        ignore_https_errors=True,
        viewport={"width": width, "height": height},
        service_workers="block",
    )
    context.set_default_timeout(30_000)
    context.set_default_navigation_timeout(60_000)
    return context
