"""Where a pooled acquire spends its time in the session server's app itself (no server, no TLS; issue #18).

The session server's real face (``create_session_app`` over a ``SessionRegistry`` and a ``PoolService`` holding
a pool on the mock 3270 host, inside ``MetricsFace`` as ``hostgate server`` runs it) is called directly as an
ASGI callable, the way uvicorn calls it: ``POST /api/v1/pools/bench/sessions`` with a pool token, timed alone
(the give-back and the pool's re-parking are not timed). For scale, in the same rounds: ``GET /api/v1/health``
without a token, and a bare ASGI app answering a constant. Prints CPU microseconds per call, then
(``--profile``) the top cProfile entries of the acquire by cumulative and by own time.

bench/pools.py measures the whole HTTPS round trip; this is the share of it the app is.

    python bench/profile_pool.py [--calls 2000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test hosts live in tests/helpers

from tests.helpers.hosts import MainframeHost  # noqa: E402
from tests.helpers.models import write_model  # noqa: E402

from hostgate import tokens  # noqa: E402
from hostgate.messages.enrolment import PublicKey  # noqa: E402
from hostgate.metrics import ServerMetrics  # noqa: E402
from hostgate.models import ModelLibrary, deploy_model  # noqa: E402
from hostgate.runtime.metrics_face import MetricsFace  # noqa: E402
from hostgate.session.pool_config import PoolSettings, PoolSizes  # noqa: E402
from hostgate.session.pool_service import PoolService  # noqa: E402
from hostgate.session.registry import SessionRegistry  # noqa: E402
from hostgate.session.server import create_session_app  # noqa: E402

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ACQUIRE = "/api/v1/pools/bench/sessions"
N = 4  # the pool's sessions


def scope(method: str, path: str, auth: str | None) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.11:9444"),
        (b"content-type", b"application/json"),
        (b"content-length", b"0"),
    ]
    if auth:
        headers.append((b"authorization", auth.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.11", 9444),
        "state": {},
        "extensions": {"tls": {"client_cert_chain": []}},
    }


async def call(app: ASGI, template: dict[str, Any]) -> tuple[int, bytes]:
    status, body = 0, b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body += message.get("body", b"")

    await app({**template, "headers": list(template["headers"]), "state": {}}, receive, send)
    return status, body


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b'{"status":"ok"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def settle(service: PoolService) -> None:
    pool = service.pools["bench"]
    deadline = time.monotonic() + 60
    while pool.status().idle != N:
        if time.monotonic() > deadline:
            raise SystemExit("the pool did not settle in time")
        await asyncio.sleep(0.001)  # the returned session is brought back to the startup entity meanwhile


async def acquires(app: ASGI, service: PoolService, template: dict[str, Any], n: int) -> float:
    """CPU microseconds per acquire (this process's CPU time, the acquire alone)."""
    claims = tokens.TokenClaims("session", "c1", "s1", user="bench", pool="bench")
    spent = 0.0
    for _ in range(n):
        started = time.process_time()
        status, body = await call(app, template)
        spent += time.process_time() - started
        if status != 201:
            raise SystemExit(f"acquire answered {status}: {body!r}")
        await service.registry.close(claims, body.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode())
        await settle(service)
    return spent / n * 1e6


async def plain(app: ASGI, template: dict[str, Any], n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        await call(app, template)
    return (time.process_time() - started) / n * 1e6


async def main(a: argparse.Namespace) -> None:
    kid, private_pem, public_b64 = tokens.generate_key()
    signer = tokens.Signer(kid, private_pem)
    keys = tokens.KeySet([PublicKey(kid, public_b64)])
    token, _ = signer.mint_session(
        600, cluster_id="c1", server="s1", user="bench", model="", domain="", pool="bench"
    )
    with MainframeHost("3270").start() as host, tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        models.mkdir()
        deploy_model(write_model(Path(tmp), "demo3270", host.port), models)
        registry = SessionRegistry("s1", "c1", keys, 1000, ModelLibrary(models))
        settings = PoolSettings(
            "bench", "demo3270", "Menu", PoolSizes(N, N, N), initial_idle=N, max_pending=2 * N
        )
        service = PoolService(registry, [settings])
        service.start()
        try:
            await settle(service)
            app = MetricsFace(
                create_session_app(registry, pools=service),
                ServerMetrics("s1", ["session"]),
                "session",
                b"x" * 16,
            )
            acquire = scope("POST", ACQUIRE, f"Bearer {token}")
            health = scope("GET", "/api/v1/health", None)
            runs: dict[str, list[float]] = {"bare ASGI app": [], "health, no token": [], "pooled acquire": []}
            for _ in range(a.rounds):  # interleaved, so that load from others hits every case alike
                runs["bare ASGI app"].append(await plain(bare, health, a.calls))
                runs["health, no token"].append(await plain(app, health, a.calls))
                runs["pooled acquire"].append(await acquires(app, service, acquire, a.calls))
            print(
                f"CPU microseconds per call, in process (no server, no TLS); min and median of {a.rounds} rounds"
            )
            for what, us in runs.items():
                print(f"{what:20} {min(us):7.1f} {statistics.median(us):7.1f}")
            if a.profile:
                prof = cProfile.Profile()
                claims = tokens.TokenClaims("session", "c1", "s1", user="bench", pool="bench")
                for _ in range(a.calls):
                    prof.enable()
                    _, body = await call(app, acquire)
                    prof.disable()
                    await registry.close(claims, body.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode())
                    await settle(service)
                for order in ("cumulative", "tottime"):
                    print(f"\n--- acquire: {order} ---")
                    pstats.Stats(prof).sort_stats(order).print_stats(a.top)
        finally:
            await service.close()
            await registry.close_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
