"""The console's Session pools page (issue #20): pools stored in the cluster (management/pools.py), each with
its servers' live figures, the sizes in force now, its next changes, and a week view of its effective sizes.

The week view is evaluated by :func:`hostgate.pool_schedule.effective`, the function each owning session server
applies at every heartbeat tick, at the start of every local hour of the coming seven days in the schedule's
zone; a change that falls inside an hour (a ``08:30`` boundary, a cron rule) is named in that hour's cell from
:func:`~hostgate.pool_schedule.changes`. Nothing here re-implements a schedule. A week is computed once per
(sizes, schedule, hour) and remembered: the page refreshes itself every two seconds for the live figures.

Changes are for Administrators (as every console change; ``PoolAdmin`` checks its own rule too) and go through
the same ``PoolAdmin`` methods the API calls; a refusal names each bad field next to it (HG-4331), and nothing
is stored. A schedule is edited as text, one rule per line: the rule's ``when`` (a weekly window or a cron
expression) followed by ``key=value`` settings (``minutes``, ``max_concurrent``, ``min_idle``, ``max_idle``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import NoReturn
from zoneinfo import ZoneInfo

from starlette.routing import BaseRoute, Route

from hostgate.console.web import Action, Ctx, Page, PageView, Views
from hostgate.errors import InvalidPoolDefinition
from hostgate.management.access import Profile
from hostgate.management.pool_records import PoolRecord
from hostgate.messages.pools import (
    PoolDefinition,
    PoolUpdate,
    PoolView,
    ScheduleChange,
    ScheduleRuleSpec,
    ScheduleSpec,
)
from hostgate.pool_schedule import Schedule, Sizes, changes, effective

__all__ = ["pools_page", "pools_routes"]

_RULE_KEYS = ("minutes", "max_concurrent", "min_idle", "max_idle")
_SIZE_FIELDS = ("max_concurrent", "min_idle", "max_idle", "initial_idle")
_NEXT_CHANGES = 6


@dataclass(frozen=True, slots=True)
class ServerFigures:
    """One owning server of a pool as this member heard its last heartbeat (soft state)."""

    server: str
    live: bool
    reported: bool  # its heartbeat names this pool (False: not running it yet, or no heartbeat)
    idle: int
    busy: int
    pending: int
    max_concurrent: int


@dataclass(frozen=True, slots=True)
class Cell:
    """The sizes in force at the start of one local hour; ``rule``: 1-based number of the rule (0: the pool's
    own settings); ``note``: a change inside the hour."""

    max_concurrent: int
    min_idle: int
    max_idle: int
    rule: int
    note: str


@dataclass(frozen=True, slots=True)
class HourRow:
    hour: str  # "08:00", local to the schedule's zone
    cells: tuple[Cell, ...]  # one per day of the week view


@dataclass(frozen=True, slots=True)
class Week:
    zone: str
    days: tuple[str, ...]  # "Mon 30 Nov", in order
    hours: tuple[HourRow, ...]


@dataclass(frozen=True, slots=True)
class PoolRow:
    pool: PoolView
    where: str
    now: ScheduleChange
    next_changes: tuple[ScheduleChange, ...]
    servers: tuple[ServerFigures, ...]
    week: Week
    rules_text: str  # the schedule as its form edits it


@dataclass(frozen=True, slots=True)
class Pools:
    pools: tuple[PoolRow, ...]
    domains: tuple[str, ...]
    servers: tuple[str, ...]
    models: tuple[str, ...]
    echo: dict[str, str]  # a refused form's values, shown again for correction (nothing secret is asked)


def rules_text(rec: PoolRecord) -> str:
    lines = []
    for r in rec.schedule:
        parts = [r.when]
        parts += [f"minutes={r.minutes}"] if r.minutes else []
        parts += [f"{k}={getattr(r, k)}" for k in _RULE_KEYS[1:] if getattr(r, k) is not None]
        lines.append(" ".join(parts))
    return "\n".join(lines)


@functools.lru_cache(maxsize=256)
def week_view(base: Sizes, schedule: Schedule, first_day: date) -> Week:
    """The sizes in force at each local hour of the seven days from ``first_day`` in the schedule's zone."""
    zone = ZoneInfo(schedule.zone)
    days = [first_day + timedelta(days=d) for d in range(7)]

    def instant(day: date, hour: int) -> float:
        # fold=0, as pool_schedule lays out wall times: a skipped hour (spring forward) is the instant after
        return datetime.combine(day, clock_time(hour), tzinfo=zone).replace(fold=0).timestamp()

    start, end = instant(days[0], 0), instant(days[-1] + timedelta(days=1), 0)
    inside: dict[tuple[date, int], list[str]] = {}
    for c in changes(base, schedule, start, 7 * 24 * 4):
        if c.at >= end:
            break
        local = datetime.fromtimestamp(c.at, zone)
        if local.minute or local.second:
            by = f"rule {c.rule + 1}" if c.rule is not None else "own settings"
            inside.setdefault((local.date(), local.hour), []).append(f"from {local:%H:%M}: {by}")
    rows = []
    for hour in range(24):
        cells = []
        for day in days:
            sizes, rule = effective(base, schedule, instant(day, hour))
            note = ", ".join(inside.get((day, hour), []))
            cells.append(
                Cell(
                    sizes.max_concurrent,
                    sizes.min_idle,
                    sizes.max_idle,
                    0 if rule is None else rule + 1,
                    note,
                )
            )
        rows.append(HourRow(f"{hour:02d}:00", tuple(cells)))
    return Week(schedule.zone, tuple(f"{d:%a %d %b}" for d in days), tuple(rows))


