"""Does a flood of wrong passwords freeze a management member? (issue #15, finding 3)

One management member (``--store sqlite``) runs on 127.0.0.1 (lab helpers). A prober asks ``/api/v1/health``
every 20 ms over one kept connection and records each latency, first idle, then while 64 clients (one event
loop in this process, raw HTTP/1.1 over TLS with kept connections, no client library overhead) send
``GET /api/v1/whoami`` with wrong passwords as fast as the answers come, for a fixed window. Two floods:

- **one address**: all 64 clients from 127.0.0.1 guessing the admin's password (one attacker);
- **64 addresses**: each client from its own 127.0.1.x address with its own user name, so per-address and
  per-user backoff do not stop them: what is left is the bounded argon2 pool and the bounded queue.

The other probes of the audit (issue #15, finding 8), each against the same member:

- **bodies**: six clients at once, each sending ``POST /api/v1/domains`` with a 50 MB body and no credentials,
  again and again (answered 401 before the body is read; the bytes a client got in before the answer are counted);
- **slow headers**: 300 TLS connections each sending one header byte every 0.5 s, reconnecting when cut, for
  ``--slow-seconds`` (25 s, the audit's window; longer than ``[security] header_timeout``);
- **nested JSON**: six admin clients (valid password, verified once then cached) posting a JSON body nested 100,000
  deep (``[[[...]]]``, 200 KB) on kept connections (a coded 400, never a 500).

Printed: /health p50/p99/max idle and under each probe, the probe's answers by status (401 = argon2 said no,
429 = refused before argon2), and the member's RSS (MiB) at the start of each row and its peak during the row
(``VmHWM``, reset through ``/proc/PID/clear_refs`` before each row; memory freed by an earlier row may stay with
the process, so compare a row's peak with its start). Goal: /health p99 under 50 ms during the floods. Everything
stays on loopback and stops by itself (``--seconds`` per probe).

    python bench/abuse.py [--seconds 8] [--clients 64] [--probes passwords,bodies,slow,nested]
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
_PROBES = (
    ("bodies", "6 x 50 MB bodies, no credentials"),
    ("slow", "300 trickling TLS connections"),
    ("nested", "6 x JSON nested 100k deep"),
)


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS (Linux: "5" to clear_refs, proc(5))."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


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


def _row(label: str, lat: list[float], start_kib: int, peak_kib: int, extra: str = "") -> str:
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    return (
        f"{label:<34} {len(lat):>6} {statistics.median(lat) * 1000:>8.1f} {p99 * 1000:>8.1f} "
        f"{lat[-1] * 1000:>8.1f} {start_kib / 1024:>6.0f} {peak_kib / 1024:>6.0f}  {extra}"
    )


def _status(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


_BODY_SIZE = 50 * 1000 * 1000
_CHUNK = b"a" * 65536


async def _big_body(member: Member, ctx: ssl.SSLContext, stop_at: float, out: Counter[str]) -> None:
    """POST a 50 MB body without credentials, again and again, until the window ends."""
    loop = asyncio.get_running_loop()
    head = (
        f"POST /api/v1/domains HTTP/1.1\r\nHost: {member.address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {_BODY_SIZE}\r\n\r\n"
    ).encode()
    while loop.time() < stop_at:
        reader, writer = await _connect(member, ctx, "127.0.0.1")
        answer = asyncio.ensure_future(reader.read(65536))
        writer.write(head)
        sent = 0
        try:
            while not answer.done() and sent < _BODY_SIZE and loop.time() < stop_at:
                writer.write(_CHUNK)
                await writer.drain()
                sent += len(_CHUNK)
            data = await asyncio.wait_for(answer, 30)
            out[str(_status(data))] += 1
        except (ConnectionError, ssl.SSLError, TimeoutError):
            out["reset"] += 1
        finally:
            answer.cancel()
            out["MB sent before the answer"] += sent // 1_000_000
            writer.close()


async def _trickler(
    member: Member, ctx: ssl.SSLContext, stop_at: float, out: Counter[str], held: list[float]
) -> None:
    """One header byte every 0.5 s, never finishing; reconnect when the member cuts the connection."""
    loop = asyncio.get_running_loop()
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000
    while loop.time() < stop_at:
        try:
            reader, writer = await _connect(member, ctx, "127.0.0.1")
        except (ConnectionError, ssl.SSLError, OSError):
            out["connect failed"] += 1
            await asyncio.sleep(0.5)  # the attacker's pace
            continue
        opened = loop.time()
        answer = asyncio.ensure_future(reader.read(65536))
        try:
            for byte in request:
                if answer.done() or loop.time() >= stop_at:
                    break
                writer.write(bytes([byte]))
                await asyncio.wait({answer}, timeout=0.5)  # the attacker's pace
            if answer.done() and not answer.cancelled() and answer.exception() is None:
                out[f"cut {_status(answer.result()) or 'EOF'}"] += 1
                held.append(loop.time() - opened)
        except (ConnectionError, ssl.SSLError):
            out["cut (reset)"] += 1
            held.append(loop.time() - opened)
        finally:
            answer.cancel()
            writer.close()


async def _nested(
    member: Member, ctx: ssl.SSLContext, password: str, stop_at: float, out: Counter[str]
) -> None:
    """POST a JSON body nested 100,000 deep with the admin's password, on one kept connection."""
    loop = asyncio.get_running_loop()
    body = b"[" * 100_000 + b"]" * 100_000
    auth = base64.b64encode(f"admin:{password}".encode()).decode()
    request = (
        f"POST /api/v1/domains HTTP/1.1\r\nHost: {member.address}\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reader, writer = await _connect(member, ctx, "127.0.0.1")
    try:
        while loop.time() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (int(v) for k, _, v in (x.partition(":") for x in lines) if k.lower() == "content-length"), 0
            )
            await reader.readexactly(length)
            out[str(_status(head))] += 1
    finally:
        writer.close()


