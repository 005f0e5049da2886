"""Routing throughput and heartbeat CPU of one management member, next to a bare app under the same uvicorn.

One management member (``--store sqlite``) runs on 127.0.0.1. The baseline is ``bench/_bare_asgi.py``: a bare
Starlette app (and, for information, a raw ASGI callable) started from the member's own data directory with
hostgate's ``_uvicorn()`` settings (same certificate, CA, ``CERT_OPTIONAL``, no access log, same hardened
protocol and event loop), answering the same paths from memory with one real answer of the member. Only the
application differs.

Two server stacks (issue #16): ``new`` is hostgate's default (httptools on uvloop), ``old`` the pure-Python one
it replaced (h11 on asyncio, still selectable: ``[server] http``/``loop``). Part 1 runs on both (the member is
restarted between them); parts 2 and 3 on the new one. The end of the output lists each figure next to its
baseline (the measurement before issue #16) and its goal.

CPU split: the server under test (hostgate or a bare app) is pinned to the first CPU this process may use; the
load (wrk, the heartbeat load process, this driver) to the others (``sched_setaffinity`` on every thread).

1. **Routing.** A domain of 3 session servers, registered through the API (``POST /api/v1/session-servers``
   with CSRs from ``hostgate.pki.make_csr``) and kept live by heartbeats this driver sends every second. wrk
   (TLS, keep-alive connections, ``bench/route.lua``) sends ``POST /api/v1/route`` with HTTP Basic credentials
   of a plain user over C connections for a fixed time. Rounds alternate the servers of one stack, so that other
   load on the machine hits all of them alike; printed are the medians over rounds, calls/s and calls per
   CPU-second of the server process (what one free core sustains: on a machine that others load too, calls/s
   follows the CPU share the server happens to get), and hostgate's share of the bare Starlette app on the same
   stack in calls per CPU-second (median of the per-round ratios; goal >= 80 %), and hostgate's rate on the new
   stack next to the old one's.
2. **Heartbeat CPU.** 1,000 more session servers are registered through the API (16 at a time), then
   ``bench/_heartbeat_load.py`` sends each one's heartbeat every 5 s, evenly spread: first with a new TLS
   connection per heartbeat (what hostgate's ``Heartbeater`` does), then with one kept connection per server.
   The server's CPU (utime + stime from /proc/PID/stat) over the window is printed as % of one core and per
   answered heartbeat, hostgate next to two bare apps under the same load: one answering 204 without reading
   the body's JSON (the issue's baseline), one doing hostgate's JSON work (parse the beat, answer 200 with the
   member's own answer). hostgate runs twice: beats as before (no ``X-Hostgate-Heartbeat-Holds``: a session
   server of an earlier version, answered 200 with the versions), and conditional beats (the header a session
   server of this version sends, naming what it holds: answered 204 while nothing changed). Goal: hostgate's CPU
   per heartbeat <= 1.2 x the bare app's, kept connections; a round in which any run had a failed beat or
   re-opened connections is left out of the ratios (on a busy machine the load process falls behind, and TLS
   handshakes in the window cost more than the beats). The four runs of a round go in a turning order; printed are each round's ratio and their median, quartiles
   and range (the figure is the median; single rounds swing widely on a machine others load).
3. Routing once more at the highest concurrency, now with 1,003 servers registered (3 of them in the domain).

``--heartbeats-only`` runs part 2 alone (the routing parts take most of a run).

    python bench/routing.py [--rounds 5] [--hb-rounds 5] [--seconds 4] [--servers 1000] [--heartbeats-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from hostgate import pki
from hostgate.cli.lab import Member, free_port, installation, poll
from hostgate.messages import heartbeat_holds

HERE = Path(__file__).resolve().parent
USER, USER_PASSWORD = "bench", "bench-password-1"
DOMAIN = "prod"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The server stacks compared: the environment a member and its bare apps start with (config/settings.py).
STACKS = {
    "new": {"HOSTGATE_SERVER_HTTP": "httptools", "HOSTGATE_SERVER_LOOP": "uvloop"},
    "old": {"HOSTGATE_SERVER_HTTP": "h11", "HOSTGATE_SERVER_LOOP": "asyncio"},
}
STACK_NAMES = {"new": "httptools+uvloop", "old": "h11+asyncio"}
# Before issue #16 (h11 on asyncio), from the issue: the figures each goal improves on.
BASELINE_SHARE, GOAL_SHARE = 0.63, 0.80
BASELINE_HB_RATIO, GOAL_HB_RATIO = 1.5, 1.2


# --- processes and CPUs ------------------------------------------------------------------------------------------


def split_cpus() -> tuple[set[int], set[int]]:
    """(server CPUs, load CPUs): the first usable CPU for the server, the rest for the load."""
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) > 1 else (set(cpus), set(cpus))


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` (sched_setaffinity acts on one thread; threads started later inherit)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            os.sched_setaffinity(int(tid), cpus)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM a process this bench started (by PID); SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Target:
    """A server under test: its process and where it listens."""

    label: str
    pid: int
    address: str
    port: int

    def url(self, path: str) -> str:
        return f"https://{self.address}:{self.port}{path}"


@contextlib.contextmanager
def bare_app(
    member: Member, kind: str, answer: Path, cpus: set[int], logs: Path, beat_answer: Path | None = None
) -> Iterator[Target]:
    """A bare app; with ``beat_answer`` its heartbeats do hostgate's JSON work (parse, answer that JSON)."""
    port = free_port(member.address)
    script = [sys.executable, str(HERE / "_bare_asgi.py"), "--data-dir", str(member.data_dir)]
    beat = [] if beat_answer is None else ["--heartbeat", "json", "--heartbeat-answer", str(beat_answer)]
    label = kind if beat_answer is None else f"{kind}, JSON heartbeat"
    with (logs / f"bare-{kind}{'-json' if beat else ''}.log").open("wb") as log:
        proc = subprocess.Popen(
            [*script, "--port", str(port), "--kind", kind, "--answer", str(answer), *beat],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
            # A session of its own, as the lab starts the member: with the kernel's autogroup scheduling
            # (sched_autogroup_enabled, on by default) CPU is shared fairly between sessions, so a bare app in
            # this driver's session shared one share with wrk and the heartbeat load while the member had a
            # whole one: under others' load the bare apps fell behind (beats timed out, rounds left out).
            start_new_session=True,
        )
    try:
        target = Target(f"bare {label}", proc.pid, member.address, port)
        ctx = ssl.create_default_context(cafile=str(member.data_dir / "ca.pem"))
        poll(
            f"the bare {kind} app",
            lambda: proc.poll() is None and httpx.post(target.url("/"), verify=ctx),
            30,
        )
        yield target
    finally:
        stop(proc)


