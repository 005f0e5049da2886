"""The Web Services Explorer in a real browser (#19): Playwright driving Debian's Chromium (tests/helpers/browser.py).

The page is served by uvicorn in this process with the catalog routes over a real lab cluster
(tests/helpers/ws_lab.py: a management member, session servers, a mock 3270 host, models activated with
``hostgate activatemodel``). The try-it tests run against a stand-in at the contract URL that makes the same
call through the connector (via domain, a real host), and against the real REST route of the web services.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.connector import ClusterLocation, connect_via_domain
from hostgate.errors import AuthenticationFailed, ModelItemNotFound
from hostgate.webservices.app import build_app
from hostgate.webservices.catalog import ClusterCatalog
from hostgate.webservices.catalog_routes import catalog_routes
from hostgate.webservices.explorer import CSP, explorer_routes
from hostgate.webservices.invoke import ClusterTrust
from hostgate.webservices.wiring import assemble
from tests.helpers.browser import browser, new_context, playwright_driver
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.webservices import plugin_cfg_text
from tests.helpers.ws_lab import WsLab, serve, ws_lab

__all__ = ["browser", "host_3270", "playwright_driver"]

pytestmark = [pytest.mark.slow]


def _rest_stand_in(location: ClusterLocation, source: ClusterCatalog) -> Route:
    """``POST /ws/v1/models/{model}/procedures/{procedure}`` as the contract says (JSON object of inputs in,
    ``{"columns", "rows"}`` out, coded errors), made through the connector: a stand-in for wt-ws's route."""

    async def call(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        try:
            user, _, password = base64.b64decode(header.partition(" ")[2]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthenticationFailed("credentials needed") from exc
        model, name = request.path_params["model"], request.path_params["procedure"]
        procedure = (await source.model(model, header)).procedure(name)
        if procedure is None:
            raise ModelItemNotFound(f"model {model!r} has no procedure {name!r}")
        inputs = await request.json()
        async with await connect_via_domain(location, "prod", model, user=user, password=password) as session:
            found = await session.perform_table_procedure(procedure.table, name, inputs)
        return JSONResponse({"columns": list(found.columns), "rows": [dict(r) for r in found.rows]})

    return Route("/ws/v1/models/{model}/procedures/{procedure}", call, methods=["POST"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[WsLab]:
    with ws_lab(tmp_path_factory.mktemp("wsexplorer"), host_3270) as found:
        found.activate("orders", found.s1, found.s2)
        yield found


@pytest.fixture(scope="module")
def base_url(lab: WsLab) -> Iterator[str]:
    source = ClusterCatalog(lab.location)

    @contextlib.asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await source.aclose()  # the catalog keeps its cluster connections per loop: closed with the server's

    app = Starlette(
        routes=[*catalog_routes(source), *explorer_routes(), _rest_stand_in(lab.location, source)],
        exception_handlers=coded_http_exceptions(),
        middleware=[error_boundary(logging.getLogger("test.explorer"), {}, "web services")],
        lifespan=closing,
    )
    with serve(app) as url:
        yield url


def _open(page: Page, base_url: str, lab: WsLab, errors: list[str], password: str | None = None) -> None:
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    resp = page.goto(f"{base_url}/ws/explorer")
    assert resp is not None and resp.status == 200
    assert resp.headers["content-security-policy"] == CSP
    # The keyboard alone: the user field, Tab to the password, Enter submits.
    page.get_by_label("User").focus()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(password if password is not None else lab.inst.password)
    page.keyboard.press("Enter")


def _choose_orders(page: Page) -> None:
    link = page.get_by_role("navigation").get_by_role("link", name="orders", exact=True)
    expect(link).to_be_visible(timeout=60_000)
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="orders", level=2)).to_be_visible()


def test_the_explorer_lists_the_deployed_model_and_its_procedures(
    browser: Browser, base_url: str, lab: WsLab
) -> None:
    context = new_context(browser)
    page = context.new_page()
    errors: list[str] = []
    try:
        _open(page, base_url, lab, errors)
        _choose_orders(page)
        main = page.get_by_role("main")
        expect(main.get_by_role("heading", name="list_customers")).to_be_visible()
        expect(main.get_by_role("heading", name="add_customer")).to_be_visible()
        inputs = main.get_by_role("table", name="Inputs of add_customer")
        expect(inputs.get_by_role("row")).to_have_count(4)  # a header and number, name, city
        expect(inputs.get_by_role("row").nth(1)).to_have_text("numberintegeryes")
        expect(inputs.get_by_role("row").nth(3)).to_have_text("citystringno")
        outputs = main.get_by_role("table", name="Outputs of list_customers")
        expect(outputs.get_by_role("row").nth(2)).to_have_text("namestring")
        expect(main.get_by_role("link", name="OpenAPI 3.1 document")).to_have_attribute(
            "href", "/ws/v1/models/orders/openapi.json"
        )
        expect(main.get_by_role("link", name="WSDL (SOAP 1.1)")).to_have_attribute(
            "href", "/ws/soap/orders?wsdl"
        )
        assert errors == []  # no CSP violation, no script error
    finally:
        context.close()


def test_a_wrong_password_shows_the_coded_refusal(browser: Browser, base_url: str, lab: WsLab) -> None:
    context = new_context(browser)
    page = context.new_page()
    try:
        _open(page, base_url, lab, [], password="not-the-password")
        expect(page.get_by_role("navigation").get_by_role("alert")).to_contain_text("HG-3001", timeout=60_000)
    finally:
        context.close()


def test_on_a_phone_nothing_scrolls_sideways(browser: Browser, base_url: str, lab: WsLab) -> None:
    context = new_context(browser, width=390, height=844)
    page = context.new_page()
    try:
        _open(page, base_url, lab, [])
        _choose_orders(page)
        expect(page.get_by_role("heading", name="add_customer")).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    finally:
        context.close()


def test_trying_a_call_shows_the_hosts_rows_and_a_coded_error(
    browser: Browser, base_url: str, lab: WsLab
) -> None:
    context = new_context(browser)
    page = context.new_page()
    try:
        _open(page, base_url, lab, [])
        _choose_orders(page)
        main = page.get_by_role("main")
        main.get_by_role("button", name="Call list_customers").click()
        rows = main.get_by_role("table", name="Rows of list_customers")
        expect(rows).to_be_visible(timeout=120_000)
        expect(rows.get_by_role("row").nth(0)).to_have_text("numbernamecity")
        assert rows.get_by_role("row").count() > 1  # the host's customers
        # A call refused (a required input left out): the coded error, not a blank.
        try_add = main.get_by_role("form", name="Try add_customer")
        try_add.get_by_label("number (required)").fill("12")
        try_add.evaluate("form => form.noValidate = true")  # past the browser's own required check
        try_add.get_by_role("button", name="Call add_customer").click()
        expect(try_add.get_by_role("alert")).to_contain_text("HG-", timeout=120_000)
    finally:
        context.close()


def test_trying_a_call_through_the_rest_route(browser: Browser, lab: WsLab) -> None:
    """As the stand-in test, against the real web services (webservices/wiring.py: REST, catalog and Explorer
    as a member or ``hostgate webservices`` serves them), plugin-cfg.xml naming the lab's alias."""
    data = lab.inst.root / "ws-data"
    (data / "webservices").mkdir(parents=True, exist_ok=True)
    (data / "webservices" / "plugin-cfg.xml").write_text(plugin_cfg_text(lab.alias, domain="prod"))
    trust = ClusterTrust(
        ca_file=lab.inst.ca_file,
        hosts_file=lab.hosts_file,
        sources=("hosts_file",),
        default_port=lab.inst.api_port,
        deadline=20.0,
    )
    ws, joined = assemble(data, trust)
    app = build_app(ws, extra_routes=joined)
    with serve(app) as url:
        context = new_context(browser)
        page = context.new_page()
        try:
            _open(page, url, lab, [])
            _choose_orders(page)
            main = page.get_by_role("main")
            main.get_by_role("button", name="Call list_customers").click()
            expect(main.get_by_role("table", name="Rows of list_customers")).to_be_visible(timeout=120_000)
        finally:
            context.close()
