"""Session throughput, latency and memory on one session server, next to the raw driver in process.

One management member (``--store sqlite``) runs on 127.0.0.1, one session server on 127.0.0.11 with the 3270
sample model deployed and pointed at the mock 3270 host (mainframe-mocker, ``src/hostgate/testhosts/mfhost.py``).
For C = 1, 10 and 100 concurrent sessions:

- **hostgate**: C sessions are opened via the domain through the alias (connector, async core, one event loop
  in this process), then each loops ``perform_entity_operation`` for a fixed window: ``Menu.open_form`` then
  ``CustomerForm.back``, each one host round trip (fill, Enter or PF3, wait for the destination entity) behind
  HTTPS, token check, the session's lock and the model runtime. Every call is one operation.
- **raw driver** (baseline, same run, same host, same C): the same steps driven in this process straight on
  ``hostgate.hosts`` sessions (``fill_field``, ``send_key``, ``wait_until`` the destination's rules): no HTTP,
  no session server, no runtime.

Printed: operations/s over the window, p50/p99 latency per operation, hostgate's share of the raw driver's
rate next to issue #16's goal (>= 70 % at 1 and 10 sessions, >= 80 % at 100; p99 at 10 sessions <= 2 x the
raw driver's), the session server's HTTP stack (uvicorn's protocol and event loop, as this venv has them),
and the session server's memory per session: the RSS growth of its process (``/proc/PID/status`` VmRSS)
from before the C sessions were opened to after, divided by C. The client and the session server share the
machine's cores with the mock host (and with whatever else runs: run it twice).

    python bench/sessions.py [--seconds 4] [--levels 1,10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test hosts live in tests/helpers

from tests.helpers.hosts import MainframeHost  # noqa: E402
from tests.helpers.models import model_text  # noqa: E402

from hostgate.cli.lab import Installation, Member, installation, poll  # noqa: E402
from hostgate.connector import AsyncSession, connect_via_domain  # noqa: E402
from hostgate.hosts import HostSession, Key, open_session  # noqa: E402
from hostgate.models import Model, load_model  # noqa: E402

ALIAS = "vhi-prod-sea"
Op = Callable[[], Awaitable[object]]


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_per_session: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process over the window

    def cpu_ms(self, name: str) -> float:
        """CPU milliseconds per operation of one process (``total``: of all)."""
        spent = sum(self.cpu.values()) if name == "total" else self.cpu.get(name, 0.0)
        return spent / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


async def _loop(ops: list[Op], until: float, out: list[float]) -> None:
    i = 0
    while time.monotonic() < until:
        started = time.monotonic()
        await ops[i % len(ops)]()
        out.append(time.monotonic() - started)
        i += 1
    if i % len(ops):  # end where the next window starts (on the menu)
        await ops[-1]()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/PID/stat`` utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(workers: list[list[Op]], seconds: float, pids: dict[str, int] | None = None) -> Figures:
    figures = Figures()
    before = {name: _cpu_seconds(pid) for name, pid in (pids or {}).items()}
    started = time.monotonic()
    until = started + seconds
    lists: list[list[float]] = [[] for _ in workers]
    await asyncio.gather(*(_loop(ops, until, out) for ops, out in zip(workers, lists, strict=True)))
    figures.seconds = time.monotonic() - started
    figures.cpu = {name: _cpu_seconds(pid) - before[name] for name, pid in (pids or {}).items()}
    figures.latencies = [x for out in lists for x in out]
    return figures


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Bench:
    def __init__(self, inst: Installation, server: Member, model: Model, host_pid: int) -> None:
        self.inst = inst
        self.server = server
        self.model = model
        self.host_pid = host_pid

    async def _connect(self) -> AsyncSession:
        return await connect_via_domain(
            f"{ALIAS}:{self.inst.api_port}", "prod", "demo3270", user="admin", password=self.inst.password,
            ca_file=self.inst.ca_file, hosts_file=self.inst.root / "hosts", deadline=60.0,
        )  # fmt: skip

    async def hostgate(self, count: int, seconds: float) -> Figures:
        assert self.server.proc is not None
        before = _rss_kib(self.server.proc.pid)
        sessions: list[AsyncSession] = []
        for start in range(0, count, 20):  # open in batches: sign-on bursts are not what is measured
            sessions += await asyncio.gather(*(self._connect() for _ in range(start, min(count, start + 20))))
        grown = _rss_kib(self.server.proc.pid) - before
        try:

            def ops(s: AsyncSession) -> list[Op]:
                return [
                    lambda: s.perform_entity_operation("open_form"),
                    lambda: s.perform_entity_operation("back"),
                ]

            await _measure([ops(s) for s in sessions[: min(count, 5)]], min(1.0, seconds))  # warm-up
            pids = {"client": os.getpid(), "server": self.server.proc.pid, "host": self.host_pid}
            figures = await _measure([ops(s) for s in sessions], seconds, pids)
        finally:
            await asyncio.gather(*(s.close() for s in sessions))
        figures.rss_per_session = grown / count
        return figures

    async def raw(self, count: int, seconds: float) -> Figures:
        model = self.model
        menu, form = model.entity("Menu"), model.entity("CustomerForm")
        sign_on = model.entity("SignOn")
        assert menu is not None and form is not None and sign_on is not None

        async def open_one() -> HostSession:
            host = open_session(model.host)
            await host.connect()
            await host.wait_until(sign_on.matches, 10)
            await host.fill_field(10, 34, "ADA")
            await host.fill_field(12, 34, "LOVELACE")
            await host.send_key(Key.ENTER)
            await host.wait_until(menu.matches, 10)
            return host

        hosts = await asyncio.gather(*(open_one() for _ in range(count)))
        try:

            def ops(h: HostSession) -> list[Op]:
                async def open_form() -> object:
                    await h.fill_field(10, 19, "1")
                    await h.send_key(Key.ENTER)
                    return await h.wait_until(form.matches, 10)

                async def back() -> object:
                    await h.send_key(Key.PF3)
                    return await h.wait_until(menu.matches, 10)

                return [open_form, back]

            await _measure([ops(h) for h in hosts[: min(count, 5)]], min(1.0, seconds))
            return await _measure(
                [ops(h) for h in hosts], seconds, {"client": os.getpid(), "host": self.host_pid}
            )
        finally:
            await asyncio.gather(*(h.disconnect() for h in hosts))


def run(levels: list[int], seconds: float) -> int:
    os.environ["HOSTGATE_SESSION_CAPACITY"] = str(max(levels) + 10)
    results: list[tuple[int, Figures, Figures]] = []
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="hostgate-bench-") as tmp,
        MainframeHost("3270").start() as host,
        installation(Path(tmp) / "lab") as inst,
    ):
        print("starting a management member, a session server and the mock 3270 host ...", flush=True)
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        server = inst.add_session_server(1, ALIAS, interval=1.0)
        args = inst.client_args()
        inst.hostgate("domain", "create", "prod", *args)
        inst.hostgate("domain", "add-server", "prod", server.name, *args)
        model_file = Path(tmp) / "demo3270.yaml"
        model_file.write_text(model_text("demo3270", host.port))
        inst.deploy_model(server, model_file)
        model = load_model(model_file)
        poll("the session server to route", lambda: inst.hostgate("servers", *args).returncode == 0, 20)
        assert host.proc is not None
        bench = Bench(inst, server, model, host.proc.pid)
        assert server.proc is not None
        stack = server_stack(server.proc.pid)
        for count in levels:
            hg = asyncio.run(bench.hostgate(count, seconds))
            raw = asyncio.run(bench.raw(count, seconds))
            results.append((count, hg, raw))
            print(f"  {count} session(s) done", flush=True)
    print(f"({time.monotonic() - started:.0f} s in all)")
    return report(results, seconds, stack)


# Issue #16's goals: hostgate's rate as a share of the raw driver's, by sessions; p99 at P99_LEVEL sessions.
RATE_GOAL = {1: 70, 10: 70, 100: 80}
P99_LEVEL, P99_GOAL = 10, 2.0


def server_stack(pid: int) -> str:
    """The HTTP stack the running session server has loaded (its mapped extension modules): httptools or
    h11 (pure Python, so it maps nothing), uvloop or asyncio."""
    import importlib.metadata

    maps = Path(f"/proc/{pid}/maps").read_text()
    http = "httptools" if "/httptools/" in maps else "h11"
    loop = "uvloop" if "/uvloop/" in maps else "asyncio"
    return (
        f"uvicorn {importlib.metadata.version('uvicorn')}, {http}, {loop} (as loaded by the running server)"
    )


def report(results: list[tuple[int, Figures, Figures]], seconds: float, stack: str) -> int:
    print()
    print(f"sessions: Menu.open_form / CustomerForm.back against the mock 3270 host, {seconds:g} s per level")
    print(f"session server stack: {stack}")
    head = (
        f"{'sessions':>8}{'hostgate ops/s':>16}{'p50':>9}{'p99':>9}"
        f"{'raw driver ops/s':>18}{'p50':>9}{'p99':>9}{'share':>8}{'goal':>7}{'p99 x raw':>11}{'RSS/session':>14}"
    )
    print(head)
    print("-" * len(head))
    for count, hg, raw in results:
        share = hg.rate / raw.rate * 100 if raw.rate else float("nan")
        goal = RATE_GOAL.get(count)
        verdict = "" if goal is None else ("ok" if share >= goal else "no")
        goal_text = f">={goal}%" if goal is not None else "-"
        times = hg.p(99) / raw.p(99) if raw.p(99) else float("nan")
        times_text = f"{times:.1f}x" + (
            f" {'ok' if times <= P99_GOAL else 'no'}" if count == P99_LEVEL else "   "
        )
        rss = f"{hg.rss_per_session:.0f} KiB" if hg.rss_per_session is not None else "-"
        print(
            f"{count:>8}{hg.rate:>16.0f}{hg.p(50):>7.1f}ms{hg.p(99):>7.1f}ms"
            f"{raw.rate:>18.0f}{raw.p(50):>7.1f}ms{raw.p(99):>7.1f}ms{share:>7.0f}%"
            f"{goal_text:>7}{verdict:>3}{times_text:>9}{rss:>14}"
        )
    print()
    print(
        "CPU per operation (ms; less sensitive to the load of others than the rates): client, server, host, total"
    )
    head = f"{'sessions':>8}{'hostgate':>30}{'raw driver':>24}{'raw/hostgate':>14}"
    print(head)
    print("-" * len(head))
    for count, hg, raw in results:
        mine = "/".join(f"{hg.cpu_ms(n):.2f}" for n in ("client", "server", "host"))
        theirs = "/".join(f"{raw.cpu_ms(n):.2f}" for n in ("client", "host"))
        share = raw.cpu_ms("total") / hg.cpu_ms("total") * 100
        print(
            f"{count:>8}{mine:>22} = {hg.cpu_ms('total'):>5.2f}{theirs:>16} = {raw.cpu_ms('total'):>5.2f}"
            f"{share:>13.0f}%"
        )
    print()
    print(
        "hostgate: connector -> HTTPS -> session server (token, lock, model runtime) -> tnz thread -> host; "
        "raw driver: tnz sessions in this process. share: hostgate's rate / the raw driver's; goal (issue #16): "
        f">= 70 % at 1 and 10 sessions, >= 80 % at 100, p99 at {P99_LEVEL} sessions <= {P99_GOAL:g} x the raw "
        "driver's. RSS/session: the session server's RSS growth / sessions."
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring window per level and client")
    parser.add_argument("--levels", default="1,10,100", help="concurrent sessions, comma-separated")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    return run(levels, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