def _figures(ctx: Ctx, pool: str, servers: tuple[str, ...]) -> tuple[ServerFigures, ...]:
    router = ctx.service.router
    found = []
    for server in servers:
        state = router.state(server)
        figures = state.pools.get(pool) if state is not None else None
        if figures is None:
            found.append(ServerFigures(server, router.is_live(server), False, 0, 0, 0, 0))
        else:
            found.append(
                ServerFigures(
                    server,
                    router.is_live(server),
                    True,
                    figures.idle,
                    figures.busy,
                    figures.pending,
                    figures.max_concurrent,
                )
            )
    return tuple(found)


def _row(ctx: Ctx, rec: PoolRecord, now: float) -> PoolRow:
    pools = ctx.service.pools
    answer = pools.schedule(rec.name, _NEXT_CHANGES, at=now)
    view = pools.view(rec)
    today = datetime.fromtimestamp(now, ZoneInfo(rec.schedule_zone)).date()
    where = f"domain {rec.domain}" if rec.domain else f"session server {rec.server}"
    return PoolRow(
        view,
        where,
        answer.now,
        answer.changes,
        _figures(ctx, rec.name, view.servers),
        week_view(rec.sizes, rec.schedule_value, today),
        rules_text(rec),
    )


async def pools_page(ctx: Ctx) -> Page:
    service = ctx.service
    now = time.time()
    rows = tuple(_row(ctx, r, now) for r in sorted(service.pools.records(), key=lambda r: r.name))
    models = tuple(sorted({d.model for d in service.deployments.list()}))
    echo = {k: v for k, v in ctx.form.items() if k != "csrf"} if ctx.error is not None else {}
    data = Pools(
        rows,
        tuple(sorted(d.name for d in service.domains.domains())),
        tuple(sorted(service.domains.servers())),
        models,
        echo,
    )
    return Page("pools.html", "Session pools", data, live=True)


# --- changes ---------------------------------------------------------------------------------------------------


def _numbers(ctx: Ctx, names: tuple[str, ...]) -> dict[str, int]:
    """The whole-number fields given (blank: not given); every bad one named, nothing changed."""
    values: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    for name in names:
        raw = ctx.field(name)
        if not raw:
            continue
        try:
            values[name] = int(raw)
        except ValueError:
            problems.append((name, f"{raw[:20]!r} is not a whole number"))
    if problems:
        _refuse(ctx.field("name") or ctx.field("pool"), problems)
    return values


def _refuse(pool: str, problems: list[tuple[str, str]]) -> NoReturn:
    listing = "; ".join(f"field {where!r}: {why}" for where, why in problems)
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    raise InvalidPoolDefinition(
        f"pool {pool[:64]!r} has {count}, nothing was stored: {listing}", problems=tuple(problems)
    )


def _audit(ctx: Ctx, action: str, target: str, **detail: object) -> None:
    ctx.service.audit.record(
        actor=ctx.who.name, action=action, target=target, source=ctx.source, detail=detail
    )


