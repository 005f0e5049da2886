"""Pool schedules: rules that set a pool's max concurrent / min idle / max idle for periods of the week (issue #18).

One pure module, used by all three parties so they cannot disagree: the management API validates a schedule
with :func:`check_schedule` and answers ``hostgate pool schedule show`` with :func:`effective` and
:func:`changes`; each owning session server calls :func:`effective` at every heartbeat tick with its injected
clock and applies the result to its running pool.

A rule is either

- a **weekly window**: ``"mon-fri 08:00-18:00"``, ``"sat,sun 00:00-24:00"``, ``"daily 22:00-06:00"`` (an end at
  or before the start runs into the next day), or
- a **cron expression** (``croniter``, five fields) with ``minutes``: each match starts a period that lasts that
  many minutes (``"0 8 * * 1-5"`` with ``minutes=600``).

Times are wall-clock times in the schedule's IANA ``zone`` (``zoneinfo``). Both kinds are laid out on the local
calendar and then converted to instants with PEP 495's ``fold=0``: a boundary inside the hour skipped at a
spring-forward change takes effect that much later (02:30 in Europe/Paris on the last Sunday of March is 03:30
CEST), and one inside the hour repeated at fall-back takes effect at its first occurrence (the CEST one).
A cron period's length is also wall-clock: ``08:00 + 600 minutes`` ends at 18:00 local on a change day.

Rules are tried in order; the first one whose period contains the instant sets the sizes it names, the others
come from the pool's own settings. No rule in force: the pool's own settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = [
    "Change",
    "Rule",
    "Schedule",
    "Sizes",
    "changes",
    "check_schedule",
    "check_sizes",
    "effective",
    "local_text",
]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(?P<days>[a-z,*-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
MAX_RULES = 50
MAX_MINUTES = 7 * 24 * 60
# Iterations of a cron expression in one evaluation: a bound on the work a hostile or silly rule can cause.
_MAX_MATCHES = 20_000
# Wall-clock shifts (DST) are at most a few hours: periods are searched that much beyond the asked range.
_SLACK = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class Sizes:
    """What a schedule may change while a pool runs."""

    max_concurrent: int
    min_idle: int
    max_idle: int


@dataclass(frozen=True, slots=True)
class Rule:
    when: str  # a weekly window or a cron expression (module docstring)
    minutes: int = 0  # cron only: how long each period lasts (wall-clock minutes)
    max_concurrent: int | None = None
    min_idle: int | None = None
    max_idle: int | None = None

    def apply(self, base: Sizes) -> Sizes:
        return Sizes(
            base.max_concurrent if self.max_concurrent is None else self.max_concurrent,
            base.min_idle if self.min_idle is None else self.min_idle,
            base.max_idle if self.max_idle is None else self.max_idle,
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    zone: str = "UTC"
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """From ``at`` (Unix time) the pool runs with ``sizes``; ``rule`` is the index of the rule in force (None:
    the pool's own settings)."""

    at: float
    sizes: Sizes
    rule: int | None


def check_sizes(sizes: Sizes) -> str | None:
    """Why these sizes do not fit together, or None (the same rule as the session server's PoolSizes)."""
    if sizes.max_concurrent < 1:
        return f"max_concurrent must be at least 1, not {sizes.max_concurrent}"
    if not 0 <= sizes.min_idle <= sizes.max_idle:
        return f"min_idle ({sizes.min_idle}) must be between 0 and max_idle ({sizes.max_idle})"
    if sizes.max_idle > sizes.max_concurrent:
        return f"max_idle ({sizes.max_idle}) must not exceed max_concurrent ({sizes.max_concurrent})"
    return None


# --- validation ----------------------------------------------------------------------------------------------


def check_schedule(schedule: Schedule, base: Sizes, where: str = "schedule") -> list[tuple[str, str]]:
    """Every problem as (field path, why); empty when the schedule is good with these base sizes."""
    found: list[tuple[str, str]] = []
    try:
        _zone(schedule.zone)
    except ValueError as exc:
        found.append((f"{where}.zone", str(exc)))
    if len(schedule.rules) > MAX_RULES:
        found.append((f"{where}.rules", f"at most {MAX_RULES} rules, not {len(schedule.rules)}"))
        return found
    for i, rule in enumerate(schedule.rules):
        at = f"{where}.rules[{i}]"
        why = _check_rule(rule)
        if why is not None:
            found.append((f"{at}.when" if not why.startswith("minutes") else f"{at}.minutes", why))
            continue
        for name in ("max_concurrent", "min_idle", "max_idle"):
            value = getattr(rule, name)
            if value is not None and not 0 <= value <= 10_000:
                found.append((f"{at}.{name}", f"must be between 0 and 10000, not {value}"))
        if all(getattr(rule, n) is None for n in ("max_concurrent", "min_idle", "max_idle")):
            found.append((at, "a rule must set at least one of max_concurrent, min_idle, max_idle"))
            continue
        why = check_sizes(rule.apply(base))
        if why is not None:
            found.append((at, f"with the pool's own settings for the rest: {why}"))
    return found


def _check_rule(rule: Rule) -> str | None:
    window = _window(rule.when)
    if isinstance(window, str):
        return window
    if window is not None:
        if rule.minutes:
            return "minutes is for cron rules only: a weekly window has its own end"
        return None
    if not croniter.is_valid(rule.when) or len(rule.when.split()) != 5:
        return (
            f"{rule.when[:80]!r} is neither a weekly window ('mon-fri 08:00-18:00') nor a cron expression of "
            "five fields ('0 8 * * 1-5')"
        )
    if not 1 <= rule.minutes <= MAX_MINUTES:
        return (
            f"minutes (how long each period of a cron rule lasts) must be 1-{MAX_MINUTES}, not {rule.minutes}"
        )
    # Periods of one rule must not overlap: a rule firing every G minutes cannot last longer than G.
    it = croniter(rule.when, datetime(2026, 1, 1))
    previous = it.get_next(datetime)
    for _ in range(60):
        following = it.get_next(datetime)
        gap = (following - previous).total_seconds() / 60
        if gap < rule.minutes:
            return f"minutes: each period lasts {rule.minutes} minutes but {rule.when!r} fires every {gap:g}"
        previous = following
    return None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name[:60]!r} is not an IANA time zone (e.g. Europe/Paris, UTC)") from None


