"""Bodies of the cluster's pool definitions (api/pool_routes.py, ``/api/v1/cluster/pools``; issue #18).

A pool is defined on a domain (every session server of the domain runs it) or on one session server. The
definition is the session server's pools-file entry plus where it runs, its schedule and whether it is drained.
Variable lists come from a CSV file on each owning server (``file``) or are stored in the cluster (``columns`` +
``secret_entries``); stored entries are secrets: no answer to an account carries them (``PoolView`` says how many),
only the owning servers get them (``ServerPoolsAnswer``, authenticated by the server's certificate).

The paths are ``/api/v1/cluster/pools``, not ``/api/v1/pools``: the session face already answers ``GET
/api/v1/pools`` (the pools a server runs, their figures), and the OpenAPI document describes both faces in one
set of paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from hostgate.messages._base import Message, Reply

__all__ = [
    "POOL_DEFAULTS",
    "PoolDefaults",
    "PoolDefinition",
    "PoolSessionView",
    "PoolUpdate",
    "PoolView",
    "ScheduleAnswer",
    "ScheduleChange",
    "ScheduleRuleSpec",
    "ScheduleSpec",
    "ServerPool",
    "ServerPoolsAnswer",
    "VariableListSpec",
    "VariableListView",
]


@dataclass(frozen=True, slots=True)
class PoolDefaults:
    """The defaults of a pool's settings, written once: the cluster's definitions (``PoolDefinition``) and the
    session server's pools file and engine (session/pool_config.py) both take them from :data:`POOL_DEFAULTS`,
    so a pool defined in the cluster and the same pool in a pools file behave the same. ``max_idle`` has no
    value of its own: it defaults to ``max_concurrent`` in both."""

    initial_idle: int = 0
    min_idle: int = 0
    max_pending: int = 16
    max_wait: float = 10.0
    idle_timeout: float = 600.0
    health_check_interval: float = 60.0
    recycle_uses: int = 0  # never
    recycle_after: float = 0.0  # never
    lease: float = 300.0


POOL_DEFAULTS = PoolDefaults()


class VariableListSpec(Message, frozen=True):
    """One entry per session. ``file``: a CSV file on each owning server (relative to its data directory);
    or ``columns`` (model variable names) and ``secret_entries`` (one row of values per session) stored in the
    cluster. The name says "secret" on purpose: the audit entry of a write keeps its request body minus the
    fields named like a secret (management/audit_records.py), so these values are never kept there."""

    name: str
    file: str = ""
    columns: tuple[str, ...] = ()
    secret_entries: tuple[tuple[str, ...], ...] = ()


class ScheduleRuleSpec(Message, frozen=True):
    """``when``: a weekly window (``"mon-fri 08:00-18:00"``) or a cron expression with ``minutes`` (how long
    each period lasts); the sizes it sets (unset: the pool's own)."""

    when: str
    minutes: int = 0
    max_concurrent: int | None = None
    min_idle: int | None = None
    max_idle: int | None = None


class ScheduleSpec(Message, frozen=True):
    """``PUT /api/v1/cluster/pools/{name}/schedule``: the whole schedule (replaces the one stored)."""

    zone: str = "UTC"
    rules: tuple[ScheduleRuleSpec, ...] = ()


class PoolDefinition(Message, frozen=True):
    """``POST /api/v1/cluster/pools``: a new pool on ``domain`` or on ``server`` (exactly one of them)."""

    name: str
    model: str
    startup_entity: str
    max_concurrent: int
    domain: str = ""
    server: str = ""
    initial_idle: int = POOL_DEFAULTS.initial_idle
    min_idle: int = POOL_DEFAULTS.min_idle
    max_idle: int | None = None  # default: max_concurrent
    max_pending: int = POOL_DEFAULTS.max_pending
    max_wait: float = POOL_DEFAULTS.max_wait
    idle_timeout: float = POOL_DEFAULTS.idle_timeout
    health_check_interval: float = POOL_DEFAULTS.health_check_interval
    recycle_uses: int = POOL_DEFAULTS.recycle_uses
    recycle_after: float = POOL_DEFAULTS.recycle_after
    lease: float = POOL_DEFAULTS.lease
    variables: dict[str, str] = msgspec.field(default_factory=dict)
    variable_lists: tuple[VariableListSpec, ...] = ()
    schedule: ScheduleSpec | None = None


class PoolUpdate(Message, frozen=True):
    """``PATCH /api/v1/cluster/pools/{name}``: the fields given replace the stored ones (``variable_lists``
    whole); the result is validated whole like a new definition."""

    model: str | None = None
    startup_entity: str | None = None
    domain: str | None = None
    server: str | None = None
    max_concurrent: int | None = None
    initial_idle: int | None = None
    min_idle: int | None = None
    max_idle: int | None = None
    max_pending: int | None = None
    max_wait: float | None = None
    idle_timeout: float | None = None
    health_check_interval: float | None = None
    recycle_uses: int | None = None
    recycle_after: float | None = None
    lease: float | None = None
    variables: dict[str, str] | None = None
    variable_lists: tuple[VariableListSpec, ...] | None = None


class VariableListView(Reply, frozen=True):
    """A variable list as accounts see it: where its entries come from, never a value."""

    name: str
    file: str = ""
    columns: tuple[str, ...] = ()
    stored_entries: int = 0


class ScheduleRuleView(Reply, frozen=True):
    when: str
    minutes: int = 0
    max_concurrent: int | None = None
    min_idle: int | None = None
    max_idle: int | None = None


class PoolView(Reply, frozen=True):
    """A stored pool definition (secrets hidden) and the session servers that run it now."""

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
    variables: dict[str, str]
    variable_lists: tuple[VariableListView, ...]
    schedule_zone: str
    schedule: tuple[ScheduleRuleView, ...]
    drained: bool
    servers: tuple[str, ...]
    updated_by: str
    updated_at: float


class ServerVariableList(Reply, frozen=True):
    name: str
    file: str = ""
    columns: tuple[str, ...] = ()
    entries: tuple[tuple[str, ...], ...] = ()


class ServerPool(Reply, frozen=True):
    """A pool definition as its owning session servers get it (stored variable-list entries included)."""

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
    variables: dict[str, str] = msgspec.field(default_factory=dict)
    variable_lists: tuple[ServerVariableList, ...] = ()
    schedule_zone: str = "UTC"
    schedule: tuple[ScheduleRuleView, ...] = ()
    drained: bool = False


class ServerPoolsAnswer(Reply, frozen=True):
    """``GET /api/v1/session-servers/{name}/pools`` (the server's certificate): the pools of the domains it
    belongs to and its own; ``version`` is what its heartbeat answers name (``HeartbeatAnswer.pools``)."""

    version: str
    pools: tuple[ServerPool, ...] = ()


class ScheduleChange(Reply, frozen=True):
    at: float  # Unix time
    local: str  # the schedule zone's wall time, e.g. "2026-03-30 08:00 CEST +02:00"
    max_concurrent: int
    min_idle: int
    max_idle: int
    rule: int | None  # the index of the rule in force; None: the pool's own settings


class ScheduleAnswer(Reply, frozen=True):
    """``GET /api/v1/cluster/pools/{name}/schedule?changes=N``: the sizes in force now and the next changes
    (the function the session servers apply, hostgate/pool_schedule.py)."""

    pool: str
    zone: str
    now: ScheduleChange
    changes: tuple[ScheduleChange, ...]
    rules: tuple[ScheduleRuleView, ...] = ()


class PoolSessionView(Reply, frozen=True):
    """``GET /api/v1/pools/{name}/sessions`` on a session server: one session of the pool."""

    server: str
    id: str
    state: str  # warming is not listed: those are not sessions yet
    holder: str  # the user holding it ("" unless busy)
    since: float  # Unix time it entered its state
    uses: int
    created: float  # Unix time it signed on
