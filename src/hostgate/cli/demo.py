"""``hostgate demo``: the whole failover story of KB 7021563, on this machine's loopback addresses.

Three management servers (workhorse01..03 on 127.0.0.1..3) are installed the way a user installs them, named
by one alias in a hosts file of the KB's format, then hurt for real: the store leader is killed with kill -9
while a client keeps reading and writing through the alias, then a member is frozen (SIGSTOP) and the client
skips it. Everything is cleaned up at the end, even after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from hostgate.cli.lab import Installation, VtTestHost, installation, poll, start_cluster
from hostgate.cli.output import console, handle_errors
from hostgate.connector import Session, SessionLost, connect_to_model_via_domain
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError, UsageError
from hostgate.messages import API, NewUser

__all__ = ["demo"]

ALIAS = "vhi-prod-sea"


@dataclass
class _Traffic:
    """A client reading (cluster status) and writing (new users) through the alias, timing every call."""

    inst: Installation
    hosts: Path
    reads: list[tuple[float, float, bool]] = field(default_factory=list)  # (start, duration, ok)
    writes: list[tuple[float, float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> ClusterClient:
        return ClusterClient(
            f"{ALIAS}:{self.inst.api_port}",
            ca_file=self.inst.ca_file,
            user="admin",
            password=self.inst.password,
            hosts_file=self.hosts,
            deadline=15.0,
        )

    def _loop(self, kind: str) -> None:
        client = self._client()
        log = self.reads if kind == "read" else self.writes

        async def run() -> None:
            for i in range(100_000):
                if self._stop.is_set():
                    return
                started = time.monotonic()
                ok = True
                try:
                    if kind == "read":
                        await client.call(API.cluster, None)
                    else:
                        await client.call(API.add_user, NewUser(f"demo{i:05d}", "demo-password"))
                except HostgateError:
                    ok = False
                log.append((started, time.monotonic() - started, ok))
                await asyncio.sleep(0.05)  # pacing: a steady client, not a load test

        asyncio.run(run())

    def start(self) -> None:
        for kind in ("read", "write"):
            t = threading.Thread(target=self._loop, args=(kind,), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def _say(text: str) -> None:
    console.print(f"\n[bold cyan]==>[/] {text}")


def _run_cli(inst: Installation, *args: str) -> str:
    proc = inst.hostgate(*args, check=False)
    # `cluster status` exits 1 when the cluster is degraded (a member down), 2 without a majority: that is the
    # story, not a failure.
    if proc.returncode != 0 and not (args[:2] == ("cluster", "status") and proc.returncode in (1, 2)):
        raise AssertionError(
            f"hostgate {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    out = proc.stdout
    console.print(out.rstrip(), markup=False, highlight=False)
    return out


def _story(inst: Installation) -> None:
    _say(
        "Installing three management servers on 127.0.0.1, 127.0.0.2, 127.0.0.3 (etcd store, TLS everywhere)."
    )
    console.print("   hostgate install --data-dir … --address 127.0.0.1 --store etcd --name vhi-prod-sea")
    console.print(
        "   hostgate install --data-dir … --address 127.0.0.2 --join 127.0.0.1 (then 127.0.0.3 likewise)"
    )
    start_cluster(inst, 3)
    hosts = inst.write_hosts_file(ALIAS)
    _say(f"One alias names every member (KB 7021563, hosts-file method): {hosts}")
    console.print(hosts.read_text().rstrip(), markup=False)
    alias_args = [
        "--server",
        f"{ALIAS}:{inst.api_port}",
        "--hosts-file",
        str(hosts),
        "--ca-file",
        str(inst.ca_file),
        "--password-file",
        str(inst.password_file),
    ]
    _say(f"hostgate cluster status --server {ALIAS} --hosts-file hosts")
    _run_cli(inst, "cluster", "status", *alias_args)

    status = inst.status()
    leader_name = next(m["name"] for m in status["members"] if m["leader"])
    leader = next(m for m in inst.members if m.name == leader_name)
    traffic = _Traffic(inst, hosts)
    traffic.start()
    poll("the client's first writes", lambda: sum(ok for _, _, ok in traffic.writes) >= 3, 30)
    _say(
        f"A client reads and writes through the alias. Killing the store leader {leader.name} with kill -9 …"
    )
    killed_at = time.monotonic()
    leader.kill9()
    poll(
        "writes to be acknowledged again",
        lambda: any(ok and s > killed_at for s, _, ok in traffic.writes),
        60,
    )
    first_write = min(s + d for s, d, ok in traffic.writes if ok and s > killed_at)
    time.sleep(1.0)  # let the client run a little longer on two members, for the figures below
    after = [r for r in traffic.reads if r[0] > killed_at]
    failed_reads = [r for r in after if not r[2]]
    console.print(
        f"   writes acknowledged again {first_write - killed_at:.2f} s after the kill "
        "(the store elected a new leader)"
    )
    console.print(
        f"   reads since the kill: {len(after)} answered, {len(failed_reads)} failed, "
        f"slowest {max((d for _, d, _ in after), default=0):.3f} s"
    )
    _say("hostgate cluster status (the killed member shows as down; a new leader leads)")
    _run_cli(inst, "cluster", "status", *alias_args)

    _say(f"Restarting {leader.name}: it rejoins and catches up with what was written while it was dead.")
    leader.start()
    leader.wait_healthy()
    traffic.stop()
    acked = {f"demo{i:05d}" for i, (_, _, ok) in enumerate(traffic.writes) if ok}
    listed = {
        u["name"]
        for u in json.loads(inst.hostgate("user", "list", "--json", *inst.client_args(leader.target)).stdout)
    }
    console.print(
        f"   {len(acked)} writes were acknowledged; {len(acked & listed)} of them are on {leader.name}; "
        f"{len(acked - listed)} lost"
    )

    first = inst.members[0]
    _say(f"Freezing {first.name} with SIGSTOP: it accepts connections but never answers.")
    first.stop()
    try:
        started = time.monotonic()
        out = inst.hostgate("cluster", "status", "--json", *alias_args, check=False).stdout  # 3: degraded
        took = time.monotonic() - started
        answered = json.loads(out)["answered_by"]
        console.print(
            f"   the CLI asked {first.name} first, moved on after 0.25 s and got its answer from {answered} "
            f"(whole command, Python start-up included: {took:.2f} s)"
        )
    finally:
        first.cont()
    _sessions(inst, alias_args)
    _say("Done. Stopping every server this demo started.")


def _sessions(inst: Installation, alias_args: list[str]) -> None:
    if not VtTestHost.available():
        _say("Session servers: skipped (they need the VT test host of a source checkout).")
        return
    host = VtTestHost(inst.root / "vt-host.log").start()
    try:
        _sessions_on(inst, alias_args, host)
    finally:
        host.stop()


def _sessions_on(inst: Installation, alias_args: list[str], host: VtTestHost) -> None:
    _say("Adding three session servers (127.0.0.11-13), registered through the alias, in domain 'prod'.")
    for i in (1, 2, 3):
        inst.add_session_server(i)
    inst.hostgate("domain", "create", "prod", *alias_args)
    for i, (weight, priority) in zip((1, 2, 3), ((1, 1), (1, 1), (1, 2)), strict=True):
        inst.hostgate(
            "domain", "add-server", "prod", f"session{i:02d}", "--weight", str(weight), "--priority",
            str(priority), *alias_args,
        )  # fmt: skip
    model = host.model_file(inst.root, "demo")
    _say(
        f"Deploying model 'demo' (samples/models/demovt.yaml: a curses application on 127.0.0.1:{host.port})."
    )
    console.print("   hostgate model deploy demo.yaml --data-dir … (on each session server)")
    for session_server in inst.session_servers:
        inst.deploy_model(session_server, model)
    poll(
        "every session server live",
        lambda: all(
            s["live"] for s in json.loads(inst.hostgate("servers", "--json", *alias_args).stdout)["servers"]
        ),
        30,
    )
    _run_cli(inst, "servers", *alias_args)

    def connect() -> Session:
        return connect_to_model_via_domain(
            f"{ALIAS}:{inst.api_port}", "prod", "demo", user="admin", password=inst.password,
            ca_file=inst.ca_file, hosts_file=inst.root / "hosts",
        )  # fmt: skip

    session = connect()
    server = session.server
    console.print(
        f"   connect via domain 'prod' -> a session on {server} (priority 1 tier: session01, session02), "
        f"signed on to the host: entity {session.current_entity()}"
    )
    victim = next(m for m in inst.session_servers if m.name == server)
    _say(f"Killing session server {server} with kill -9 while the client holds a session there.")
    victim.kill9()
    try:
        session.ping()
    except SessionLost as exc:
        console.print(f"   the open session reports: {exc}")
    session.close()
    started = time.monotonic()
    again = connect()
    console.print(
        f"   the application connects via the domain again: {again.server} "
        f"in {time.monotonic() - started:.2f} s, skipping the dead server"
    )
    with again:
        _say(f"Reading the host's customer list through the session on {again.server}.")
        again.set_current_entity("CustomerList")
        customers = again.fetch_records("customers")
        console.print(f"   fetch_records('customers'): {len(customers)} records over 3 pages, the first:")
        for row in customers.rows[:3]:
            console.print(f"     {row['number']:>3}  {row['name']:<12}  {row['city']}", markup=False)
        sql = "SELECT number, name FROM customers WHERE city = 'CITY1'"
        found = again.query(sql)
        console.print(f"   {sql}: {', '.join(str(r['number']) for r in found)}", markup=False)
    _say("hostgate servers (the dead one shows down once its heartbeats are missed)")
    poll(
        f"{server} to show down",
        lambda: (
            not next(
                s
                for s in json.loads(inst.hostgate("servers", "--json", *alias_args).stdout)["servers"]
                if s["name"] == server
            )["live"]
        ),
        15,
    )
    _run_cli(inst, "servers", *alias_args)


@click.command()
@click.option(
    "--workdir", type=click.Path(file_okay=False, path_type=Path), help="Keep the data directories here."
)
@handle_errors
def demo(workdir: Path | None) -> None:
    """Run the failover story of KB 7021563 on loopback: install, alias, kill -9 the leader, freeze a member."""
    if shutil.which("etcd") is None:
        raise UsageError(
            "the demo runs real etcd members and needs Debian's etcd-server",
            hint="Run `make demo`, which installs it, or `apt-get install etcd-server`.",
        )
    root = workdir or Path(tempfile.mkdtemp(prefix="hostgate-demo-"))
    if workdir is not None and workdir.exists() and any(workdir.iterdir()):
        raise UsageError(f"{workdir} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    try:
        with installation(root) as inst:
            _story(inst)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
