"""The web services inside a management member: the same routes, added to the member's app.

The member is a client of its own cluster here, like any web-service process: plugin-cfg.xml's serverName
(``DATA_DIR/webservices/plugin-cfg.xml``, default ``localhost``) names the alias, the member's CA is the
cluster CA, the member's ``[naming]`` settings resolve the alias, and an alias without a port means the member's
own API port. The catalog source is the cluster's (wt-wsx) when given; until then the models in
``DATA_DIR/webservices/models/*.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from hostgate.config.settings import Settings
from hostgate.models import load_model
from hostgate.models.describe import describe
from hostgate.webservices import CatalogSource
from hostgate.webservices.app import routes, web_services
from hostgate.webservices.invoke import ClusterTrust, Invoker
from hostgate.webservices.service import StaticCatalog

__all__ = ["member_webservices"]


def member_webservices(
    settings: Settings, catalogs: CatalogSource | None = None, extra_routes: Sequence[BaseRoute] = ()
) -> tuple[list[BaseRoute], Invoker]:
    """The routes to add to a member's app, and the invoker (``aclose()`` it when the member stops)."""
    if catalogs is None:
        files = sorted((settings.data_dir / "webservices" / "models").glob("*.yaml"))
        catalogs = StaticCatalog([describe(load_model(f)) for f in files])
    naming = settings.naming
    trust = ClusterTrust(
        ca_file=settings.path(settings.tls.ca_file),
        ca_dir=settings.data_dir / "webservices" / "ca",
        hosts_file=settings.path(naming.hosts_file) if naming.hosts_file else None,
        dns_servers=naming.dns_servers,
        sources=naming.sources,
        default_port=settings.server.port,
        deadline=naming.deadline,
    )
    ws = web_services(settings.data_dir, catalogs, trust, max_body=settings.security.max_body)
    return [*routes(ws), *extra_routes], ws.invoker