class Keeper:
    """Keeps the domain's servers live: a heartbeat each per second, on a thread, until stopped (at most 15 min)."""

    def __init__(self, member: Member, ctx: ssl.SSLContext, creds: dict[str, tuple[Path, Path]]) -> None:
        self.member, self.ctx, self.creds = member, ctx, creds
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # Sent every second but declared at 5 s: live for 7.5 s after each beat, so a keeper thread that falls
        # a few seconds behind on a loaded machine does not take the domain's servers out of routing (part 3
        # found none live after part 2's load).
        beat = {"active_sessions": 0, "capacity": 100, "interval": 5.0}
        clients = {}
        for name, (cert, key) in self.creds.items():
            # Heartbeats are authenticated by each server's own certificate.
            ctx = ssl.create_default_context(cafile=str(self.member.data_dir / "ca.pem"))
            ctx.load_cert_chain(cert, key)
            clients[name] = httpx.Client(base_url=self.member.url, verify=ctx, timeout=5)
        try:
            for _ in range(900):
                for name, client in clients.items():
                    with contextlib.suppress(httpx.HTTPError):
                        client.post(f"/api/v1/session-servers/{name}/heartbeat", json=beat)
                if self.done.wait(1.0):  # the heartbeat period
                    return
        finally:
            for client in clients.values():
                client.close()

    def __enter__(self) -> Keeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(10)


# --- load generators ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    # Calls answered per CPU-second of the server process (utime + stime over the wrk run): what one free core
    # would sustain. On a machine others load as well, the server gets a varying share of its CPU, which moves
    # calls/s by a factor of several from run to run; calls per CPU-second barely moves.
    per_cpu_s: float


