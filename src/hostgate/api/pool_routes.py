"""Routes of the cluster's pool definitions (management/pools.py), beside api/app.py like deploy_routes.py.

- ``/api/v1/cluster/pools[/{name}]``: list, define, show, change, delete (changes are guarded writes, so each
  leaves an audit entry); ``/drain`` and ``/resume``; ``/schedule`` (GET: in force now and the next changes,
  ``?changes=N``; PUT: set; DELETE: clear); ``/inspect``: where the pool runs and a pool-admin token per server.
- ``GET /api/v1/session-servers/{name}/pools``: that session server's pools, authenticated by its registered
  certificate alone (like its heartbeats); stored variable-list entries travel only here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_message, reply
from hostgate.errors import UsageError
from hostgate.management.pools import PoolAdmin
from hostgate.management.security import Principal
from hostgate.messages import Removed
from hostgate.messages.pools import PoolDefinition, PoolUpdate, ScheduleSpec

__all__ = ["pool_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def _client_cert(request: Request) -> str | None:
    """The verified TLS client certificate (runtime/tls_scope.py fills the ASGI TLS extension), if any."""
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return str(chain[0]) if chain else None


def pool_routes(
    pools: PoolAdmin,
    principal: Callable[[Request], Principal],
    guarded: Callable[[Handler], Handler],
) -> list[Route]:
    async def listing(request: Request) -> Response:
        principal(request)
        return reply([pools.view(r) for r in pools.records()])

    async def define(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, PoolDefinition)
        return reply(pools.view(await pools.create(who, body)), 201)

    async def show(request: Request) -> Response:
        principal(request)
        return reply(pools.view(pools.get(request.path_params["name"])))

    async def change(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, PoolUpdate)
        return reply(pools.view(await pools.update(who, request.path_params["name"], body)))

    async def delete(request: Request) -> Response:
        who = principal(request)
        await pools.delete(who, request.path_params["name"])
        return reply(Removed(request.path_params["name"]))

    async def drain(request: Request) -> Response:
        who = principal(request)
        return reply(pools.view(await pools.set_drained(who, request.path_params["name"], True)))

    async def resume(request: Request) -> Response:
        who = principal(request)
        return reply(pools.view(await pools.set_drained(who, request.path_params["name"], False)))

    async def schedule_show(request: Request) -> Response:
        principal(request)
        raw = request.query_params.get("changes", "5")
        if not raw.isdigit() or len(raw) > 3:
            raise UsageError(
                f"query parameter 'changes' must be a number of changes (0-100), not {raw[:20]!r}"
            )
        return reply(pools.schedule(request.path_params["name"], int(raw)))

    async def schedule_set(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, ScheduleSpec)
        return reply(pools.view(await pools.set_schedule(who, request.path_params["name"], body)))

    async def schedule_clear(request: Request) -> Response:
        who = principal(request)
        return reply(pools.view(await pools.set_schedule(who, request.path_params["name"], None)))

    async def inspect(request: Request) -> Response:
        who = principal(request)
        return reply(pools.inspect(who, request.path_params["name"]))

    async def server_pools(request: Request) -> Response:
        record = pools.domains.authenticate_server(request.path_params["name"], _client_cert(request))
        return reply(pools.for_server(record.name))

    base = "/api/v1/cluster/pools"
    return [
        Route(base, listing, methods=["GET"]),
        Route(base, guarded(define), methods=["POST"]),
        Route(base + "/{name}", show, methods=["GET"]),
        Route(base + "/{name}", guarded(change), methods=["PATCH"]),
        Route(base + "/{name}", guarded(delete), methods=["DELETE"]),
        Route(base + "/{name}/drain", guarded(drain), methods=["POST"]),
        Route(base + "/{name}/resume", guarded(resume), methods=["POST"]),
        Route(base + "/{name}/schedule", schedule_show, methods=["GET"]),
        Route(base + "/{name}/schedule", guarded(schedule_set), methods=["PUT"]),
        Route(base + "/{name}/schedule", guarded(schedule_clear), methods=["DELETE"]),
        Route(base + "/{name}/inspect", inspect, methods=["POST"]),
        Route("/api/v1/session-servers/{name}/pools", server_pools, methods=["GET"]),
    ]
