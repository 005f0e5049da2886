"""Time to a successful call through the alias when the first member is hung, refused or killed.

Three hostgate members (etcd store) run on 127.0.0.1-3; a hosts file in the KB 7021563 format names them in
that order under the alias, so every client tries workhorse01 first. For each state of workhorse01 the same
call, ``GET /api/v1/health`` through the alias, is timed in this process by two clients:

- **hostgate**: ``ClusterClient.request`` (resolve the alias, staggered dialer with 0.25 s between attempts,
  HTTPS with the cluster CA, cluster-id check). Every trial uses an alias name of its own (a hosts file
  naming the same members in the same order), so the dialer remembers no good member from an earlier trial:
  each figure is a client's first call after the fault, the worst case.
- **sequential**: a VHI-style connector (KB: "An attempt is made to contact the first address in the list. If
  no response is received, the next address is tried"): the same resolution, then one address after
  another with httpx, a 5 s timeout per address, the same TLS context and cluster-id check.

States of workhorse01: healthy (reference); **hung** (SIGSTOP: the kernel still accepts TCP, nothing
answers); **refused** (stopped with SIGTERM: its port refuses); **killed** (kill -9 of the member with its
etcd). Goals for hostgate's p99: 0.30 s hung, 0.02 s refused or killed.

Under a hung member the sequential trials overlap (each started 0.3 s after the previous, so their calls to
the next member do not pile up), because one after another they would take 5 s each.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hostgate.cli.lab import Installation, Member, installation, start_cluster
from hostgate.connector.cluster import ClusterClient, cluster_id_of_ca
from hostgate.naming import AliasResolver, format_target

SEQUENTIAL_TIMEOUT = 5.0
GOALS = {"hung": 0.30, "refused": 0.02, "killed": 0.02}
Call = Callable[[str, Path], Awaitable[str]]


@dataclass
class Figures:
    times: list[float] = field(default_factory=list)
    answered_by: set[str] = field(default_factory=set)

    def p(self, q: int) -> float:
        return statistics.quantiles(self.times, n=100, method="inclusive")[q - 1]


class Bench:
    def __init__(self, inst: Installation, workdir: Path) -> None:
        self.inst = inst
        self.workdir = workdir
        ca_pem = inst.ca_file.read_bytes()
        self.cluster_id = cluster_id_of_ca(ca_pem)
        self.tls = ssl.create_default_context(cadata=ca_pem.decode())
        self.aliases = 0

    def new_alias(self) -> tuple[str, Path]:
        """A fresh alias (nothing remembered for it) in its own KB-format hosts file, members in order."""
        self.aliases += 1
        alias = f"bench-{self.aliases:04d}"
        path = self.workdir / f"hosts-{self.aliases:04d}"
        path.write_text("".join(f"{m.address} {m.name} {alias}\n" for m in self.inst.members))
        return alias, path

    async def hostgate(self, alias: str, hosts: Path) -> str:
        client = ClusterClient(f"{alias}:{self.inst.api_port}", ca_file=self.inst.ca_file, hosts_file=hosts)
        return (await client.request("GET", "/api/v1/health", auth=False)).member

    async def sequential(self, alias: str, hosts: Path) -> str:
        resolution = await AliasResolver(hosts_file=hosts).resolve(alias)
        for address in resolution.addresses:
            url = f"https://{format_target(address, self.inst.api_port)}/api/v1/health"
            try:
                async with httpx.AsyncClient(verify=self.tls, timeout=SEQUENTIAL_TIMEOUT) as client:
                    resp = await client.get(url)
            except httpx.HTTPError:
                continue
            if resp.status_code == 200 and resp.headers.get("x-hostgate-cluster-id") == self.cluster_id:
                return resp.headers["x-hostgate-member"]
        raise RuntimeError(f"no member answered for {alias}")

    async def _timed(self, call: Call, figures: Figures) -> None:
        alias, hosts = self.new_alias()
        started = time.perf_counter()
        member = await call(alias, hosts)
        figures.times.append(time.perf_counter() - started)
        figures.answered_by.add(member)

    async def run(self, call: Call, trials: int, *, overlap: float = 0.0) -> Figures:
        figures = Figures()
        if overlap:
            tasks = []
            for _ in range(trials):
                tasks.append(asyncio.create_task(self._timed(call, figures)))
                await asyncio.sleep(overlap)  # pacing the starts, not synchronisation
            await asyncio.gather(*tasks)
        else:
            for _ in range(trials):
                await self._timed(call, figures)
        return figures

    def measure(self, state: str, trials: int) -> tuple[Figures, Figures]:
        overlap = 0.3 if state == "hung" else 0.0
        hg = asyncio.run(self.run(self.hostgate, trials))
        seq = asyncio.run(self.run(self.sequential, trials, overlap=overlap))
        return hg, seq


def _restart(member: Member) -> None:
    member.start()
    member.wait_healthy()


def run(trials: int) -> int:
    results: dict[str, tuple[Figures, Figures]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="hostgate-bench-") as tmp,
        installation(Path(tmp) / "lab") as inst,
    ):
        print(f"starting 3 members on 127.0.0.1-3 ({trials} trials per client and state) ...", flush=True)
        started = time.monotonic()
        start_cluster(inst, 3)
        bench = Bench(inst, Path(tmp))
        first = inst.members[0]
        bench.measure("warm-up", 5)
        results["healthy"] = bench.measure("healthy", trials)
        print("  healthy done", flush=True)
        first.stop()
        try:
            results["hung"] = bench.measure("hung", trials)
        finally:
            first.cont()
        first.wait_healthy()
        print("  hung (SIGSTOP) done", flush=True)
        first.terminate()
        results["refused"] = bench.measure("refused", trials)
        _restart(first)
        print("  refused (SIGTERM) done", flush=True)
        first.kill9()
        results["killed"] = bench.measure("killed", trials)
        _restart(first)
        print(f"  killed (kill -9) done; {time.monotonic() - started:.0f} s in all", flush=True)
    return report(results, trials, first.name)


def report(results: dict[str, tuple[Figures, Figures]], trials: int, first: str) -> int:
    labels = {
        "healthy": "healthy",
        "hung": "hung (SIGSTOP)",
        "refused": "refused (SIGTERM)",
        "killed": "killed (kill -9)",
    }
    print()
    print(f"failover: time to a successful GET /api/v1/health through the alias ({trials} trials each)")
    print(f"first member ({first}) is ...")
    head = f"{'':<20}{'hostgate p50':>14}{'p99':>9}{'sequential p50':>17}{'p99':>9}   goal (hostgate p99)"
    print(head)
    print("-" * len(head))
    wrong = 0
    for state, (hg, seq) in results.items():
        goal = GOALS.get(state)
        verdict = ""
        if goal is not None:
            met = hg.p(99) <= goal
            verdict = f"<= {goal:.2f} s  {'met' if met else 'MISSED'}"
        print(
            f"{labels[state]:<20}{hg.p(50):>13.3f}s{hg.p(99):>8.3f}s{seq.p(50):>16.3f}s{seq.p(99):>8.3f}s   {verdict}"
        )
        if state != "healthy" and first in hg.answered_by | seq.answered_by:
            print(f"  !! {first} answered while it was {state}")
            wrong += 1
    print()
    print(
        "hostgate: resolve + staggered dialer (0.25 s) + HTTPS, nothing remembered between trials; "
        f"sequential: one address after another, {SEQUENTIAL_TIMEOUT:g} s timeout each (httpx, same TLS)."
    )
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per client and state (at least 20)")
    args = parser.parse_args()
    if args.trials < 20:
        parser.error("--trials must be at least 20")
    return run(args.trials)


if __name__ == "__main__":
    sys.exit(main())
