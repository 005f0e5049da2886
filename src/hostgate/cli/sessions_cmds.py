"""``hostgate sessions list|end``: the live sessions of the session servers (Administrators only).

For each session server the CLI gets a one-minute ``sessions-admin`` token bound to it from the cluster, then
asks the server itself over TLS verified with the cluster CA (why: management/session_admin.py).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import click
import msgspec
from rich.table import Table

from hostgate.cli.common import client_from, cluster_options, when
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.connector.admin_sessions import Gathered, ask_session_server, gather_sessions
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import SecurityError, SessionServerUnreachable
from hostgate.messages import API, SESSION, Closed, decode_answer

__all__ = ["sessions"]

_TIMEOUT = 5.0


def _context(client: ClusterClient) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(client.ca_file))


async def _ask(client: ClusterClient, server: str, method: str, path: str) -> bytes:
    grant = (await client.call(API.sessions_admin_token, None, name=server)).payload
    return await ask_session_server(
        _context(client), server, grant.url, method, path, f"Bearer {grant.token}", timeout=_TIMEOUT,
        silent=SessionServerUnreachable,
    )  # fmt: skip


async def _gather(client: ClusterClient, names: list[str]) -> list[Gathered]:
    # Refused credentials or profile: the whole command is refused, not one server.
    return await gather_sessions(
        names, lambda name: _ask(client, name, "GET", SESSION.admin_sessions.path), fatal=(SecurityError,)
    )


@click.group()
def sessions() -> None:
    """Live sessions on the session servers: list them, end one (Administrators only)."""


@sessions.command("list")
@click.option("--on", "only", metavar="SERVER", multiple=True, help="Only this session server (repeatable).")
@cluster_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def list_sessions(only: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Every live session of every session server (or --on SERVER): id, user, model, entity, pool, age, calls.

    Each server is asked itself (with a one-minute token the cluster gives an Administrator for it); a server
    that does not answer is listed with its error, and the command then exits 1."""
    client = client_from(kw)
    names = list(only) or sorted(v.name for v in client.call_sync(API.servers, None).payload)
    gathered = asyncio.run(_gather(client, names))
    if as_json:
        emit_json(
            [
                {
                    "server": g.server,
                    "error": g.error or None,
                    "sessions": msgspec.to_builtins(g.listing.sessions),
                }
                if g.listing
                else {"server": g.server, "error": g.error, "sessions": []}
                for g in gathered
            ]
        )
    else:
        table = Table("server", "session", "user", "model", "entity", "pool", "opened", "calls", "connected")
        for g in gathered:
            if g.listing is None:
                table.add_row(g.server, f"[red]{g.error}[/]", "", "", "", "", "", "", "")
                continue
            for s in g.listing.sessions:
                table.add_row(
                    g.server, s.id, s.user, s.model, s.entity or "", s.pool, when(s.created_at), str(s.operations),
                    "yes" if s.connected else "no",
                )  # fmt: skip
        console.print(table)
        total = sum(len(g.listing.sessions) for g in gathered if g.listing)
        console.print(f"{total} session(s) on {len(gathered)} server(s)")
    if any(g.listing is None for g in gathered):
        raise SystemExit(1)


@sessions.command("end")
@click.argument("session_server")
@click.argument("session_id")
@cluster_options
@handle_errors
def end_session(session_server: str, session_id: str, **kw: Any) -> None:
    """End session SESSION_ID on session server SESSION_SERVER: signed off and disconnected (a pooled one goes
    back to its pool, which replaces it). Its client's next call gets HG-4202."""
    client = client_from(kw)
    raw = asyncio.run(_ask(client, session_server, "DELETE", SESSION.admin_end.url_path(id=session_id)))
    closed = decode_answer(raw, Closed, f"session server {session_server}")
    console.print(f"Session [bold]{closed.closed}[/] on {session_server} ended.")
