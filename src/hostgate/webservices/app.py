"""The web services as routes (for a management member's app) or as their own Starlette app
(``hostgate webservices``), and the one place that builds a :class:`WebServices` from a data directory.

    ws = web_services(data_dir, catalogs, trust)          # plugin-cfg.xml under data_dir/webservices/
    app = build_app(ws, extra_routes=explorer_routes)     # or: routes(ws) into a member's app

``extra_routes`` and the :class:`CatalogSource` are how the catalog listing and the Explorer (wt-wsx) join in.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.config.plugin_cfg import PLUGIN_CFG, PluginConfigFile
from hostgate.webservices import CatalogSource
from hostgate.webservices.auth import Authenticator
from hostgate.webservices.invoke import ClusterTrust, Invoker, PooledConnect
from hostgate.webservices.rest import rest_routes
from hostgate.webservices.service import WebServices
from hostgate.webservices.soap import soap_routes

__all__ = ["build_app", "routes", "web_services"]

log = logging.getLogger("hostgate.webservices")


def web_services(
    data_dir: Path,
    catalogs: CatalogSource,
    trust: ClusterTrust,
    *,
    pooled: PooledConnect | None = None,
    max_body: int = 1_048_576,
    idle_timeout: float = 300.0,
    max_kept: int = 100,
) -> WebServices:
    """The web services of the process whose data directory is ``data_dir`` (``plugin-cfg.xml`` is
    ``data_dir/webservices/plugin-cfg.xml``, written with serverName localhost when missing)."""
    config = PluginConfigFile(data_dir / PLUGIN_CFG)
    config.ensure()
    invoker = Invoker(config, trust, pooled=pooled, idle_timeout=idle_timeout, max_kept=max_kept)
    return WebServices(catalogs, invoker, Authenticator(), max_body)


def routes(ws: WebServices) -> list[Route]:
    """The REST and SOAP routes under ``/ws`` (webservices/__init__.py's layout)."""
    return [*rest_routes(ws), *soap_routes(ws)]


def _lifespan(ws: WebServices) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await ws.aclose()  # kept sessions sign off, kept cluster connections close

    return lifespan


def build_app(
    ws: WebServices, *, extra_routes: Sequence[BaseRoute] = (), identity: dict[str, str] | None = None
) -> Starlette:
    """A Starlette app of the web services inside hostgate's error boundary (coded 500s, request ids)."""
    app = Starlette(
        routes=[*routes(ws), *extra_routes],
        exception_handlers=coded_http_exceptions(),
        middleware=[error_boundary(log, identity or {}, "web services")],
        lifespan=_lifespan(ws),
    )
    app.state.max_body = ws.max_body
    return app
