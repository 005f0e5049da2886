"""``hostgate ldap ...``: the LDAP / Active Directory directories the cluster authenticates against.

The settings file (TOML, or JSON when it ends in .json) holds ``[[directories]]`` tables; the service account's
password is a reference (``bind_password_ref = "file:/etc/hostgate/ldap.pw"`` or ``"env:NAME"``) resolved on
each management member, never the password itself.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.errors import UsageError
from hostgate.messages import API, LdapSettingsUpdate, LdapTestRequest, decode_request, encode

__all__ = ["ldap"]


@click.group()
def ldap() -> None:
    """LDAP / Active Directory directories, asked in order after the local accounts."""


@ldap.command("show")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show(as_json: bool, **kw: Any) -> None:
    """Show the directories' settings (needs an Administrator)."""
    settings = client_from(kw).call_sync(API.ldap_show, None).payload
    if as_json:
        emit_json(msgspec.to_builtins(settings))  # the wire message itself
        return
    if not settings.directories:
        console.print("No directories: only local accounts log in.")
        return
    table = Table("#", "directory", "urls", "tls", "user base", "groups", "service account")
    for index, d in enumerate(settings.directories, 1):
        table.add_row(
            str(index),
            d.name,
            " ".join(d.urls),
            d.tls,
            d.user_base,
            f"{d.group_base or '-'} ({d.nested})",
            d.bind_dn or "(anonymous)",
        )
    console.print(table)
    console.print(f"A successful directory login is recognised for {settings.cache_seconds} s.")


@ldap.command("set")
@click.argument("settings_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@cluster_options
@handle_errors
def set_(settings_file: Path, **kw: Any) -> None:
    """Replace the directories with those of SETTINGS_FILE (validated whole; needs an Administrator).

    \b
    SETTINGS_FILE (TOML; JSON when it ends in .json), directories asked in order:
      cache_seconds = 60
      [[directories]]
      name = "corp"
      urls = ["ldaps://dc1.example.com"]
      tls = "ldaps"                      # or "starttls"
      ca_file = "/etc/hostgate/corp-ca.pem"
      user_base = "dc=example,dc=com"
      user_filter = "(&(objectClass=user)(sAMAccountName={user}))"
      bind_dn = "cn=hostgate,ou=services,dc=example,dc=com"
      bind_password_ref = "file:/etc/hostgate/ldap.pw"   # or "env:NAME"
      group_base = "dc=example,dc=com"
      group_filter = "(objectClass=group)"
      nested = "auto"                    # in_chain | iterative | off
    """
    body = _read_settings(settings_file)
    answer = client_from(kw).call_sync(API.ldap_replace, body).payload
    names = [d.name for d in answer.directories]
    console.print(f"Directories set: {', '.join(names) if names else 'none (local accounts only)'}.")


@ldap.command("test")
@click.argument("name")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def test(name: str, as_json: bool, **kw: Any) -> None:
    """Look up user NAME in every directory: its entry and groups, as the service account sees them.

    No password of NAME is needed or sent (no bind as the user). --user is the Administrator who asks.
    """
    answer = client_from(kw).call_sync(API.ldap_test, LdapTestRequest(name)).payload
    if as_json:
        emit_json(msgspec.to_builtins(answer))
        return
    table = Table("directory", "outcome", "entry", "groups", "detail")
    for r in answer.directories:
        groups = ", ".join(r.groups) + (f" ({r.nested})" if r.nested else "")
        table.add_row(r.directory, r.outcome, r.dn, groups, r.fault)
    console.print(table)


def _read_settings(path: Path) -> LdapSettingsUpdate:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a table with a 'directories' list")
    # Typed here as the member will (HG-1011 naming the field, e.g. directories[0].urls) before anything is
    # sent; the member checks the rules (HG-3100). encode() also turns a TOML date into text, refused as such.
    return decode_request(encode(data), LdapSettingsUpdate)
