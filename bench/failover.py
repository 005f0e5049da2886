"""Time to a successful call through the alias when the first member is hung, refused or killed.

Three hostgate members (etcd store) run on 127.0.0.1-3; a hosts file in the KB 7021563 format names them in
that order under the alias, so every client tries workhorse01 first. For each state of workhorse01 the same
call, ``GET /api/v1/health`` through the alias, is timed in this process by two clients:

- **fixed**: ``ClusterClient.request`` with the fixed RFC 8305 stagger (``delay=0.25``: resolve the alias,
  staggered dialer, HTTPS with the cluster CA, cluster-id check). Every trial uses an alias name of its own (a
  hosts file naming the same members in the same order), so the dialer remembers no good member from an
  earlier trial: each figure is a client's first call after the fault, the worst case.
- **adaptive**: the same client with the default adaptive stagger (``naming/stagger.py``: 2 x p99 of the
  alias's recent answer times, 10 ms to 250 ms). It needs history, so each trial's alias is first used for
  ``--warm`` calls while every member is healthy (a client that has been working), then the fault is applied
  and the figure is that alias's first call after it. The warm-up calls are where duplicates are counted:
  every attempt started while an earlier one was still running is an extra request to a healthy member. The
  fixed client makes the same warm-up calls, interleaved, so its own duplicates (answers slower than 250 ms
  on a busy machine) are printed next to them.
- **sequential**: a VHI-style connector (KB: "An attempt is made to contact the first address in the list. If
  no response is received, the next address is tried"): the same resolution, then one address after
  another with httpx, a 5 s timeout per address, the same TLS context and cluster-id check.

States of workhorse01: healthy (reference); **hung** (SIGSTOP: the kernel still accepts TCP, nothing
answers); **refused** (stopped with SIGTERM: its port refuses); **killed** (kill -9 of the member with its
etcd). Goals for the p99: fixed 0.30 s hung, adaptive 0.10 s hung, both 0.02 s refused or killed; adaptive
duplicates on healthy members < 1 %.

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
from hostgate.naming import AliasResolver, AttemptDelay, format_target

SEQUENTIAL_TIMEOUT = 5.0
GOALS = {"hung": 0.30, "refused": 0.02, "killed": 0.02}
ADAPTIVE_GOALS = {"hung": 0.10, "refused": 0.02, "killed": 0.02}
DUPLICATES_GOAL = 0.01
# Each client its own pacer, so each one's hedges are counted; the fixed one never learns (floor = cap).
FIXED = AttemptDelay(floor=0.25, cap=0.25)
ADAPTIVE = AttemptDelay()
Call = Callable[[str, Path], Awaitable[str]]


@dataclass
class Figures:
    times: list[float] = field(default_factory=list)
    answered_by: set[str] = field(default_factory=set)

    def p(self, q: int) -> float:
        return statistics.quantiles(self.times, n=100, method="inclusive")[q - 1]


@dataclass
class Results:
    fixed: Figures
    adaptive: Figures
    sequential: Figures


@dataclass
class Healthy:
    """The adaptive client's warm-up calls (every member healthy): calls, hedges, answer times."""

    calls: int = 0
    hedges: int = 0
    fixed_calls: int = 0  # the fixed client on the same aliases, interleaved: its duplicates for reference
    fixed_hedges: int = 0
    learned_calls: int = 0  # calls whose stagger was learned (< 250 ms): where hedging is a risk
    learned_hedges: int = 0
    times: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)