async def create_pool(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    numbers = _numbers(ctx, _SIZE_FIELDS)
    if "max_concurrent" not in numbers:
        _refuse(ctx.field("name"), [("max_concurrent", "how many sessions the pool may hold at most")])
    definition = PoolDefinition(
        name=ctx.field("name"),
        model=ctx.field("model"),
        startup_entity=ctx.field("startup_entity"),
        max_concurrent=numbers["max_concurrent"],
        domain=ctx.field("domain"),
        server=ctx.field("server"),
        initial_idle=numbers.get("initial_idle", 0),
        min_idle=numbers.get("min_idle", 0),
        max_idle=numbers.get("max_idle"),
    )
    rec = await ctx.service.pools.create(ctx.who, definition)
    _audit(ctx, "console.pool.create", rec.name, domain=rec.domain, server=rec.server)
    return f"pool {rec.name} defined on {'domain ' + rec.domain if rec.domain else 'server ' + rec.server}"


async def update_pool(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name = ctx.field("pool")
    numbers = _numbers(ctx, _SIZE_FIELDS)
    rec = await ctx.service.pools.update(ctx.who, name, PoolUpdate(**numbers))  # type: ignore[arg-type]
    _audit(ctx, "console.pool.update", rec.name, **numbers)
    return (
        f"pool {rec.name}: max {rec.max_concurrent}, idle {rec.min_idle}-{rec.max_idle}, "
        f"initial {rec.initial_idle}"
    )


async def delete_pool(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name = ctx.field("pool")
    await ctx.service.pools.delete(ctx.who, name)
    _audit(ctx, "console.pool.delete", name)
    return f"pool {name} deleted (its servers drain it)"


async def drain_pool(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name, drained = ctx.field("pool"), ctx.field("drained") != "0"
    await ctx.service.pools.set_drained(ctx.who, name, drained)
    _audit(ctx, "console.pool.drain" if drained else "console.pool.resume", name)
    return f"pool {name} {'drained' if drained else 'resumed'}"


def parse_rules(text: str) -> tuple[tuple[ScheduleRuleSpec, ...], list[tuple[str, str]]]:
    """One rule per line (module doc); the problems as ("rules", "line N: why")."""
    rules: list[ScheduleRuleSpec] = []
    problems: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        settings: dict[str, int] = {}
        while words and "=" in words[-1]:
            key, _, raw = words.pop().partition("=")
            if key not in _RULE_KEYS:
                problems.append(
                    ("rules", f"line {number}: {key[:30]!r} is not one of {', '.join(_RULE_KEYS)}")
                )
            elif not raw.strip().isdigit():
                problems.append(("rules", f"line {number}: {key}={raw[:20]!r} is not a whole number"))
            else:
                settings[key] = int(raw)
        rules.append(ScheduleRuleSpec(" ".join(words), **settings))
    return tuple(rules), problems


def _rule_problems(problems: tuple[tuple[str, str], ...], lines: list[int]) -> list[tuple[str, str]]:
    """check_schedule's fields (``schedule.rules[i].when``) as the form's: the zone, or the rule's line."""
    found = []
    for where, why in problems:
        if where.startswith("schedule.zone"):
            found.append(("zone", why))
        elif where.startswith("schedule.rules["):
            index = int(where.split("[", 1)[1].split("]", 1)[0])
            line = lines[index] if index < len(lines) else index + 1
            found.append(("rules", f"line {line}: {why}"))
        else:
            found.append((where.removeprefix("schedule.") or "rules", why))
    return found


async def set_schedule(ctx: Ctx) -> str:
    ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
    name = ctx.field("pool")
    text = ctx.form.get("rules", "")
    rules, problems = parse_rules(text)
    if problems:
        _refuse(name, problems)
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    spec = ScheduleSpec(zone=ctx.field("zone") or "UTC", rules=rules) if rules else None
    try:
        rec = await ctx.service.pools.set_schedule(ctx.who, name, spec)
    except InvalidPoolDefinition as exc:
        _refuse(name, _rule_problems(exc.problems, lines))
    _audit(ctx, "console.pool.schedule", rec.name, rules=len(rec.schedule), zone=rec.schedule_zone)
    if not rec.schedule:
        return f"pool {rec.name}: schedule cleared (its own settings apply at all times)"
    return f"pool {rec.name}: schedule of {len(rec.schedule)} rule(s) in {rec.schedule_zone} set"


def pools_routes(views: Views) -> list[BaseRoute]:
    """The page and its actions, under ``/console/pools``."""

    def act(action: Action, form: str, back: PageView = pools_page) -> Route:
        endpoint = views.action(action, form, back, "/console/pools")
        return Route(f"/pools/{form}", endpoint, methods=["POST"])

    return [
        Route("/pools", views.page(pools_page), methods=["GET"]),
        act(create_pool, "create"),
        act(update_pool, "update"),
        act(delete_pool, "delete"),
        act(drain_pool, "drain"),
        act(set_schedule, "schedule"),
    ]
