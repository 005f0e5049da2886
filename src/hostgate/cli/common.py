"""Options shared by every CLI command that talks to a cluster, each also read from the environment.

Credentials: ``--password-file`` when given; else the login ``hostgate login`` stored for the cluster the CA
names (cli/login_store.py), sent as ``Authorization: Bearer hgcli_...`` over TLS to that cluster only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from hostgate.cli.login_store import StoredLogin, load_login
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import AuthenticationFailed, LoginExpired, UsageError

__all__ = [
    "DNS_SERVERS_OPTION",
    "HOSTS_FILE_OPTION",
    "USER_OPTION",
    "client_from",
    "cluster_options",
    "make_client",
    "read_secret_file",
    "server_option",
    "stored_login",
    "use_stored_login",
    "user_given",
    "when",
]

F = TypeVar("F", bound=Callable[..., Any])


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc.strerror}") from exc
    value = text.rstrip("\r\n")
    if not value:
        raise UsageError(f"{what} file {path} is empty")
    return value


# Each application of a click.option decorator makes a new Option, so these serve every command that takes them.
HOSTS_FILE_OPTION = click.option(
    "--hosts-file",
    envvar="HOSTGATE_HOSTS_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="hostgate's own hosts file, read before the system's. Env: HOSTGATE_HOSTS_FILE.",
)
DNS_SERVERS_OPTION = click.option(
    "--dns-server",
    "dns_servers",
    envvar="HOSTGATE_DNS_SERVER",
    multiple=True,
    metavar="IP[:PORT]",
    help="DNS server to ask for the alias (repeatable). Env: HOSTGATE_DNS_SERVER.",
)
USER_OPTION = click.option(
    "--user", envvar="HOSTGATE_USER", default="admin", show_default=True, help="Env: HOSTGATE_USER."
)


def server_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    """``--server ALIAS_OR_HOST[:PORT]`` (env HOSTGATE_SERVER); its help says where this command sends, which
    differs on purpose between commands (the cluster alias; where a login ends; where a member's removal goes)."""
    return click.option(
        "--server",
        envvar="HOSTGATE_SERVER",
        required=required,
        metavar="ALIAS_OR_HOST[:PORT]",
        help=help_text,
    )


def cluster_options(func: F) -> F:
    options = [
        server_option("The cluster alias (or one member). Env: HOSTGATE_SERVER.", required=True),
        HOSTS_FILE_OPTION,
        DNS_SERVERS_OPTION,
        click.option(
            "--ca-file",
            envvar="HOSTGATE_CA_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            required=True,
            help="The cluster CA (DATA_DIR/ca.pem of any member). Env: HOSTGATE_CA_FILE.",
        ),
        USER_OPTION,
        click.option(
            "--password-file",
            envvar="HOSTGATE_PASSWORD_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the password (first line). Env: HOSTGATE_PASSWORD_FILE.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_client(
    server: str,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
    ca_file: Path,
    user: str,
    password_file: Path | None,
) -> ClusterClient:
    """The typed client of the management API (answers decoded by hostgate.messages: ``client.call_sync(API.x)``)."""

    password = read_secret_file(password_file, "password") if password_file else None
    client = ClusterClient(
        server, ca_file=ca_file, user=user, password=password, hosts_file=hosts_file, dns_servers=dns_servers
    )
    if password is None:
        use_stored_login(client, user if user_given() else None)
    return client


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def user_given() -> bool:
    """Whether --user (or HOSTGATE_USER) was given, rather than left at its default."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("user") if ctx is not None else None
    return source not in (None, ParameterSource.DEFAULT)


def use_stored_login(client: ClusterClient, user: str | None) -> None:
    """Authenticate ``client`` with the stored login for its cluster.

    Refused here, before anything is sent: no login (an empty password sent instead would count as a failed
    login towards the user's lockout), or an expired one. ``user``: the account the command was told to act
    as; a login of another account is not used for it."""
    login = stored_login(client.cluster_id, user)
    client.user, client.password, client.bearer = login.user, None, login.token


def stored_login(cluster_id: str, user: str | None) -> StoredLogin:
    """The usable stored login for the cluster (see ``use_stored_login`` for the refusals)."""
    login = load_login(cluster_id)
    if login is None:
        raise AuthenticationFailed(
            f"no password given, and not logged in to cluster {cluster_id}",
            hint="Pass --password-file (or HOSTGATE_PASSWORD_FILE), or run `hostgate login` first.",
        )
    if user is not None and user.lower() != login.user.lower():
        raise UsageError(
            f"you are logged in to this cluster as {login.user!r}, not {user!r}",
            hint=f"Pass --password-file for {user!r}, or run `hostgate login --user {user}`.",
        )
    if login.expires_at <= time.time():
        raise LoginExpired(f"your login expired at {when(login.expires_at)}; run `hostgate login`")
    return login


def client_from(options: dict[str, Any]) -> ClusterClient:
    """The cluster client for a command's ``**options`` (consumes the shared cluster options from the dict)."""
    return make_client(
        options.pop("server"),
        options.pop("hosts_file"),
        options.pop("dns_servers"),
        options.pop("ca_file"),
        options.pop("user"),
        options.pop("password_file"),
    )