class Bench:
    def __init__(self, inst: Installation, workdir: Path) -> None:
        self.inst = inst
        self.workdir = workdir
        ca_pem = inst.ca_file.read_bytes()
        self.cluster_id = cluster_id_of_ca(ca_pem)
        self.tls = ssl.create_default_context(cadata=ca_pem.decode())
        self.aliases = 0
        self.healthy = Healthy()

    def new_alias(self) -> tuple[str, Path]:
        """A fresh alias (nothing remembered for it) in its own KB-format hosts file, members in order."""
        self.aliases += 1
        alias = f"bench-{self.aliases:04d}"
        path = self.workdir / f"hosts-{self.aliases:04d}"
        path.write_text("".join(f"{m.address} {m.name} {alias}\n" for m in self.inst.members))
        return alias, path

    async def fixed(self, alias: str, hosts: Path) -> str:
        client = ClusterClient(
            f"{alias}:{self.inst.api_port}", ca_file=self.inst.ca_file, hosts_file=hosts, delay=FIXED
        )
        return (await client.request("GET", "/api/v1/health", auth=False)).member

    async def adaptive(self, alias: str, hosts: Path) -> str:
        client = ClusterClient(
            f"{alias}:{self.inst.api_port}", ca_file=self.inst.ca_file, hosts_file=hosts, delay=ADAPTIVE
        )
        return (await client.request("GET", "/api/v1/health", auth=False)).member

    async def warm(self, trials: int, calls: int) -> list[tuple[str, Path]]:
        """``trials`` fresh aliases, each used for ``calls`` calls by the adaptive client (members healthy)."""
        warmed = []
        for _ in range(trials):
            alias, hosts = self.new_alias()
            for _ in range(calls):
                before_fixed = FIXED.stats
                await self.fixed(alias, hosts)
                self.healthy.fixed_calls += FIXED.stats.calls - before_fixed.calls
                self.healthy.fixed_hedges += FIXED.stats.hedges - before_fixed.hedges
                before = ADAPTIVE.stats
                stagger = ADAPTIVE.delay(alias)
                self.healthy.delays.append(stagger)
                started = time.perf_counter()
                await self.adaptive(alias, hosts)
                self.healthy.times.append(time.perf_counter() - started)
                after = ADAPTIVE.stats
                self.healthy.calls += after.calls - before.calls
                self.healthy.hedges += after.hedges - before.hedges
                if stagger < ADAPTIVE.cap:
                    self.healthy.learned_calls += after.calls - before.calls
                    self.healthy.learned_hedges += after.hedges - before.hedges
            warmed.append((alias, hosts))
        return warmed

    async def first_calls(self, warmed: list[tuple[str, Path]]) -> Figures:
        """The adaptive client's first call on each warmed alias (after the fault)."""
        figures = Figures()
        for alias, hosts in warmed:
            started = time.perf_counter()
            figures.answered_by.add(await self.adaptive(alias, hosts))
            figures.times.append(time.perf_counter() - started)
        return figures

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

    def measure(
        self, state: str, trials: int, warmed: list[tuple[str, Path]], fault: Callable[[], None]
    ) -> Results:
        """Apply ``fault`` and time each client; the adaptive client uses the aliases warmed before it."""
        fault()
        overlap = 0.3 if state == "hung" else 0.0
        adaptive = asyncio.run(self.first_calls(warmed))
        fixed = asyncio.run(self.run(self.fixed, trials))
        seq = asyncio.run(self.run(self.sequential, trials, overlap=overlap))
        return Results(fixed, adaptive, seq)


def _restart(member: Member) -> None:
    member.start()
    member.wait_healthy()


def run(trials: int, warm: int) -> int:
    results: dict[str, Results] = {}
    with (
        tempfile.TemporaryDirectory(prefix="hostgate-bench-") as tmp,
        installation(Path(tmp) / "lab") as inst,
    ):
        print(f"starting 3 members on 127.0.0.1-3 ({trials} trials per client and state) ...", flush=True)
        started = time.monotonic()
        start_cluster(inst, 3)
        bench = Bench(inst, Path(tmp))
        first = inst.members[0]

        def warmed() -> list[tuple[str, Path]]:
            return asyncio.run(bench.warm(trials, warm))

        bench.measure("warm-up", 5, warmed()[:5], lambda: None)
        bench.healthy = Healthy()  # the warm-up's own calls include Python's and the members' first calls
        results["healthy"] = bench.measure("healthy", trials, warmed(), lambda: None)
        print("  healthy done", flush=True)
        aliases = warmed()
        try:
            results["hung"] = bench.measure("hung", trials, aliases, first.stop)
        finally:
            first.cont()
        first.wait_healthy()
        print("  hung (SIGSTOP) done", flush=True)
        results["refused"] = bench.measure("refused", trials, warmed(), first.terminate)
        _restart(first)
        print("  refused (SIGTERM) done", flush=True)
        results["killed"] = bench.measure("killed", trials, warmed(), first.kill9)
        _restart(first)
        print(f"  killed (kill -9) done; {time.monotonic() - started:.0f} s in all", flush=True)
    return report(results, bench.healthy, trials, warm, first.name)


