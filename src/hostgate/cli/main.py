"""The ``hostgate`` command."""

from __future__ import annotations

import click

from hostgate import __version__
from hostgate.cli.audit_cmd import audit
from hostgate.cli.cluster_cmds import cluster
from hostgate.cli.demo import demo
from hostgate.cli.deploy_cmds import activatemodel, deactivatemodel
from hostgate.cli.doctor_cmd import doctor
from hostgate.cli.domain_cmds import domain, servers
from hostgate.cli.grant_cmds import grant, whoami
from hostgate.cli.ldap_cmds import ldap
from hostgate.cli.login_cmds import login, logout
from hostgate.cli.model_cmd import model
from hostgate.cli.pool_cmds import pool
from hostgate.cli.resolve_cmd import resolve_cmd
from hostgate.cli.scaffold_cmds import scaffold_cmd
from hostgate.cli.server_cmds import install, server
from hostgate.cli.systemd_cmd import systemd_unit
from hostgate.cli.user_cmds import user
from hostgate.cli.ws_cmds import webservices

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="hostgate")
def cli() -> None:
    """hostgate: terminal host applications as APIs, behind a failover management cluster."""


cli.add_command(install)
cli.add_command(server)
cli.add_command(cluster)
cli.add_command(user)
cli.add_command(ldap)
cli.add_command(grant)
cli.add_command(whoami)
cli.add_command(audit)
cli.add_command(domain)
cli.add_command(pool)
cli.add_command(servers)
cli.add_command(resolve_cmd)
cli.add_command(demo)
cli.add_command(model)
cli.add_command(activatemodel)
cli.add_command(deactivatemodel)
cli.add_command(doctor)
cli.add_command(login)
cli.add_command(logout)
cli.add_command(scaffold_cmd)
cli.add_command(webservices)
cli.add_command(systemd_unit)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