def wrk(target: Target, conns: int, seconds: float, cpus: set[int], body: str, auth: str) -> WrkResult:
    cmd = ["wrk", f"-t{min(len(cpus), conns)}", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "5s"]
    cmd += ["-s", str(HERE / "route.lua"), target.url("/api/v1/route")]
    cpu0 = cpu_seconds(target.pid)
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        env={**os.environ, "BENCH_BODY": body, "BENCH_AUTH": auth},
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        start_new_session=True,  # a whole autogroup share for the load too (see bare_app)
        check=True,
    ).stdout
    cpu = cpu_seconds(target.pid) - cpu0
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise AssertionError(f"wrk printed no figures:\n{out}")
    r = json.loads(line.removeprefix("BENCH "))
    errors = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    per_cpu = r["requests"] / cpu if cpu > 0 else 0.0
    return WrkResult(
        r["requests"] / (r["duration_us"] / 1e6), r["p50_us"] / 1e3, r["p99_us"] / 1e3, errors, per_cpu
    )


def median_of(runs: list[WrkResult]) -> WrkResult:
    return WrkResult(
        statistics.median(r.calls_per_s for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
        statistics.median(r.per_cpu_s for r in runs),
    )


@dataclass(frozen=True)
class HeartbeatResult:
    cpu_percent: float
    beats_per_s: float
    ok: int
    failed: int
    skipped: int
    handshakes: int
    p50_ms: float
    p99_ms: float
    # Server CPU per answered heartbeat in the window (ms): the figure compared, as a busy machine makes the load
    # process skip beats, and a server that is sent fewer beats would look cheaper by CPU % alone.
    cpu_ms_per_beat: float
    # What the failed heartbeats were (status codes, exception names): a bench that counts failures must say
    # which, or a broken baseline reads as a fast one.
    failures: str = ""
    # How the answered beats were answered ("200: n, 204: m"): conditional beats must be 204s.
    answers: str = ""


# --- the bench ---------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    member: Member
    ctx: ssl.SSLContext
    admin: str
    tmp: Path
    server_cpus: set[int]
    load_cpus: set[int]
    answer: Path = Path()
    beat_answer: Path = Path()  # one real heartbeat answer of the member (the JSON baseline answers it)
    stack: str = "new"
    body: str = json.dumps({"domain": DOMAIN, "model": "bench"})
    auth: str = basic(USER, USER_PASSWORD)

    @property
    def hostgate(self) -> Target:
        return Target("hostgate", self.member.pid, self.member.address, self.member.port)

    def bare(self, kind: str, json_beats: bool = False) -> contextlib.AbstractContextManager[Target]:
        beat = self.beat_answer if json_beats else None
        return bare_app(self.member, kind, self.answer, self.server_cpus, self.tmp, beat)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        resp = httpx.request(
            method, self.member.url + path, json=body, headers={"Authorization": self.admin}, verify=self.ctx
        )
        if resp.status_code != expect:
            raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    async def register(self, names: list[str], parallel: int) -> dict[str, tuple[Path, Path]]:
        """Register ``names`` (each with its own key and CSR), ``parallel`` at a time; name -> (certificate file,
        key file), the server's identity in heartbeats."""
        creds = self.tmp / "creds"
        creds.mkdir(exist_ok=True)
        sem = asyncio.Semaphore(parallel)
        async with httpx.AsyncClient(
            base_url=self.member.url,
            verify=self.ctx,
            headers={"Authorization": self.admin},
            timeout=60,
            limits=httpx.Limits(max_connections=parallel),
        ) as client:

            async def one(i: int, name: str) -> tuple[str, tuple[Path, Path]]:
                csr, key = pki.make_csr(name)
                address = f"127.0.{20 + i // 250}.{1 + i % 250}"
                body = {"name": name, "address": address, "port": 40000 + i, "csr_pem": csr.decode()}
                async with sem:
                    resp = await client.post(
                        "/api/v1/session-servers",
                        json={**body, "advertised_address": "", "advertised_port": 0},
                    )
                if resp.status_code != 201:
                    raise AssertionError(f"registering {name}: {resp.status_code} {resp.text}")
                cert_file, key_file = creds / f"{name}.pem", creds / f"{name}-key.pem"
                cert_file.write_text(resp.json()["cert_pem"])
                key_file.write_bytes(key)
                return name, (cert_file, key_file)

            return dict(await asyncio.gather(*(one(i, n) for i, n in enumerate(names))))

    def use_stack(self, stack: str) -> None:
        """Run the member (and the bare apps started from now on) on ``stack``: restarted when it changes."""
        if self.stack == stack:
            return
        os.environ.update(STACKS[stack])  # Member.start and the bare apps pass os.environ on
        self.stack = stack
        self.member.terminate()
        self.member.start()
        pin(self.member.pid, self.server_cpus)
        self.member.wait_healthy()
        # Heartbeats are soft state: routable again once the keeper's next beats have arrived.
        self.route_once()

    def route_once(self) -> httpx.Response:
        def call() -> httpx.Response | None:
            resp = httpx.post(
                self.hostgate.url("/api/v1/route"),
                content=self.body,
                headers={"Authorization": self.auth},
                verify=self.ctx,
            )
            return resp if resp.status_code == 200 else None

        return poll("the domain's servers to be live", call, 15)

    def wrk(self, target: Target, conns: int, seconds: float) -> WrkResult:
        if target.label == "hostgate":
            pin(target.pid, self.server_cpus)  # threads started since (the store's executor) included
        return wrk(target, conns, seconds, self.load_cpus, self.body, self.auth)

    def heartbeats(
        self, target: Target, servers: Path, keep_alive: bool, holds: str | None = None
    ) -> HeartbeatResult:
        a = self.args
        pin(target.pid, self.server_cpus)
        cmd = [sys.executable, str(HERE / "_heartbeat_load.py"), "--servers", str(servers)]
        cmd += [
            "--address",
            target.address,
            "--port",
            str(target.port),
            "--ca-file",
            str(self.member.data_dir / "ca.pem"),
        ]
        cmd += ["--period", str(a.period), "--seconds", str(a.hb_warmup + a.hb_seconds + 0.5)]
        cmd += ["--keep-alive"] if keep_alive else []
        cmd += ["--holds", holds] if holds is not None else []
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.sched_setaffinity(0, self.load_cpus),
            start_new_session=True,  # a whole autogroup share for the load too (see bare_app)
        )
        try:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "GO":
                raise AssertionError("the heartbeat load did not start")
            time.sleep(
                a.hb_warmup
            )  # the window starts once the schedule runs (and kept connections are open)
            cpu0, t0 = cpu_seconds(target.pid), time.monotonic()
            time.sleep(a.hb_seconds)  # the measurement window
            cpu1, t1 = cpu_seconds(target.pid), time.monotonic()
            out, _ = proc.communicate(timeout=a.hb_warmup + a.hb_seconds + 30)
        finally:
            stop(proc)
        r = json.loads(next(x for x in out.splitlines() if x.startswith("BENCH ")).removeprefix("BENCH "))
        ok = r["statuses"].get("204", 0) + r["statuses"].get(
            "200", 0
        )  # hostgate answers 200 (its key version)
        return HeartbeatResult(
            100 * (cpu1 - cpu0) / (t1 - t0),
            r["scheduled"] / r["sent_seconds"],
            ok,
            sum(r["statuses"].values()) - ok,
            r["skipped"],
            r["handshakes"],
            r["p50_ms"] or 0.0,
            r["p99_ms"] or 0.0,
            # Answered beats in the window: the run's answered share of its evenly spread schedule.
            1000 * (cpu1 - cpu0) / (ok / r["sent_seconds"] * (t1 - t0)) if ok else float("nan"),
            ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()) if k not in ("200", "204")),
            ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()) if k in ("200", "204")),
        )