def _quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(results: dict[str, Results], healthy: Healthy, trials: int, warm: int, first: str) -> int:
    labels = {
        "healthy": "healthy",
        "hung": "hung (SIGSTOP)",
        "refused": "refused (SIGTERM)",
        "killed": "killed (kill -9)",
    }
    print()
    print(f"failover: time to a successful GET /api/v1/health through the alias ({trials} trials each)")
    print(f"first member ({first}) is ...")
    head = (
        f"{'':<20}{'fixed p50':>11}{'p99':>9}{'adaptive p50':>14}{'p99':>9}"
        f"{'sequential p50':>16}{'p99':>9}   goals (p99: fixed / adaptive)"
    )
    print(head)
    print("-" * len(head))
    wrong = 0
    for state, r in results.items():
        verdict = ""
        if state in GOALS:
            fixed_met = "met" if r.fixed.p(99) <= GOALS[state] else "MISSED"
            adaptive_met = "met" if r.adaptive.p(99) <= ADAPTIVE_GOALS[state] else "MISSED"
            verdict = f"{GOALS[state]:.2f} s {fixed_met} / {ADAPTIVE_GOALS[state]:.2f} s {adaptive_met}"
        print(
            f"{labels[state]:<20}{r.fixed.p(50):>10.3f}s{r.fixed.p(99):>8.3f}s{r.adaptive.p(50):>13.3f}s"
            f"{r.adaptive.p(99):>8.3f}s{r.sequential.p(50):>15.3f}s{r.sequential.p(99):>8.3f}s   {verdict}"
        )
        if (
            state != "healthy"
            and first in r.fixed.answered_by | r.adaptive.answered_by | r.sequential.answered_by
        ):
            print(f"  !! {first} answered while it was {state}")
            wrong += 1
    share = healthy.learned_hedges / healthy.learned_calls if healthy.learned_calls else 1.0
    print()
    print(
        f"adaptive, every member healthy: {healthy.calls} calls ({warm} per alias), {healthy.hedges} extra "
        f"requests (hedges) = {healthy.hedges / max(1, healthy.calls):.2%}; with a learned stagger: "
        f"{healthy.learned_hedges} of {healthy.learned_calls} calls = {share:.2%} duplicates "
        f"(goal < {DUPLICATES_GOAL:.0%}: {'met' if share < DUPLICATES_GOAL else 'MISSED'})"
    )
    print(
        f"fixed 0.25 s stagger on the same aliases, interleaved: {healthy.fixed_hedges} of "
        f"{healthy.fixed_calls} calls = {healthy.fixed_hedges / max(1, healthy.fixed_calls):.2%} duplicates"
    )
    learned = [d for d in healthy.delays if d < 0.25]
    if learned:
        print(
            f"  answer time p50 {_quantile(healthy.times, 50) * 1000:.1f} ms, p99 "
            f"{_quantile(healthy.times, 99) * 1000:.1f} ms; learned stagger p50 "
            f"{_quantile(learned, 50) * 1000:.1f} ms, max {max(learned) * 1000:.1f} ms "
            f"({len(healthy.delays) - len(learned)} calls at the 250 ms cap: under 16 answers of history, "
            "or answers slower than 125 ms)"
        )
    print()
    print(
        "fixed: resolve + staggered dialer (0.25 s) + HTTPS, nothing remembered between trials; adaptive: the "
        "same with the learned stagger, first call after the fault on an alias used before it; sequential: "
        f"one address after another, {SEQUENTIAL_TIMEOUT:g} s timeout each (httpx, same TLS)."
    )
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per client and state (at least 20)")
    parser.add_argument(
        "--warm",
        type=int,
        default=48,
        help="healthy calls per alias before its fault (adaptive; at least 17)",
    )
    args = parser.parse_args()
    if args.trials < 20:
        parser.error("--trials must be at least 20")
    if args.warm < 17:
        parser.error("--warm must be at least 17 (the stagger needs 16 answers to learn from)")
    return run(args.trials, args.warm)


if __name__ == "__main__":
    sys.exit(main())
