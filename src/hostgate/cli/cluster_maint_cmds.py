"""``hostgate cluster hosts-file`` and ``hostgate cluster move-leader`` (issue #21): maintenance of a running
cluster, registered in the ``cluster`` group (cli/cluster_cmds.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, handle_errors
from hostgate.errors import UsageError
from hostgate.messages import API, ClusterStatus, LeaderMove
from hostgate.naming.hosts_file import check_name

__all__ = ["hosts_file", "move_leader", "render_hosts_file"]


def render_hosts_file(status: ClusterStatus, alias: str, at: float) -> str:
    """The alias lines in KB 7021563's format: one line per management member, ``IP name alias``."""
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# hostgate cluster {status.name} (id {status.id}): its members at {when}, as member "
        f"{status.answered_by} saw them",
        f'# "{alias}" is the common name for the management server cluster',
        "# One line for each management member: IP address, unique server name, cluster name",
        "# Put these lines in the hosts file of every system (members, session servers, clients), or in",
        "# hostgate's own hosts file (--hosts-file / HOSTGATE_HOSTS_FILE) where /etc/hosts cannot be changed.",
    ]
    width = max((len(m.address) for m in status.members), default=0)
    lines += [f"{m.address.ljust(width)} {m.name} {alias}" for m in status.members]
    return "\n".join(lines) + "\n"


@click.command("hosts-file")
@cluster_options
@click.option(
    "--alias",
    metavar="NAME",
    help="The cluster's common name in the lines (default: the cluster's name, which KB 7021563 suggests "
    "setting to the alias with `hostgate cluster rename`).",
)
@handle_errors
def hosts_file(alias: str | None, **kw: Any) -> None:
    """Print the cluster alias's hosts-file lines (KB 7021563's format) from the live membership.

    One line per management member (IP address, member name, alias), learners included (they serve once
    promoted). Redirect it into the hosts file every system of the installation reads, e.g. hostgate's own:
    `hostgate cluster hosts-file --server ALIAS > /etc/hostgate/hosts`.
    """
    import time

    client = client_from(kw)
    status = client.call_sync(API.cluster, None).payload
    name = alias or status.name
    problem = check_name(name)
    if problem is not None:
        raise UsageError(
            f"{problem}: it cannot be the alias in a hosts file",
            hint="Give the alias with --alias NAME (letters a-z, digits, hyphens; dots between labels).",
        )
    click.echo(render_hosts_file(status, name, time.time()), nl=False)


@click.command("move-leader")
@click.argument("member")
@cluster_options
@handle_errors
def move_leader(member: str, **kw: Any) -> None:
    """Make MEMBER the store (etcd) leader, e.g. before taking the current leader down for maintenance.

    The cluster then needs no election when the old leader stops (writes pause for an election timeout
    otherwise). MEMBER must be a voting member. A lone server (SQLite store) has no leader to move: refused
    with HG-2004.
    """
    answer = client_from(kw).call_sync(API.move_leader, LeaderMove(member)).payload
    if not answer.moved:
        console.print(f"Member [bold]{answer.leader}[/] already leads the store; nothing to do.")
    else:
        console.print(f"Store leadership moved from [bold]{answer.previous}[/] to [bold]{answer.leader}[/].")