def spread(values: list[float], unit: str = " x") -> str:
    """Median, quartiles and range of per-round ratios (quartiles from 4 rounds on); ``unit`` " %" prints
    them as percentages."""
    if not values:
        return "no clean round"

    def f(v: float) -> str:
        return f"{100 * v:.0f}" if unit == " %" else f"{v:.2f}"

    text = f"median {f(statistics.median(values))}{unit} over {len(values)} round(s), range {f(min(values))}-{f(max(values))}"
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4)
        text += f", quartiles {f(q1)}-{f(q3)}"
    return text


def clean(h: HeartbeatResult, servers: int) -> bool:
    """A kept-connection run that measured heartbeats: none failed, and (almost) no connection was opened twice."""
    return h.failed == 0 and h.handshakes <= servers * 1.01


def holds_of(answer: str) -> str:
    """What a session server of this version that is up to date sends (``X-Hostgate-Heartbeat-Holds``)."""
    a = json.loads(answer)
    return heartbeat_holds(a["token_keys"], a["security"], a["pools"])


def heartbeat_once(member: Member, cred: tuple[Path, Path]) -> str:
    """One real heartbeat answer of the member (the JSON baseline answers with it)."""
    ctx = ssl.create_default_context(cafile=str(member.data_dir / "ca.pem"))
    ctx.load_cert_chain(*cred)
    beat = {"active_sessions": 0, "capacity": 100, "interval": 1.0}
    resp = httpx.post(member.url + "/api/v1/session-servers/session01/heartbeat", json=beat, verify=ctx)
    if resp.status_code != 200:
        raise AssertionError(f"heartbeat: {resp.status_code} {resp.text}")
    return resp.text


