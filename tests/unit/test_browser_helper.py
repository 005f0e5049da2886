"""The shared browser helper starts Debian's Chromium (no downloaded browser) and renders a page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.helpers.browser import browser, chromium_path, new_context, playwright_driver

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["browser", "playwright_driver"]


def test_the_browser_is_debians_chromium_and_renders(browser: Browser) -> None:
    path = chromium_path()
    assert path is not None and "ms-playwright" not in path
    context = new_context(browser)
    try:
        page = context.new_page()
        page.set_content("<main><h1>hostgate</h1><button>Go</button></main>")
        assert page.get_by_role("heading").inner_text() == "hostgate"
        assert page.viewport_size == {"width": 1280, "height": 800}
    finally:
        context.close()
