"""What making writes safe to hedge costs: plain vs guarded compare-and-set on a real 3-member etcd cluster.

Three hostgate members (etcd store) run on 127.0.0.1-3 (lab installation). This process opens the store as
member 1 does (its data directory's certificates) and times, one after another:

- **plain**: ``compare_and_set`` of one key (what a write cost before hedged writes), the baseline;
- **guarded**: the same ``compare_and_set`` under a ``WriteGuard`` (one txn with the idempotency record on the
  shared lease) plus ``complete_idempotency_record`` (the answer): what a write request costs the store now;
- **api**: ``PUT /api/v1/cluster/name`` through the alias with ``ClusterClient`` (TLS, argon2 cached, guarded
  write, waiting for the member's copy), end to end.

Usage: ``python bench/guarded_writes.py [--writes N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from hostgate.cli.lab import installation, start_cluster
from hostgate.config.settings import load_settings
from hostgate.connector.cluster import ClusterClient
from hostgate.store import open_store
from hostgate.store.base import Store
from hostgate.store.guard import WriteGuard, WriteRecord, guarding


def _report(name: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{name:<8} n={len(ms):4d}  p50 {statistics.median(ms):6.2f} ms  p99 {p99:6.2f} ms")


async def _timed(n: int, op: Callable[[int], Awaitable[None]]) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        samples.append(time.perf_counter() - started)
    return samples


async def _store_runs(store: Store, n: int) -> tuple[list[float], list[float]]:
    key = f"/bench/{uuid.uuid4().hex}"
    revision = await store.put(key, b"0")

    async def plain(i: int) -> None:
        nonlocal revision
        revision = await store.compare_and_set(key, str(i).encode(), revision)

    async def guarded(i: int) -> None:
        nonlocal revision
        guard = WriteGuard(uuid.uuid4().hex, f"bench/{i}", "bench", "fp", time.time() + 10.0)
        with guarding(guard):
            revision = await store.compare_and_set(key, str(i).encode(), revision)
        done = WriteRecord(guard.owner, guard.member, guard.fingerprint, "done", 200, {"i": i})
        await store.complete_idempotency_record(guard.key, done.encode(), guard.revision)

    await _timed(20, plain)  # warm the channel up
    # Interleaved in rounds, so both see the same machine load.
    plain_s: list[float] = []
    guarded_s: list[float] = []
    for _ in range(5):
        plain_s += await _timed(n // 5, plain)
        guarded_s += await _timed(n // 5, guarded)
    return plain_s, guarded_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostgate-bench-") as tmp, installation(Path(tmp)) as inst:
        members = start_cluster(inst, 3)
        hosts = inst.write_hosts_file()

        async def run() -> None:
            store = open_store(load_settings(members[0].data_dir))
            try:
                plain_s, guarded_s = await _store_runs(store, args.writes)
            finally:
                await store.close()
            _report("plain", plain_s)
            _report("guarded", guarded_s)
            client = ClusterClient(
                f"vhi-prod-sea:{inst.api_port}",
                ca_file=inst.ca_file,
                user="admin",
                password=inst.password,
                hosts_file=hosts,
                keep_alive=True,
            )
            try:

                async def rename(i: int) -> None:
                    await client.request("PUT", "/api/v1/cluster/name", {"name": f"bench-{i % 2}"})

                await _timed(10, rename)
                _report("api", await _timed(max(args.writes // 5, 20), rename))
            finally:
                await client.aclose()

        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
