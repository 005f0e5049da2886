"""``hostgate resolve ALIAS``: what every name source says about a cluster alias, and the order clients try.

The diagnostic twin of what a connector does before it connects (KB 7021563, "What Happens At Runtime"): it
asks every source, not only up to the first that knows the alias, so a disagreement between the hosts file
and DNS shows.
"""

from __future__ import annotations

import asyncio
import json

import click
from rich.markup import escape
from rich.table import Table

from hostgate.cli.output import fail, make_console
from hostgate.errors import HostgateError
from hostgate.naming import SYSTEM_HOSTS, AliasResolver, Resolution, Source, format_target, parse_target

__all__ = ["resolve_cmd"]


def _split_servers(values: tuple[str, ...]) -> list[str]:
    # HOSTGATE_DNS_SERVER may hold several servers separated by spaces (click's rule) or commas.
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def resolution_payload(resolution: Resolution, alias: str) -> dict[str, object]:
    """The ``--json`` document: ``{"alias", "addresses", "sources": [{"name", "addresses", "error"}]}``."""
    return {
        "alias": alias,
        "addresses": list(resolution.addresses),
        "sources": [
            {"name": s.name, "addresses": list(s.addresses), "error": s.error} for s in resolution.sources
        ],
    }


def _print_table(resolution: Resolution, alias: str, port: int | None) -> None:
    console = make_console()
    table = Table(title=f"Name sources for {alias}", title_justify="left")
    table.add_column("source")
    table.add_column("status")
    table.add_column("addresses")
    table.add_column("note", overflow="fold")
    for answer in resolution.sources:
        table.add_row(
            answer.name, answer.status.value, "\n".join(answer.addresses) or "-", escape(answer.error or "")
        )
    console.print(table)
    console.print(f"Try order (from {resolution.answered_by}):")
    for number, address in enumerate(resolution.addresses, start=1):
        console.print(f"  {number}. {format_target(address, port) if port is not None else address}")


@click.command("resolve")
@click.argument("alias")
@click.option(
    "--hosts-file",
    envvar="HOSTGATE_HOSTS_FILE",
    type=click.Path(dir_okay=False),
    help="hostgate's own hosts file (`IP unique-name [alias ...]` lines). [env: HOSTGATE_HOSTS_FILE]",
)
@click.option(
    "--dns-server",
    "dns_servers",
    envvar="HOSTGATE_DNS_SERVER",
    multiple=True,
    metavar="IP[:PORT]",
    help="A DNS server to ask; repeat for several. [env: HOSTGATE_DNS_SERVER, space or comma separated]",
)
@click.option("--system-hosts", default=SYSTEM_HOSTS, hidden=True, type=click.Path(dir_okay=False))
@click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Choice([s.value for s in Source]),
    help=(
        "Ask only these sources, in this order; repeat for several. "
        "[default: hosts_file, system_hosts, dns, system]"
    ),
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for DNS and for the OS resolver, each.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def resolve_cmd(
    alias: str,
    hosts_file: str | None,
    dns_servers: tuple[str, ...],
    system_hosts: str,
    sources: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Show what each name source says about ALIAS and the order clients try its addresses.

    ALIAS may carry a port (vhi-prod-sea:9440, [::1]:9440); the try order then shows it.
    """
    try:
        # Port 0 stands for "none given": parse_target never returns 0 for a port that was written.
        host, port = parse_target(alias, 0)
        resolver = AliasResolver(
            hosts_file=hosts_file or None,
            system_hosts=system_hosts or None,
            dns_servers=_split_servers(dns_servers),
            sources=sources or tuple(Source),
            timeout=timeout,
        )
        resolution = asyncio.run(resolver.resolve(host, consult_all=True))
    except HostgateError as err:
        fail(err)
    if as_json:
        click.echo(json.dumps(resolution_payload(resolution, host), indent=2))
    else:
        _print_table(resolution, host, port or None)
