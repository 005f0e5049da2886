"""The console's Web services page (issue #20): the models the cluster publishes as web services (#19), with
links to the Web Services Explorer, each model's REST OpenAPI document and SOAP WSDL, and this member's
``plugin-cfg.xml`` to download.

Every member serves the web services at ``/ws`` (webservices/member.py): the deployed models (the deployment
records the catalog lists, webservices/catalog.py), or the model files in ``DATA_DIR/webservices/models`` when
there are any (webservices/wiring.py), so this page reads the same two sources. The console may not import the
web-service layer or config (tests/test_architecture.py), so the ``/ws`` URL layout (webservices/__init__.py, a
contract) and the two file locations are named here again; a model file is listed by its file name, which
``hostgate model deploy`` makes the model's name. A login sees the models it may
use (the User profile on the model or on a domain of a server serving it, or cluster-wide), as the catalog
shows a caller only those. The links are this member's own ``/ws`` URLs: the alias reaches any member, and
each serves the same services.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hostgate.console.web import COOKIE, Ctx, Page, Views, security_headers
from hostgate.errors import ConsoleFileMissing, ConsoleLoginRequired, NotAuthorized
from hostgate.management.access import Profile

__all__ = ["services_page", "services_routes"]

PLUGIN_CFG_URL = "/console/webservices/plugin-cfg.xml"
WS_PREFIX = "/ws"  # webservices.WS_PREFIX
PLUGIN_CFG = Path("webservices") / "plugin-cfg.xml"  # config/plugin_cfg.py: PLUGIN_CFG
MODEL_FILES = Path("webservices") / "models"  # webservices/wiring.py: model_files()


@dataclass(frozen=True, slots=True)
class Service:
    model: str
    servers: tuple[str, ...]  # session servers serving it ("" for a model file)
    domains: tuple[str, ...]  # the domains of those servers
    redeploying: bool  # its servers serve different digests (a redeploy is under way)
    catalog: str
    openapi: str
    wsdl: str
    rest: str  # the base of its procedures' REST URLs


@dataclass(frozen=True, slots=True)
class PluginCfg:
    download: str  # "" when this member has none
    file: str  # where it is in the member's data directory


@dataclass(frozen=True, slots=True)
class WebServices:
    source: str  # "cluster" (the deployed models) or "model files"
    explorer: str
    services: tuple[Service, ...]
    plugin_cfg: PluginCfg


def _links(model: str) -> dict[str, str]:
    return {
        "catalog": f"{WS_PREFIX}/v1/models/{model}",
        "openapi": f"{WS_PREFIX}/v1/models/{model}/openapi.json",
        "wsdl": f"{WS_PREFIX}/soap/{model}?wsdl",
        "rest": f"{WS_PREFIX}/v1/models/{model}/procedures/",
    }


def _may_use(ctx: Ctx, model: str, servers: tuple[str, ...]) -> bool:
    for server in servers or ("",):
        try:
            ctx.service.access.require(ctx.who, Profile.USER, model=model, server=server or None)
        except NotAuthorized:
            continue
        return True
    return False


def _from_cluster(ctx: Ctx) -> list[Service]:
    service = ctx.service
    by_model: dict[str, list[tuple[str, str]]] = {}
    for rec in service.deployments.list():
        by_model.setdefault(rec.model, []).append((rec.server, rec.digest))
    domains = service.domains.domains()
    found = []
    for model, records in sorted(by_model.items()):
        servers = tuple(sorted({s for s, _ in records}))
        if not _may_use(ctx, model, servers):
            continue
        named = tuple(sorted(d.name for d in domains if any(m.server in servers for m in d.members)))
        redeploying = len({d for _, d in records}) > 1
        found.append(Service(model, servers, named, redeploying, **_links(model)))
    return found


def _from_files(ctx: Ctx, files: list[Path]) -> list[Service]:
    return [Service(p.stem, (), (), False, **_links(p.stem)) for p in files if _may_use(ctx, p.stem, ())]


def _plugin_cfg(ctx: Ctx) -> PluginCfg:
    if not (ctx.service.settings.data_dir / PLUGIN_CFG).is_file():
        return PluginCfg("", str(PLUGIN_CFG))
    return PluginCfg(PLUGIN_CFG_URL, str(PLUGIN_CFG))


async def services_page(ctx: Ctx) -> Page:
    files = sorted((ctx.service.settings.data_dir / MODEL_FILES).glob("*.yaml"))
    services = _from_files(ctx, files) if files else _from_cluster(ctx)
    data = WebServices(
        "model files" if files else "cluster",
        f"{WS_PREFIX}/explorer",
        tuple(services),
        _plugin_cfg(ctx),
    )
    return Page("webservices.html", "Web services", data)


def services_routes(views: Views) -> list[BaseRoute]:
    """The page, and this member's plugin-cfg.xml (for a web-service process or a client to start from)."""

    async def plugin_cfg(request: Request) -> Response:
        try:
            views.sessions.find(request.cookies.get(COOKIE))
        except ConsoleLoginRequired as exc:
            return security_headers(JSONResponse(exc.to_payload(), status_code=exc.http_status))
        path = views.service.settings.data_dir / PLUGIN_CFG
        try:
            body = path.read_bytes()
        except OSError:
            missing = ConsoleFileMissing(f"member {views.service.member_name} has no {PLUGIN_CFG}")
            return security_headers(JSONResponse(missing.to_payload(), status_code=missing.http_status))
        response = Response(body, media_type="application/xml")
        response.headers["Content-Disposition"] = 'attachment; filename="plugin-cfg.xml"'
        return security_headers(response)

    return [
        Route("/webservices", views.page(services_page), methods=["GET"]),
        Route("/webservices/plugin-cfg.xml", plugin_cfg, methods=["GET"]),
    ]
