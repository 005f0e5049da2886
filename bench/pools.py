"""Pooled acquire against a cold connect-and-sign-on, and acquire under contention (issue #18).

The pool engine of a session server (``hostgate.session.pools`` behind ``PoolService``, the same objects the
server's ``POST /api/v1/pools/{name}/sessions`` calls) in this process, over the 3270 sample model and the
mock 3270 host (mainframe-mocker, ``src/hostgate/testhosts/mfhost.py``). In the same run:

- **cold**: what a client without a pool waits for: a new host session connected and signed on
  (``ModelSession.open``: connect, sign-on screen, user id and password, Enter, the menu), then signed off.
- **pooled**: ``PoolService.acquire`` of a pool holding ready sessions (the hand-out: queue check, the socket
  poll that proves the host is still there, the session registered under a new id), timed alone; each is
  given back and parked again before the next.
- **contention**: ``2 x max_concurrent`` clients loop acquire, one host call (the current entity), give back,
  for a fixed window; the pool brings each returned session back to the startup entity. Every wait is
  recorded (timeouts too, as their wait), and the longest is compared with the pool's max wait.

Then the same over HTTPS (``--no-http`` skips it): a management member and a session server (lab processes on
127.0.0.1/127.0.0.11) whose pools file holds the same pool; a client holding a token and a kept connection
(``connector/_wire.py``, what a session's calls use) times ``POST /api/v1/sessions`` (cold: connect and sign
on) against ``POST /api/v1/pools/bench/sessions`` (pooled), each followed (untimed) by its ``DELETE``, and
the same contention with ``2 x max_concurrent`` clients.

Via a domain (issue #18, same run, same pool): the route for the pool (``POST /api/v1/route`` with ``pool``,
a kept connection to the member) followed by the acquire (kept connection to the server), timed together;
and the connector's ``connect_session_via_domain`` and ``connect_session_direct`` whole, alternated (each a
new cluster client and new TLS connections, what an application calling them pays), then the same through one
``AsyncConnector`` (what an application that keeps one pays), beside that connector's cold ``connect_direct``
(no pool: the host connected and signed on).

Over HTTPS the floor, cold and pooled figures are interleaved: each cold sign-on is timed between floor and
pooled calls, so that a machine whose speed drifts shifts all three alike; the cold samples fall in ``--rounds``
rounds, and the ratio of each round is printed beside the whole.
The floor line is ``GET /api/v1/health`` without a token on the same kept connection: what any call costs
before a token is read or a pool is asked (TLS both ways, HTTP, the error boundary). ``--loop uvloop`` runs this
process's clients on uvloop (the servers run uvloop anyway, ``[server] loop``); the default is asyncio's own loop,
what an application gets unless it chooses otherwise.

Goals (issue #18): pooled acquire >= 20 x faster than cold, pooled p50 <= 2 ms, no starvation (longest wait
<= max_wait + 50 ms). The mock host signs on in a few milliseconds, far faster than a real host: the ratio
here is a floor.

    python bench/pools.py [--cold 60] [--pooled 500] [--rounds 5] [--seconds 5] [--max-concurrent 4]
                          [--no-http] [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test hosts live in tests/helpers

from tests.helpers.hosts import MainframeHost  # noqa: E402
from tests.helpers.models import write_model  # noqa: E402

from hostgate import tokens  # noqa: E402
from hostgate.cli.lab import Installation, installation  # noqa: E402
from hostgate.connector import (  # noqa: E402
    AsyncConnector,
    ClusterLocation,
    connect_session_direct,
    connect_session_via_domain,
)
from hostgate.connector._wire import Wire  # noqa: E402
from hostgate.errors import PoolError  # noqa: E402
from hostgate.hosts import open_session  # noqa: E402
from hostgate.models import ModelLibrary, deploy_model  # noqa: E402
from hostgate.session.model_session import ModelSession  # noqa: E402
from hostgate.session.pool_config import PoolSettings, PoolSizes  # noqa: E402
from hostgate.session.pool_service import PoolService  # noqa: E402
from hostgate.session.registry import SessionRegistry  # noqa: E402

CLAIMS = tokens.TokenClaims("session", "c1", "s1", user="bench", pool="bench")
ALIAS = "vhi-prod-sea"
DOMAIN = "prod"
POOLS = """\
pools:
  bench:
    model: demo3270
    startup_entity: Menu
    max_concurrent: {n}
    initial_idle: {n}
    min_idle: {n}
    max_pending: {pending}
    max_wait: {max_wait}