def routing_table(rows: list[tuple[str, int, WrkResult, float | None]]) -> None:
    print(
        f"{'server':<36}{'conns':>6}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'calls/CPU-s':>13}  of Starlette"
    )
    for label, conns, r, share in rows:
        of = "" if share is None else f"{100 * share:.0f} %"
        print(
            f"{label:<36}{conns:>6}{r.calls_per_s:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}"
            f"{r.per_cpu_s:>13.0f}  {of}"
        )


@dataclass
class Figures:
    """What the summary at the end compares with baselines and goals."""

    share: dict[str, float]  # stack -> hostgate's worst share of the bare Starlette app on that stack
    rate: dict[str, WrkResult]  # stack -> hostgate's route rate at the highest concurrency
    hb_ratio: float | None = None  # over the bare app answering 204 (the baseline)
    hb_ratio_json: float | None = None  # over the bare app doing the same JSON work
    hb_ratio_cond: float | None = None  # conditional beats (answered 204) over the bare app answering 204
    hb_spread_cond: str = ""
    hb_cpu: float | None = None
    share_rounds: list[float] = field(default_factory=list)  # the new stack's per-round shares
    hb_spread: str = ""  # the per-round ratios over the 204 baseline: median, quartiles, range


def part1(b: Bench) -> tuple[dict[int, WrkResult], Figures]:
    a = b.args
    conns = sorted(set(a.connections))
    rows: list[tuple[str, int, WrkResult, float | None]] = []
    ours: dict[int, WrkResult] = {}
    figures = Figures({}, {})
    rounds: list[str] = []  # each round's share, per stack and concurrency
    for stack in ("old", "new"):  # the new one last: parts 2 and 3 run on it
        b.use_stack(stack)
        name = STACK_NAMES[stack]
        with contextlib.ExitStack() as bare:
            star = bare.enter_context(b.bare("starlette"))
            targets = [star, b.hostgate]
            if stack == "new":
                targets.insert(0, bare.enter_context(b.bare("raw")))
            for t in targets:
                b.wrk(t, max(conns), 1)  # warm-up, not measured
            for c in conns:
                runs: dict[str, list[WrkResult]] = {t.label: [] for t in targets}
                for _ in range(a.rounds):
                    for t in targets:
                        runs[t.label].append(b.wrk(t, c, a.seconds))
                # A round in which the bare app served nothing (a machine too busy for wrk to connect) has
                # no ratio: its errors column shows it.
                ratios = [
                    h.per_cpu_s / s.per_cpu_s
                    for h, s in zip(runs["hostgate"], runs[star.label], strict=True)
                    if s.per_cpu_s > 0
                ]
                share = statistics.median(ratios) if ratios else 0.0
                figures.share[stack] = min(figures.share.get(stack, share), share)
                rounds.append(f"{STACK_NAMES[stack]} {c}: " + ", ".join(f"{100 * r:.0f}" for r in ratios))
                if stack == "new":
                    figures.share_rounds += ratios
                result = median_of(runs["hostgate"])
                if stack == "new":
                    ours[c] = result
                    rows.append((f"{name}: bare raw ASGI", c, median_of(runs["bare raw"]), None))
                rows += [
                    (f"{name}: bare Starlette", c, median_of(runs[star.label]), None),
                    (f"{name}: hostgate /route", c, result, share),
                ]
        figures.rate[stack] = median_of(runs["hostgate"])  # the highest concurrency (conns are sorted)
    print(
        f"\n1. routing: POST /api/v1/route, domain of 3 live servers; medians of {a.rounds} rounds x {a.seconds:g} s"
    )
    routing_table(rows)
    print("hostgate's share of the bare Starlette app per round (%): " + "; ".join(rounds))
    print(f"  on {STACK_NAMES['new']}, every concurrency: {spread(figures.share_rounds, ' %')}")
    for stack in ("old", "new"):
        print(
            f"hostgate on {STACK_NAMES[stack]}: {100 * figures.share[stack]:.0f} % of the bare Starlette app on "
            "the same stack at worst"
        )
    return ours, figures


