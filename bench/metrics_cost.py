"""What the metrics cost the routing hot path: two lone members in the same run, one measuring (the default),
one with ``[metrics] token_file = ""`` (no /metrics, nothing measured), under the same wrk load as
bench/routing.py (its helpers: CPU split, pinning, the heartbeat keeper, wrk with route.lua).

Rounds alternate the two members, so that other load on the machine hits both alike; printed are the medians
of calls/s and calls per CPU-second of the member process, and the median of the per-round ratios
(measured / unmeasured, calls per CPU-second).

    python bench/metrics_cost.py [--rounds 5] [--seconds 4] [--connections 16 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from routing import (
    DOMAIN,
    STACKS,
    USER,
    USER_PASSWORD,
    Bench,
    Keeper,
    WrkResult,
    basic,
    median_of,
    pin,
    split_cpus,
)

from hostgate.cli.lab import Member, installation, poll

VARIANTS = {"measured": {}, "unmeasured": {"HOSTGATE_METRICS_TOKEN_FILE": ""}}


def _start(member: Member, env: dict[str, str], cpus: set[int]) -> None:
    saved = dict(os.environ)
    os.environ.update(env)  # Member.start passes os.environ on
    try:
        member.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    pin(member.pid, cpus)
    member.wait_healthy()


def _prepare(b: Bench) -> dict[str, tuple[Path, Path]]:
    b.call("POST", "/api/v1/users", {"name": USER, "password": USER_PASSWORD}, expect=201)
    b.call("POST", "/api/v1/domains", {"name": DOMAIN}, expect=201)
    # Routing needs the User profile (issue #17): on the domain, as an installation would grant it.
    grant = {
        "profile": "user",
        "subject_kind": "user",
        "subject": USER,
        "scope_kind": "domain",
        "scope": DOMAIN,
    }
    b.call("POST", "/api/v1/grants", grant, expect=201)
    creds = asyncio.run(b.register([f"session{i:02d}" for i in (1, 2, 3)], 3))
    for name in creds:
        b.call("PUT", f"/api/v1/domains/{DOMAIN}/servers/{name}", {"weight": 1, "priority": 1})
    return creds


def _routable(b: Bench) -> None:
    def call() -> httpx.Response | None:
        resp = httpx.post(
            b.hostgate.url("/api/v1/route"), content=b.body, headers={"Authorization": b.auth}, verify=b.ctx
        )
        last.append(resp)
        return resp if resp.status_code == 200 else None

    last: list[httpx.Response] = []
    try:
        poll("the domain's servers to be live", call, 30)
    except AssertionError:
        raise AssertionError(f"{b.member.name}: {last[-1].status_code} {last[-1].text}") from None


def in_process(rounds: int = 10, calls: int = 50_000) -> tuple[float, float, list[float]]:
    """CPU per request of the request timer alone (MetricsFace around a minimal ASGI app against the app
    alone, interleaved, in this process): the median microseconds of both and each round's difference."""
    from hostgate.metrics import ServerMetrics
    from hostgate.runtime.metrics_face import MetricsFace

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {}

    face = MetricsFace(app, ServerMetrics("bench", ("management",)), "management", b"t" * 32)
    scope = {"type": "http", "method": "POST", "path": "/api/v1/route", "hostgate.hot_endpoint": app}

    async def per_call(target: Any) -> float:
        started = time.process_time()
        for _ in range(calls):
            await target(dict(scope), receive, send)
        return (time.process_time() - started) / calls * 1e6

    async def measure() -> tuple[list[float], list[float]]:
        bare, timed = [], []
        for _ in range(rounds):
            bare.append(await per_call(app))
            timed.append(await per_call(face))
        return bare, timed

    bare, timed = asyncio.run(measure())
    return (
        statistics.median(bare),
        statistics.median(timed),
        [t - b for b, t in zip(bare, timed, strict=True)],
    )


