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

Printed: p50 and p99 of each, and REST's added p50 next to issue #19's goal (<= 1 ms p50 over the connector).

``--face member`` calls the member's own web services instead (every member serves them), which publish the
cluster's deployed models through ``ClusterCatalog`` (the catalog read at every call: before issue #19's cache,
a new cluster client, the deployment records and a token per call).

    python bench/webservices.py [--calls 200] [--stateless-calls 20] [--face standalone|member]
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
import time
from collections.abc import Awaitable, Callable
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


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def _run(
    location: ClusterLocation,
    face: tuple[str, ssl.SSLContext, int],
    password: str,
    calls: int,
    stateless: int,
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

        for _ in range(10):  # warm both paths (TLS, the credential check, the adaptive stagger)
            await connector_call()
            await rest_call()
            await rest_lean()
        figures: dict[str, list[float]] = {
            "connector": [],
            "rest": [],
            "rest-lean": [],
            "connector-1": [],
            "rest-1": [],
        }
        cpu_before = _cpu_seconds(pid)
        for _ in range(calls):
            figures["connector"].append(await _timed(connector_call))
            figures["rest"].append(await _timed(rest_call))
            figures["rest-lean"].append(await _timed(rest_lean))
        ws_cpu_ms = 1000 * (_cpu_seconds(pid) - cpu_before) / (2 * calls)
        await lean.aclose()
        for _ in range(stateless):
            figures["connector-1"].append(await _timed(connector_stateless))
            figures["rest-1"].append(await _timed(rest_stateless))
        await session.close()
        await http.post(url, json={}, headers={"X-Hostgate-Session": kept})  # ends the kept session

    print(f"{'path':<36}{'p50 ms':>10}{'p99 ms':>10}{'calls':>8}")
    names = {
        "connector": "connector, open session",
        "rest": "REST, kept session (httpx)",
        "rest-lean": "REST, kept session (_wire client)",
        "connector-1": "connector, connect+call+close",
        "rest-1": "REST, stateless",
    }
    for key, label in names.items():
        values = figures[key]
        if values:
            print(f"{label:<36}{_ms(values, 0.5):>10.2f}{_ms(values, 0.99):>10.2f}{len(values):>8}")
    print(f"web-service process: {ws_cpu_ms:.2f} ms CPU per kept-session REST call (load: {_load()})")
    added = 1000 * (statistics.median(figures["rest"]) - statistics.median(figures["connector"]))
    lean = 1000 * (statistics.median(figures["rest-lean"]) - statistics.median(figures["connector"]))
    for what, ms in (("httpx client", added), ("_wire client", lean)):
        verdict = "meets" if ms <= GOAL_MS else "misses"
        print(
            f"REST ({what}) adds {ms:.2f} ms p50 over the connector on a kept session "
            f"({verdict} the <= {GOAL_MS} ms goal; 12.2 ms before issue #19's work, notes of the last session)"
        )
    if figures["rest-1"]:
        added1 = 1000 * (statistics.median(figures["rest-1"]) - statistics.median(figures["connector-1"]))
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
            print(f"face: {args.face}")
            if args.face == "member":  # serverName localhost: the member's own API port
                ctx = ssl.create_default_context(cafile=str(inst.ca_file))
                face = (member.url, ctx, member.pid)
                asyncio.run(_run(location, face, inst.password, args.calls, args.stateless_calls))
                return
            (root / "ws").mkdir()
            ws = WsProcess(root / "ws", hosts_file=hosts, model_files=[model], management_port=inst.api_port)
            ws.trust(ALIAS, inst.ca_file)
            ws.write_plugin_cfg(f"{ALIAS}:{inst.api_port}")
            ws.start()
            try:
                assert ws.proc is not None
                face = (ws.url, ws.ctx, ws.proc.pid)
                asyncio.run(_run(location, face, inst.password, args.calls, args.stateless_calls))
            finally:
                ws.stop()


if __name__ == "__main__":
    main()
