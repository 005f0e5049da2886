"""``hostgate domain ...`` and ``hostgate servers``: load-distribution domains and session servers."""

from __future__ import annotations

from typing import Any

import click
import msgspec
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.errors import UsageError
from hostgate.messages import API, DomainCreate, DomainServerSettings, DomainView, SecuritySwitch

__all__ = ["domain", "servers"]


def _print_domain(d: DomainView) -> None:
    table = Table("server", "weight", "priority", title=f"domain {d.name}")
    for m in d.members:
        table.add_row(m.server, str(m.weight), str(m.priority))
    console.print(table)


@click.group()
def domain() -> None:
    """Load-distribution domains: which session servers serve "connect via domain"."""


@domain.command("create")
@click.argument("name")
@cluster_options
@handle_errors
def create(name: str, **kw: Any) -> None:
    """Create an empty domain."""
    client_from(kw).call_sync(API.create_domain, DomainCreate(name))
    console.print(f"Domain [bold]{name}[/] created.")


@domain.command("delete")
@click.argument("name")
@cluster_options
@handle_errors
def delete(name: str, **kw: Any) -> None:
    """Delete a domain (its session servers stay registered)."""
    client_from(kw).call_sync(API.delete_domain, None, name=name)
    console.print(f"Domain [bold]{name}[/] deleted.")


@domain.command("add-server")
@click.argument("domain_name", metavar="DOMAIN")
@click.argument("server_name", metavar="SERVER")
@click.option("--weight", type=int, default=1, show_default=True, help="Share within its tier (1-1000).")
@click.option(
    "--priority",
    type=int,
    default=1,
    show_default=True,
    help="Lower tiers are used first (1-100).",
)
@cluster_options
@handle_errors
def add_server(domain_name: str, server_name: str, weight: int, priority: int, **kw: Any) -> None:
    """Add a session server to a domain (or change its weight and priority)."""
    # Checked here too (the API is the authority) so a bad value is a coded HG-1003 before any connection.
    if not 1 <= weight <= 1000:
        raise UsageError(
            f"--weight {weight} is outside 1-1000",
            hint="A weight is the server's share within its tier; to stop routing to a server, remove it "
            "from the domain (`hostgate domain remove-server`).",
        )
    if not 1 <= priority <= 100:
        raise UsageError(f"--priority {priority} is outside 1-100", hint="Priority 1 is the first tier.")
    answer = client_from(kw).call_sync(
        API.add_domain_server, DomainServerSettings(weight, priority), name=domain_name, server=server_name
    )
    _print_domain(answer.payload)


@domain.command("remove-server")
@click.argument("domain_name", metavar="DOMAIN")
@click.argument("server_name", metavar="SERVER")
@cluster_options
@handle_errors
def remove_server(domain_name: str, server_name: str, **kw: Any) -> None:
    """Take a session server out of a domain."""
    answer = client_from(kw).call_sync(API.remove_domain_server, None, name=domain_name, server=server_name)
    _print_domain(answer.payload)


@domain.command("list")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_domains(as_json: bool, **kw: Any) -> None:
    """Every domain with its servers."""
    domains = client_from(kw).call_sync(API.domains, None).payload
    if as_json:
        emit_json(msgspec.to_builtins(domains))
        return
    table = Table("domain", "servers (weight/priority)")
    for d in domains:
        table.add_row(d.name, ", ".join(f"{m.server} ({m.weight}/{m.priority})" for m in d.members))
    console.print(table)


@domain.command("show")
@click.argument("name")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show(name: str, as_json: bool, **kw: Any) -> None:
    """One domain's servers, weights and priorities."""
    d = client_from(kw).call_sync(API.domain, None, name=name).payload
    if as_json:
        emit_json(msgspec.to_builtins(d))
    else:
        _print_domain(d)


def _list_servers(as_json: bool, kw: dict[str, Any]) -> None:
    answer = client_from(kw).call_sync(API.servers, None)
    if as_json:
        emit_json({"answered_by": answer.member, "servers": msgspec.to_builtins(answer.payload)})
        return
    table = Table("server", "advertised", "state", "security", "sessions", "last heartbeat", "domains")
    for v in answer.payload:
        seen = v.seconds_since_heartbeat
        table.add_row(
            v.name,
            v.advertised,
            "[green]live[/]" if v.live else "[red]down[/]",
            "on" if v.security == "on" else "[yellow]OFF[/]",
            f"{v.active_sessions}/{v.capacity}",
            "never" if seen is None else f"{seen:.1f} s ago",
            ", ".join(v.domains),
        )
    console.print(table)
    console.print(f"answered by member {answer.member}")


class _ListByDefault(click.Group):
    """A group whose first argument, when it names no subcommand, goes to ``list``: ``hostgate servers
    --server ALIAS --json`` keeps working as it did before the group had subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ListByDefault)
def servers() -> None:
    """Session servers: list them (the default command), switch their security, remove one."""


@servers.command("list")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_servers(as_json: bool, **kw: Any) -> None:
    """Session servers with their state, security, load and domains (as the answering member sees them)."""
    _list_servers(as_json, kw)


@servers.command("security")
@click.argument("name")
@click.argument("setting", type=click.Choice(["on", "off"]))
@cluster_options
@handle_errors
def security(name: str, setting: str, **kw: Any) -> None:
    """Switch session server NAME's security on or off (VHI's setting; Administrators only).

    On (the default): clients need a token the management cluster gives after checking the user. Off: the
    server accepts any client; sessions opened without a token belong to the user 'anonymous'. The server
    learns the change with its next heartbeat answer, keeps it across restarts, and logs a warning while off.
    """
    switch = SecuritySwitch("on" if setting == "on" else "off")
    answer = client_from(kw).call_sync(API.server_security, switch, name=name)
    console.print(f"Session server [bold]{answer.payload.server}[/]: security {answer.payload.security}.")


@servers.command("remove")
@click.argument("name")
@cluster_options
@handle_errors
def remove_session_server(name: str, **kw: Any) -> None:
    """Take session server NAME out of the cluster: its registration, and it leaves every domain (Administrators
    only). A running server that is removed can no longer get tokens or send heartbeats; register it again
    with `hostgate install --role session` to bring it back."""
    answer = client_from(kw).call_sync(API.remove_server, None, name=name)
    console.print(f"Session server [bold]{answer.payload.removed}[/] removed.")