def part2(b: Bench, servers: Path, figures: Figures) -> None:
    rows: list[tuple[str, HeartbeatResult]] = []
    # Per round, hostgate's CPU per beat over each baseline: the bare app answering 204 without reading the
    # body's JSON (the baseline), and the bare app doing the same JSON work (parse, answer 200 with the
    # member's own answer: the issue asks what hostgate costs beyond that).
    # "cond": hostgate answering conditional beats (what this version's session servers send) over the 204 app.
    # "gain": conditional beats over hostgate's full answers (the same member, the same round).
    ratios: dict[str, list[float]] = {"204": [], "json": [], "cond": [], "gain": []}
    holds = holds_of(b.beat_answer.read_text())
    conditional = dataclasses.replace(b.hostgate, label="hostgate, conditional")
    servers_count = len(json.loads(servers.read_text()))
    unclean = 0
    with b.bare("starlette") as star, b.bare("starlette", json_beats=True) as star_json:
        # New connections once (for information); kept connections (what a real installation costs)
        # ``--hb-rounds`` times, alternating the servers so that other load hits them alike.
        for keep_alive, rounds in ((False, 1), (True, b.args.hb_rounds)):
            how = "kept connection" if keep_alive else "new connection"
            for i in range(rounds):
                # The order turns each round, so that no server always runs first (or last) in a stretch of
                # load from others; each round's four runs are compared with each other only.
                order = [star, star_json, b.hostgate, conditional]
                order = order[i % 4 :] + order[: i % 4]
                measured = {
                    t.label: b.heartbeats(t, servers, keep_alive, holds if t is conditional else None)
                    for t in order
                }
                bare, bare_json, ours, cond = (
                    measured[t.label] for t in (star, star_json, b.hostgate, conditional)
                )
                rows += [
                    (f"bare Starlette 204, {how}", bare),
                    (f"bare Starlette JSON, {how}", bare_json),
                    (f"hostgate, {how}", ours),
                    (f"hostgate 204 (holds), {how}", cond),
                ]
                if keep_alive and all(clean(h, servers_count) for h in (bare, bare_json, ours, cond)):
                    for key, num, base in (
                        ("204", ours, bare),
                        ("json", ours, bare_json),
                        ("cond", cond, bare),
                        ("gain", cond, ours),
                    ):
                        if base.cpu_ms_per_beat > 0:
                            ratios[key].append(num.cpu_ms_per_beat / base.cpu_ms_per_beat)
                elif keep_alive:
                    unclean += 1
    print(f"{'server, connection per heartbeat':<36}{'CPU %':>7}{'beats/s':>9}{'ok':>7}{'failed':>8}", end="")
    print(f"{'skipped':>9}{'TLS hs':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/beat':>13}")
    for label, h in rows:
        print(
            f"{label:<36}{h.cpu_percent:>6.1f}%{h.beats_per_s:>9.0f}{h.ok:>7}{h.failed:>8}{h.skipped:>9}",
            end="",
        )
        print(
            f"{h.handshakes:>8}{h.p50_ms:>8.1f}{h.p99_ms:>8.1f}{h.cpu_ms_per_beat:>13.3f}  ({h.answers}) {h.failures}"
        )
    # hostgate's Heartbeater keeps one connection per member (ClusterClient(keep_alive=True)) and the member's
    # keep-alive timeout (15 s) outlasts the interval, so "kept connection" is what a real installation costs.
    figures.hb_cpu = statistics.median(
        h.cpu_percent for label, h in rows if label == "hostgate, kept connection"
    )
    figures.hb_ratio = statistics.median(ratios["204"]) if ratios["204"] else None
    figures.hb_ratio_json = statistics.median(ratios["json"]) if ratios["json"] else None
    figures.hb_ratio_cond = statistics.median(ratios["cond"]) if ratios["cond"] else None
    print(f"hostgate as its session servers heartbeat (kept connections): {figures.hb_cpu:.1f} % of one core")
    print(
        f"  {unclean} kept-connection round(s) left out of the ratios: a beat failed or connections were opened "
        "again (TLS handshakes in the window cost more than the beats: the load process could not keep up)"
    )
    for key, who, what in (
        ("204", "hostgate", "answering 204"),
        ("json", "hostgate", "doing the same JSON work"),
        ("cond", "hostgate answering conditional beats (204)", "answering 204"),
    ):
        print(
            f"  {who}'s CPU per beat over the bare Starlette app {what}: "
            f"{', '.join(f'{r:.2f}' for r in ratios[key])} x (per round); {spread(ratios[key])}"
        )
    print(
        "  hostgate answering conditional beats (204)'s CPU per beat over hostgate answering 200: "
        f"{', '.join(f'{r:.2f}' for r in ratios['gain'])} x (per round); {spread(ratios['gain'])}"
    )
    figures.hb_spread = spread(ratios["204"])
    figures.hb_spread_cond = spread(ratios["cond"])


