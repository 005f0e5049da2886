"""``hostgate cluster backup FILE`` and ``hostgate cluster restore FILE --data-dir NEW`` (docs/operations.md).

A backup is taken through the cluster's API (any member, an Administrator's credentials): no access to a
member's host or its etcd certificates is needed. A restore builds a new data directory on this host (server
code, loaded only inside the command: management/restore.py) after the whole file has been checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from hostgate import __version__
from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, handle_errors
from hostgate.config.settings import StoreBackend
from hostgate.errors import BackupFailed, BackupInvalid, UsageError
from hostgate.messages import API, read_backup, write_backup
from hostgate.messages.backup import manifest_text

__all__ = ["backup", "restore"]


def _write_new(path: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``path`` (0600: it holds the cluster's keys) through a temporary file renamed last."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BackupFailed(f"cannot write {path}: {exc.strerror}") from exc


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@cluster_options
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@handle_errors
def backup(file: Path, force: bool, **kw: Any) -> None:
    """Write a backup of the cluster's configuration to FILE (mode 0600: it holds the cluster's keys).

    Every key at one store revision (users, grants, directories, domains, session servers, deployments, the
    CA and token keys), with a manifest: cluster id, store kind, time, SHA-256. Needs a cluster-wide
    Administrator. Restore it with `hostgate cluster restore FILE --data-dir NEW ...`.
    """
    if not force and file.exists():
        raise UsageError(f"{file} exists; pass --force to replace it")
    dump = client_from(kw).call_sync(API.backup, None).payload
    data = write_backup(dump, __version__)
    manifest, _ = read_backup(data, str(file))  # what is written is what restore will accept
    _write_new(file, data, force)
    console.print(f"Backup of cluster [bold]{dump.cluster_name}[/] ({dump.cluster_id}) written to {file}:")
    click.echo(manifest_text(manifest))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New (or empty) directory for the restored member.",
)
@click.option(
    "--address", required=True, help="This server's IP address (the API, etcd and its certificate)."
)
@click.option(
    "--port", default=9440, show_default=True, type=click.IntRange(1, 65535), help="Management API port."
)
@click.option("--member-name", help="The restored member's name (default: this host's name).")
@click.option(
    "--store",
    type=click.Choice(["sqlite", "etcd"]),
    help="The new member's store (default: the backup's). etcd from a SQLite backup: the migration to a cluster.",
)
@click.option("--etcd-client-port", default=2379, show_default=True, type=click.IntRange(1, 65535))
@click.option("--etcd-peer-port", default=2380, show_default=True, type=click.IntRange(1, 65535))
@handle_errors
def restore(
    file: Path,
    data_dir: Path,
    address: str,
    port: int,
    member_name: str | None,
    store: str | None,
    etcd_client_port: int,
    etcd_peer_port: int,
) -> None:
    """Build a new member from a backup in DATA_DIR: a new cluster of one member holding the backup's data.

    The file is checked whole first (manifest, size, SHA-256: HG-7211); DATA_DIR must be new or empty
    (HG-7212). The cluster keeps its id, CAs and keys; this member gets new certificates for --address. Start it
    with `hostgate server --data-dir DATA_DIR`, then let other members join it (`hostgate install --join`).
    """
    os.umask(0o077)  # keys and the seed are this server's own
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BackupInvalid(f"cannot read {file}: {exc.strerror}") from exc
    manifest, dump = read_backup(data, str(file))
    from hostgate.management.install import default_member_name
    from hostgate.management.restore import RestorePlan
    from hostgate.management.restore import restore as restore_dir

    plan = RestorePlan(
        data_dir,
        address,
        port,
        member_name or default_member_name(),
        StoreBackend(store or manifest.store),
        etcd_client_port,
        etcd_peer_port,
    )
    settings = restore_dir(dump, plan, str(file))
    console.print(
        f"Cluster [bold]{dump.cluster_name}[/] ({dump.cluster_id}) restored into {settings.data_dir} as member "
        f"[bold]{plan.member_name}[/] ({plan.store}; {len(dump.entries)} keys from {dump.member}, revision "
        f"{dump.revision})."
    )
    console.print(f"Start it with: hostgate server --data-dir {settings.data_dir}")
