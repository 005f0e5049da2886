"""``hostgate webservices``: run the web services (REST/JSON and SOAP over deployed models) as their own process."""

from __future__ import annotations

from pathlib import Path

import click

from hostgate.cli.output import handle_errors

__all__ = ["webservices"]


@click.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--listen", required=True, metavar="ADDRESS:PORT", help="Where to serve HTTPS (one address).")
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The cluster CA (default: DATA_DIR/ca.pem; DATA_DIR/webservices/ca/ALIAS.pem wins for ALIAS).",
)
@click.option(
    "--cert-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Default: DATA_DIR/webservices/cert.pem.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Default: DATA_DIR/webservices/key.pem.",
)
@click.option(
    "--hosts-file", type=click.Path(dir_okay=False, path_type=Path), help="hostgate's own hosts file."
)
@click.option(
    "--dns-server", "dns_servers", multiple=True, metavar="IP[:PORT]", help="DNS server for the alias."
)
@click.option(
    "--naming-sources",
    default="hosts_file,system_hosts,dns,system",
    show_default=True,
    help="Where the alias is looked up, in order.",
)
@click.option("--management-port", default=9440, show_default=True, type=click.IntRange(1, 65535),
              help="The cluster's API port when serverName names none.")  # fmt: skip
@click.option(
    "--model-file",
    "model_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A model whose services to publish (default: DATA_DIR/webservices/models/*.yaml).",
)
@click.option("--idle-timeout", default=300.0, show_default=True, type=click.FloatRange(1, 86400),
              help="Seconds a kept session may stay unused.")  # fmt: skip
@click.option("--max-kept", default=100, show_default=True, type=click.IntRange(0, 100000),
              help="Kept sessions held at most.")  # fmt: skip
@handle_errors
def webservices(
    data_dir: Path,
    listen: str,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
    naming_sources: str,
    management_port: int,
    model_files: tuple[Path, ...],
    idle_timeout: float,
    max_kept: int,
) -> None:
    """Serve the web services of the cluster that DATA_DIR/webservices/plugin-cfg.xml names (serverName)."""
    from hostgate.runtime.ws_standalone import StandaloneOptions, run_standalone

    run_standalone(
        StandaloneOptions(
            data_dir=data_dir,
            listen=listen,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            hosts_file=hosts_file,
            dns_servers=dns_servers,
            sources=tuple(s.strip() for s in naming_sources.split(",") if s.strip()),
            management_port=management_port,
            model_files=model_files,
            idle_timeout=idle_timeout,
            max_kept=max_kept,
        )
    )