def routing_lines(figures: Figures) -> list[tuple[str, str, str, str, bool]]:
    old, new = figures.rate["old"], figures.rate["new"]
    share = figures.share["new"]
    return [
        (
            "routing: hostgate / bare Starlette, same stack",
            f"{100 * share:.0f} %",
            f"{100 * BASELINE_SHARE:.0f} % (issue #16); h11+asyncio this run {100 * figures.share['old']:.0f} %; "
            f"this run's rounds: {spread(figures.share_rounds, ' %')}",
            f">= {100 * GOAL_SHARE:.0f} %",
            share >= GOAL_SHARE,
        ),
        (
            "routing: hostgate calls per CPU-second",
            f"{new.per_cpu_s:.0f} ({new.calls_per_s:.0f}/s)",
            f"{old.per_cpu_s:.0f} ({old.calls_per_s:.0f}/s) on h11+asyncio this run "
            f"(x {new.per_cpu_s / old.per_cpu_s if old.per_cpu_s else float('nan'):.2f})",
            "above the old stack",
            new.per_cpu_s > old.per_cpu_s,
        ),
    ]


def summary(figures: Figures) -> None:
    """Each figure of this run next to its baseline (before issue #16) and its goal."""
    lines = routing_lines(figures) if figures.rate else []
    if figures.hb_ratio is not None and figures.hb_cpu is not None:
        lines.append(
            (
                "heartbeats: hostgate CPU per beat / bare Starlette",
                f"{figures.hb_ratio:.2f} x ({figures.hb_cpu:.1f} % of a core)",
                f"{BASELINE_HB_RATIO:.1f} x (issue #16); this run's rounds: {figures.hb_spread}",
                f"<= {GOAL_HB_RATIO:.1f} x",
                figures.hb_ratio <= GOAL_HB_RATIO,
            )
        )
    if figures.hb_ratio_cond is not None:
        lines.append(
            (
                "heartbeats: conditional beats (204) / bare 204",
                f"{figures.hb_ratio_cond:.2f} x",
                f"(this version's session servers send the holds header); rounds: {figures.hb_spread_cond}",
                f"<= {GOAL_HB_RATIO:.1f} x",
                figures.hb_ratio_cond <= GOAL_HB_RATIO,
            )
        )
    if figures.hb_ratio_json is not None:
        lines.append(
            (
                "heartbeats: the same, bare app doing the JSON work",
                f"{figures.hb_ratio_json:.2f} x",
                "(new baseline: parses the beat, answers 200 JSON)",
                f"<= {GOAL_HB_RATIO:.1f} x",
                figures.hb_ratio_json <= GOAL_HB_RATIO,
            )
        )
    print("\nfigures: this run | baseline | goal")
    for what, now, baseline, goal, met in lines:
        print(f"  {what:<48} {now:<24} | {baseline} | {goal}: {'met' if met else 'NOT met'}")


