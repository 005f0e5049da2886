"""``hostgate pool ...``: session pools defined in the cluster, their schedules, drains and sessions (issue #18).

Definitions, schedules and drains go to the management API (``/api/v1/cluster/pools``); the owning session
servers learn them with their next heartbeat. ``pool sessions`` asks the cluster where the pool runs (and for a
short pool-admin token per server, for a Developer of the pool), then each of those servers directly: the
sessions are soft state of each server, and asking them from the CLI keeps the members free of calls out to
session servers (a member holds no client identity towards them; a token is what servers already check).
"""

from __future__ import annotations

import asyncio
import csv
import io
import ssl
from pathlib import Path
from typing import Any

import click
import httpx
import msgspec
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options, when
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.errors import SessionServerUnreachable, UsageError, WrongCluster, error_from_answer
from hostgate.messages import API, SESSION, RouteAnswer, decode_answer
from hostgate.messages.pools import (
    PoolDefinition,
    PoolSessionView,
    PoolUpdate,
    PoolView,
    ScheduleAnswer,
    ScheduleRuleSpec,
    ScheduleSpec,
    VariableListSpec,
)

__all__ = ["pool"]

_SIZES = ("max_concurrent", "min_idle", "max_idle")


@click.group()
def pool() -> None:
    """Session pools defined in the cluster: on a domain (every server of it runs the pool) or one server."""


