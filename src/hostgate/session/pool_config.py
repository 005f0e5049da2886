"""Pool definitions of one session server, read from its pools file (interim: until they are stored in the cluster).

The file (``[session] pools_file``, default ``pools.yaml`` in the data directory; none there: no pools) is YAML,
validated whole like a model: every issue is reported with its path and line, and nothing of a file with an
issue is applied (PoolsFileError HG-4305). Issue #18 moves definitions into the cluster (``hostgate pool ...``)
with schedules; this module's :class:`PoolSettings` is what either source produces.

.. code-block:: yaml

    pools:
      orders:                        # the pool's name (what clients ask for)
        model: demo3270              # a model deployed on this server
        startup_entity: Menu         # where every handed-out session is
        max_concurrent: 4            # sessions at most (idle + busy + warming)
        initial_idle: 2              # signed on when the pool starts
        min_idle: 1                  # kept ready while below max_concurrent
        max_idle: 3                  # more idle than this are signed off
        max_pending: 8               # clients allowed to wait when all are busy
        max_wait: 5.0                # seconds a client waits, then HG-4303
        idle_timeout: 600            # an idle session above min_idle is signed off after this long
        health_check_interval: 60    # idle sessions re-recognise the startup entity this often
        recycle_uses: 100            # sign off and replace after this many hand-outs (0: never)
        recycle_after: 3600          # ... or after this many seconds (0: never)
        lease: 300                   # a held session without a call for this long is reclaimed
        variables: {language: EN}    # the same for every session of the pool
        variable_lists:              # one entry per session (host credentials): a CSV file whose
          credentials: creds.csv     # header names model variables; relative to the pools file

Variable-list values are secrets (passwords): they are never logged, shown in status or quoted in errors.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from hostgate.errors import ModelSyntaxError, PoolsFileError
from hostgate.messages.pools import POOL_DEFAULTS
from hostgate.models._reader import NAME, Issues
from hostgate.models._yaml import YMap, parse_yaml

__all__ = [
    "PoolSettings",
    "PoolSizes",
    "VariableList",
    "load_pools",
    "load_pools_file",
    "read_variable_list",
]

MAX_LIST_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class VariableList:
    """One entry (variable name -> value) per session; ``source`` names the file in messages (never a value)."""

    name: str
    source: str
    entries: tuple[dict[str, str], ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class PoolSizes:
    """The settings a schedule may change while the pool runs (applied with ``Pool.apply``)."""

    max_concurrent: int
    min_idle: int
    max_idle: int

    def check(self) -> str | None:
        """Why these sizes do not fit together, or None."""
        if self.max_concurrent < 1:
            return f"max_concurrent must be at least 1, not {self.max_concurrent}"
        if not 0 <= self.min_idle <= self.max_idle:
            return f"min_idle ({self.min_idle}) must be between 0 and max_idle ({self.max_idle})"
        if self.max_idle > self.max_concurrent:
            return f"max_idle ({self.max_idle}) must not exceed max_concurrent ({self.max_concurrent})"
        return None


@dataclass(frozen=True, slots=True)
class PoolSettings:
    name: str
    model: str
    startup_entity: str
    sizes: PoolSizes
    # The defaults are the cluster definitions' own (messages/pools.py): one truth for both kinds of pool.
    initial_idle: int = POOL_DEFAULTS.initial_idle
    max_pending: int = POOL_DEFAULTS.max_pending
    max_wait: float = POOL_DEFAULTS.max_wait
    idle_timeout: float = POOL_DEFAULTS.idle_timeout
    health_check_interval: float = POOL_DEFAULTS.health_check_interval
    recycle_uses: int = POOL_DEFAULTS.recycle_uses
    recycle_after: float = POOL_DEFAULTS.recycle_after
    lease: float = POOL_DEFAULTS.lease
    variables: dict[str, str] = field(default_factory=dict, repr=False)
    variable_lists: tuple[VariableList, ...] = ()


_KEYS = (
    "initial_idle",
    "min_idle",
    "max_idle",
    "max_concurrent",
    "max_pending",
    "max_wait",
    "idle_timeout",
    "health_check_interval",
    "recycle_uses",
    "recycle_after",
    "lease",
    "variables",
    "variable_lists",
)


def load_pools_file(path: Path) -> tuple[PoolSettings, ...]:
    """The pools of ``path``; none when the file does not exist. PoolsFileError listing every issue."""
    if not path.exists():
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PoolsFileError(f"cannot read pools file {path}: {exc}") from exc
    return load_pools(text, str(path), base=path.parent)


def load_pools(text: str, source: str, *, base: Path) -> tuple[PoolSettings, ...]:
    """Validate the whole document; variable-list files are read relative to ``base``."""
    try:
        document = parse_yaml(text, source)
    except ModelSyntaxError as exc:
        raise PoolsFileError(f"{exc.message}", issues=exc.issues) from None
    issues = Issues()
    pools: list[PoolSettings] = []
    if document is not None:
        root = issues.mapping(document, "(document)")
        if root is not None:
            issues.keys(root, "", required=("pools",))
            table = issues.mapping(root.get("pools"), "pools", root, "pools") if "pools" in root else None
            if table is not None:
                for name, raw in table.items():
                    made = _pool(issues, table, name, raw, base)
                    if made is not None:
                        pools.append(made)
    if issues.items:
        listing = "\n".join(f"  {issue}" for issue in issues.items)
        count = f"{len(issues.items)} error{'s' if len(issues.items) != 1 else ''}"
        raise PoolsFileError(f"{source}: the pools file has {count}:\n{listing}", issues=issues.items)
    return tuple(pools)


def _pool(issues: Issues, table: YMap, name: object, raw: object, base: Path) -> PoolSettings | None:
    path = f"pools.{name}"
    before = len(issues.items)
    if not isinstance(name, str) or not NAME.match(name):
        issues.at(
            table,
            name,
            path,
            "pool names must be identifiers (letters, digits, _; not starting with a digit)",
        )
    m = issues.mapping(raw, path, table, name)
    if m is None:
        return None
    issues.keys(m, path, required=("model", "startup_entity", "max_concurrent"), optional=_KEYS)
    model = issues.text(m, "model", path, empty=False)
    startup = issues.text(m, "startup_entity", path, empty=False)
    max_concurrent = issues.integer(m, "max_concurrent", path, 1, low=1, high=10_000)
    d = POOL_DEFAULTS
    min_idle = issues.integer(m, "min_idle", path, d.min_idle, low=0, high=10_000)
    max_idle = issues.integer(m, "max_idle", path, max_concurrent, low=0, high=10_000)
    initial_idle = issues.integer(m, "initial_idle", path, d.initial_idle, low=0, high=10_000)
    max_pending = issues.integer(m, "max_pending", path, d.max_pending, low=0, high=100_000)
    recycle_uses = issues.integer(m, "recycle_uses", path, d.recycle_uses, low=0)
    max_wait = issues.number(m, "max_wait", path, d.max_wait, positive=False)
    if max_wait is not None and max_wait < 0:
        issues.at(m, "max_wait", f"{path}.max_wait", f"must be 0 or more, not {max_wait}")
    idle_timeout = issues.number(m, "idle_timeout", path, d.idle_timeout)
    health = issues.number(m, "health_check_interval", path, d.health_check_interval)
    recycle_after = issues.number(m, "recycle_after", path, d.recycle_after, positive=False)
    if recycle_after is not None and recycle_after < 0:
        issues.at(
            m, "recycle_after", f"{path}.recycle_after", f"must be 0 (never) or more, not {recycle_after}"
        )
    lease = issues.number(m, "lease", path, d.lease)
    variables = _variables(issues, m, path)
    lists = _lists(issues, m, path, base)
    if None in (max_concurrent, min_idle, max_idle, initial_idle):
        return None
    assert max_concurrent is not None and min_idle is not None and max_idle is not None
    assert initial_idle is not None
    sizes = PoolSizes(max_concurrent, min_idle, max_idle)
    why = sizes.check()
    if why is not None:
        issues.add(path, why, m.line)
    if initial_idle > max_concurrent:
        issues.at(
            m,
            "initial_idle",
            f"{path}.initial_idle",
            f"{initial_idle} exceeds max_concurrent ({max_concurrent})",
        )
    if len(issues.items) != before:
        return None
    assert model is not None and startup is not None and max_pending is not None and recycle_uses is not None
    assert max_wait is not None and idle_timeout is not None and health is not None
    assert recycle_after is not None and lease is not None and variables is not None and lists is not None
    assert isinstance(name, str)
    return PoolSettings(
        name,
        model,
        startup,
        sizes,
        initial_idle,
        max_pending,
        max_wait,
        idle_timeout,
        health,
        recycle_uses,
        recycle_after,
        lease,
        variables,
        lists,
    )


def _variables(issues: Issues, m: YMap, path: str) -> dict[str, str] | None:
    if "variables" not in m:
        return {}
    given = issues.mapping(m["variables"], f"{path}.variables", m, "variables")
    if given is None:
        return None
    issues.names(given, f"{path}.variables", "variable")
    found: dict[str, str] = {}
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            issues.at(given, key, f"{path}.variables.{key}", "must be text or a number")
        else:
            found[str(key)] = str(value)
    return found


def _lists(issues: Issues, m: YMap, path: str, base: Path) -> tuple[VariableList, ...] | None:
    if "variable_lists" not in m:
        return ()
    where = f"{path}.variable_lists"
    given = issues.mapping(m["variable_lists"], where, m, "variable_lists")
    if given is None:
        return None
    issues.names(given, where, "variable list")
    lists: list[VariableList] = []
    for name, file in given.items():
        if not isinstance(file, str) or not file:
            issues.at(given, name, f"{where}.{name}", "must name a CSV file (relative to the pools file)")
            continue
        problem, made = _read_list(str(name), base / file, file)
        if problem is not None:
            issues.at(given, name, f"{where}.{name}", problem)
        elif made is not None:
            lists.append(made)
    return tuple(lists)


def read_variable_list(name: str, path: Path, shown: str) -> tuple[str | None, VariableList | None]:
    """A variable list's CSV file (also for cluster-stored pools whose list is a file on this server):
    ``(problem, None)`` naming the file and row, never a value, or ``(None, the list)``."""
    return _read_list(name, path, shown)


def _read_list(name: str, path: Path, shown: str) -> tuple[str | None, VariableList | None]:
    """A CSV whose header row names variables; each further row is one session's entry. Problems name the
    file and row, never a value (they are passwords)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {shown}: {type(exc).__name__}", None
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        return f"{shown} is not CSV: {exc}", None
    if not rows:
        return f"{shown} is empty: its first row names the variables", None
    header = [h.strip() for h in rows[0]]
    bad = [h for h in header if not NAME.match(h)]
    if bad or len(set(header)) != len(header):
        return f"{shown}: the header row must name distinct variables (identifiers)", None
    entries: list[dict[str, str]] = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            return f"{shown} row {number} has {len(row)} fields, the header {len(header)}", None
        entries.append(dict(zip(header, row, strict=True)))
    if not entries:
        return f"{shown} has no entries (only the header row)", None
    if len(entries) > MAX_LIST_ENTRIES:
        return f"{shown} has more than {MAX_LIST_ENTRIES} entries", None
    return None, VariableList(name, shown, tuple(entries))