def run(a: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("bench/routing.py needs wrk (Debian package wrk): run `make sysdeps`", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="hostgate-bench-routing-"))
    try:
        return _run(a, tmp)
    finally:
        if a.keep:
            print(f"data directory and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(a: argparse.Namespace, tmp: Path) -> int:
    began = time.monotonic()
    os.environ.update(STACKS["new"])
    server_cpus, load_cpus = split_cpus()
    os.sched_setaffinity(0, load_cpus)  # this driver, and the threads it starts, stay off the server's CPU
    with installation(tmp / "lab") as inst:
        member = inst.install_first(store="sqlite")
        member.start()
        pin(member.pid, server_cpus)
        member.wait_healthy()
        ctx = ssl.create_default_context(cafile=str(inst.ca_file))
        b = Bench(a, member, ctx, basic("admin", inst.password), tmp, server_cpus, load_cpus)
        b.call("POST", "/api/v1/users", {"name": USER, "password": USER_PASSWORD}, expect=201)
        b.call("POST", "/api/v1/domains", {"name": DOMAIN}, expect=201)
        # Routing needs the User profile (issue #17): on the domain, as an installation would grant it.
        grant = {"profile": "user", "subject_kind": "user", "subject": USER, "scope_kind": "domain"}
        b.call("POST", "/api/v1/grants", {**grant, "scope": DOMAIN}, expect=201)
        domain_tokens = asyncio.run(b.register([f"session{i:02d}" for i in (1, 2, 3)], 3))
        for name in domain_tokens:
            b.call("PUT", f"/api/v1/domains/{DOMAIN}/servers/{name}", {"weight": 1, "priority": 1})
        with Keeper(member, ctx, domain_tokens):
            # Routable once the keeper's first heartbeats are in. The first call pays argon2, the member's memory
            # of verified passwords answers the later ones; its answer is what the bare apps return.
            b.answer = tmp / "route-answer.json"
            b.answer.write_text(b.route_once().text)
            b.beat_answer = tmp / "heartbeat-answer.json"
            b.beat_answer.write_text(heartbeat_once(member, domain_tokens["session01"]))
            print(
                f"settings: 1 member (--store sqlite) on {member.address}, uvicorn {uvicorn.__version__}, TLS; "
                f"stacks {', '.join(f'{k} = {v}' for k, v in STACK_NAMES.items())}; server pinned to CPU "
                f"{sorted(server_cpus)}, load to CPU {sorted(load_cpus)}; "
                f"load average at start {Path('/proc/loadavg').read_text().split()[0]}"
            )
            ours, figures = ({}, Figures({}, {})) if a.heartbeats_only else part1(b)

            t0 = time.monotonic()
            sim = asyncio.run(b.register([f"sim{i:04d}" for i in range(a.servers)], a.register_parallel))
            took = time.monotonic() - t0
            servers = tmp / "servers.json"
            servers.write_text(
                json.dumps(
                    [{"name": n, "cert_file": str(c), "key_file": str(k)} for n, (c, k) in sim.items()]
                )
            )
            print(
                f"\n2. heartbeats: {a.servers} session servers registered through the API in {took:.1f} s "
                f"({a.servers / took:.0f}/s, {a.register_parallel} at a time); each heartbeats every {a.period:g} s, "
                f"evenly spread; server CPU over {a.hb_seconds:g} s after {a.hb_warmup:g} s (TLS hs: handshakes "
                "over the whole run, warm-up included; the servers close a connection idle for 15 s)"
            )
            part2(b, servers, figures)
            if a.heartbeats_only:
                summary(figures)
                return 0

            c = max(ours)
            # Warmed up as part 1 is: the password remembered since part 1 has expired by now (60 s), and the
            # first calls wait for one argon2 check that runs at the lowest CPU priority (login_guard.py).
            b.route_once()
            b.wrk(b.hostgate, c, 1)
            big = b.wrk(b.hostgate, c, a.seconds)
            print(
                f"\n3. routing with {a.servers + 3} session servers registered (3 in the domain), {c} connections"
            )
            routing_table(
                [
                    ("hostgate, 3 registered (part 1)", c, ours[c], None),
                    (f"hostgate, {a.servers + 3} registered", c, big, None),
                ]
            )
    summary(figures)
    print(f"\ntotal run time {time.monotonic() - began:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    # Five: single rounds swing from 60 to 165 % on a machine others load (issue #16, this session).
    parser.add_argument("--rounds", type=int, default=5, help="wrk runs per server and concurrency")
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    parser.add_argument("--servers", type=int, default=1000, help="simulated session servers (part 2)")
    parser.add_argument("--register-parallel", type=int, default=16)
    parser.add_argument("--period", type=float, default=5.0, help="heartbeat interval of each server (s)")
    # Five rounds at least: single rounds swung 0.4-1.5 x on a machine others load (issue #16's notes).
    parser.add_argument("--hb-rounds", type=int, default=5, help="kept-connection rounds per server")
    parser.add_argument("--hb-seconds", type=float, default=15.0, help="CPU measurement window (s)")
    # Two periods: every kept connection has had its TLS handshake before the window opens, also on a busy
    # machine where the load process lags (handshakes in the window would swamp the heartbeats' own cost).
    parser.add_argument("--hb-warmup", type=float, default=10.0, help="heartbeats before the window (s)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    parser.add_argument("--heartbeats-only", action="store_true", help="part 2 alone")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
