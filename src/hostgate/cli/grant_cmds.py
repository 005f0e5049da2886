"""``hostgate grant ...`` and ``hostgate whoami``: profiles granted to users and directory groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import msgspec
from rich.markup import escape
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.errors import UsageError
from hostgate.messages import API, GrantRequest, GrantView

__all__ = ["grant", "whoami"]

_PROFILES = click.Choice(["user", "developer", "administrator"], case_sensitive=False)


def _asking_options(func: Any) -> Any:
    """The shared cluster options, the asking account's ``--user`` renamed ``--as``: in these commands
    ``--user`` names the user a grant is for."""
    func = cluster_options(func)
    params: list[click.Parameter] = func.__click_params__
    for i, param in enumerate(params):
        if param.name == "user":
            params[i] = click.Option(
                ["--as", "user"],
                envvar="HOSTGATE_USER",
                default="admin",
                show_default=True,
                metavar="ACCOUNT",
                help="The account that asks (--user names the grant's user). Env: HOSTGATE_USER.",
            )
    return func


def _scope_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--user", "user_name", metavar="USER", help="The user name (local or directory)."),
            click.option(
                "--group", metavar="GROUP", help="A directory group: its DN, or its bare name (cn)."
            ),
            click.option("--model", metavar="MODEL", help="Only on this model."),
            click.option(
                "--domain", metavar="DOMAIN", help="On this domain (covers the models routed through it)."
            ),
            click.option("--pool", metavar="POOL", help="Only on this session pool."),
        ]
    ):
        func = option(func)
    return func


def _request(
    profile: str,
    user_name: str | None,
    group: str | None,
    model: str | None,
    domain: str | None,
    pool: str | None,
) -> GrantRequest:
    if (user_name is None) == (group is None):
        raise UsageError("name exactly one of --user or --group")
    scopes = [(kind, name) for kind, name in (("model", model), ("domain", domain), ("pool", pool)) if name]
    if len(scopes) > 1:
        raise UsageError("name at most one of --model, --domain and --pool (none: cluster-wide)")
    kind, name = scopes[0] if scopes else ("cluster", "")
    return msgspec.convert(
        {
            "profile": profile.lower(),
            "subject_kind": "user" if user_name is not None else "group",
            "subject": user_name if user_name is not None else group,
            "scope_kind": kind,
            "scope": name,
        },
        GrantRequest,
    )


def _where(g: GrantView) -> str:
    return "cluster-wide" if g.scope_kind == "cluster" else f"{g.scope_kind} {g.scope}"


def _on(g: GrantView) -> str:
    return "cluster-wide" if g.scope_kind == "cluster" else f"on {g.scope_kind} {g.scope}"


def _table(grants: Sequence[GrantView], title: str | None = None) -> Table:
    table = Table("profile", "subject", "scope", "granted by", title=title)
    for g in grants:
        table.add_row(
            g.profile, escape(f"{g.subject_kind} {g.subject}"), escape(_where(g)), escape(g.granted_by)
        )
    return table


@click.group()
def grant() -> None:
    """Profiles (User, Developer, Administrator) granted to users and directory groups.

    A profile includes the ones below it. A grant is cluster-wide, or on one model, domain or pool; a domain
    grant covers the models routed through it. Connecting to a model needs User on it.
    """


@grant.command("add")
@click.argument("profile", type=_PROFILES)
@_scope_options
@_asking_options
@handle_errors
def add(
    profile: str,
    user_name: str | None,
    group: str | None,
    model: str | None,
    domain: str | None,
    pool: str | None,
    **kw: Any,
) -> None:
    """Grant PROFILE to a user or group (needs an Administrator)."""
    body = _request(profile, user_name, group, model, domain, pool)
    added = client_from(kw).call_sync(API.add_grant, body).payload
    console.print(
        f"Granted {added.profile.capitalize()} to {added.subject_kind} [bold]{escape(added.subject)}[/] "
        f"{escape(_on(added))}."
    )


@grant.command("remove")
@click.argument("profile", type=_PROFILES)
@_scope_options
@_asking_options
@handle_errors
def remove(
    profile: str,
    user_name: str | None,
    group: str | None,
    model: str | None,
    domain: str | None,
    pool: str | None,
    **kw: Any,
) -> None:
    """Remove a grant (needs an Administrator; the last local Administrator grant stays)."""
    body = _request(profile, user_name, group, model, domain, pool)
    removed = client_from(kw).call_sync(API.remove_grant, body).payload
    console.print(
        f"Removed {removed.profile.capitalize()} of {removed.subject_kind} [bold]{escape(removed.subject)}[/] "
        f"{escape(_on(removed))}."
    )


@grant.command("list")
@click.option("--user", "user_name", metavar="USER", help="Only the grants to this user name.")
@click.option("--json", "as_json", is_flag=True)
@_asking_options
@handle_errors
def list_grants(user_name: str | None, as_json: bool, **kw: Any) -> None:
    """List the grants (an Administrator sees all, others the ones that apply to them)."""
    grants = client_from(kw).call_sync(API.grants, None).payload
    if user_name is not None:
        grants = tuple(
            g for g in grants if g.subject_kind == "user" and g.subject.lower() == user_name.lower()
        )
    if as_json:
        emit_json(msgspec.to_builtins(grants))
        return
    console.print(_table(grants))


@click.command("whoami")
@click.option("--json", "as_json", is_flag=True)
@cluster_options
@handle_errors
def whoami(as_json: bool, **kw: Any) -> None:
    """Show the calling account and the profiles granted to it (its own and its groups')."""
    me = client_from(kw).call_sync(API.whoami, None).payload
    if as_json:
        emit_json(msgspec.to_builtins(me))
        return
    console.print(f"[bold]{escape(me.name)}[/] ({', '.join(me.roles)})")
    if me.profiles:
        console.print(_table(me.profiles, title="profiles"))
    else:
        console.print("No profile granted: ask an Administrator (`hostgate grant add user --user NAME ...`).")
