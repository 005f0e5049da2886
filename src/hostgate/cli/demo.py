"""``hostgate demo``: the whole failover story of KB 7021563, on this machine's loopback addresses.

Three management servers (workhorse01..03, on 127.0.0.1..3 or ``--addresses``) are installed the way a user
installs them, named by one alias in a hosts file of the KB's format, then hurt for real: the store leader is
killed with kill -9 while a client keeps reading and writing through the alias, a member is frozen (SIGSTOP)
and the client skips it, two of three are killed (writes refused with HG-2002, reads go on) and come back;
then session servers serve the packaged VT sample through a domain and one of them is killed. Every command is
printed as run, copyable; every figure is measured in this run and the closing table puts each claim next to
it. As root, ``--netns`` runs all of it in a private network namespace (unshare + ``ip link set lo up``), clear
of any other server on 127.0.0.x. Everything is cleaned up at the end, even after Ctrl-C.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import click

from hostgate.cli.demo_capture import allow_capture, capture_in_console
from hostgate.cli.demo_sessions import sessions
from hostgate.cli.demo_steps import (
    ALIAS,
    Claim,
    Shell,
    alias_args,
    frozen_member,
    leader_kill,
    quorum_loss,
    say,
    show_cli,
    shown,
)
from hostgate.cli.lab import Installation, VtTestHost, installation
from hostgate.cli.output import console, handle_errors
from hostgate.errors import UsageError

__all__ = ["claims_table", "demo", "parse_addresses"]

# Set in the child re-executed inside the private network namespace (its own PID is the namespace's holder).
_IN_NETNS = "HOSTGATE_DEMO_IN_NETNS"


def parse_addresses(text: str | None, count: int, option: str) -> tuple[str, ...]:
    """``count`` distinct IPv4 loopback addresses from a comma-separated list (empty: the defaults). Anything
    else is refused whole: the demo's servers listen on loopback only."""
    if not text:
        return ()
    items = [a.strip() for a in text.split(",") if a.strip()]
    if len(items) != count:
        raise UsageError(f"{option} takes {count} addresses, comma-separated; got {len(items)}: {text!r}")
    for item in items:
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise UsageError(f"{option}: {item!r} is not an IP address") from None
        if address.version != 4 or not address.is_loopback:
            raise UsageError(
                f"{option}: {item} is not a loopback address (127.0.0.0/8)",
                hint="The demo's servers listen on loopback only, e.g. 127.0.0.21,127.0.0.22,127.0.0.23.",
            )
    if len(set(items)) != len(items):
        raise UsageError(f"{option}: every address must be different; got {text!r}")
    return tuple(items)


def _hostgate_executable() -> str:
    """How a user runs this very hostgate: its name when PATH finds this one, else its full path."""
    script = Path(sys.executable).parent / "hostgate"
    if shutil.which("hostgate") == str(script):
        return "hostgate"
    return str(script) if script.exists() else shlex.join([sys.executable, "-m", "hostgate.cli.main"])


def claims_table(claims: list[Claim]) -> list[str]:
    """The closing table as plain lines (no terminal width involved): claim, measured figure, held or not."""
    width = max(len(c.claim) for c in claims)
    measured = max(len(c.measured) for c in claims)
    head = f"   {'claim':<{width}}  {'measured in this run':<{measured}}  held"
    lines = [head, "   " + "-" * (len(head) - 3)]
    lines += [f"   {c.claim:<{width}}  {c.measured:<{measured}}  {'yes' if c.held else 'NO'}" for c in claims]
    return lines