@dataclass(frozen=True, slots=True)
class _Window:
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int  # minutes after midnight; <= start: the next day


def _window(text: str) -> _Window | str | None:
    """The window ``text`` names; a reason when it looks like one but is wrong; None when it is no window."""
    m = _WINDOW.match(text.lower())
    if m is None:
        return None
    days = _days(m["days"])
    if isinstance(days, str):
        return days
    start, end = _minutes(m["start"]), _minutes(m["end"])
    if start is None or end is None or start >= 24 * 60:
        return f"{text!r}: times are HH:MM from 00:00 to 24:00 (24:00 only as an end)"
    if start == end:
        return f"{text!r}: the window is empty (start and end are the same)"
    return _Window(days, start, end)


def _days(text: str) -> frozenset[int] | str:
    if text in {"*", "daily"}:
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            return f"{part!r}: days are mon, tue, wed, thu, fri, sat, sun, ranges (mon-fri), lists or daily"
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _minutes(text: str) -> int | None:
    hours, _, minutes = text.partition(":")
    h, m = int(hours), int(minutes)
    if m >= 60 or h > 24 or (h == 24 and m):
        return None
    return h * 60 + m


# --- evaluation ------------------------------------------------------------------------------------------------


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """A local wall time as an instant (PEP 495 fold=0: a skipped time moves later, a repeated one is the first)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _periods(rule: Rule, zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The rule's periods (UTC instants, end exclusive) that overlap ``[start, end)``."""
    local_start = start.astimezone(zone).replace(tzinfo=None) - _SLACK
    local_end = end.astimezone(zone).replace(tzinfo=None) + _SLACK
    found: list[tuple[datetime, datetime]] = []
    window = _window(rule.when)
    if isinstance(window, _Window):
        day: date = local_start.date() - timedelta(days=1)
        while day <= local_end.date():
            if day.weekday() in window.days:
                midnight = datetime(day.year, day.month, day.day)
                begin = midnight + timedelta(minutes=window.start)
                finish = midnight + timedelta(minutes=window.end)
                if window.end <= window.start:
                    finish += timedelta(days=1)
                found.append((_instant(begin, zone), _instant(finish, zone)))
            day += timedelta(days=1)
    elif window is None and rule.minutes > 0:
        it = croniter(rule.when, local_start - timedelta(minutes=rule.minutes))
        for _ in range(_MAX_MATCHES):
            begin = it.get_next(datetime)
            if begin > local_end:
                break
            found.append((_instant(begin, zone), _instant(begin + timedelta(minutes=rule.minutes), zone)))
    return [(a, b) for a, b in found if b > start and a < end and b > a]


def _in_force(
    periods: list[list[tuple[datetime, datetime]]], base: Sizes, schedule: Schedule, at: datetime
) -> tuple[Sizes, int | None]:
    for i, (rule, spans) in enumerate(zip(schedule.rules, periods, strict=True)):
        if any(a <= at < b for a, b in spans):
            return rule.apply(base), i
    return base, None


def effective(base: Sizes, schedule: Schedule, at: float) -> tuple[Sizes, int | None]:
    """The sizes in force at Unix time ``at`` and the index of the rule that set them (None: the base)."""
    if not schedule.rules:
        return base, None
    zone = _zone(schedule.zone)
    moment = datetime.fromtimestamp(at, UTC)
    periods = [_periods(r, zone, moment, moment + timedelta(seconds=1)) for r in schedule.rules]
    return _in_force(periods, base, schedule, moment)


def changes(base: Sizes, schedule: Schedule, at: float, count: int) -> list[Change]:
    """The next ``count`` changes of the sizes in force after Unix time ``at`` (within a year), in order."""
    if not schedule.rules or count <= 0:
        return []
    zone = _zone(schedule.zone)
    moment = datetime.fromtimestamp(at, UTC)
    found: list[Change] = []
    # Short horizons first: a frequent cron rule has its next change within the hour (croniter is slow).
    for days in (1 / 24, 2, 9, 40, 370):
        horizon = moment + timedelta(days=days)
        periods = [_periods(r, zone, moment, horizon) for r in schedule.rules]
        bounds = sorted({t for spans in periods for span in spans for t in span if moment < t < horizon})
        found = []
        current = _in_force(periods, base, schedule, moment)
        for bound in bounds:
            now = _in_force(periods, base, schedule, bound)
            if now != current:
                found.append(Change(bound.timestamp(), now[0], now[1]))
                current = now
                if len(found) == count:
                    return found
    return found


def local_text(at: float, zone: str) -> str:
    """``at`` as the zone's wall time with its offset, for people (``2026-03-29 03:00 CEST +02:00``)."""
    when = datetime.fromtimestamp(at, _zone(zone))
    return when.strftime("%Y-%m-%d %H:%M %Z %z")[:-2] + ":" + when.strftime("%z")[-2:]
