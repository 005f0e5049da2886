"""The load process of bench/routing.py part 2: N simulated session servers heartbeating one address.

Heartbeat k (k = 0 .. total-1) of server ``k mod N`` is sent at ``start + k * period / N``: every server once
per period, evenly spread. Each heartbeat is what hostgate's ``Heartbeater`` sends: a new TLS connection
(verified against the cluster CA, the server's own client certificate: heartbeats are authenticated by it), one
``POST .../heartbeat``, then close. With ``--keep-alive`` each server keeps one connection instead and opens a new one only when
the server has closed it (uvicorn closes connections idle for ``timeout_keep_alive``). Plain asyncio streams, not httpx, so that the load process stays light.

Prints ``GO`` when the schedule starts (the driver times its CPU window from it), then one ``BENCH {json}`` line.
Bounded: a fixed number of heartbeats, each with a deadline, at most ``--max-in-flight`` at once (a heartbeat
due while that many are pending is counted as skipped, not queued).

    python bench/_heartbeat_load.py --servers servers.json --address A --port P --ca-file ca.pem \\
        --period 5 --seconds 25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def _request(
    address: str, port: int, name: str, interval: float, keep_alive: bool, holds: str | None
) -> bytes:
    body = json.dumps({"active_sessions": 0, "capacity": 100, "interval": interval}).encode()
    head = (
        f"POST /api/v1/session-servers/{name}/heartbeat HTTP/1.1\r\n"
        f"Host: {address}:{port}\r\n"
        "Content-Type: application/json\r\n"
        + (f"X-Hostgate-Heartbeat-Holds: {holds}\r\n" if holds is not None else "")
        + f"Content-Length: {len(body)}\r\n"
        + ("\r\n" if keep_alive else "Connection: close\r\n\r\n")
    )
    return head.encode() + body


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Client:
    """One simulated server's connection: new per heartbeat, or kept (and re-opened when the server closed it)."""

    address: str
    port: int
    ctx: ssl.SSLContext
    request: bytes
    keep_alive: bool
    conn: Conn | None = None
    busy: bool = False

    async def _open(self, stats: dict[str, int]) -> Conn:
        stats["handshakes"] += 1
        return await asyncio.open_connection(
            self.address, self.port, ssl=self.ctx, server_hostname=self.address
        )

    async def _exchange(self, conn: Conn) -> int:
        reader, writer = conn
        writer.write(self.request)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("closed by the server")
        if not self.keep_alive:
            await reader.read()  # Connection: close, so the answer ends with the connection
            return int(status_line.split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(status_line.split()[1])

    async def beat(self, stats: dict[str, int]) -> int:
        if self.conn is not None:
            try:
                return await self._exchange(self.conn)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                # The server closed the idle connection: open a new one, as httpx would.
                stats["reopened"] += 1
                self.close()
        self.conn = await self._open(stats)
        try:
            return await self._exchange(self.conn)
        finally:
            if not self.keep_alive:
                self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn[1].close()
            self.conn = None


async def run(args: argparse.Namespace) -> dict[str, object]:
    servers: list[dict[str, str]] = json.loads(args.servers.read_text())

    def context(server: dict[str, str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(args.ca_file))
        ctx.load_cert_chain(server["cert_file"], server["key_file"])
        return ctx

    clients = [
        Client(
            args.address,
            args.port,
            context(s),
            _request(args.address, args.port, s["name"], args.period, args.keep_alive, args.holds),
            args.keep_alive,
        )
        for s in servers
    ]
    n = len(clients)
    total = int(args.seconds * n / args.period)
    step = args.period / n
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    skipped = late = 0
    stats = {"handshakes": 0, "reopened": 0}
    pending: set[asyncio.Task[None]] = set()

    async def one(client: Client) -> None:
        started = time.monotonic()
        client.busy = True
        try:
            status = await asyncio.wait_for(client.beat(stats), args.deadline)
        except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            key = type(exc).__name__
            client.close()
        else:
            key = str(status)
            latencies.append(time.monotonic() - started)
        finally:
            client.busy = False
        statuses[key] = statuses.get(key, 0) + 1

    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    print("GO", flush=True)
    for k in range(total):
        due = start + k * step
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule: heartbeat k is due at start + k * step
        elif delay < -step:
            late += 1
        client = clients[k % n]
        if len(pending) >= args.max_in_flight or client.busy:
            skipped += 1
            continue
        task = asyncio.create_task(one(client))
        pending.add(task)
        task.add_done_callback(pending.discard)
    elapsed = loop.time() - start
    if pending:
        await asyncio.wait(pending, timeout=args.deadline + 1)
    for client in clients:
        client.close()
    latencies.sort()
    return {
        "scheduled": total,
        "sent_seconds": elapsed,
        "statuses": statuses,
        "skipped": skipped,
        "late": late,
        **stats,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers", type=Path, required=True, help='JSON list of {"name", "cert_file", "key_file"}'
    )
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--period", type=float, default=5.0, help="each server's heartbeat interval (s)")
    parser.add_argument("--seconds", type=float, default=25.0, help="how long to send (s)")
    parser.add_argument("--deadline", type=float, default=5.0, help="per heartbeat (s)")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--keep-alive", action="store_true", help="one kept connection per server")
    parser.add_argument(
        "--holds",
        help="X-Hostgate-Heartbeat-Holds to send (a conditional heartbeat: hostgate answers 204 when it matches)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print("BENCH " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
