"""``hostgate cluster status``: one look at the cluster, its verdict as an exit code, and ``--watch``.

The exit codes follow the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), so a Nagios
or Icinga check, a systemd ExecCondition or a shell ``until`` loop can use ``cluster status`` as it is.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

import msgspec
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hostgate.cli.output import console, print_error
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError, NoMemberAnswered
from hostgate.messages import API, ClusterStatus

__all__ = [
    "EXIT_DEGRADED",
    "EXIT_DOWN",
    "EXIT_HEALTHY",
    "EXIT_UNKNOWN",
    "Look",
    "fail_with",
    "look_once",
    "render_status",
    "verdict_of",
    "watch_status",
]

EXIT_HEALTHY = 0
EXIT_DEGRADED = 1  # a member down, a learner not yet promoted: still serving, less fault tolerance
EXIT_DOWN = 2  # no majority (changes refused), or no member answered at all
EXIT_UNKNOWN = 3  # could not tell: credentials refused, a wrong CA, ...

_WORDS = {EXIT_HEALTHY: "healthy", EXIT_DEGRADED: "degraded", EXIT_DOWN: "down", EXIT_UNKNOWN: "unknown"}


@dataclass(frozen=True, slots=True)
class Look:
    """One ``GET /api/v1/cluster``: its answer or its error, the verdict, and when it was taken."""

    at: float
    verdict: int
    status: ClusterStatus | None = None
    error: HostgateError | None = None


def verdict_of(data: ClusterStatus) -> int:
    if not data.quorum:
        return EXIT_DOWN
    return EXIT_DEGRADED if data.degraded else EXIT_HEALTHY


def look_once(client: ClusterClient) -> Look:
    now = time.time()
    try:
        data = client.call_sync(API.cluster, None).payload
    except NoMemberAnswered as exc:
        return Look(now, EXIT_DOWN, error=exc)
    except HostgateError as exc:
        return Look(now, EXIT_UNKNOWN, error=exc)
    return Look(now, verdict_of(data), status=data)


def fail_with(err: HostgateError, code: int) -> NoReturn:
    print_error(err)
    sys.exit(code)


def _tolerance_line(data: ClusterStatus) -> str:
    if not data.quorum:
        return "[red]no majority: the cluster cannot take changes[/]"
    n = data.fault_tolerance
    colour = "green" if n > 0 else "yellow"
    return f"[{colour}]can lose {n} more member{'' if n == 1 else 's'}[/] ({data.voters} voting)"


def render_status(look: Look, *, stamp: bool = False) -> RenderableType:
    """The status as the terminal shows it (``stamp``: a first line with the time and the verdict)."""
    parts: list[RenderableType] = []
    if stamp:
        when = datetime.fromtimestamp(look.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        parts.append(Text(f"{when}  {_WORDS[look.verdict]} (exit {look.verdict})"))
    if look.status is None:
        assert look.error is not None
        parts.append(Text(f"error {look.error.code}: {look.error.message}", style="red"))
        return Group(*parts)
    data = look.status
    parts.append(Text.from_markup(f"Cluster [bold]{data.name}[/]  id {data.id}  store {data.store}"))
    parts.append(Text.from_markup(f"answered by member [bold]{data.answered_by}[/]"))
    table = Table("member", "address", "role", "health", "store leader", "detail")
    for m in data.members:
        table.add_row(
            m.name,
            f"{m.address}:{m.port}",
            m.role,
            "[green]healthy[/]" if m.healthy else "[red]down[/]",
            "leader" if m.leader else "",
            m.detail,
        )
    parts.append(table)
    parts.append(Text.from_markup(f"fault tolerance: {_tolerance_line(data)}"))
    if not data.quorum:
        parts.append(
            Text(
                "No store leader: reads and logins work, changes are refused until a majority of members is back.",
                style="yellow",
            )
        )
    elif data.degraded:
        parts.append(Text("Degraded: see the members that are down or still learners.", style="yellow"))
    return Group(*parts)


def _json_line(look: Look) -> str:
    body: dict[str, object] = {"at": round(look.at, 3), "verdict": _WORDS[look.verdict], "exit": look.verdict}
    if look.status is not None:
        body["status"] = msgspec.to_builtins(look.status)
    elif look.error is not None:
        body["error"] = {"code": look.error.code, "message": look.error.message}
    return json.dumps(body, sort_keys=True)


def watch_status(client: ClusterClient, interval: float, as_json: bool) -> int:
    """Look every ``interval`` seconds until Ctrl-C; answer the last look's exit code.

    On a terminal the view is redrawn in place (rich's Live: the new frame overwrites the old one line by line,
    no screen clear, so no flicker). Otherwise (a pipe, a log, a CI job) each look is printed after the last,
    a stamped block (or one JSON object per line with --json), so the output reads as a log.
    """
    last = EXIT_UNKNOWN
    live: Live | None = None
    if console.is_terminal and not as_json:
        live = Live(console=console, auto_refresh=False, transient=False)
        live.start()
    try:
        while True:
            look = look_once(client)
            last = look.verdict
            if as_json:
                print(_json_line(look), flush=True)
            elif live is not None:
                live.update(render_status(look, stamp=True), refresh=True)
            else:
                console.print(render_status(look, stamp=True))
                console.print()
                sys.stdout.flush()
            time.sleep(interval)  # the watch's own period, not a synchronisation
    except KeyboardInterrupt:
        return last
    finally:
        if live is not None:
            live.stop()
