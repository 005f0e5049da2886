"""``hostgate doctor ALIAS``: prints the diagnosis of the cluster alias (``hostgate.connector.diagnosis``).

The diagnosis (resolve from every source, contact every address, compare with the member list, reverse
names; findings ``HG-D01``... with a fix each) lives in the connector so the console can show it too; this
command only gathers its inputs, prints the report (or ``--json``) and exits 1 when a finding is an error.
Nothing is changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from hostgate.cli.common import cluster_options, read_secret_file
from hostgate.cli.login_store import load_login
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.connector.cluster import DEFAULT_PORT, cluster_id_of_ca
from hostgate.connector.diagnosis import Inputs, Report, Severity, State, diagnose
from hostgate.errors import HostgateError
from hostgate.naming import Source, format_target, parse_name_server, parse_target

__all__ = ["doctor"]

F = TypeVar("F", bound=Callable[..., Any])

# --- the command ---------------------------------------------------------------------------------------------

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _print(report: Report) -> None:
    console.print(f"Alias [bold]{escape(report.alias)}[/] port {report.port}, cluster {report.cluster_id}")
    sources = Table("source", "status", "addresses", "note", title="Name sources", title_justify="left")
    for s in report.sources:
        sources.add_row(s.name, s.status.value, "\n".join(s.addresses) or "-", escape(s.error or ""))
    console.print(sources)
    if report.addresses:
        table = Table("address", "listed by", "answers", "member", "reverse names", "detail")
        table.title, table.title_justify = "Addresses in the alias", "left"
        for a in report.addresses:
            style = "green" if a.probe.state is State.MEMBER else "red"
            table.add_row(
                a.probe.address,
                ", ".join(a.listed_by),
                f"[{style}]{a.probe.state.value}[/]",
                a.probe.member or "-",
                "\n".join(f"{source}: {name}" for source, name in a.reverse) or "-",
                escape(a.probe.detail),
            )
        console.print(table)
    members = report.to_json()["members"]
    if isinstance(members, list):
        table = Table("member", "address", "in alias", title=f"Members (as {report.members_from} lists them)")
        table.title_justify = "left"
        for m in members:
            in_alias = "yes" if m["in_alias"] else f"[red]not in {', '.join(m['missing_from'])}[/]"
            table.add_row(m["name"], format_target(m["address"], m["port"]), in_alias)
        console.print(table)
    for f in report.findings:
        console.print(
            f"[{_STYLE[f.check.severity]}]{f.check.code} {f.check.severity.value}[/]: {escape(f.message)}",
            soft_wrap=True,
        )
        console.print(f"    fix: {escape(f.fix)}", markup=False, soft_wrap=True)
    count = {s: sum(f.check.severity is s for f in report.findings) for s in Severity}
    if not count[Severity.ERROR] and not count[Severity.WARNING]:
        console.print("[green]No problems found.[/]")
    else:
        console.print(f"{count[Severity.ERROR]} error(s), {count[Severity.WARNING]} warning(s).")


def _alias_options(func: F) -> F:
    """The shared cluster options of cli/common.py without --server: here the alias is the argument."""
    func = cluster_options(func)
    params = func.__click_params__  # type: ignore[attr-defined]
    func.__click_params__ = [p for p in params if p.name != "server"]  # type: ignore[attr-defined]
    return func


@click.command("doctor")
@click.argument("alias", envvar="HOSTGATE_SERVER")
@_alias_options
@click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Choice([s.value for s in Source]),
    help="Ask only these name sources; repeat for several. [default: hosts_file, system_hosts, dns, system]",
)
@click.option(
    "--timeout",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for each address (and each DNS lookup); a member silent that long is hung.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (shape in docs/errors.md).")
@handle_errors
def doctor(
    alias: str,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
    ca_file: Path,
    user: str,
    password_file: Path | None,
    sources: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Check the cluster alias ALIAS[:PORT] against the running cluster; exit 1 on an error finding.

    Resolves ALIAS from every name source, contacts every address (health check with the cluster CA, no
    credentials) and, given --password-file (or after `hostgate login`), compares the alias with the member list. Each finding has a
    stable code (HG-D01...) and a fix; docs/errors.md lists them. Env: HOSTGATE_SERVER for ALIAS.
    """
    host, port = parse_target(alias, DEFAULT_PORT)
    servers = tuple(parse_name_server(p.strip()) for v in dns_servers for p in v.split(",") if p.strip())
    inputs = Inputs(
        alias=host,
        port=port,
        ca_file=ca_file,
        hosts_file=hosts_file,
        dns_servers=servers,
        sources=tuple(Source(s) for s in sources) or tuple(Source),
        user=user,
        password=read_secret_file(password_file, "password") if password_file else None,
        timeout=timeout,
        bearer=None if password_file else _stored_login(ca_file),
    )
    report = asyncio.run(diagnose(inputs))
    if as_json:
        emit_json(report.to_json())
    else:
        _print(report)
    if not report.ok:
        raise SystemExit(1)


def _stored_login(ca_file: Path) -> str | None:
    """The token of a live `hostgate login` for the CA's cluster; None (membership not checked) otherwise: the
    doctor diagnoses, it does not refuse to run for want of credentials."""
    try:
        login = load_login(cluster_id_of_ca(ca_file.read_bytes()))
    except (OSError, HostgateError):
        return None
    return login.token if login is not None and login.expires_at > time.time() else None
