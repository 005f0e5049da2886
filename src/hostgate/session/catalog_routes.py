"""The session face's catalog endpoints (#19): which models this server serves, and what each one offers.

- ``GET /api/v1/models``: ``[{"name", "digest"}]``, the models this server would open a session on now (a
  model file that does not validate is not served, so it is not listed).
- ``GET /api/v1/models/{name}/catalog``: the model's :class:`~hostgate.messages.catalog.ModelCatalog` (tables,
  procedures with typed inputs and outputs, the digest of the text it was built from), built by
  :func:`hostgate.models.describe.describe`. Nothing of the host is touched.

Authorized like the face's other calls (session/registry.py ``claims``): a session token of this cluster for
this server; a token bound to a model reads that model only (the list shows only it); without a token only
while the server's security is off (VHI's switch), as the user ``anonymous``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate import tokens
from hostgate._bodies import reply
from hostgate.errors import ModelNotFound, NotAuthorized
from hostgate.messages.catalog import ServedModel
from hostgate.models.describe import describe
from hostgate.models.library import ModelLibrary

__all__ = ["catalog_routes"]


def catalog_routes(
    models: Callable[[], ModelLibrary], claims: Callable[[Request], tokens.TokenClaims]
) -> list[Route]:
    """``models``: the registry's library (read at each call: the server may swap it); ``claims``: the face's
    token check (raises the coded refusal)."""

    async def listing(request: Request) -> Response:
        who = claims(request)
        library = models()
        served = []
        for name in library.names():
            if who.model and who.model != name:
                continue
            try:
                deployed = await library.get_async(name)
            except ModelNotFound:
                continue  # its file does not validate: no session would open on it
            served.append(ServedModel(name, deployed.digest))
        return reply(served)

    async def catalog(request: Request) -> Response:
        who = claims(request)
        name = request.path_params["name"]
        if who.model and who.model != name:
            raise NotAuthorized(f"the token is for model {who.model!r}, not {name[:100]!r}")
        deployed = await models().get_async(name)
        return reply(describe(deployed.model, digest=deployed.digest))

    return [
        Route("/api/v1/models/{name}/catalog", catalog, methods=["GET"]),
        Route("/api/v1/models", listing, methods=["GET"]),
    ]