async def _probe(
    kind: str, member: Member, ctx: ssl.SSLContext, password: str, seconds: float, connected: threading.Event
) -> tuple[Counter[str], list[float]]:
    out: Counter[str] = Counter()
    held: list[float] = []
    stop_at = asyncio.get_running_loop().time() + seconds
    connected.set()
    if kind == "bodies":
        await asyncio.gather(*(_big_body(member, ctx, stop_at, out) for _ in range(6)))
    elif kind == "slow":
        await asyncio.gather(*(_trickler(member, ctx, stop_at, out, held) for _ in range(300)))
    else:
        await asyncio.gather(*(_nested(member, ctx, password, stop_at, out) for _ in range(6)))
    return out, held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--slow-seconds", type=float, default=25.0)
    parser.add_argument("--probes", default="passwords,bodies,slow,nested")
    args = parser.parse_args()
    probes = set(args.probes.split(","))
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
        _reset_peak(member.pid)
        rows = [_row("idle", prober.measure(args.seconds / 2), rss_before, _rss_kib(member.pid, "VmHWM"))]
        worst = 0.0
        for spread in (False, True) if "passwords" in probes else ():
            _reset_peak(member.pid)
            start = _rss_kib(member.pid, "VmRSS")
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
            rows.append(_row(label, lat, start, _rss_kib(member.pid, "VmHWM"), f"flood answers {answers}"))
            worst = max(worst, sorted(lat)[min(len(lat) - 1, int(len(lat) * 0.99))])
        # The admin's password verified once (argon2: 64 MiB) before the rows that measure peaks use it.
        httpx.get(f"{member.url}/api/v1/whoami", auth=("admin", inst.password), verify=ctx, timeout=60)
        for kind, label in _PROBES:
            if kind not in probes:
                continue
            _reset_peak(member.pid)
            start = _rss_kib(member.pid, "VmRSS")
            window = args.slow_seconds if kind == "slow" else args.seconds
            got: list[tuple[Counter[str], list[float]]] = []
            ready = threading.Event()
            runner = threading.Thread(
                target=lambda k=kind, w=window, g=got, r=ready: g.append(
                    asyncio.run(_probe(k, member, ctx, inst.password, w, r))
                )
            )
            runner.start()
            if not ready.wait(120):
                raise SystemExit(f"the {kind} probe did not start within 120 s")
            lat = prober.measure(window)
            runner.join(window + 120)
            counts, held = got[0] if got else (Counter(), [])
            extra = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
            if held:
                extra += f"; held {min(held):.1f}-{max(held):.1f} s before the cut"
            rows.append(_row(label, lat, start, _rss_kib(member.pid, "VmHWM"), extra))
            worst = max(worst, sorted(lat)[min(len(lat) - 1, int(len(lat) * 0.99))])
        peak = _rss_kib(member.pid, "VmHWM")
    print()
    print(
        f"/health latency (ms) under each probe ({args.seconds:g} s each, slow headers {args.slow_seconds:g} s)"
    )
    head = f"{'condition':<34} {'n':>6} {'p50':>8} {'p99':>8} {'max':>8} {'RSS':>6} {'peak':>6}"
    print(head)
    print("-" * len(head))
    for row in rows:
        print(row)
    print(
        f"member RSS: {rss_before / 1024:.0f} MiB idle before the probes, peak of the last row {peak / 1024:.0f} MiB"
    )
    print("machine load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    verdict = "met" if worst < GOAL_P99 else "NOT met"
    print(
        f"goal /health p99 < {GOAL_P99 * 1000:.0f} ms under the flood: {verdict} (worst p99 {worst * 1000:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
