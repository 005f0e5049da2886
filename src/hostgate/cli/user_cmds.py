"""``hostgate user ...``: local accounts of the management cluster (argon2-hashed, replicated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options, read_secret_file
from hostgate.cli.output import console, emit_json, handle_errors

__all__ = ["user"]


@click.group()
def user() -> None:
    """Local accounts of the management cluster."""


@user.command("list")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_users(
    as_json: bool,
    **kw: Any,
) -> None:
    """List the accounts and their roles."""
    client = client_from(kw)
    users = client.request_sync("GET", "/api/v1/users").payload
    if as_json:
        emit_json(users)
        return
    table = Table("user", "roles")
    for u in users:
        table.add_row(u["name"], ", ".join(u["roles"]))
    console.print(table)


@user.command("add")
@click.argument("name")
@click.option(
    "--new-password-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the new account's password.",
)
@click.option("--admin", is_flag=True, help="Make the account an Administrator.")
@cluster_options
@handle_errors
def add_user(
    name: str,
    new_password_file: Path,
    admin: bool,
    **kw: Any,
) -> None:
    """Add an account (needs an Administrator)."""
    client = client_from(kw)
    body = {"name": name, "password": read_secret_file(new_password_file, "new password"), "admin": admin}
    answer = client.request_sync("POST", "/api/v1/users", body)
    console.print(f"User [bold]{answer.payload['name']}[/] added ({', '.join(answer.payload['roles'])}).")


@user.command("remove")
@click.argument("name")
@cluster_options
@handle_errors
def remove_user(
    name: str,
    **kw: Any,
) -> None:
    """Remove an account (needs an Administrator)."""
    client = client_from(kw)
    client.request_sync("DELETE", f"/api/v1/users/{name}")
    console.print(f"User [bold]{name}[/] removed.")