def _story(inst: Installation, shell: Shell, host_address: str) -> list[Claim]:
    addresses = ", ".join(inst.member_addresses or ("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    # The VT demo host first: the members allow capturing from it in the console ([capture] hosts, issue #22).
    host = VtTestHost(inst.root / "vt-host.log", host_address).start()
    try:
        say(f"Installing three management servers on {addresses} (etcd store, TLS everywhere):")
        with shown(inst, shell):
            first = inst.install_first()
        allow_capture(first, host)
        shell.show_hostgate(("server", "--data-dir", str(first.data_dir)))
        first.start()
        first.wait_healthy()
        for _ in range(2):
            with shown(inst, shell):
                member = inst.join(first)
            allow_capture(member, host)
            shell.show_hostgate(("server", "--data-dir", str(member.data_dir)))
            member.start()
            member.wait_healthy()
        hosts = inst.write_hosts_file(ALIAS)
        say(f"One alias names every member (KB 7021563, hosts-file method): {hosts}")
        console.print(hosts.read_text().rstrip(), markup=False, highlight=False)
        show_cli(inst, shell, "cluster", "status", *alias_args(inst, hosts))
        claims = capture_in_console(inst, shell, host)
        claims += leader_kill(inst, shell, hosts)
        claims += frozen_member(inst, shell, hosts)
        claims += quorum_loss(inst, shell, hosts)
        claims += sessions(inst, shell, host)
        return claims
    finally:
        host.stop()


def _reexec_in_netns(workdir: Path | None, addresses: str | None, session_addresses: str | None) -> None:
    if os.geteuid() != 0:
        raise UsageError("--netns needs root (a private network namespace is made with unshare)")
    missing = [tool for tool in ("unshare", "ip", "nsenter") if shutil.which(tool) is None]
    if missing:
        raise UsageError(f"--netns needs {', '.join(missing)} (util-linux, iproute2)")
    argv = [sys.executable, "-m", "hostgate.cli.main", "demo"]
    argv += ["--workdir", str(workdir)] if workdir is not None else []
    argv += ["--addresses", addresses] if addresses else []
    argv += ["--session-addresses", session_addresses] if session_addresses else []
    # A new network namespace has only a loopback device, down: bring it up, then become the demo. unshare
    # without --fork execs in place, so the demo's PID holds the namespace (nsenter --net=/proc/PID/ns/net).
    script = 'ip link set lo up && exec "$@"'
    os.execvpe(
        "unshare", ["unshare", "--net", "--", "sh", "-c", script, "sh", *argv], {**os.environ, _IN_NETNS: "1"}
    )


@click.command()
@click.option(
    "--workdir", type=click.Path(file_okay=False, path_type=Path), help="Keep the data directories here."
)
@click.option(
    "--addresses",
    envvar="HOSTGATE_DEMO_ADDRESSES",
    metavar="A,B,C",
    help="The three management servers' loopback addresses (default 127.0.0.1,127.0.0.2,127.0.0.3; "
    "env HOSTGATE_DEMO_ADDRESSES). The VT demo host listens on the first.",
)
@click.option(
    "--session-addresses",
    envvar="HOSTGATE_DEMO_SESSION_ADDRESSES",
    metavar="A,B,C",
    help="The three session servers' loopback addresses (default 127.0.0.11,127.0.0.12,127.0.0.13; "
    "env HOSTGATE_DEMO_SESSION_ADDRESSES).",
)
@click.option(
    "--netns",
    is_flag=True,
    envvar="HOSTGATE_DEMO_NETNS",
    help="Run in a private network namespace of its own (root; unshare, ip), clear of every other server on "
    "127.0.0.x; the commands shown then start with nsenter into it.",
)
@handle_errors
def demo(workdir: Path | None, addresses: str | None, session_addresses: str | None, netns: bool) -> None:
    """Run the failover story of KB 7021563 on loopback: install, alias, kill -9 the leader, freeze a member,
    lose the majority; every figure measured, in a closing table."""
    if shutil.which("etcd") is None:
        raise UsageError(
            "the demo runs real etcd members and needs Debian's etcd-server",
            hint="Run `make demo`, which installs it, or `apt-get install etcd-server`.",
        )
    members = parse_addresses(addresses, 3, "--addresses")
    servers = parse_addresses(session_addresses, 3, "--session-addresses")
    if set(members) & set(servers):
        raise UsageError("--addresses and --session-addresses must not share an address")
    if workdir is not None and workdir.exists() and any(workdir.iterdir()):
        raise UsageError(f"{workdir} is not empty")
    in_netns = os.environ.get(_IN_NETNS) == "1"
    if netns and not in_netns:
        _reexec_in_netns(workdir, addresses, session_addresses)
    prefix = ("nsenter", f"--net=/proc/{os.getpid()}/ns/net") if in_netns else ()
    shell = Shell(_hostgate_executable(), prefix)
    root = workdir or Path(tempfile.mkdtemp(prefix="hostgate-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    if workdir is None:
        console.print(f"Working in {root} (removed at the end; --workdir DIR keeps it).")
    try:
        with installation(root, members, servers) as inst:
            claims = _story(inst, shell, members[0] if members else "127.0.0.1")
            say("What this run showed (every figure measured above):")
            for line in claims_table(claims):
                console.print(line, markup=False, highlight=False)
            say("Done. Stopping every server this demo started.")
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    if not all(c.held for c in claims):
        raise SystemExit(1)
