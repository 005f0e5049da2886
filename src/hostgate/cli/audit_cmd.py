"""``hostgate audit``: the cluster's audit trail (who changed what, when, from where), newest first."""

from __future__ import annotations

import time
from typing import Any

import click
import msgspec
from rich.markup import escape
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.errors import UsageError
from hostgate.messages import API, AuditEntryView, parse_when

__all__ = ["audit"]

_PAGE = 1000  # the API's largest page


@click.command()
@click.option(
    "--since",
    metavar="WHEN",
    help="Entries from then on: 1h, 30m, 7d ago, or 2026-11-30T05:00 (UTC), or epoch s.",
)
@click.option("--until", metavar="WHEN", help="Entries before then (same forms as --since).")
@click.option("--action", metavar="A", help="Only this action (add_user), or a family (login: login.*).")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many entries.")
@click.option("--oldest-first", is_flag=True, help="Oldest entries first (default: newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@cluster_options
@handle_errors
def audit(
    since: str | None,
    until: str | None,
    action: str | None,
    limit: int,
    oldest_first: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """The audit trail: every admin change, deployment, failed login and lockout (Administrators only)."""
    now = time.time()
    # Checked here too (the API is the authority) so a bad value is a coded HG-1003 before any connection.
    for name, value in (("--since", since), ("--until", until)):
        if value is not None:
            parse_when(value, now, name)
    if limit < 1:
        raise UsageError(f"--limit {limit} must be at least 1")
    query = {k: v for k, v in (("since", since), ("until", until), ("action", action)) if v is not None}
    query["order"] = "oldest" if oldest_first else "newest"
    client = client_from(kw)
    entries: list[AuditEntryView] = []
    cursor: str | None = None
    while len(entries) < limit:
        page_query = {**query, "limit": str(min(limit - len(entries), _PAGE))}
        if cursor is not None:
            page_query["cursor"] = cursor
        page = client.call_sync(API.audit, None, query=page_query).payload
        entries.extend(page.entries)
        cursor = page.next
        if cursor is None:
            break
    if as_json:
        emit_json(msgspec.to_builtins(entries))
        return
    table = Table("time (UTC)", "actor", "source", "action", "target", "outcome", "detail", "member")
    for e in entries:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        table.add_row(
            e.at, escape(e.actor), e.source, e.action, escape(e.target), e.outcome, escape(detail), e.member
        )
    console.print(table)
    if not entries:
        console.print("no entries")
