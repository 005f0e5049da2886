"""Bodies of the session server's API (session/server.py), which the connector's sessions speak.

``Records`` is the one class for rows read from a host, on both sides: the session server builds
``Records[Value]`` (decimals as ``Decimal``, encoded as strings so no digit is lost) and the connector decodes
``Records[Cell]`` (decimals arrive as strings, whole numbers as ``int``, blank numbers as ``None``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

import msgspec

from hostgate.messages._base import Cell, Message, Reply

__all__ = [
    "Attributes",
    "AttributesWrite",
    "Closed",
    "EntityAnswer",
    "EntityMove",
    "OpenSession",
    "OperationCall",
    "Ping",
    "PoolStatus",
    "ProcedureCall",
    "Query",
    "Records",
    "SessionHealth",
    "SessionInfo",
]

C = TypeVar("C")

# Values a caller sends (variables, attributes, parameters, inputs, filters): text, numbers or null.
Values = dict[str, Cell]


class SessionHealth(Reply, frozen=True, omit_defaults=True):
    """``GET /api/v1/health``: anyone learns whose server it is; a caller with a token also its load."""

    status: str
    server: str
    cluster_id: str
    active_sessions: int | None = None
    capacity: int | None = None
    models: tuple[str, ...] | None = None
    # "on" / "off" (VHI's security switch), shown to anyone: a client without credentials learns from it
    # whether this server opens a session without a token. None: a server of an earlier version (on).
    security: str | None = None
    pools: tuple[PoolStatus, ...] | None = None  # each pool's figures (with a token)


class OpenSession(Message, frozen=True):
    model: str = ""
    variables: Values = msgspec.field(default_factory=dict)


class SessionInfo(Reply, frozen=True):
    """A session as its server sees it (no host call)."""

    id: str
    user: str
    model: str
    model_digest: str
    domain: str
    created_at: float
    last_used: float
    operations: int
    entity: str | None
    connected: bool
    pool: str = ""  # the pool it was handed out from (its release returns it there)


class PoolStatus(Reply, frozen=True):
    """``GET /api/v1/pools[/{name}]``: a pool's settings in force and its figures (counters since it started;
    ``wait_histogram`` is cumulative, Prometheus-style: acquires that waited at most ``le`` seconds)."""

    name: str
    model: str
    startup_entity: str
    max_concurrent: int
    min_idle: int
    max_idle: int
    max_pending: int
    max_wait: float
    idle: int
    busy: int
    warming: int
    returning: int
    pending: int
    created: int
    failed: int
    replaced: int
    recycled: int
    reclaimed: int
    acquired: int
    waited: int
    timed_out: int
    refused: int
    wait_seconds_sum: float
    wait_histogram: dict[str, int]
    variable_lists_free: dict[str, int] = msgspec.field(default_factory=dict)


class Ping(Reply, frozen=True):
    session: str
    server: str
    operations: int


class Closed(Reply, frozen=True):
    closed: str


class EntityAnswer(Reply, frozen=True):
    entity: str


class EntityMove(Message, frozen=True):
    entity: str


class Attributes(Reply, frozen=True):
    entity: str
    attributes: dict[str, Cell]


class AttributesWrite(Message, frozen=True):
    attributes: Values = msgspec.field(default_factory=dict)


class OperationCall(Message, frozen=True):
    parameters: Values = msgspec.field(default_factory=dict)


class ProcedureCall(Message, frozen=True):
    table: str
    procedure: str
    inputs: Values = msgspec.field(default_factory=dict)
    filters: Values = msgspec.field(default_factory=dict)


class Query(Message, frozen=True):
    sql: str


class Records(Reply, Generic[C], frozen=True):
    """Rows read from the host: ``columns`` in order and one mapping per row. Iterating gives the rows.

    >>> found = session.query("SELECT number, name FROM customers WHERE city = 'CITY1'")
    >>> found.columns, len(found), found[0]["name"]
    (('number', 'name'), 8, 'CUSTOMER 01')
    """

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, C], ...] = msgspec.field(name="records")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Mapping[str, C]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> Mapping[str, C]:
        return self.rows[index]