def _settings_options(func: Any) -> Any:
    """The definition's options; every one optional here (``create`` checks the required ones)."""
    options = [
        click.option("--model", help="The model the pool's sessions run (deployed on its servers)."),
        click.option("--startup-entity", help="The entity every handed-out session is at."),
        click.option(
            "--domain", "pool_domain", metavar="DOMAIN", help="Run the pool on every server of DOMAIN."
        ),
        click.option(
            "--session-server", metavar="NAME", help="Run the pool on this one session server (not --domain)."
        ),
        click.option("--max-concurrent", type=int, help="Sessions at most (idle + busy + warming)."),
        click.option("--initial-idle", type=int, help="Signed on when the pool starts."),
        click.option("--min-idle", type=int, help="Kept ready while below max concurrent."),
        click.option(
            "--max-idle", type=int, help="More idle than this are signed off (default: max concurrent)."
        ),
        click.option("--max-pending", type=int, help="Clients allowed to wait when all sessions are busy."),
        click.option("--max-wait", type=float, help="Seconds a client waits, then HG-4303."),
        click.option("--idle-timeout", type=float, help="Seconds an idle session above min idle is kept."),
        click.option("--health-check-interval", type=float, help="Seconds between checks of idle sessions."),
        click.option(
            "--recycle-uses", type=int, help="Replace a session after this many hand-outs (0: never)."
        ),
        click.option(
            "--recycle-after", type=float, help="Replace a session after this many seconds (0: never)."
        ),
        click.option(
            "--lease", type=float, help="Seconds a held session may go without a call before reclaim."
        ),
        click.option(
            "--variable",
            "variables",
            multiple=True,
            metavar="NAME=VALUE",
            help="A model variable, the same for every session (repeatable; shown by `pool show`: put secrets "
            "in a --stored-list).",
        ),
        click.option(
            "--list-file",
            "list_files",
            multiple=True,
            metavar="LIST=PATH",
            help="A variable list read from a CSV file on each owning server (relative to its data directory).",
        ),
        click.option(
            "--stored-list",
            "stored_lists",
            multiple=True,
            metavar="LIST=CSV",
            help="A variable list stored in the cluster, read here from a local CSV file (header = variables). "
            "Its values are secrets: never shown.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _pairs(given: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    found = []
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item[:60]!r} must be NAME=VALUE")
        found.append((key, value))
    return found


def _stored_list(name: str, path: str) -> VariableListSpec:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read variable list file {path}: {type(exc).__name__}") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise UsageError(f"variable list file {path} is empty: its first row names the variables")
    return VariableListSpec(
        name, columns=tuple(h.strip() for h in rows[0]), secret_entries=tuple(map(tuple, rows[1:]))
    )


def _lists(list_files: tuple[str, ...], stored_lists: tuple[str, ...]) -> tuple[VariableListSpec, ...]:
    files = [VariableListSpec(n, file=p) for n, p in _pairs(list_files, "--list-file")]
    return (*files, *(_stored_list(n, p) for n, p in _pairs(stored_lists, "--stored-list")))


def _fields(kw: dict[str, Any]) -> dict[str, Any]:
    """The definition fields given on the command line (consumes them from ``kw``)."""
    out: dict[str, Any] = {}
    for name in (
        "model",
        "startup_entity",
        "max_concurrent",
        "initial_idle",
        "min_idle",
        "max_idle",
        "max_pending",
        "max_wait",
        "idle_timeout",
        "health_check_interval",
        "recycle_uses",
        "recycle_after",
        "lease",
    ):
        value = kw.pop(name)
        if value is not None:
            out[name] = value
    domain, server = kw.pop("pool_domain"), kw.pop("session_server")
    if domain is not None:
        out["domain"] = domain
    if server is not None:
        out["server"] = server
    variables = kw.pop("variables")
    if variables:
        out["variables"] = dict(_pairs(variables, "--variable"))
    list_files, stored_lists = kw.pop("list_files"), kw.pop("stored_lists")
    if list_files or stored_lists:
        out["variable_lists"] = _lists(list_files, stored_lists)
    return out


def _print_pool(v: PoolView) -> None:
    where = f"domain {v.domain}" if v.domain else f"session server {v.server}"
    table = Table("setting", "value", title=f"pool {v.name} ({where})" + (" [DRAINED]" if v.drained else ""))
    for name in (
        "model",
        "startup_entity",
        *_SIZES,
        "initial_idle",
        "max_pending",
        "max_wait",
        "idle_timeout",
    ):
        table.add_row(name, str(getattr(v, name)))
    for name in ("health_check_interval", "recycle_uses", "recycle_after", "lease"):
        table.add_row(name, str(getattr(v, name)))
    for key, value in sorted(v.variables.items()):
        table.add_row(f"variable {key}", value)
    for listed in v.variable_lists:
        source = (
            f"file {listed.file} on each server"
            if listed.file
            else f"(hidden, {listed.stored_entries} entries)"
        )
        columns = f" [{', '.join(listed.columns)}]" if listed.columns else ""
        table.add_row(f"variable list {listed.name}", source + columns)
    for i, rule in enumerate(v.schedule):
        table.add_row(f"schedule rule {i} ({v.schedule_zone})", _rule_text(rule))
    table.add_row("runs on", ", ".join(v.servers) or "(no server yet)")
    table.add_row("changed", f"{when(v.updated_at)} by {v.updated_by}" if v.updated_at else "")
    console.print(table)


def _rule_text(rule: Any) -> str:
    parts = [rule.when] + ([f"minutes={rule.minutes}"] if rule.minutes else [])
    parts += [f"{n}={getattr(rule, n)}" for n in _SIZES if getattr(rule, n) is not None]
    return " ".join(parts)


def _emit(view: PoolView, as_json: bool) -> None:
    if as_json:
        emit_json(msgspec.to_builtins(view))
    else:
        _print_pool(view)


@pool.command("list")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_pools(as_json: bool, **kw: Any) -> None:
    """Every pool defined in the cluster, where it runs and its sizes."""
    pools = client_from(kw).call_sync(API.cluster_pools, None).payload
    if as_json:
        emit_json(msgspec.to_builtins(pools))
        return
    table = Table("pool", "model", "on", "max conc.", "min idle", "max idle", "schedule", "state", "servers")
    for v in pools:
        table.add_row(
            v.name,
            v.model,
            f"domain {v.domain}" if v.domain else f"server {v.server}",
            str(v.max_concurrent),
            str(v.min_idle),
            str(v.max_idle),
            f"{len(v.schedule)} rule(s)" if v.schedule else "-",
            "drained" if v.drained else "active",
            ", ".join(v.servers),
        )
    console.print(table)


@pool.command("show")
@click.argument("name")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show(name: str, as_json: bool, **kw: Any) -> None:
    """One pool's definition (stored variable-list values are never shown) and the servers that run it."""
    _emit(client_from(kw).call_sync(API.pool_show, None, name=name).payload, as_json)


@pool.command("create")
@click.argument("name")
@_settings_options
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def create(name: str, as_json: bool, **kw: Any) -> None:
    """Define pool NAME on a domain (--domain) or one session server (--session-server).

    Needs --model, --startup-entity and --max-concurrent; the Developer profile on the pool or the domain, or
    Administrator. The servers start it within one heartbeat."""
    fields = _fields(kw)
    missing = [
        f"--{n.replace('_', '-')}" for n in ("model", "startup_entity", "max_concurrent") if n not in fields
    ]
    if missing:
        raise UsageError(f"pool create needs {', '.join(missing)}")
    definition = msgspec.convert({"name": name, **fields}, PoolDefinition)
    _emit(client_from(kw).call_sync(API.pool_create, definition).payload, as_json)


@pool.command("update")
@click.argument("name")
@_settings_options
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def update(name: str, as_json: bool, **kw: Any) -> None:
    """Change the given settings of pool NAME (variable lists: the given ones replace all). Sizes change on the
    running pools; any other change replaces them (the old sessions drain)."""
    fields = _fields(kw)
    if not fields:
        raise UsageError("pool update: give at least one setting to change")
    _emit(
        client_from(kw).call_sync(API.pool_update, msgspec.convert(fields, PoolUpdate), name=name).payload,
        as_json,
    )


@pool.command("delete")
@click.argument("name")
@cluster_options
@handle_errors
def delete(name: str, **kw: Any) -> None:
    """Delete pool NAME: its servers drain it (no new hand-outs; busy sessions end when given back)."""
    client_from(kw).call_sync(API.pool_delete, None, name=name)
    console.print(f"Pool [bold]{name}[/] deleted; its servers drain it.")


@pool.command("drain")
@click.argument("name")
@cluster_options
@handle_errors
def drain(name: str, **kw: Any) -> None:
    """Drain pool NAME: no new hand-outs (HG-4333), idle sessions signed off, busy ones when given back."""
    client_from(kw).call_sync(API.pool_drain, None, name=name)
    console.print(f"Pool [bold]{name}[/] drained (`hostgate pool resume {name}` undoes it).")


@pool.command("resume")
@click.argument("name")
@cluster_options
@handle_errors
def resume(name: str, **kw: Any) -> None:
    """Hand out sessions of a drained pool NAME again."""
    client_from(kw).call_sync(API.pool_resume, None, name=name)
    console.print(f"Pool [bold]{name}[/] resumed.")


# --- sessions ------------------------------------------------------------------------------------------------


async def _server_sessions(where: RouteAnswer, name: str, ctx: ssl.SSLContext, cluster_id: str) -> Any:
    path = SESSION.pool_sessions.url_path(name=name)
    try:
        async with httpx.AsyncClient(verify=ctx, timeout=10.0) as client:
            resp = await client.get(where.url + path, headers={"Authorization": f"Bearer {where.token}"})
    except httpx.HTTPError as exc:
        return SessionServerUnreachable(
            f"session server {where.server}: {type(exc).__name__}: {exc or 'no answer'}"
        )
    if resp.headers.get("x-hostgate-cluster-id") != cluster_id:
        return WrongCluster(f"{where.server} answered for another cluster")
    if resp.status_code >= 400:
        return error_from_answer(resp.content, resp.status_code)
    return decode_answer(resp.content, tuple[PoolSessionView, ...], f"session server {where.server}")


@pool.command("sessions")
@click.argument("name")
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def sessions(name: str, as_json: bool, **kw: Any) -> None:
    """Each session of pool NAME on every server running it: state, holder, since when (Developer)."""
    ca_file = kw["ca_file"]
    client = client_from(kw)
    places = client.call_sync(API.pool_inspect, None, name=name).payload
    ctx = ssl.create_default_context(cafile=str(ca_file))

    async def gather() -> list[Any]:
        return list(
            await asyncio.gather(*(_server_sessions(p, name, ctx, client.cluster_id) for p in places))
        )

    results = asyncio.run(gather())
    rows = [s for r in results if isinstance(r, tuple) for s in r]
    failed = {p.server: r for p, r in zip(places, results, strict=True) if not isinstance(r, tuple)}
    if as_json:
        emit_json(
            {
                "sessions": msgspec.to_builtins(rows),
                "unreachable": {s: {"code": e.code, "message": e.message} for s, e in failed.items()},
            }
        )
        return
    table = Table("server", "session", "state", "holder", "since", "uses")
    for s in rows:
        table.add_row(s.server, s.id, s.state, s.holder or "-", when(s.since), str(s.uses))
    console.print(table)
    for server, error in sorted(failed.items()):
        console.print(f"{server}: [{error.code}] {error.message}")


# --- schedules -----------------------------------------------------------------------------------------------


@pool.group("schedule")
def schedule() -> None:
    """A pool's schedule: rules that set max concurrent / min idle / max idle for periods of the week."""


def _print_schedule(answer: ScheduleAnswer) -> None:
    now = answer.now
    rule = "the pool's own settings" if now.rule is None else f"rule {now.rule}"
    console.print(
        f"pool {answer.pool} now ({now.local}): max_concurrent {now.max_concurrent}, min_idle {now.min_idle}, "
        f"max_idle {now.max_idle} ({rule})",
        soft_wrap=True,
    )
    if not answer.changes:
        console.print("no changes ahead" if answer.rules else "no schedule")
        return
    table = Table(
        "from", "max concurrent", "min idle", "max idle", "set by", title=f"next changes ({answer.zone})"
    )
    for c in answer.changes:
        by = "pool settings" if c.rule is None else f"rule {c.rule}: {_rule_text(answer.rules[c.rule])}"
        table.add_row(c.local, str(c.max_concurrent), str(c.min_idle), str(c.max_idle), by)
    console.print(table)


@schedule.command("show")
@click.argument("name")
@click.option("--changes", "count", type=click.IntRange(0, 100), default=5, show_default=True)
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def schedule_show(name: str, count: int, as_json: bool, **kw: Any) -> None:
    """The sizes in force now and the next changes (the very evaluation the session servers apply)."""
    answer = (
        client_from(kw).call_sync(API.pool_schedule, None, query={"changes": str(count)}, name=name).payload
    )
    if as_json:
        emit_json(msgspec.to_builtins(answer))
    else:
        _print_schedule(answer)


def _rule(text: str) -> ScheduleRuleSpec:
    words, settings = [], {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep:
            if key not in (*_SIZES, "minutes") or not value.isdigit():
                raise UsageError(
                    f"--rule {text!r}: {word!r} must be one of {', '.join((*_SIZES, 'minutes'))}=N"
                )
            settings[key] = int(value)
        else:
            words.append(word)
    return msgspec.convert({"when": " ".join(words), **settings}, ScheduleRuleSpec)


@schedule.command("set")
@click.argument("name")
@click.option("--zone", default="UTC", show_default=True, help="IANA time zone of the rules' times.")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    required=True,
    metavar="RULE",
    help="'mon-fri 08:00-18:00 min_idle=5 max_idle=8' or '0 8 * * 1-5 minutes=600 max_concurrent=10' "
    "(repeatable; the first rule in force wins).",
)
@cluster_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def schedule_set(name: str, zone: str, rules: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Replace pool NAME's schedule. Every owning server applies it within one heartbeat."""
    spec = ScheduleSpec(zone, tuple(_rule(r) for r in rules))
    _emit(client_from(kw).call_sync(API.pool_schedule_set, spec, name=name).payload, as_json)


@schedule.command("clear")
@click.argument("name")
@cluster_options
@handle_errors
def schedule_clear(name: str, **kw: Any) -> None:
    """Remove pool NAME's schedule: its own settings apply at all times."""
    client_from(kw).call_sync(API.pool_schedule_clear, None, name=name)
    console.print(f"Pool [bold]{name}[/]: schedule cleared.")
