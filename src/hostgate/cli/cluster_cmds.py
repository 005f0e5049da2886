"""``hostgate cluster ...``: see and change the management cluster from anywhere."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import msgspec

from hostgate.cli.backup_cmds import backup, restore
from hostgate.cli.cluster_maint_cmds import hosts_file, move_leader
from hostgate.cli.cluster_view import (
    EXIT_DOWN,
    EXIT_UNKNOWN,
    fail_with,
    look_once,
    render_status,
    watch_status,
)
from hostgate.cli.common import (
    HOSTS_FILE_OPTION,
    USER_OPTION,
    client_from,
    cluster_options,
    make_client,
    server_option,
)
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.config.datadir import lock_holder, mark_removed
from hostgate.config.settings import load_settings
from hostgate.errors import DataDirError, MemberNotFound
from hostgate.messages import API, ClusterRename
from hostgate.naming import format_target

__all__ = ["cluster"]


@click.group()
def cluster() -> None:
    """See and change the management cluster."""


@cluster.command()
@cluster_options
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (with --watch: one line each)."
)
@click.option("--watch", is_flag=True, help="Ask again every --interval seconds until interrupted (Ctrl-C).")
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 3600),
    default=2.0,
    show_default=True,
    help="Seconds between two looks (--watch).",
)
@handle_errors
def status(as_json: bool, watch: bool, interval: float, **kw: Any) -> None:
    """Cluster name and id, every member with its role, health and the store leader, how many more members
    it can lose, and who answered.

    Exit code, for scripts and monitoring: 0 healthy; 1 degraded (a member down, a learner not yet promoted);
    2 down (no majority: changes are refused, or no member answered); 3 could not tell (another error, such as
    a refused login). With --watch: redrawn in place on a terminal, one block (or --json line) per look
    otherwise; Ctrl-C ends it with the last look's exit code.
    """
    client = client_from(kw)
    if watch:
        sys.exit(watch_status(client, interval, as_json))
    look = look_once(client)
    if look.status is None:
        assert look.error is not None
        if look.verdict == EXIT_DOWN:
            fail_with(look.error, EXIT_DOWN)
        fail_with(look.error, EXIT_UNKNOWN)
    if as_json:
        emit_json(msgspec.to_builtins(look.status))  # the wire message itself: one definition, no retyping
    else:
        console.print(render_status(look))
    sys.exit(look.verdict)


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
    renamed = client.call_sync(API.rename, ClusterRename(name)).payload
    console.print(f"Cluster {renamed.id} is now named [bold]{renamed.name}[/].")


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
    removed = client.call_sync(API.remove_member, None, name=member).payload
    console.print(f"Member [bold]{removed.removed}[/] ({removed.address}) removed.")


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
    rotated = client.call_sync(API.rotate_token_keys, None).payload
    if as_json:
        emit_json(msgspec.to_builtins(rotated))
        return
    keys = rotated.keys
    console.print(f"New token signing key [bold]{keys[0].kid}[/].")
    for k in keys[1:]:
        console.print(f"  retired key {k.kid} accepted until {k.accept_until:.0f} (epoch seconds)")


@cluster.command()
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="This member's data directory.",
)
@server_option("Where to send the removal (default: this member's own API). Env: HOSTGATE_SERVER.")
@HOSTS_FILE_OPTION
@USER_OPTION
@click.option(
    "--password-file",
    envvar="HOSTGATE_PASSWORD_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File holding an Administrator's password (first line). Env: HOSTGATE_PASSWORD_FILE.",
)
@click.option(
    "--wait",
    type=click.FloatRange(0, 600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for this member's server to stop.",
)
@handle_errors
def leave(
    data_dir: Path, server: str | None, hosts_file: Path | None, user: str, password_file: Path, wait: float
) -> None:
    """Decommission this member: remove it from its cluster, then wait until its server has stopped.

    Run on the member's host. The cluster forgets the member (its record, then its etcd member); the running
    server notices, refuses requests with HG-4010, stops its etcd member and exits; the data directory is
    retired (`hostgate server` refuses it). The cluster's last member cannot leave (HG-4004).
    """

    settings = load_settings(data_dir)
    if not settings.is_management:
        raise DataDirError(f"{data_dir} holds no management member")
    name = settings.server.member_name
    target = server or format_target(settings.server.address, settings.server.port)
    client = make_client(target, hosts_file, (), settings.path(settings.tls.ca_file), user, password_file)
    try:
        client.call_sync(API.remove_member, None, name=name)
    except MemberNotFound:
        console.print(f"Member [bold]{name}[/] is not a member of its cluster any more.")
    mark_removed(
        settings, f"member {name} left cluster {settings.server.cluster_id} (hostgate cluster leave)"
    )
    deadline = time.monotonic() + wait
    holder = lock_holder(settings.data_dir)
    while holder is not None and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for the server's exit, bounded by --wait
        holder = lock_holder(settings.data_dir)
    if holder is not None:
        raise DataDirError(
            f"member {name} left its cluster, but its server (pid {holder}) is still running after {wait:g} s",
            hint="Stop it (it refuses every request with HG-4010 meanwhile).",
        )
    console.print(
        f"Member [bold]{name}[/] left its cluster; its server is stopped and {data_dir} is retired."
    )


# `cluster backup` and `cluster restore` live in cli/backup_cmds.py (issue #21).
cluster.add_command(backup)
cluster.add_command(restore)
cluster.add_command(hosts_file)
cluster.add_command(move_leader)
