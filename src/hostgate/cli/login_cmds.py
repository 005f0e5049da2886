"""``hostgate login`` / ``hostgate logout``: a short-lived CLI login instead of a password file on every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hostgate.cli.common import cluster_options, read_secret_file, when
from hostgate.cli.login_store import StoredLogin, delete_login, login_dir, save_login
from hostgate.cli.output import console, handle_errors
from hostgate.connector.cluster import ClusterClient, cluster_id_of_ca
from hostgate.errors import CertificateError, UsageError
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
        StoredLogin(client.cluster_id, answer.user, answer.token, answer.expires_at, kw["server"])
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
@handle_errors
def logout(ca_file: Path | None, everything: bool) -> None:
    """Delete the stored login of the cluster the CA names (or of every cluster with --all).

    The token itself stays valid until it expires (at most 8 h); changing the password ends it at once.
    """
    if everything:
        removed = sorted(p.stem for p in login_dir().glob("*.json")) if login_dir().is_dir() else []
        for cluster_id in removed:
            delete_login(cluster_id)
        console.print(f"Logged out of {len(removed)} cluster(s).")
        return
    if ca_file is None:
        raise UsageError("give --ca-file (the cluster to log out of) or --all")
    try:
        cluster_id = cluster_id_of_ca(ca_file.read_bytes())
    except OSError as exc:
        raise CertificateError(f"cannot read the cluster CA {ca_file}: {exc.strerror}") from exc
    if delete_login(cluster_id):
        console.print(f"Logged out of cluster {cluster_id}.")
    else:
        console.print(f"Not logged in to cluster {cluster_id}.")