def run(a: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("bench/metrics_cost.py needs wrk (Debian package wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="hostgate-bench-metrics-"))
    began = time.monotonic()
    os.environ.update(STACKS["new"])
    server_cpus, load_cpus = split_cpus()
    os.sched_setaffinity(0, load_cpus)
    try:
        with installation(tmp / "lab") as inst:
            benches: dict[str, Bench] = {}
            keepers: list[Keeper] = []
            for i, (label, env) in enumerate(VARIANTS.items()):
                member = inst.install_first(store="sqlite", cluster_name=f"bench{i}")
                _start(member, env, server_cpus)
                ctx = ssl.create_default_context(cafile=str(member.data_dir / "ca.pem"))
                work = tmp / label
                work.mkdir()
                b = Bench(a, member, ctx, basic("admin", inst.password), work, server_cpus, load_cpus)
                creds = _prepare(b)
                keepers.append(Keeper(member, ctx, creds).__enter__())
                _routable(b)
                benches[label] = b
            has = (benches["measured"].member.data_dir / "metrics-token").exists()
            hasnt = (benches["unmeasured"].member.data_dir / "metrics-token").exists()
            assert has and not hasnt, "the variants differ in their metrics"
            bare_us, timed_us, diffs = in_process()
            print(
                f"in process, CPU per request: minimal ASGI app {bare_us:.2f} us, with the request timer "
                f"{timed_us:.2f} us: +{statistics.median(diffs):.2f} us (rounds: "
                + ", ".join(f"{d:.2f}" for d in diffs)
                + ")"
            )
            print(
                f"settings: 2 lone members (--store sqlite), httptools+uvloop, TLS; server CPU {sorted(server_cpus)}, "
                f"load CPU {sorted(load_cpus)}; {a.rounds} rounds of {a.seconds:g} s; "
                f"load average at start {Path('/proc/loadavg').read_text().split()[0]}"
            )
            try:
                for b in benches.values():
                    b.wrk(b.hostgate, max(a.connections), 1)  # warm-up, not measured
                for conns in sorted(set(a.connections)):
                    runs: dict[str, list[WrkResult]] = {label: [] for label in benches}
                    for i in range(a.rounds):
                        # Each round in the other order: the one measured second does not always meet the
                        # machine's next burst of other load.
                        for label, b in list(benches.items())[:: 1 if i % 2 == 0 else -1]:
                            runs[label].append(b.wrk(b.hostgate, conns, a.seconds))
                    ratios = [
                        m.per_cpu_s / u.per_cpu_s
                        for m, u in zip(runs["measured"], runs["unmeasured"], strict=True)
                        if u.per_cpu_s > 0
                    ]
                    print(f"\n{conns} connections, POST /api/v1/route")
                    print(
                        f"  {'member':<12} {'calls/s':>9} {'calls/CPU-s':>12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
                    )
                    for label in benches:
                        r = median_of(runs[label])
                        print(
                            f"  {label:<12} {r.calls_per_s:>9.0f} {r.per_cpu_s:>12.0f} {r.p50_ms:>8.2f} "
                            f"{r.p99_ms:>8.2f} {r.errors:>7}"
                        )
                    share = statistics.median(ratios) if ratios else float("nan")
                    each = ", ".join(f"{100 * r:.1f}" for r in ratios)
                    print(
                        f"  measured / unmeasured, calls per CPU-second: {100 * share:.1f} % (rounds: {each})"
                    )
                    cpu_us = 1e6 / median_of(runs["unmeasured"]).per_cpu_s
                    timer_us = statistics.median(diffs)
                    print(
                        f"  one routing call costs the member {cpu_us:.0f} us of CPU; the timer's "
                        f"{timer_us:.2f} us is {100 * timer_us / cpu_us:.1f} % of it"
                    )
            finally:
                for keeper in keepers:
                    keeper.__exit__(None, None, None)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntotal run time {time.monotonic() - began:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--keep", action="store_true")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
