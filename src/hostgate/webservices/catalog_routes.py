"""``GET /ws/v1/models`` and ``GET /ws/v1/models/{model}``: the deployed models' catalogs as JSON (#19).

What the Web Services Explorer lists and ``hostgate scaffold`` reads: each a
:class:`~hostgate.messages.catalog.ModelCatalog` (a model whose catalog no server could give is listed with its
``error``, HG-4550). The caller's ``Authorization`` header is handed to the :class:`CatalogSource`, which asks the
cluster as that caller; no credentials: a coded 401 (HG-3001). Errors are raised as ``HostgateError`` and
answered by the app's error boundary (hostgate._http). The answers are per caller: ``Cache-Control: no-store``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import reply
from hostgate.webservices import WS_PREFIX, CatalogSource

__all__ = ["catalog_routes"]

_PRIVATE = {"Cache-Control": "no-store"}


def catalog_routes(source: CatalogSource) -> list[Route]:
    async def listing(request: Request) -> Response:
        found = await source.models(request.headers.get("authorization"))
        answer = reply(list(found))
        answer.headers.update(_PRIVATE)
        return answer

    async def one(request: Request) -> Response:
        found = await source.model(request.path_params["model"], request.headers.get("authorization"))
        answer = reply(found)
        answer.headers.update(_PRIVATE)
        return answer

    return [
        Route(f"{WS_PREFIX}/v1/models", listing, methods=["GET"]),
        Route(f"{WS_PREFIX}/v1/models/{{model}}", one, methods=["GET"]),
    ]
