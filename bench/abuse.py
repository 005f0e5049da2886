"""Does a flood of wrong passwords freeze a management member? (issue #15, finding 3)

One management member (``--store sqlite``) runs on 127.0.0.1 (lab helpers). A prober asks ``/api/v1/health``
every 20 ms over one kept connection and records each latency, first idle, then while 64 clients (one event
loop in this process, raw HTTP/1.1 over TLS with kept connections, no client library overhead) send
``GET /api/v1/whoami`` with wrong passwords as fast as the answers come, for a fixed window. Two floods:

- **one address**: all 64 clients from 127.0.0.1 guessing the admin's password (one attacker);
- **64 addresses**: each client from its own 127.0.1.x address with its own user name, so per-address and
  per-user backoff do not stop them: what is left is the bounded argon2 pool and the bounded queue.

Printed: /health p50/p99/max idle and under each flood, the flood's answers by status (401 = argon2 said no,
429 = refused before argon2), and the member's RSS before and its peak (``VmHWM``) after. Goal: /health p99
under 50 ms during the flood. Everything stays on loopback and stops by itself after ``--seconds``.

    python bench/abuse.py [--seconds 8] [--clients 64]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from hostgate.cli.lab import Member, installation

GOAL_P99 = 0.050


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Prober:
    """/health every ``period`` seconds on one kept connection, in its own thread."""

    def __init__(self, member: Member, ctx: ssl.SSLContext, period: float = 0.02) -> None:
        self.member = member
        self.ctx = ctx
        self.period = period
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.member.url, verify=self.ctx, timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.get("/api/v1/health").raise_for_status()
                self.latencies.append(time.perf_counter() - started)
                self._stop.wait(self.period)

    def measure(self, seconds: float) -> list[float]:
        self.latencies = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(seconds)  # the measuring window itself, not synchronisation
        self._stop.set()
        self._thread.join(60)
        return self.latencies


async def _connect(
    member: Member, ctx: ssl.SSLContext, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        member.address, member.port, ssl=ctx, local_addr=(source, 0), server_hostname=member.address
    )


async def _client(
    member: Member,
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    user: str,
    stop_at: float,
    statuses: Counter[int],
) -> None:
    auth = base64.b64encode(f"{user}:wrong-password-guess".encode()).decode()
    request = (
        f"GET /api/v1/whoami HTTP/1.1\r\nHost: {member.address}\r\nAuthorization: Basic {auth}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    reader, writer = conn
    try:
        while loop.time() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (int(v) for k, _, v in (x.partition(":") for x in lines) if k.lower() == "content-length"), 0
            )
            await reader.readexactly(length)
            statuses[int(lines[0].split()[1])] += 1
    finally:
        writer.close()


async def _flood(
    member: Member,
    ctx: ssl.SSLContext,
    clients: int,
    seconds: float,
    spread: bool,
    connected: threading.Event,
) -> Counter[int]:
    # The TLS handshakes first (a burst of 64 costs the server ~0.1-0.2 s of CPU by itself): the prober measures
    # the wrong-password flood, not connection setup.
    conns = [
        await _connect(member, ctx, f"127.0.1.{i + 2}" if spread else "127.0.0.1") for i in range(clients)
    ]
    connected.set()
    statuses: Counter[int] = Counter()
    stop_at = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(
        *(
            _client(member, conn, f"intruder{i}" if spread else "admin", stop_at, statuses)
            for i, conn in enumerate(conns)
        )
    )
    return statuses


def _row(label: str, lat: list[float], extra: str = "") -> str:
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    return (
        f"{label:<34} {len(lat):>6} {statistics.median(lat) * 1000:>8.1f} {p99 * 1000:>8.1f} "
        f"{lat[-1] * 1000:>8.1f}  {extra}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="hostgate-abuse-") as tmp,
        installation(Path(tmp) / "lab") as inst,
    ):
        print("starting a management member (sqlite) ...", flush=True)
        member = inst.install_first(store="sqlite")
        member.start()
        member.wait_healthy()
        ctx = ssl.create_default_context(cafile=str(inst.ca_file))
        prober = Prober(member, ctx)
        rss_before = _rss_kib(member.pid, "VmRSS")
        rows = [_row("idle", prober.measure(args.seconds / 2))]
        worst = 0.0
        for spread in (False, True):
            label = f"{args.clients} clients, " + ("64 addresses" if spread else "one address")
            result: list[Counter[int]] = []
            connected = threading.Event()
            flood = threading.Thread(
                target=lambda s=spread, r=result, c=connected: r.append(
                    asyncio.run(_flood(member, ctx, args.clients, args.seconds, s, c))
                )
            )
            flood.start()
            if not connected.wait(120):
                raise SystemExit("the flood clients could not connect within 120 s")
            lat = prober.measure(args.seconds)
            flood.join(args.seconds + 60)
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(result[0].items())) if result else "?"
            rows.append(_row(label, lat, f"flood answers {answers}"))
            worst = max(worst, sorted(lat)[min(len(lat) - 1, int(len(lat) * 0.99))])
        peak = _rss_kib(member.pid, "VmHWM")
    print()
    print(f"/health latency (ms) while clients send wrong passwords, {args.seconds:g} s per flood")
    head = f"{'condition':<34} {'n':>6} {'p50':>8} {'p99':>8} {'max':>8}"
    print(head)
    print("-" * len(head))
    for row in rows:
        print(row)
    print(f"member RSS: {rss_before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB")
    print("machine load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    verdict = "met" if worst < GOAL_P99 else "NOT met"
    print(
        f"goal /health p99 < {GOAL_P99 * 1000:.0f} ms under the flood: {verdict} (worst p99 {worst * 1000:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
