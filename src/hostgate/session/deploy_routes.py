"""The session face's deployment endpoints (``hostgate activatemodel`` / ``deactivatemodel``; session/deployer.py).

``PUT /api/v1/models/{name}`` ``{"text"}`` and ``DELETE /api/v1/models/{name}``, with the caller's own
credentials in ``Authorization`` (HTTP Basic, or a login token): this server checks nothing of them itself and
forwards them to its management cluster, which decides. Without credentials the request is refused before its
body is read; the body is capped like every other (``[security] max_body``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.errors import AuthenticationFailed, FeatureNotAvailable
from hostgate.messages import ModelUpload
from hostgate.session.deployer import Deployer, forwarded_credentials

__all__ = ["deploy_routes"]


def deploy_routes(deployer: Deployer | None) -> list[Route]:
    def ready(request: Request) -> tuple[Deployer, str]:
        if deployer is None:
            raise FeatureNotAvailable("this session server takes no deployments (it has no management alias)")
        authorization = request.headers.get("authorization", "")
        if not authorization:
            raise AuthenticationFailed(
                "deploying a model needs your credentials (HTTP Basic, or a login token)"
            )
        forwarded_credentials(authorization)  # malformed: refused before the body is read
        return deployer, authorization

    def source(request: Request) -> str:
        return request.client.host if request.client else ""

    async def deploy(request: Request) -> Response:
        found, authorization = ready(request)
        text = (await read_message(request, ModelUpload)).text
        answer = await found.deploy(authorization, request.path_params["name"], text, source(request))
        return reply(answer)

    async def withdraw(request: Request) -> Response:
        found, authorization = ready(request)
        answer = await found.withdraw(authorization, request.path_params["name"], source(request))
        return reply(answer)

    return [
        Route("/api/v1/models/{name}", deploy, methods=["PUT"]),
        Route("/api/v1/models/{name}", withdraw, methods=["DELETE"]),
    ]
