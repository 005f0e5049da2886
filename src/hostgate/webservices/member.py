"""The web services inside a management member: the same routes, added to the member's app.

The member is a client of its own cluster here, like any web-service process: plugin-cfg.xml's serverName
(``DATA_DIR/webservices/plugin-cfg.xml``, default ``localhost``) names the alias, the member's CA is the
cluster CA, the member's ``[naming]`` settings resolve the alias, and an alias without a port means the member's
own API port. Catalogs come from the cluster (the deployed models), or from the model files in
``DATA_DIR/webservices/models/*.yaml`` when there are any (webservices/wiring.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from hostgate.config.settings import Settings
from hostgate.messages import DeploymentView
from hostgate.webservices import WS_PREFIX
from hostgate.webservices.app import routes
from hostgate.webservices.invoke import ClusterTrust, PooledConnect
from hostgate.webservices.service import WebServices
from hostgate.webservices.wiring import assemble, model_files

__all__ = ["PrefixRoutes", "member_webservices"]

_MATCHED = "hostgate.prefix_route"


class PrefixRoutes(BaseRoute):
    """``routes`` behind one test of the path's prefix, for the front of a member's route table.

    Starlette's router tries its routes in order, each a regular expression: the /ws routes after the member's
    API routes cost every web-service call ~50 failed matches (issue #19: 14 % of a member's CPU per REST call
    under cProfile), and in front of them they would cost every API call ten. Behind a prefix, an API call pays
    one ``startswith`` and a web-service call matches its own routes only. Unlike a ``Mount``, the paths,
    ``root_path`` and ``base_url`` the routes see are unchanged (an OpenAPI document names its server from
    ``base_url``). A path that matches no inner route is no match here, so the router goes on as before.
    """

    def __init__(self, prefix: str, routes: Sequence[BaseRoute]) -> None:
        self.prefix = prefix.rstrip("/") + "/"
        self.routes = list(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if not isinstance(path, str) or not path.startswith(self.prefix):
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, _MATCHED: route}
            if match is Match.PARTIAL and partial is None:  # a path that matches with another method: 405
                partial = match, {**child, _MATCHED: route}
        return partial or (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope[_MATCHED]
        # The router set ``route`` to this one; what was matched is the inner route (its path template is what
        # the member's request metrics label a request with, runtime/metrics_face.py).
        scope["route"] = route
        await route.handle(scope, receive, send)


def member_webservices(
    settings: Settings,
    pooled: PooledConnect | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    deployments: Callable[[], Sequence[DeploymentView]] | None = None,
) -> tuple[list[BaseRoute], WebServices]:
    """The routes to put first in a member's route table (one :class:`PrefixRoutes` under ``/ws``), and the
    web services (``aclose()`` them when the member stops).
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
    return [PrefixRoutes(WS_PREFIX, [*routes(ws), *joined]), *extra_routes], ws
