"""``hostgate user ...``: local accounts of the management cluster (argon2-hashed, replicated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import msgspec
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options, read_secret_file
from hostgate.cli.login_store import delete_login
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.messages import API, NewUser, PasswordChange

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
    users = client.call_sync(API.users, None).payload
    if as_json:
        emit_json(msgspec.to_builtins(users))
        return
    table = Table("user", "roles")
    for u in users:
        table.add_row(u.name, ", ".join(u.roles))
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
    body = NewUser(name, read_secret_file(new_password_file, "new password"), admin)
    added = client.call_sync(API.add_user, body).payload
    console.print(f"User [bold]{added.name}[/] added ({', '.join(added.roles)}).")


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
    client.call_sync(API.remove_user, None, name=name)
    console.print(f"User [bold]{name}[/] removed.")


@user.command("passwd")
@click.argument("name", required=False)
@click.option(
    "--current-password-file",
    envvar="HOSTGATE_CURRENT_PASSWORD_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding your current password (else the --password-file one, else asked). "
    "Env: HOSTGATE_CURRENT_PASSWORD_FILE.",
)
@click.option(
    "--new-password-file",
    envvar="HOSTGATE_NEW_PASSWORD_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the new password (else asked twice). Env: HOSTGATE_NEW_PASSWORD_FILE.",
)
@cluster_options
@handle_errors
def passwd(
    name: str | None,
    current_password_file: Path | None,
    new_password_file: Path | None,
    **kw: Any,
) -> None:
    """Change your own password, or (an Administrator) reset NAME's.

    Your own needs the current one, also when you are logged in with `hostgate login`; a reset of another
    account's does not. Directory (LDAP) accounts change their password in the directory. The change ends
    every `hostgate login` of the account, and the old password stops working on every member.
    """
    client = client_from(kw)
    me = client.user or ""
    target = name or me
    own = target.lower() == me.lower()
    current = ""
    if own:
        if current_password_file:
            current = read_secret_file(current_password_file, "current password")
        elif client.password:
            current = client.password  # the one this command authenticates with
        else:
            current = click.prompt("Current password", hide_input=True, err=True)
    new = (
        read_secret_file(new_password_file, "new password")
        if new_password_file
        else click.prompt(
            "New password", hide_input=True, confirmation_prompt="Repeat the new password", err=True
        )
    )
    if own:
        # Hardly hedged: the change takes two argon2 runs (often past the 250 ms stagger), and a twin attempt that
        # reaches a member already showing the new password is refused by its login gate (the old password, or
        # a login token bound to the old hash) although the change was made. A member silent this long is hung.
        client.delay = 5.0
    changed = client.call_sync(API.set_password, PasswordChange(new, current), name=target).payload
    console.print(f"Password of [bold]{changed.name}[/] changed.")
    if own and client.bearer and delete_login(client.cluster_id):
        console.print("Your login ended with the change; run `hostgate login` again.")
