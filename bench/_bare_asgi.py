"""The baseline server of bench/routing.py: a bare app under hostgate's own uvicorn and TLS settings.

It answers hostgate's two hot paths without doing their work: ``POST /api/v1/route`` reads the body and returns
a route answer held in memory (one real answer of the member, read at start);
``POST /api/v1/session-servers/{name}/heartbeat`` reads the body and returns 204 (``--heartbeat empty``), or
with ``--heartbeat json`` does the JSON work hostgate's heartbeat does: parses the body and answers 200 with one
real heartbeat answer of the member (``--heartbeat-answer``), so that only hostgate's own work differs.
It uses the same ``_uvicorn()`` configuration (certificate, CA, ``CERT_OPTIONAL``, no access log, the same
hardened protocol and event loop) and the same member data directory as the hostgate member it is compared with, so only the application differs.

``--kind starlette`` is the framework hostgate is built on (the ceiling the bench compares with); ``--kind raw``
is a raw ASGI callable, the ceiling of uvicorn itself.

    python bench/_bare_asgi.py --data-dir DIR --port PORT --answer ANSWER.json [--kind raw]
        [--heartbeat json --heartbeat-answer BEAT.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate.config.settings import load_settings
from hostgate.runtime.server import _uvicorn, run_loop

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def starlette_app(answer: dict[str, Any], beat_answer: dict[str, Any] | None = None) -> Starlette:
    async def route(request: Request) -> Response:
        await request.body()
        return JSONResponse(answer)

    async def heartbeat(request: Request) -> Response:
        if beat_answer is None:
            await request.body()
            return Response(status_code=204)
        json.loads(await request.body())
        return JSONResponse(beat_answer)

    return Starlette(
        routes=[
            Route("/api/v1/route", route, methods=["POST"]),
            Route("/api/v1/session-servers/{name}/heartbeat", heartbeat, methods=["POST"]),
        ]
    )


def raw_app(answer: dict[str, Any]) -> App:
    body = json.dumps(answer, separators=(",", ":")).encode()
    route_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # drain the body, as any real handler must
            message = await receive()
            more = message.get("more_body", False)
        if scope["path"] == "/api/v1/route":
            await send({"type": "http.response.start", "status": 200, "headers": route_headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a hostgate member's data directory")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=["starlette", "raw"], default="starlette")
    parser.add_argument("--answer", type=Path, required=True, help="a route answer of hostgate's, as JSON")
    parser.add_argument("--heartbeat", choices=["empty", "json"], default="empty", help="(starlette only)")
    parser.add_argument("--heartbeat-answer", type=Path, help="a heartbeat answer of hostgate's, as JSON")
    args = parser.parse_args()
    settings = load_settings(args.data_dir)
    answer = json.loads(args.answer.read_text())
    beat: dict[str, Any] | None = None
    if args.heartbeat == "json":
        if args.heartbeat_answer is None:
            parser.error("--heartbeat json needs --heartbeat-answer")
        beat = json.loads(args.heartbeat_answer.read_text())
    app = starlette_app(answer, beat) if args.kind == "starlette" else raw_app(answer)
    # The member's server stack ([server] http and loop, or HOSTGATE_SERVER_HTTP/_LOOP), so that only the
    # application differs.
    run_loop(settings, _uvicorn(settings, app, args.port, {}).serve())


if __name__ == "__main__":
    main()
