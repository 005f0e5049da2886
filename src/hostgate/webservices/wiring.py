"""The one place that joins the web-service layer's parts: REST and SOAP (wt-ws), the catalog listing and the
Explorer (wt-wsx), and where catalogs come from.

Catalogs come from the cluster (:class:`ClusterCatalog`: the deployed models, fetched as the caller from a
session server serving each) unless model files are given (``webservices/models/*.yaml`` in the data dir, or
``--model-file``): then those definitions are published instead, for a web-service process that must not depend
on which models are deployed. The cluster asked for catalogs is the one plugin-cfg.xml's serverName names at
the time of the call (a request's ServerName applies to its call, not to the listing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from starlette.routing import BaseRoute

from hostgate.connector.location import ClusterLocation
from hostgate.connector.session import connect_session_via_domain
from hostgate.messages import DeploymentView
from hostgate.models import load_model
from hostgate.models.describe import describe
from hostgate.webservices import CatalogSource
from hostgate.webservices.app import web_services
from hostgate.webservices.catalog import ClusterCatalog
from hostgate.webservices.catalog_routes import catalog_routes
from hostgate.webservices.explorer import explorer_routes
from hostgate.webservices.invoke import ClusterTrust, Invoker, PooledConnect, Target
from hostgate.webservices.service import StaticCatalog, WebServices

__all__ = ["assemble", "model_files"]


def model_files(data_dir: Path, given: Sequence[Path] = ()) -> list[Path]:
    """The model files to publish instead of the cluster's catalog (none: the cluster's)."""
    return list(given) or sorted((data_dir / "webservices" / "models").glob("*.yaml"))


def assemble(
    data_dir: Path,
    trust: ClusterTrust,
    *,
    files: Sequence[Path] = (),
    pooled: PooledConnect | None = None,
    max_body: int = 1_048_576,
    idle_timeout: float = 300.0,
    max_kept: int = 100,
    deployments: Callable[[], Sequence[DeploymentView]] | None = None,
) -> tuple[WebServices, list[BaseRoute]]:
    """The web services of ``data_dir`` (their REST and SOAP routes: ``routes(ws)``) and the routes that join
    them: the catalog listing and the Explorer. ``deployments``: the deployment records from this process's own
    copy of the cluster configuration (a member's), read at every call instead of asking the cluster."""
    invokers: list[Invoker] = []
    # Stateless calls that name a pool take a pooled session via the domain (issue #18's connector call).
    pooled_connect: PooledConnect = pooled if pooled is not None else connect_session_via_domain

    async def where() -> ClusterLocation:
        return await invokers[0].location(Target())

    def named() -> ClusterLocation:
        return invokers[0].named_location(Target())

    catalogs: CatalogSource = (
        StaticCatalog([describe(load_model(f)) for f in files])
        if files
        else ClusterCatalog(where, deployments=deployments, named=named)
    )
    ws = web_services(
        data_dir,
        catalogs,
        trust,
        pooled=pooled_connect,
        max_body=max_body,
        idle_timeout=idle_timeout,
        max_kept=max_kept,
    )
    invokers.append(ws.invoker)
    return ws, [*catalog_routes(catalogs), *explorer_routes()]
