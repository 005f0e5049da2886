"""The session server's HTTP face: sessions opened with bound tokens, independent of the management cluster.

A client connects here with the token the management cluster gave it (via domain, or for a direct
connection). The token is checked locally against the cluster signing key received at registration, so this
server keeps opening and serving sessions while every management member is down. A token of another cluster,
or for another server, is refused with "Token binding is invalid" (HG-3852).

Sessions are the unit the model runtime (models/hosts issue) will drive; here a session already has its owner,
model name, creation time and a liveness call (``ping``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate import tokens
from hostgate.errors import AuthenticationFailed, HostgateError, NotAuthorized, SessionNotFound, UsageError

__all__ = ["Session", "SessionRegistry", "create_session_app"]

log = logging.getLogger("hostgate.session")


@dataclass(slots=True)
class Session:
    id: str
    user: str
    model: str
    domain: str
    created_at: float
    last_used: float
    operations: int = 0


@dataclass(slots=True)
class SessionRegistry:
    server: str
    cluster_id: str
    signing_key: bytes
    capacity: int
    sessions: dict[str, Session] = field(default_factory=dict)

    def claims(self, token: str) -> tokens.TokenClaims:
        return tokens.verify(
            self.signing_key, token, kind="session", cluster_id=self.cluster_id, server=self.server
        )

    def open(self, claims: tokens.TokenClaims, model: str) -> Session:
        if claims.model and model and claims.model != model:
            raise NotAuthorized(f"the token is for model {claims.model!r}, not {model!r}")
        if len(self.sessions) >= self.capacity:
            raise UsageError(
                f"session server {self.server} is at its capacity of {self.capacity} sessions",
                hint="Connect via the domain again: routing will pick a server with room.",
            )
        now = time.time()
        session = Session(uuid.uuid4().hex, claims.user, model or claims.model, claims.domain, now, now)
        self.sessions[session.id] = session
        log.info("session %s opened for %s (model %r)", session.id, session.user, session.model)
        return session

    def get(self, claims: tokens.TokenClaims, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id} on session server {self.server}")
        if session.user != claims.user:
            raise NotAuthorized("the session belongs to another user")
        session.last_used = time.time()
        return session

    def close(self, claims: tokens.TokenClaims, session_id: str) -> None:
        self.get(claims, session_id)
        del self.sessions[session_id]
        log.info("session %s closed", session_id)


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise AuthenticationFailed("this request needs the token the management cluster gave you")
    return value


def create_session_app(registry: SessionRegistry) -> Starlette:
    def stamp(response: Response) -> Response:
        response.headers["X-Hostgate-Cluster-Id"] = registry.cluster_id
        response.headers["X-Hostgate-Session-Server"] = registry.server
        return response

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return stamp(await handler(request))
            except HostgateError as exc:
                return stamp(JSONResponse(exc.to_payload(), status_code=exc.http_status))

        return wrapped

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "server": registry.server,
                "cluster_id": registry.cluster_id,
                "active_sessions": len(registry.sessions),
                "capacity": registry.capacity,
            }
        )

    async def open_session(request: Request) -> Response:
        claims = registry.claims(_bearer(request))
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise UsageError("the request body is not valid JSON") from None
        model = body.get("model", "") if isinstance(body, dict) else ""
        if not isinstance(model, str):
            raise UsageError("field 'model': expected a string")
        session = registry.open(claims, model)
        return JSONResponse(asdict(session), status_code=201)

    async def show(request: Request) -> Response:
        claims = registry.claims(_bearer(request))
        return JSONResponse(asdict(registry.get(claims, request.path_params["id"])))

    async def ping(request: Request) -> Response:
        claims = registry.claims(_bearer(request))
        session = registry.get(claims, request.path_params["id"])
        session.operations += 1
        return JSONResponse(
            {"session": session.id, "server": registry.server, "operations": session.operations}
        )

    async def close(request: Request) -> Response:
        claims = registry.claims(_bearer(request))
        registry.close(claims, request.path_params["id"])
        return JSONResponse({"closed": request.path_params["id"]})

    return Starlette(
        routes=[
            Route("/api/v1/health", guarded(health), methods=["GET"]),
            Route("/api/v1/sessions", guarded(open_session), methods=["POST"]),
            Route("/api/v1/sessions/{id}", guarded(show), methods=["GET"]),
            Route("/api/v1/sessions/{id}", guarded(close), methods=["DELETE"]),
            Route("/api/v1/sessions/{id}/ping", guarded(ping), methods=["POST"]),
        ]
    )
