"""The synchronous connector API (as VHI's connectors are), sharing one core with the async one.

Each sync session owns a small event-loop thread; calls are handed to it and waited for, so the async core runs
unchanged and a blocking application never touches an event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self, TypeVar

from hostgate.connector.session import AsyncSession, connect_via_domain

__all__ = ["Session", "connect_to_model_via_domain"]

T = TypeVar("T")


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hostgate-connector", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class Session:
    """A session on a session server, for blocking code.

    >>> with connect_to_model_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                  ca_file=Path("ca.pem")) as session:
    ...     session.ping()
    """

    def __init__(self, runner: _LoopThread, inner: AsyncSession) -> None:
        self._runner = runner
        self._inner = inner

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def server(self) -> str:
        return self._inner.server

    def ping(self) -> dict[str, Any]:
        return self._runner.run(self._inner.ping())

    def info(self) -> dict[str, Any]:
        return self._runner.run(self._inner.info())

    def close(self) -> None:
        if self._inner.closed:
            return
        try:
            self._runner.run(self._inner.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_to_model_via_domain(
    alias: str,
    domain: str,
    model: str,
    *,
    user: str,
    password: str,
    ca_file: Path,
    hosts_file: Path | None = None,
    dns_servers: Sequence[str] = (),
    deadline: float = 10.0,
) -> Session:
    """VHI ``ConnectToModelViaDomain``: a session on a live session server of ``domain``."""
    runner = _LoopThread()
    try:
        inner = runner.run(
            connect_via_domain(
                alias,
                domain,
                model,
                user=user,
                password=password,
                ca_file=ca_file,
                hosts_file=hosts_file,
                dns_servers=dns_servers,
                deadline=deadline,
            )
        )
    except BaseException:
        runner.stop()
        raise
    return Session(runner, inner)