"""


def pct(values: list[float], q: int) -> float:
    """The q-th percentile in milliseconds."""
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def until(check: object, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("the pool did not settle in time")
        await asyncio.sleep(0.001)


async def cold(registry: SessionRegistry, runs: int) -> list[float]:
    deployed = await registry.models.get_async("demo3270")
    times = []
    for _ in range(runs):
        runtime = ModelSession(deployed.model, open_session(deployed.model.host))
        started = time.perf_counter()
        await runtime.open()
        times.append(time.perf_counter() - started)
        await runtime.close()
    return times


async def pooled(service: PoolService, runs: int) -> list[float]:
    pool = service.pools["bench"]
    idle = pool.status().idle
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        served = await service.acquire(CLAIMS, "bench")
        times.append(time.perf_counter() - started)
        await service.registry.close(CLAIMS, served.id)  # DELETE /sessions/{id}: back to the pool
        await until(lambda: pool.status().idle == idle)
    return times


async def contention(service: PoolService, clients: int, seconds: float) -> tuple[list[float], int, int]:
    waits: list[float] = []
    failures = 0
    calls = 0
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        nonlocal failures, calls
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                served = await service.acquire(CLAIMS, "bench")
            except PoolError:
                waits.append(time.perf_counter() - started)
                failures += 1
                continue
            waits.append(time.perf_counter() - started)
            await served.runtime.current_entity()
            calls += 1
            await service.registry.close(CLAIMS, served.id)

    await asyncio.gather(*(client() for _ in range(clients)))
    return waits, failures, calls


async def engine(args: argparse.Namespace, port: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        models.mkdir()
        deploy_model(write_model(Path(tmp), "demo3270", port), models)
        registry = SessionRegistry("s1", "c1", tokens.KeySet([]), 1000, ModelLibrary(models))
        n = args.max_concurrent
        settings = PoolSettings(
            "bench",
            "demo3270",
            "Menu",
            PoolSizes(n, n, n),
            initial_idle=n,
            max_pending=2 * n,
            max_wait=args.max_wait,
        )
        service = PoolService(registry, [settings])
        service.start()
        try:
            await until(lambda: service.pools["bench"].status().idle == n)
            cold_times = await cold(registry, args.cold)
            pooled_times = await pooled(service, args.pooled)
            waits, failures, calls = await contention(service, 2 * n, args.seconds)
        finally:
            await service.close()
            await registry.close_all()
    return Result(cold_times, pooled_times, waits, failures, calls)


class Face:
    """Timed calls to a session server over HTTPS with a held token and kept connections."""

    def __init__(self, url: str, ca: Path, token: str) -> None:
        parsed = httpx.URL(url)
        self.wire = Wire(
            parsed.host,
            parsed.port or 443,
            ssl.create_default_context(cafile=str(ca)),
            connect_timeout=10,
            timeout=120,
        )
        self.head = b"Host: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n" % (
            parsed.netloc,
            token.encode(),
        )

    async def call(self, method: str, target: str, body: bytes = b"") -> dict[str, object]:
        answer = await self.wire.request(method, target, self.head, body)
        found: dict[str, object] = json.loads(answer.content)
        if answer.status >= 400:
            raise RuntimeError(f"{method} {target}: {answer.status} {found}")
        return found


async def over_https(args: argparse.Namespace, port: int) -> Result:
    n = args.max_concurrent
    with tempfile.TemporaryDirectory() as tmp, installation(Path(tmp) / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        server = inst.add_session_server(1, ALIAS, interval=1.0)
        inst.deploy_model(server, write_model(Path(tmp), "demo3270", port))
        pools = POOLS.format(n=n, pending=2 * n, max_wait=args.max_wait)
        (server.data_dir / "pools.yaml").write_text(pools)
        server.terminate()
        server.start()
        server.wait_healthy()
        ca = inst.ca_file

        def token(**body: str) -> str:
            resp = httpx.post(
                f"{inst.members[0].url}/api/v1/tokens",
                json={"server": server.name, **body},
                auth=("admin", inst.password),
                verify=ssl.create_default_context(cafile=str(ca)),
                timeout=30,
            )
            return str(resp.json()["token"])

        own = Face(server.url, ca, token(model="demo3270"))
        pool = Face(server.url, ca, token(pool="bench"))

        async def idle() -> int:
            return int(str((await pool.call("GET", "/api/v1/pools/bench"))["idle"]))

        deadline = time.monotonic() + 60
        while await idle() != n:
            if time.monotonic() > deadline:
                raise SystemExit("the pool did not warm in time")
            await asyncio.sleep(0.01)
        # The floor of any call on this connection: TLS, HTTP and the boundary, no token, no pool (issue #18).
        bare_head = pool.head.split(b"Authorization: ")[0] + b"Content-Type: application/json\r\n"
        floor: list[float] = []
        cold_times: list[float] = []
        pooled_times: list[float] = []
        ratios: list[float] = []
        # Interleaved: each cold sign-on sits between floor and pooled calls timed next to it, so a machine whose
        # speed drifts during the run (other work, frequency, a neighbour on the host) shifts all three alike
        # instead of whichever was timed in the slow stretch. A round is a run of cold samples, for its ratio.
        rounds = max(1, args.rounds)
        per_round = max(1, args.cold // rounds)
        each = max(1, args.pooled // (rounds * per_round))  # floor and pooled calls per cold sign-on
        for _ in range(rounds):
            cold_round = []
            pooled_round = []
            for _ in range(per_round):
                for _ in range(each):
                    started = time.perf_counter()
                    await pool.wire.request("GET", "/api/v1/health", bare_head, b"")
                    floor.append(time.perf_counter() - started)
                started = time.perf_counter()
                opened = await own.call("POST", "/api/v1/sessions", b'{"model": "demo3270"}')
                cold_round.append(time.perf_counter() - started)
                await own.call("DELETE", f"/api/v1/sessions/{opened['id']}")
                for _ in range(each):
                    while await idle() != n:  # the pool whole again before each timed acquire
                        await asyncio.sleep(0.001)
                    started = time.perf_counter()
                    got = await pool.call("POST", "/api/v1/pools/bench/sessions")
                    pooled_round.append(time.perf_counter() - started)
                    await pool.call("DELETE", f"/api/v1/sessions/{got['id']}")
            ratios.append(statistics.median(cold_round) / statistics.median(pooled_round))
            cold_times += cold_round
            pooled_times += pooled_round
        waits: list[float] = []
        failures = calls = 0
        stop_at = time.monotonic() + args.seconds

        async def client() -> None:
            nonlocal failures, calls
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                answer = await pool.wire.request("POST", "/api/v1/pools/bench/sessions", pool.head, b"")
                waits.append(time.perf_counter() - started)
                if answer.status >= 400:
                    failures += 1
                    continue
                sid = json.loads(answer.content)["id"]
                await pool.call("GET", f"/api/v1/sessions/{sid}/entity")
                calls += 1
                await pool.call("DELETE", f"/api/v1/sessions/{sid}")

        await asyncio.gather(*(client() for _ in range(2 * n)))
        extra = [("floor: GET /api/v1/health, no token", floor)]
        extra += await via_domain(args, inst, server.name, pool, idle)
        await own.wire.aclose()
        await pool.wire.aclose()
    return Result(cold_times, pooled_times, waits, failures, calls, extra, ratios)


async def via_domain(
    args: argparse.Namespace, inst: Installation, server: str, pool: Face, idle: Callable[[], Awaitable[int]]
) -> list[tuple[str, list[float]]]:
    """Pooled acquire via a domain (issue #18), in the same run: the route for the pool on a kept connection to
    the member followed by the acquire on the kept connection to the server (what a long-lived client pays),
    then the connector's ``connect_session_via_domain`` and ``connect_session_direct`` whole (a new cluster
    client and new TLS connections per session, as an application calling them gets), and the same through
    one ``AsyncConnector`` (kept connections, a direct token reused), beside its cold ``connect_direct``."""
    n = args.max_concurrent
    ca = inst.ca_file
    member = inst.members[0]
    auth = ("admin", inst.password)
    verify = ssl.create_default_context(cafile=str(ca))
    for method, path, body in (
        ("POST", "/api/v1/domains", {"name": DOMAIN}),
        ("PUT", f"/api/v1/domains/{DOMAIN}/servers/{server}", {"weight": 1, "priority": 1}),
    ):
        httpx.request(
            method, member.url + path, json=body, auth=auth, verify=verify, timeout=30
        ).raise_for_status()
    parsed = httpx.URL(member.url)
    to_member = Wire(parsed.host, parsed.port or 443, verify, connect_timeout=10, timeout=120)
    basic = base64.b64encode(f"admin:{inst.password}".encode())
    member_head = b"Host: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\n" % (
        parsed.netloc,
        basic,
    )
    body = json.dumps({"domain": DOMAIN, "pool": "bench"}).encode()
    deadline = time.monotonic() + 60
    while (await to_member.request("POST", "/api/v1/route", member_head, body)).status != 200:
        if time.monotonic() > deadline:  # the server's pools reach the member with its next heartbeat
            raise SystemExit("routing for the pool did not start in time")
        await asyncio.sleep(0.01)
    routed = []
    for _ in range(args.pooled):
        started = time.perf_counter()
        answer = json.loads((await to_member.request("POST", "/api/v1/route", member_head, body)).content)
        head = (
            pool.head.split(b"Authorization: ")[0]
            + b"Authorization: Bearer %s\r\n" % answer["token"].encode()
        )
        head += b"Content-Type: application/json\r\n"
        got = await pool.wire.request("POST", "/api/v1/pools/bench/sessions", head, b"")
        routed.append(time.perf_counter() - started)
        sid = json.loads(got.content)["id"]
        await pool.wire.request("DELETE", f"/api/v1/sessions/{sid}", head, b"")
        while await idle() != n:
            await asyncio.sleep(0.001)
    await to_member.aclose()
    location = ClusterLocation(f"{ALIAS}:{inst.api_port}", ca, hosts_file=inst.root / "hosts")
    kinds = ("via domain", "direct", "connector via domain", "connector direct", "connector cold")
    whole: dict[str, list[float]] = {kind: [] for kind in kinds}
    async with AsyncConnector(location, user="admin", password=inst.password) as hg:
        for _ in range(args.connector):
            for kind in kinds:
                started = time.perf_counter()
                if kind == "via domain":
                    session = await connect_session_via_domain(
                        location, DOMAIN, "bench", user="admin", password=inst.password
                    )
                elif kind == "direct":
                    session = await connect_session_direct(
                        server, "bench", management=location, user="admin", password=inst.password
                    )
                elif kind == "connector via domain":
                    session = await hg.connect_session_via_domain(DOMAIN, "bench")
                elif kind == "connector direct":
                    session = await hg.connect_session_direct(server, "bench")
                else:  # no pool: the host connected and signed on for this session
                    session = await hg.connect_direct(server, "demo3270")
                whole[kind].append(time.perf_counter() - started)
                await session.close()
                while await idle() != n:
                    await asyncio.sleep(0.001)
    return [
        ("via domain: route + acquire, kept connections", routed),
        ("connect_session_via_domain, whole", whole["via domain"]),
        ("connect_session_direct, whole", whole["direct"]),
        ("AsyncConnector.connect_session_via_domain", whole["connector via domain"]),
        ("AsyncConnector.connect_session_direct", whole["connector direct"]),
        ("AsyncConnector.connect_direct (cold, no pool)", whole["connector cold"]),
    ]


@dataclass
class Result:
    cold: list[float]
    pooled: list[float]
    waits: list[float]
    failures: int
    calls: int
    extra: list[tuple[str, list[float]]] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # cold p50 / pooled p50 of each round

    def report(self, title: str, args: argparse.Namespace) -> bool:
        n = args.max_concurrent
        cold_p50, pooled_p50 = pct(self.cold, 50), pct(self.pooled, 50)
        speedup = cold_p50 / pooled_p50
        longest = max(self.waits) * 1000
        bound = args.max_wait * 1000 + 50
        print(f"## {title}")
        print(
            f"cold connect + sign-on ({len(self.cold):4d}): p50 {cold_p50:8.3f} ms  p99 {pct(self.cold, 99):8.3f} ms"
        )
        print(
            f"pooled acquire         ({len(self.pooled):4d}): p50 {pooled_p50:8.3f} ms  p99 {pct(self.pooled, 99):8.3f} ms"
        )
        for what, times in self.extra:
            print(f"{what:<47} ({len(times):4d}): p50 {pct(times, 50):8.3f} ms  p99 {pct(times, 99):8.3f} ms")
        if len(self.ratios) > 1:
            shown = ", ".join(f"{r:.0f}" for r in self.ratios)
            print(f"cold / pooled p50 in each of {len(self.ratios)} rounds: {shown}x")
        print(
            f"contention: {2 * n} clients, max_concurrent {n}, {args.seconds:g} s: {len(self.waits)} acquires, "
            f"{self.calls} host calls, {self.failures} coded refusals; wait p50 {pct(self.waits, 50):.2f} ms, "
            f"p99 {pct(self.waits, 99):.2f} ms, max {longest:.2f} ms"
        )
        goals = [
            (f"pooled >= 20x faster than cold ({speedup:.1f}x)", speedup >= 20),
            (f"pooled p50 <= 2 ms ({pooled_p50:.3f} ms)", pooled_p50 <= 2.0),
            (f"longest wait <= max_wait + 50 ms ({longest:.1f} <= {bound:.0f} ms)", longest <= bound),
        ]
        for text, met in goals:
            print(f"  goal {'met' if met else 'NOT met'}: {text}")
        return all(met for _, met in goals)


async def run(args: argparse.Namespace) -> int:
    with MainframeHost("3270").start() as host:
        met = (await engine(args, host.port)).report("engine, in process", args)
        if args.http:
            met &= (await over_https(args, host.port)).report("session server over HTTPS", args)
    return 0 if met else 1


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=60, help="cold sign-ons to time")
    parser.add_argument("--pooled", type=int, default=500, help="pooled acquires to time")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="over HTTPS: the cold samples fall in this many rounds, each with its ratio",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="contention window")
    parser.add_argument(
        "--connector", type=int, default=30, help="whole connector connects to time, each way"
    )
    parser.add_argument("--max-concurrent", type=int, default=4)
    parser.add_argument("--max-wait", type=float, default=1.0, help="the pool's max wait (seconds)")
    parser.add_argument("--no-http", dest="http", action="store_false", help="only the engine, in process")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop of this process (the clients and the in-process engine); the servers run uvloop",
    )
    args = parser.parse_args()
    print(f"# client loop: {args.loop}")
    with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
