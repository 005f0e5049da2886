"""The management side of model deployment: deploy tokens for session servers, deployment records, the list.

Kept beside api/app.py (like ldap_routes.py) so deployment adds routes without reshaping the app: ``create_app``
passes its ``principal`` (credentials checked by the login gate) and ``guarded`` (a write as a guarded call).

- ``POST /api/v1/session-servers/{name}/deployments/authorize``: the session server's registered certificate AND
  the user's forwarded credentials; answers a deploy token (management/deployments.py). Writes nothing.
- ``PUT``/``DELETE /api/v1/session-servers/{name}/deployments/{model}``: the certificate and a deploy token in
  the body (not in ``Authorization``, which the login gate reads as the caller's own credentials).
- ``PUT /api/v1/session-servers/{name}/deployments``: the certificate only; the models the server holds, those
  deployed offline included (``DeploymentService.reconcile``).
- ``GET /api/v1/deployments?server=S&domain=D``: any account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.management.deployments import DeploymentService
from hostgate.management.security import Principal
from hostgate.messages import DeployAuthorize, DeploymentReport, HeldModels, Removed

__all__ = ["deploy_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def _client_cert(request: Request) -> str | None:
    """The verified TLS client certificate (runtime/tls_scope.py fills the ASGI TLS extension), if any."""
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return str(chain[0]) if chain else None


def _source(request: Request, forwarded: str = "") -> str:
    """Where the change came from: the session server's address, and the caller's as that server saw it."""
    here = request.client.host if request.client else ""
    return f"{forwarded} via {here}" if forwarded else here


def deploy_routes(
    deployments: DeploymentService,
    principal: Callable[[Request], Principal],
    guarded: Callable[[Handler], Handler],
) -> list[Route]:
    async def authorize(request: Request) -> Response:
        who = principal(request)
        name = request.path_params["name"]
        # The certificate before the body (issue #15, finding 4: nothing is read for an unknown caller).
        deployments.domains.authenticate_server(name, _client_cert(request))
        body = await read_message(request, DeployAuthorize)
        grant = deployments.authorize(
            who,
            name,
            _client_cert(request),
            body.model,
            body.action,
            _source(request, body.source),
            body.digest,
        )
        return reply(grant)

    async def record(request: Request) -> Response:
        name, model = request.path_params["name"], request.path_params["model"]
        deployments.domains.authenticate_server(name, _client_cert(request))
        body = await read_message(request, DeploymentReport)
        rec = await deployments.record(
            name, _client_cert(request), model, body.token, body.digest, _source(request, body.source)
        )
        return reply(rec.view())

    async def withdraw(request: Request) -> Response:
        name, model = request.path_params["name"], request.path_params["model"]
        deployments.domains.authenticate_server(name, _client_cert(request))
        body = await read_message(request, DeploymentReport)
        await deployments.withdraw(
            name, _client_cert(request), model, body.token, _source(request, body.source)
        )
        return reply(Removed(model))

    async def held(request: Request) -> Response:
        name = request.path_params["name"]
        deployments.domains.authenticate_server(name, _client_cert(request))
        body = await read_message(request, HeldModels)
        answer = await deployments.reconcile(name, _client_cert(request), body.models, _source(request))
        return reply(answer)

    async def listing(request: Request) -> Response:
        principal(request)
        server = request.query_params.get("server") or None
        domain = request.query_params.get("domain") or None
        return reply([r.view() for r in deployments.list(server=server, domain=domain)])

    return [
        # Before the {model} routes: Starlette takes the first route whose path and method both match.
        Route("/api/v1/session-servers/{name}/deployments/authorize", authorize, methods=["POST"]),
        Route("/api/v1/session-servers/{name}/deployments/{model}", guarded(record), methods=["PUT"]),
        Route("/api/v1/session-servers/{name}/deployments/{model}", guarded(withdraw), methods=["DELETE"]),
        Route("/api/v1/session-servers/{name}/deployments", guarded(held), methods=["PUT"]),
        Route("/api/v1/deployments", listing, methods=["GET"]),
    ]
