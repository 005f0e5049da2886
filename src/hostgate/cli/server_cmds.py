"""``hostgate install`` and ``hostgate server``: the only commands that load server code (lazily)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hostgate.cli.common import read_secret_file
from hostgate.cli.output import console, handle_errors
from hostgate.config.settings import StoreBackend
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import UsageError

__all__ = ["install", "server"]


@click.command()
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New, empty directory.",
)
@click.option(
    "--address", required=True, help="This server's IP address (the API, etcd and the certificate use it)."
)
@click.option(
    "--port", default=9440, show_default=True, type=click.IntRange(1, 65535), help="Management API port."
)
@click.option("--name", "cluster_name", help="Cluster name (default: this host's name). First server only.")
@click.option("--member-name", help="This member's unique name (default: this host's name).")
@click.option(
    "--store",
    type=click.Choice(["sqlite", "etcd"]),
    default="sqlite",
    show_default=True,
    help="sqlite: a lone server, no other daemon. etcd: a cluster that others can join.",
)
@click.option("--etcd-client-port", default=2379, show_default=True, type=click.IntRange(1, 65535))
@click.option("--etcd-peer-port", default=2380, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--admin-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="First server: the new admin password (default: generated into DATA_DIR/admin-password). "
    "Join: the password of an Administrator of the cluster.",
)
@click.option("--join", "join_target", metavar="HOST[:PORT]", help="Join the cluster this server belongs to.")
@click.option(
    "--admin-user", default="admin", show_default=True, help="With --join: the Administrator to log in as."
)
@click.option(
    "--ca-file",
    envvar="HOSTGATE_CA_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --join and --role session: the cluster CA (ca.pem from any member's data directory). "
    "Env: HOSTGATE_CA_FILE.",
)
@click.option(
    "--role",
    type=click.Choice(["management", "session"]),
    default="management",
    show_default=True,
    help="management: a management server. session: a session server registered with --management.",
)
@click.option("--management", metavar="ALIAS[:PORT]", help="Session role: the management cluster's alias.")
@click.option("--advertised-address", help="Session role: the address clients must dial (behind NAT).")
@click.option(
    "--advertised-port", type=click.IntRange(0, 65535), default=0, help="Session role (default: --port)."
)
@click.option(
    "--hosts-file",
    envvar="HOSTGATE_HOSTS_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Session role: hostgate's own hosts file naming the alias (kept in hostgate.toml). "
    "Env: HOSTGATE_HOSTS_FILE.",
)
@click.option(
    "--dns-server", "dns_servers", multiple=True, metavar="IP[:PORT]", help="Session role: DNS for the alias."
)
@click.option("--heartbeat-interval", type=click.FloatRange(0.1, 60), default=2.0, show_default=True)
@handle_errors
def install(
    data_dir: Path,
    address: str,
    port: int,
    cluster_name: str | None,
    member_name: str | None,
    store: str,
    etcd_client_port: int,
    etcd_peer_port: int,
    admin_password_file: Path | None,
    join_target: str | None,
    admin_user: str,
    ca_file: Path | None,
    role: str,
    management: str | None,
    advertised_address: str | None,
    advertised_port: int,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
    heartbeat_interval: float,
) -> None:
    """Install a management server: the first of a new cluster, or (--join) a new member of an existing one.

    Environment: install reads HOSTGATE_CA_FILE (--ca-file) and HOSTGATE_HOSTS_FILE (--hosts-file), and no
    other HOSTGATE_* variable; the server's own settings (HOSTGATE_STORE, HOSTGATE_<SECTION>_<KEY>,
    docs/configuration.md) are read by `hostgate server` at each start.
    """
    os.umask(0o077)  # keys, secrets and the configuration are this server's own (issue #15, finding 8)
    from hostgate.management import install as inst

    password = read_secret_file(admin_password_file, "admin password") if admin_password_file else None
    if role == "session":
        if management is None or password is None or ca_file is None:
            raise UsageError(
                "--role session needs --management ALIAS, --ca-file and --admin-password-file (an Administrator's)"
            )
        if join_target or cluster_name:
            raise UsageError("--join and --name are for management servers, not --role session")
        from hostgate.runtime.enrol import Enrolment, enrol

        client = ClusterClient(
            management,
            ca_file=ca_file,
            user=admin_user,
            password=password,
            hosts_file=hosts_file,
            dns_servers=dns_servers,
            deadline=30.0,
        )
        plan = Enrolment(
            "session",
            address,
            port,
            member_name,
            management=management,
            advertised_address=advertised_address or "",
            advertised_port=advertised_port,
            hosts_file=hosts_file,
            dns_servers=dns_servers,
            heartbeat_interval=heartbeat_interval,
        )
        done = enrol(data_dir, plan, client)
        console.print(
            f"Session server [bold]{done.name}[/] registered with cluster [bold]{done.cluster_name}[/] "
            f"({done.cluster_id}) through {done.through}."
        )
        console.print(f"Start it with: hostgate server --data-dir {done.settings.data_dir}")
        return
    if join_target is None:
        result = inst.install_first(
            data_dir,
            address=address,
            port=port,
            member_name=member_name,
            cluster_name=cluster_name,
            store=StoreBackend(store),
            admin_password=password,
            etcd_client_port=etcd_client_port,
            etcd_peer_port=etcd_peer_port,
        )
        console.print(
            f"Installed member [bold]{result.settings.server.member_name}[/] of new cluster "
            f"[bold]{result.cluster_name}[/] ({result.cluster_id}), store {store}."
        )
        console.print(f"  data directory : {result.settings.data_dir}")
        console.print(f"  API            : {result.settings.url}")
        console.print(f"  cluster CA     : {result.settings.data_dir / 'ca.pem'}  ({result.ca_fingerprint})")
        if result.generated_password_file:
            console.print(f"  admin password : generated into {result.generated_password_file}")
        console.print(f"Start it with: hostgate server --data-dir {result.settings.data_dir}")
        return
    if cluster_name:
        raise UsageError("--name sets the name of a new cluster; a joining member takes its cluster's name")
    if password is None or ca_file is None:
        raise UsageError("--join needs --admin-password-file (an Administrator's password) and --ca-file")
    from hostgate.runtime.enrol import Enrolment, enrol

    client = ClusterClient(join_target, ca_file=ca_file, user=admin_user, password=password, deadline=30.0)
    plan = Enrolment("management", address, port, member_name, etcd_client_port, etcd_peer_port)
    done = enrol(data_dir, plan, client)
    console.print(
        f"Member [bold]{done.name}[/] joined cluster [bold]{done.cluster_name}[/] ({done.cluster_id}) "
        f"through {done.through}."
    )
    console.print(
        f"Start it now (the cluster counts it already): hostgate server --data-dir {done.settings.data_dir}"
    )


@click.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Least severe records logged (default: [log] level of hostgate.toml, info).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="json: one object per line with time, level, logger, message, request_id (default: [log] format, text).",
)
@handle_errors
def server(data_dir: Path, log_level: str | None, log_format: str | None) -> None:
    """Run the servers DATA_DIR configures (management API, and this host's etcd member) until stopped.

    Logs go to stderr (and to [log] file unless it is ""). SIGTERM or Ctrl-C drains: no new connections,
    requests in flight get up to 5 s to finish, sessions sign off, then the etcd member stops; exit status 0.
    """
    from hostgate.runtime.server import run_server

    run_server(data_dir, log_level=log_level, log_format=log_format)
