"""``hostgate login`` / ``hostgate logout``: a short-lived CLI login instead of a password file on every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hostgate.cli.common import (
    DNS_SERVERS_OPTION,
    HOSTS_FILE_OPTION,
    cluster_options,
    read_secret_file,
    server_option,
    when,
)
from hostgate.cli.login_store import StoredLogin, delete_login, load_login, login_dir, login_path, save_login
from hostgate.cli.output import console, handle_errors
from hostgate.connector.cluster import ClusterClient, cluster_id_of_ca
from hostgate.errors import (
    CertificateError,
    HostgateError,
    LoginExpired,
    LoginFileUnsafe,
    LoginInvalid,
    UsageError,
)
from hostgate.messages import API, LoginRequest

__all__ = ["login", "logout"]


@click.command("login")
@cluster_options
@click.option(
    "--ttl",
    type=click.FloatRange(60, 28800),  # the members' own range (management/cli_tokens.py MIN_TTL, MAX_TTL)
    default=None,
    metavar="SECONDS",
    help="How long the login lasts (60-28800 s; the cluster's default is 3600).",
)
@handle_errors
def login(ttl: float | None, **kw: Any) -> None:
    """Log in to the cluster once and keep a short-lived token.

    Authenticates with the password (--password-file, or typed when asked; failed attempts count towards the
    lockout) and stores the token 0600 in $XDG_STATE_HOME/hostgate/logins/ (~/.local/state/... without it), one
    file per cluster. Every command then uses it when no --password-file is given, until it expires or the
    password changes. Local accounts only: directory (LDAP) users keep passing --password-file.
    """
    password_file: Path | None = kw["password_file"]
    user: str = kw["user"]
    password = (
        read_secret_file(password_file, "password")
        if password_file
        else click.prompt(f"Password for {user}", hide_input=True, err=True)
    )
    client = ClusterClient(
        kw["server"],
        ca_file=kw["ca_file"],
        user=user,
        password=password,
        hosts_file=kw["hosts_file"],
        dns_servers=kw["dns_servers"],
    )
    answer = client.call_sync(API.login, LoginRequest(ttl)).payload
    path = save_login(
        StoredLogin(
            client.cluster_id,
            answer.user,
            answer.token,
            answer.expires_at,
            kw["server"],
            str(Path(kw["ca_file"]).resolve()),
        )
    )
    console.print(
        f"Logged in to cluster {client.cluster_id} as [bold]{answer.user}[/] until {when(answer.expires_at)} "
        f"(kept in {path})."
    )


@click.command("logout")
@click.option(
    "--ca-file",
    envvar="HOSTGATE_CA_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CA of the cluster to log out of. Env: HOSTGATE_CA_FILE.",
)
@click.option("--all", "everything", is_flag=True, help="Log out of every cluster.")
@server_option("Where to end the login (default: the alias it was made through). Env: HOSTGATE_SERVER.")
@HOSTS_FILE_OPTION
@DNS_SERVERS_OPTION
@handle_errors
def logout(
    ca_file: Path | None,
    everything: bool,
    server: str | None,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
) -> None:
    """End the stored login of the cluster the CA names (or of every cluster with --all).

    The cluster ends the token on every member (it is refused from then on, even where a copy of the file
    survives), then the file is deleted. When no member can be reached the file is still deleted, and the
    command says until when the token stays valid and exits 1.
    """
    if everything:
        ids = sorted(p.stem for p in login_dir().glob("*.json")) if login_dir().is_dir() else []
        failed = [
            err for cluster_id in ids if (err := _end(cluster_id, None, server, hosts_file, dns_servers))
        ]
        console.print(f"Logged out of {len(ids)} cluster(s).")
        if failed:
            raise failed[0]
        return
    if ca_file is None:
        raise UsageError("give --ca-file (the cluster to log out of) or --all")
    try:
        cluster_id = cluster_id_of_ca(ca_file.read_bytes())
    except OSError as exc:
        raise CertificateError(f"cannot read the cluster CA {ca_file}: {exc.strerror}") from exc
    if not login_path(cluster_id).exists():
        console.print(f"Not logged in to cluster {cluster_id}.")
        return
    failure = _end(cluster_id, ca_file, server, hosts_file, dns_servers)
    console.print(f"Logged out of cluster {cluster_id}.")
    if failure is not None:
        raise failure


def _end(
    cluster_id: str,
    ca_file: Path | None,
    server: str | None,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
) -> HostgateError | None:
    """End ``cluster_id``'s stored login on the cluster, then delete the file; the error when the cluster could
    not end it (the file is deleted all the same: the user asked to be logged out here)."""
    try:
        stored = load_login(cluster_id)
    except LoginFileUnsafe as exc:
        # Not read (it may not be what `hostgate login` wrote); deleted, as asked.
        delete_login(cluster_id)
        console.print(f"[yellow]{exc.message}; deleted without ending it on the cluster[/]")
        return None
    if stored is None:
        return None
    failure: HostgateError | None = None
    ca = ca_file or (Path(stored.ca_file) if stored.ca_file else None)
    target = server or stored.server
    if ca is None or not target:
        failure = UsageError(
            f"the stored login of cluster {cluster_id} names no cluster to end it on; it stays valid until "
            f"{when(stored.expires_at)}",
            hint="Give --ca-file and --server, or change the password to end every login at once.",
        )
    else:
        try:
            client = ClusterClient(
                target, ca_file=ca, hosts_file=hosts_file, dns_servers=dns_servers, bearer=stored.token
            )
            client.call_sync(API.logout, None)
        except (LoginExpired, LoginInvalid):
            pass  # already expired or ended: nothing left to end
        except HostgateError as exc:
            failure = exc
            exc.message += (
                f" (the login was not ended on the cluster: it stays valid until {when(stored.expires_at)})"
            )
    delete_login(cluster_id)
    return failure
