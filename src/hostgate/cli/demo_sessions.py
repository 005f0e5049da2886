"""The session-server part of ``hostgate demo``: three session servers in a domain, the packaged VT sample model
deployed on each, a client connected via the domain, and kill -9 of the server holding its session."""

from __future__ import annotations

import json
import time

from hostgate.cli.demo_steps import ALIAS, Claim, Shell, alias_args, say, show_cli, shown
from hostgate.cli.lab import Installation, VtTestHost, poll
from hostgate.cli.output import console
from hostgate.connector import Session, SessionLost, connect_to_model_via_domain

__all__ = ["sessions"]


def sessions(inst: Installation, shell: Shell, host: VtTestHost) -> list[Claim]:
    """``host``: the VT demo host, started by the demo before its members (they allow capturing from it)."""
    return _sessions_on(inst, shell, host)


def _servers_live(inst: Installation, args: list[str]) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(inst.hostgate("servers", "--json", *args).stdout)["servers"]
    return listed


def _sessions_on(inst: Installation, shell: Shell, host: VtTestHost) -> list[Claim]:
    hosts = inst.root / "hosts"
    args = alias_args(inst, hosts)
    addresses = [f"127.0.0.{10 + i}" for i in (1, 2, 3)]
    addresses[: len(inst.session_addresses)] = inst.session_addresses[:3]
    say(
        f"Adding three session servers ({', '.join(addresses)}), registered through the alias, in domain 'prod':"
    )
    for i in (1, 2, 3):
        with shown(inst, shell):  # the install is shown; the server's readiness polls are not
            added = inst.add_session_server(i)
        shell.show_hostgate(("server", "--data-dir", str(added.data_dir)))
    with shown(inst, shell):
        inst.hostgate("domain", "create", "prod", *args)
        for i, (weight, priority) in zip((1, 2, 3), ((1, 1), (1, 1), (1, 2)), strict=True):
            inst.hostgate(
                "domain", "add-server", "prod", f"session{i:02d}", "--weight", str(weight), "--priority",
                str(priority), *args,
            )  # fmt: skip
    model = host.model_file(inst.root, "demo")
    say(
        f"Deploying model 'demo' (the packaged sample demovt.yaml, copied to {model} and pointed at the VT demo "
        f"host, a curses application on {host.address}:{host.port}):"
    )
    with shown(inst, shell):
        for session_server in inst.session_servers:
            inst.deploy_model(session_server, model)
    poll("every session server live", lambda: all(s["live"] for s in _servers_live(inst, args)), 30)
    show_cli(inst, shell, "servers", *args)

    def connect() -> Session:
        return connect_to_model_via_domain(
            f"{ALIAS}:{inst.api_port}", "prod", "demo", user="admin", password=inst.password,
            ca_file=inst.ca_file, hosts_file=hosts,
        )  # fmt: skip

    session = connect()
    server = session.server
    console.print(
        f"   connect via domain 'prod' -> a session on {server} (priority 1 tier: session01, session02), "
        f"signed on to the host: entity {session.current_entity()}"
    )
    victim = next(m for m in inst.session_servers if m.name == server)
    say(f"Killing session server {server} with kill -9 while the client holds a session there:")
    shell.show_signal("KILL", f"-{victim.pid}")
    victim.kill9()
    try:
        session.ping()
    except SessionLost as exc:
        console.print(f"   the open session reports: {exc}")
    session.close()
    started = time.monotonic()
    again = connect()
    reconnected = time.monotonic() - started
    console.print(
        f"   the application connects via the domain again: {again.server} in {reconnected:.2f} s, "
        "skipping the dead server"
    )
    with again:
        say(f"Reading the host's customer list through the session on {again.server}:")
        again.set_current_entity("CustomerList")
        customers = again.fetch_records("customers")
        console.print(f"   fetch_records('customers'): {len(customers)} records over 3 pages, the first:")
        for row in customers.rows[:3]:
            console.print(f"     {row['number']:>3}  {row['name']:<12}  {row['city']}", markup=False)
        sql = "SELECT number, name FROM customers WHERE city = 'CITY1'"
        found = again.query(sql)
        console.print(f"   {sql}: {', '.join(str(r['number']) for r in found)}", markup=False)
    say("The dead session server shows down once its heartbeats are missed:")
    poll(
        f"{server} to show down",
        lambda: not next(s for s in _servers_live(inst, args) if s["name"] == server)["live"],
        15,
    )
    show_cli(inst, shell, "servers", *args)
    return [
        Claim(
            "a client reconnects via the domain past a killed session server",
            f"{reconnected:.2f} s, on {again.server}",
            again.server != server,
        )
    ]
