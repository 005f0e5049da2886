"""The web services inside a management member: the same routes, added to the member's app.

The member is a client of its own cluster here, like any web-service process: plugin-cfg.xml's serverName
(``DATA_DIR/webservices/plugin-cfg.xml``, default ``localhost``) names the alias, the member's CA is the
cluster CA, the member's ``[naming]`` settings resolve the alias, and an alias without a port means the member's
own API port. Catalogs come from the cluster (the deployed models), or from the model files in
``DATA_DIR/webservices/models/*.yaml`` when there are any (webservices/wiring.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute

from hostgate.config.settings import Settings
from hostgate.messages import DeploymentView
from hostgate.webservices.app import routes
from hostgate.webservices.invoke import ClusterTrust, PooledConnect
from hostgate.webservices.service import WebServices
from hostgate.webservices.wiring import assemble, model_files

__all__ = ["member_webservices"]


def member_webservices(
    settings: Settings,
    pooled: PooledConnect | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    deployments: Callable[[], Sequence[DeploymentView]] | None = None,
) -> tuple[list[BaseRoute], WebServices]:
    """The routes to add to a member's app, and the web services (``aclose()`` them when the member stops).
    ``deployments`` reads the member's own copy of the deployment records (no round trip per call)."""
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
    ws, joined = assemble(
        settings.data_dir,
        trust,
        files=model_files(settings.data_dir),
        pooled=pooled,
        max_body=settings.security.max_body,
        deployments=deployments,
    )
    return [*routes(ws), *joined, *extra_routes], ws
