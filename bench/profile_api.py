"""Where a route call and a heartbeat spend their time in the management app itself (no server, no TLS).

The real ``create_app`` over a real ManagementService (SQLite store, config cache: ``tests/helpers/inprocess.py``)
is called directly as an ASGI callable, the way uvicorn calls it, in a loop; a bare Starlette app answering the
same path from memory is timed the same way for scale. Prints CPU microseconds per call, then (``--profile``) the
top cProfile entries by cumulative and by own time.

    python bench/profile_api.py [--calls 5000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.helpers.inprocess import ADMIN, PASSWORD, start_member

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.management.routing import Heartbeat

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ROUTE_BODY = b'{"domain": "prod", "model": "m"}'
HB_BODY = b'{"active_sessions": 1, "capacity": 10, "interval": 5.0}'


def scope(path: str, body: bytes, auth: str | None, cert: str | None) -> dict[str, Any]:
    headers = [
        (b"host", b"m1:9443"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if auth:
        headers.append((b"authorization", auth.encode()))
    s: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9443),
    }
    if cert:
        s["extensions"] = {"tls": {"client_cert_chain": [cert]}}
    return s


async def call(app: ASGI, template: dict[str, Any], body: bytes) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app({**template, "headers": list(template["headers"])}, receive, send)
    return status


async def loop(app: ASGI, template: dict[str, Any], body: bytes, n: int) -> float:
    """CPU microseconds per call (this process's CPU time: on a machine others load, wall time follows the
    share of a core this process happens to get)."""
    assert await call(app, template, body) == 200, "the call failed"
    started = time.process_time()
    for _ in range(n):
        await call(app, template, body)
    return (time.process_time() - started) / n * 1e6


def bare() -> Starlette:
    answer = b'{"server":"s1","url":"https://127.0.0.1:9000","token":"x","expires":1.0}'

    async def route(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    return Starlette(routes=[Route("/api/v1/route", route, methods=["POST"])])


async def main(a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        member = await start_member(Path(tmp) / "m1")
        service = member.service
        domains = service.domains
        domains.router.rng = random.Random(1)
        certs: dict[str, str] = {}
        for name in ("s1", "s2", "s3"):
            csr, _ = pki.make_csr(name)
            grant = await domains.register_server(
                ADMIN, name=name, address="127.0.0.1", port=9000, advertised_address="",
                advertised_port=0, csr_pem=csr.decode(),
            )  # fmt: skip
            certs[name] = grant.cert_pem
        await domains.create_domain(ADMIN, "prod")
        for name in certs:
            await domains.add_server(ADMIN, "prod", name, 1, 1)
        for name in certs:
            domains.heartbeat(name, certs[name], Heartbeat(name, 0, 10, 3600.0))
        # A plain user routes through a domain it holds the User profile on (issue #17), as bench/routing.py's.
        await member.grant("user", "operator", "domain", "prod")
        app = create_app(service)
        auth = "Basic " + base64.b64encode(f"operator:{PASSWORD}".encode()).decode()
        route = scope("/api/v1/route", ROUTE_BODY, auth, None)
        hb = scope("/api/v1/session-servers/s1/heartbeat", HB_BODY, None, certs["s1"])
        # The operator's password once through argon2: afterwards the remembered verification answers.
        await call(app, route, ROUTE_BODY)
        cases = {
            "bare route": (bare(), route, ROUTE_BODY),
            "hostgate route": (app, route, ROUTE_BODY),
            "hostgate heartbeat": (app, hb, HB_BODY),
        }
        runs: dict[str, list[float]] = {what: [] for what in cases}
        for _ in range(a.rounds):  # interleaved, so that load from others hits every case alike
            for what, (target, template, body) in cases.items():
                runs[what].append(await loop(target, template, body, a.calls))
        print(
            f"CPU microseconds per call, in process (no server, no TLS); min and median of {a.rounds} rounds"
        )
        for what, us in runs.items():
            print(f"{what:20} {min(us):7.1f} {statistics.median(us):7.1f}")
        share = min(runs["bare route"]) / min(runs["hostgate route"])
        print(f"hostgate route / bare route: {share:.0%} of the bare app's rate per CPU-second")
        if a.profile:
            for what, template, body in (("route", route, ROUTE_BODY), ("heartbeat", hb, HB_BODY)):
                prof = cProfile.Profile()
                prof.enable()
                await loop(app, template, body, a.calls)
                prof.disable()
                print(f"\n--- {what}: cumulative ---")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(a.top)
                print(f"\n--- {what}: own time ---")
                pstats.Stats(prof).sort_stats("tottime").print_stats(a.top)
        await member.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
