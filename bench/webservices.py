"""REST procedure calls through ``hostgate webservices`` next to the same calls through the connector, same run.

One management member (``--store sqlite``) on 127.0.0.1, one session server on 127.0.0.11 with the demo3270
model (plus ``read_menu``: one screen read, no navigation, so the host's share is small) against the mock 3270
host, and ``hostgate webservices`` on 127.0.0.1 whose plugin-cfg.xml names the alias. Two shapes, each timed
call by call, interleaved (connector, REST, connector, ...) so that load on the machine hits both alike:

- **stateful**: one kept session each: the connector's ``perform_table_procedure`` on an open session, and
  ``POST /ws/v1/models/demo3270/procedures/read_menu`` resuming a kept session (``X-Hostgate-Session``,
  keep), over one kept-alive HTTPS connection (httpx). The difference is what the web-service layer adds.
- **stateless**: ``connect_via_domain`` + the procedure + close, and the REST call without a session (the web
  service does the same three steps for the caller): sign-on and sign-off on the host included.

The kept-session REST call is timed from two clients: httpx (what an application may well use) and the
connector's own small HTTP/1.1 client (``connector/_wire.py``, the connector path's), so that the client's CPU is
not counted as the web-service layer's. The web-service process runs in a session of its own (autogroup
scheduling: in the driver's session it shared the driver's CPU share).

Printed per round (``--rounds``, all in the one lab, on the same kept session and connections): p50 and p99 of
each path with the driver's own CPU per call beside it (the client's share: httpx's is most of the gap between
the two REST lines), the web-service process's CPU per REST call, and how many TCP connections the timed calls
added (``ss``; a connection or TLS session per call would show there: 0 expected). Then REST's added p50 (median
of the rounds, with their range) and p99 next to issue #19's goal (<= 1 ms p50 over the connector). ``--pin``
puts the servers on the first CPU and this driver on the others, as bench/routing.py splits them.

``--face member`` calls the member's own web services instead (every member serves them), which publish the
cluster's deployed models through ``ClusterCatalog`` (the catalog read at every call: before issue #19's cache,
a new cluster client, the deployment records and a token per call).

    python bench/webservices.py [--calls 200] [--rounds 5] [--stateless-calls 20] [--face standalone|member]
                                [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test hosts live in tests/helpers

import httpx  # noqa: E402
from tests.helpers.hosts import MainframeHost  # noqa: E402
from tests.helpers.models import write_model  # noqa: E402
from tests.helpers.webservices import WsProcess  # noqa: E402

from hostgate.cli.lab import installation  # noqa: E402
from hostgate.connector import ClusterLocation, connect_via_domain  # noqa: E402
from hostgate.connector._wire import Wire  # noqa: E402

ALIAS = "vhi-prod-sea"
GOAL_MS = 1.0


def _read_menu(doc: dict[str, Any]) -> None:
    doc["tables"]["customers"]["procedures"]["read_menu"] = {
        "type": "select",
        "outputs": ["result"],
        "steps": [{"entity": "Menu", "outputs": {"result": "message"}}],
    }


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/PID/stat fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed(call: Callable[[], Awaitable[object]], cpu: list[float]) -> float:
    """Wall time of one call; this process's CPU for it appended to ``cpu`` (the client's share: the driver
    runs nothing else on its loop meanwhile, so its thread's CPU is the client library's and the TLS)."""
    cpu0 = time.thread_time()
    start = time.perf_counter()
    await call()
    wall = time.perf_counter() - start
    cpu.append(time.thread_time() - cpu0)
    return wall


def _connections(ports: tuple[int, ...]) -> set[str]:
    """The established TCP connections to or from ``ports`` (``ss``): a connection or TLS session made per call
    would show as connections the timed calls added."""
    wanted = " or ".join(f"sport = :{p} or dport = :{p}" for p in ports)
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( {wanted} )"], capture_output=True, text=True, check=True
    ).stdout
    return {" ".join(line.split()[-2:]) for line in out.splitlines() if line.strip()}


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` on ``cpus`` (sched_setaffinity acts on one thread; later threads inherit)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            os.sched_setaffinity(int(tid), cpus)


PATHS = {
    "connector": "connector, open session",
    "rest": "REST, kept session (httpx)",
    "rest-lean": "REST, kept session (_wire client)",
}


@dataclass
class _Round:
    wall: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in PATHS})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in PATHS})
    ws_cpu_ms: float = 0.0
    added: int = 0  # TCP connections the timed calls added

    def p(self, key: str, q: float) -> float:
        return _ms(self.wall[key], q)


async def _run(
    location: ClusterLocation,
    face: tuple[str, ssl.SSLContext, int],
    password: str,
    calls: int,
    stateless: int,
    rounds: int,
    ports: tuple[int, ...],
) -> None:
    base, ctx, pid = face
    url = f"{base}/ws/v1/models/demo3270/procedures/read_menu"
    auth = ("admin", password)
    # The domain named per request: a member's plugin-cfg.xml names its own default ("default").
    headers0 = {"X-Hostgate-Domain": "prod"}
    async with httpx.AsyncClient(verify=ctx, auth=auth, timeout=60, headers=headers0) as http:
        session = await connect_via_domain(location, "prod", "demo3270", user="admin", password=password)
        opened = await http.post(url, json={}, headers={"X-Hostgate-Keep": "true"})
        assert opened.status_code == 200, opened.text
        kept = opened.json()["session"]
        headers = {"X-Hostgate-Keep": "true", "X-Hostgate-Session": kept}

        async def connector_call() -> object:
            return await session.perform_table_procedure("customers", "read_menu")

        async def rest_call() -> object:
            resp = await http.post(url, json={}, headers=headers)
            assert resp.status_code == 200, resp.text
            return resp

        # The same REST call from the connector's own small HTTP/1.1 client (``connector/_wire.py``, what the
        # connector's session calls use): httpx costs a client far more CPU per call, which the comparison
        # would otherwise count as the web-service layer's (the goal is about what the layer adds).
        parsed = httpx.URL(url)
        lean = Wire(parsed.host, parsed.port or 443, ctx, connect_timeout=10, timeout=60)
        basic = base64.b64encode(f"admin:{password}".encode())
        lean_head = (
            b"Host: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\n"
            b"X-Hostgate-Domain: prod\r\nX-Hostgate-Keep: true\r\nX-Hostgate-Session: %s\r\n"
        ) % (parsed.netloc, basic, kept.encode())

        async def rest_lean() -> object:
            answer = await lean.request("POST", parsed.raw_path.decode(), lean_head, b"{}")
            assert answer.status == 200, answer.content
            return answer

        async def connector_stateless() -> object:
            s = await connect_via_domain(location, "prod", "demo3270", user="admin", password=password)
            try:
                return await s.perform_table_procedure("customers", "read_menu")
            finally:
                await s.close()

        async def rest_stateless() -> object:
            resp = await http.post(url, json={})
            assert resp.status_code == 200, resp.text
            return resp

        paths = {"connector": connector_call, "rest": rest_call, "rest-lean": rest_lean}
        for _ in range(10):  # warm both paths (TLS, the credential check, the adaptive stagger)
            for call in paths.values():
                await call()
        done: list[_Round] = []
        for _ in range(rounds):
            r = _Round()
            before = _connections(ports)
            cpu_before = _cpu_seconds(pid)
            for _ in range(calls):  # interleaved: load on the machine hits every path alike
                for key, call in paths.items():
                    r.wall[key].append(await _timed(call, r.cpu[key]))
            r.ws_cpu_ms = 1000 * (_cpu_seconds(pid) - cpu_before) / (2 * calls)
            r.added = len(_connections(ports) - before)
            done.append(r)
        await lean.aclose()
        stateless_wall: dict[str, list[float]] = {"connector": [], "rest": []}
        ignored: list[float] = []
        for _ in range(stateless):
            stateless_wall["connector"].append(await _timed(connector_stateless, ignored))
            stateless_wall["rest"].append(await _timed(rest_stateless, ignored))
        await session.close()
        await http.post(url, json={}, headers={"X-Hostgate-Session": kept})  # ends the kept session
    _report(done, stateless_wall)


def _report(done: list[_Round], stateless_wall: dict[str, list[float]]) -> None:
    print(f"{'round':<6}{'path':<36}{'p50 ms':>9}{'p99 ms':>9}{'client CPU ms':>15}")
    for i, r in enumerate(done, 1):
        for key, label in PATHS.items():
            client = 1000 * statistics.median(r.cpu[key])
            print(f"{i:<6}{label:<36}{r.p(key, 0.5):>9.2f}{r.p(key, 0.99):>9.2f}{client:>15.2f}")
        print(
            f"{'':<6}web-service process: {r.ws_cpu_ms:.2f} ms CPU per REST call; TCP connections added by "
            f"the {len(r.wall['rest'])} x 3 timed calls: {r.added}"
        )
    print(f"load: {_load()}; {len(done)} rounds, the same lab, session and connections throughout")
    for key, what in (("rest", "httpx client"), ("rest-lean", "_wire client, as the connector's")):
        added = sorted(r.p(key, 0.5) - r.p("connector", 0.5) for r in done)
        added99 = sorted(r.p(key, 0.99) - r.p("connector", 0.99) for r in done)
        verdict = "meets" if statistics.median(added) <= GOAL_MS else "misses"
        print(
            f"REST ({what}) adds p50 {statistics.median(added):.2f} ms (rounds {added[0]:.2f}..{added[-1]:.2f}), "
            f"p99 {statistics.median(added99):.2f} ms over the connector on a kept session: {verdict} the "
            f"<= {GOAL_MS} ms p50 goal (12.2 ms before issue #19's work)"
        )
    if stateless_wall["rest"]:
        added1 = 1000 * (
            statistics.median(stateless_wall["rest"]) - statistics.median(stateless_wall["connector"])
        )
        print(f"REST adds {added1:.2f} ms p50 over the connector, stateless (sign-on/off included)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--stateless-calls", type=int, default=20)
    parser.add_argument(
        "--face",
        choices=("standalone", "member"),
        default="standalone",
        help="hostgate webservices with the model file (default), or the member's own web services",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds in the one lab (the spread)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers (member, session server, host, web-service process) on the first CPU, this driver on the "
        "others, as bench/routing.py splits them",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="hostgate-bench-ws-") as tmp,
        MainframeHost("3270").start() as host,
    ):
        root = Path(tmp)
        with installation(root / "lab") as inst:
            member = inst.install_first(store="sqlite", cluster_name=ALIAS)
            member.start()
            member.wait_healthy()
            hosts = inst.write_hosts_file(ALIAS)
            server = inst.add_session_server(1, ALIAS, interval=1.0)
            cli = inst.client_args()
            inst.hostgate("domain", "create", "prod", *cli)
            inst.hostgate("domain", "add-server", "prod", server.name, *cli)
            model = write_model(root, "demo3270", host.port, extra=_read_menu)
            if args.face == "member":  # recorded by the cluster (the member's catalog lists recorded ones)
                inst.hostgate(
                    "activatemodel", "--server", server.target, str(model), "--ca-file", str(inst.ca_file),
                    "--user", "admin", "--password-file", str(inst.password_file), timeout=120,
                )  # fmt: skip
            else:
                inst.deploy_model(server, model)
            location = ClusterLocation(f"{ALIAS}:{inst.api_port}", inst.ca_file, hosts_file=hosts)
            cpus = sorted(os.sched_getaffinity(0))
            servers, driver = ({cpus[0]}, set(cpus[1:]) or {cpus[0]})
            pids = [member.pid, server.pid, *([host.proc.pid] if host.proc is not None else [])]
            if args.pin:
                for pid in pids:
                    _pin(pid, servers)
                os.sched_setaffinity(0, driver)
            pinned = f"servers on CPU {sorted(servers)}, driver on {sorted(driver)}" if args.pin else "none"
            print(f"face: {args.face}; calls per path per round: {args.calls}; pinning: {pinned}")
            timing = (args.calls, args.stateless_calls, args.rounds)
            if args.face == "member":  # serverName localhost: the member's own API port
                ctx = ssl.create_default_context(cafile=str(inst.ca_file))
                face = (member.url, ctx, member.pid)
                asyncio.run(_run(location, face, inst.password, *timing, (member.port, server.port)))
                return
            (root / "ws").mkdir()
            ws = WsProcess(root / "ws", hosts_file=hosts, model_files=[model], management_port=inst.api_port)
            ws.trust(ALIAS, inst.ca_file)
            ws.write_plugin_cfg(f"{ALIAS}:{inst.api_port}")
            ws.start()
            try:
                assert ws.proc is not None
                if args.pin:
                    _pin(ws.proc.pid, servers)
                face = (ws.url, ws.ctx, ws.proc.pid)
                asyncio.run(_run(location, face, inst.password, *timing, (ws.port, server.port)))
            finally:
                ws.stop()


if __name__ == "__main__":
    main()
