"""``hostgate cluster ...``: see and change the management cluster from anywhere."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, emit_json, handle_errors

__all__ = ["cluster"]


@click.group()
def cluster() -> None:
    """See and change the management cluster."""


def _status_json(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": payload["name"],
        "id": payload["id"],
        "answered_by": payload["answered_by"],
        "store": payload["store"],
        "quorum": payload["quorum"],
        "members": [
            {
                "name": m["name"],
                "address": m["address"],
                "port": m["port"],
                "healthy": m["healthy"],
                "leader": m["leader"],
                "detail": m["detail"],
            }
            for m in payload["members"]
        ],
    }


@cluster.command()
@cluster_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def status(
    as_json: bool,
    **kw: Any,
) -> None:
    """Cluster name and id, every member with its health and the store leader, and who answered."""
    client = client_from(kw)
    data = _status_json(client.request_sync("GET", "/api/v1/cluster").payload)
    if as_json:
        emit_json(data)
        return
    console.print(f"Cluster [bold]{data['name']}[/]  id {data['id']}  store {data['store']}")
    console.print(f"answered by member [bold]{data['answered_by']}[/]")
    table = Table("member", "address", "health", "store leader", "detail")
    for m in data["members"]:
        table.add_row(
            m["name"],
            f"{m['address']}:{m['port']}",
            "[green]healthy[/]" if m["healthy"] else "[red]down[/]",
            "leader" if m["leader"] else "",
            m["detail"],
        )
    console.print(table)
    if not data["quorum"]:
        console.print(
            "[yellow]No store leader: reads and logins work, changes are refused until a majority "
            "of members is back.[/]"
        )


@cluster.command()
@click.argument("name")
@cluster_options
@handle_errors
def rename(
    name: str,
    **kw: Any,
) -> None:
    """Rename the cluster (KB 7021563 suggests its DNS alias); every member shows it at once."""
    client = client_from(kw)
    answer = client.request_sync("PUT", "/api/v1/cluster/name", {"name": name})
    console.print(f"Cluster {answer.payload['id']} is now named [bold]{answer.payload['name']}[/].")


@cluster.command()
@click.argument("member")
@cluster_options
@handle_errors
def remove(
    member: str,
    **kw: Any,
) -> None:
    """Take a (dead) member out of the cluster's membership. Nothing else is reset."""
    client = client_from(kw)
    answer = client.request_sync("DELETE", f"/api/v1/cluster/members/{member}")
    console.print(f"Member [bold]{answer.payload['removed']}[/] ({answer.payload['address']}) removed.")


@cluster.command("rotate-keys")
@cluster_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def rotate_keys(
    as_json: bool,
    **kw: Any,
) -> None:
    """Make a new token signing key. Tokens signed before stay valid until they expire (the old public key is
    kept that long, then dropped); session servers fetch the new public key with their next heartbeat."""
    client = client_from(kw)
    payload = client.request_sync("POST", "/api/v1/token-keys/rotate").payload
    if as_json:
        emit_json(payload)
        return
    keys = payload["keys"]
    console.print(f"New token signing key [bold]{keys[0]['kid']}[/].")
    for k in keys[1:]:
        console.print(f"  retired key {k['kid']} accepted until {k['accept_until']:.0f} (epoch seconds)")
