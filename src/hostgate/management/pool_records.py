"""Pool definitions as the cluster stores them, and the whole-definition check (issue #18).

One record per pool at ``/hostgate/pools/<name>`` (names are unique in the cluster: grants name a pool by its
name alone, ``access.require(pool=)``). A pool runs on every server of its ``domain``, or on its one ``server``.
Stored variable-list entries are secrets: the record's ``repr`` leaves them out, no message quotes them, and
only the owning session servers receive them (management/pools.py).

:func:`check_pool` validates a record whole and returns every problem named by its field; the service refuses
the write with all of them (InvalidPoolDefinition HG-4331) before anything is stored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from hostgate.management.records import _Record
from hostgate.pool_schedule import Rule, Schedule, Sizes, check_schedule, check_sizes

__all__ = [
    "POOLS_PREFIX",
    "PoolRecord",
    "ScheduleRuleRecord",
    "VariableListRecord",
    "check_pool",
    "pool_key",
]

POOLS_PREFIX = "/hostgate/pools/"
# Pool names travel in URLs, tokens (``pol``) and grants: identifiers, as in the session server's pools file.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
# A deployed model's name (models/library.py's rule, which management may not import).
_MODEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\Z")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}\Z")
MAX_ENTRIES = 100_000
MAX_VALUE = 1_000
LONGEST = 10_000_000.0  # seconds: about 115 days, far beyond any sensible timeout


def pool_key(name: str) -> str:
    return POOLS_PREFIX + name


@dataclass(frozen=True, slots=True)
class VariableListRecord(_Record):
    name: str
    file: str = ""  # a CSV file on each owning server, relative to its data directory
    columns: tuple[str, ...] = ()
    entries: tuple[tuple[str, ...], ...] = field(default=(), repr=False)  # secrets: never in a repr or log


@dataclass(frozen=True, slots=True)
class ScheduleRuleRecord(_Record):
    when: str
    minutes: int = 0
    max_concurrent: int | None = None
    min_idle: int | None = None
    max_idle: int | None = None


@dataclass(frozen=True, slots=True)
class PoolRecord(_Record):
    name: str
    model: str
    startup_entity: str
    domain: str
    server: str
    max_concurrent: int
    initial_idle: int
    min_idle: int
    max_idle: int
    max_pending: int
    max_wait: float
    idle_timeout: float
    health_check_interval: float
    recycle_uses: int
    recycle_after: float
    lease: float
    variables: dict[str, str] = field(default_factory=dict)
    variable_lists: tuple[VariableListRecord, ...] = ()
    schedule_zone: str = "UTC"
    schedule: tuple[ScheduleRuleRecord, ...] = ()
    drained: bool = False
    updated_by: str = ""
    updated_at: float = 0.0

    @property
    def sizes(self) -> Sizes:
        return Sizes(self.max_concurrent, self.min_idle, self.max_idle)

    @property
    def schedule_value(self) -> Schedule:
        return Schedule(
            self.schedule_zone,
            tuple(Rule(r.when, r.minutes, r.max_concurrent, r.min_idle, r.max_idle) for r in self.schedule),
        )


def check_pool(rec: PoolRecord, *, servers: set[str], domains: set[str]) -> list[tuple[str, str]]:
    """Every problem of the definition as (field, why); never quotes a variable-list value."""
    found: list[tuple[str, str]] = []

    def bad(name: str, why: str) -> None:
        found.append((name, why))

    if not _NAME.match(rec.name):
        bad(
            "name", "pool names are identifiers: letters, digits and _, not starting with a digit, at most 64"
        )
    if not _MODEL.match(rec.model):
        bad("model", "a deployed model's name: letters, digits, '_', '.' or '-' (at most 100)")
    if not rec.startup_entity or len(rec.startup_entity) > 100 or not rec.startup_entity.isprintable():
        bad("startup_entity", "the name of an entity of the model (1-100 printable characters)")
    if bool(rec.domain) == bool(rec.server):
        bad("domain", "give exactly one of domain (every server of it runs the pool) or server")
    elif rec.domain and rec.domain not in domains:
        bad("domain", f"no domain named {rec.domain[:64]!r}")
    elif rec.server and rec.server not in servers:
        bad("server", f"no session server named {rec.server[:64]!r} is registered")
    for name, low, high in (
        ("max_concurrent", 1, 10_000),
        ("initial_idle", 0, 10_000),
        ("min_idle", 0, 10_000),
        ("max_idle", 0, 10_000),
        ("max_pending", 0, 100_000),
        ("recycle_uses", 0, 1_000_000_000),
    ):
        value = getattr(rec, name)
        if not low <= value <= high:
            bad(name, f"must be between {low} and {high}, not {value}")
    for name, positive in (
        ("max_wait", False),
        ("idle_timeout", True),
        ("health_check_interval", True),
        ("recycle_after", False),
        ("lease", True),
    ):
        value = getattr(rec, name)
        least = "more than 0" if positive else "0 or more"
        if not math.isfinite(value) or value < 0 or (positive and value == 0) or value > LONGEST:
            bad(name, f"seconds: {least}, at most {LONGEST:g}, not {value!r}")
    if not found:
        why = check_sizes(rec.sizes)
        if why is not None:
            bad("max_idle" if "max_idle" in why.split(" must")[0] else "min_idle", why)
        elif rec.initial_idle > rec.max_concurrent:
            bad("initial_idle", f"{rec.initial_idle} exceeds max_concurrent ({rec.max_concurrent})")
    if len(rec.variables) > 100:
        bad("variables", f"at most 100 variables, not {len(rec.variables)}")
    for key, value in rec.variables.items():
        if not _VARIABLE.match(key):
            bad(f"variables.{key[:60]}", "variable names are identifiers")
        elif len(value) > MAX_VALUE:
            bad(f"variables.{key}", f"at most {MAX_VALUE} characters")
    seen: set[str] = set()
    for i, listed in enumerate(rec.variable_lists):
        found.extend(_check_list(listed, f"variable_lists[{i}]", seen))
    if not found:
        found.extend(check_schedule(rec.schedule_value, rec.sizes))
    return found


def _check_list(listed: VariableListRecord, at: str, seen: set[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not _VARIABLE.match(listed.name):
        found.append((f"{at}.name", "variable list names are identifiers"))
    elif listed.name in seen:
        found.append((f"{at}.name", f"a second list named {listed.name!r}"))
    seen.add(listed.name)
    stored = bool(listed.columns or listed.entries)
    if bool(listed.file) == stored:
        found.append(
            (at, "give either file (a CSV file on each owning server) or columns and secret_entries")
        )
        return found
    if listed.file:
        if not _FILE.match(listed.file) or ".." in listed.file.split("/"):
            found.append(
                (f"{at}.file", "a path relative to the server's data directory (no '..', no leading /)")
            )
        return found
    names_ok = all(_VARIABLE.match(c) for c in listed.columns)
    if not listed.columns or not names_ok or len(set(listed.columns)) != len(listed.columns):
        found.append((f"{at}.columns", "the model variables each entry sets: distinct identifiers"))
    if not listed.entries:
        found.append((f"{at}.secret_entries", "at least one entry (one per session)"))
    elif len(listed.entries) > MAX_ENTRIES:
        found.append((f"{at}.secret_entries", f"at most {MAX_ENTRIES} entries"))
    for row, entry in enumerate(listed.entries):
        # Position and counts only: the values are secrets (host passwords).
        if len(entry) != len(listed.columns):
            found.append(
                (f"{at}.secret_entries[{row}]", f"has {len(entry)} values for {len(listed.columns)} columns")
            )
            break
        if any(len(v) > MAX_VALUE for v in entry):
            found.append((f"{at}.secret_entries[{row}]", f"a value is longer than {MAX_VALUE} characters"))
            break
    return found
