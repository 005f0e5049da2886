"""Asking session servers themselves for their live sessions, for an Administrator's view: one way for the
console (on a member) and ``hostgate sessions`` (the CLI), which both may import the connector.

Each caller gets its ``sessions-admin`` token its own way (the member mints it, management/session_admin.py; the
CLI asks the cluster for it) and says which coded error a silent server is (the console shows HG-3340 next to
that server; the CLI, ``SessionServerUnreachable``); the request, its TLS (verified with
the cluster CA), the reading of a coded refusal and the gathering of every server at once are here. Not part of
the connector's public face (only hostgate's own console and CLI use it).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from hostgate.errors import HostgateError, error_from_answer
from hostgate.messages import SessionList, decode_answer

__all__ = ["Gathered", "ask_session_server", "gather_sessions"]


@dataclass(frozen=True, slots=True)
class Gathered:
    """One session server's answer to "your live sessions": the list, or why there is none."""

    server: str
    listing: SessionList | None
    error: str = ""


async def ask_session_server(
    tls: ssl.SSLContext,
    server: str,
    url: str,
    method: str,
    path: str,
    authorization: str,
    *,
    timeout: float,
    silent: type[HostgateError],
    body: bytes | None = None,
) -> bytes:
    """The body of session server ``server``'s answer at ``url`` + ``path``; its coded refusal raised as such,
    no answer (refused, timed out, TLS failed) raised as ``silent`` naming the server and why."""
    headers = {"Authorization": authorization}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with httpx.AsyncClient(verify=tls, timeout=timeout) as http:
            resp = await http.request(method, url.rstrip("/") + path, headers=headers, content=body)
    except httpx.HTTPError as exc:
        raise silent(
            f"session server {server} ({url}) did not answer: {type(exc).__name__}"
            + (f" ({exc})" if str(exc) else "")
        ) from exc
    if resp.status_code >= 400:
        raise error_from_answer(resp.content, resp.status_code)
    return resp.content


async def gather_sessions(
    servers: Sequence[str],
    listing: Callable[[str], Awaitable[bytes]],
    *,
    fatal: tuple[type[HostgateError], ...] = (),
) -> list[Gathered]:
    """Every server of ``servers`` asked at once (``listing(name)``: the raw answer of its admin sessions
    route); one that fails is reported in its ``Gathered``, not raised, unless its error is one of ``fatal``
    (the CLI's refused credentials: the whole command is refused, not one server)."""

    async def one(name: str) -> Gathered:
        try:
            raw = await listing(name)
            return Gathered(name, decode_answer(raw, SessionList, f"session server {name}"))
        except fatal:
            raise
        except HostgateError as exc:
            return Gathered(name, None, f"{exc.code}: {exc.message}")

    return list(await asyncio.gather(*(one(n) for n in servers)))
