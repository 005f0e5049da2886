"""The synchronous connector API (as VHI's connectors are), sharing one core with the async one.

Each sync session of a connect function owns a small event-loop thread; the sessions of a :class:`Connector`
share its one. Calls are handed to that thread and waited for, so the async core runs unchanged and a blocking
application never touches an event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

from hostgate.connector.location import ClusterLocation
from hostgate.connector.session import (
    DEFAULT_CALL_TIMEOUT,
    AsyncConnector,
    AsyncSession,
    Records,
    connect_direct,
    connect_session_direct,
    connect_session_via_domain,
    connect_via_domain,
)
from hostgate.errors import SessionLost
from hostgate.messages import Cell, Ping, SessionInfo

__all__ = [
    "Connector",
    "Session",
    "connect_to_model",
    "connect_to_model_via_domain",
    "connect_to_session",
    "connect_to_session_via_domain",
]

T = TypeVar("T")
P = ParamSpec("P")


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hostgate-connector", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.loop.is_closed():  # its session, or the connector it came from, was closed
            coro.close()
            raise SessionLost("the session is closed (or the connector it came from)")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class Session:
    """A session on a session server, for blocking code: a host connection driven through a model.

    >>> with connect_to_model_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                  ca_file=Path("ca.pem")) as session:
    ...     session.set_current_entity("CustomerList")
    ...     for customer in session.fetch_records("customers", max_records=50):
    ...         print(customer["number"], customer["name"])
    ...     found = session.query("SELECT name FROM customers WHERE city = 'PARIS'")

    Leaving the ``with`` block signs off and disconnects (:meth:`close`).
    """

    def __init__(self, runner: _LoopThread, inner: AsyncSession, *, owns_runner: bool = True) -> None:
        self._runner = runner
        self._inner = inner
        self._owns_runner = owns_runner  # a connect function's session; a Connector's share its loop thread

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def server(self) -> str:
        """The session server holding the session."""
        return self._inner.server

    @property
    def model(self) -> str:
        """The model the session drives."""
        return self._inner.model

    def ping(self) -> Ping:
        """A round trip to the session (no host call)."""
        return self._runner.run(self._inner.ping())

    def info(self) -> SessionInfo:
        """The session as the server sees it: model, user, last entity, number of calls."""
        return self._runner.run(self._inner.info())

    def current_entity(self) -> str:
        """The name of the entity (screen) the host shows now."""
        return self._runner.run(self._inner.current_entity())

    def set_current_entity(self, entity: str) -> str:
        """Navigate to ``entity`` through the model's operations; returns it."""
        return self._runner.run(self._inner.set_current_entity(entity))

    def get_attributes(self, names: Sequence[str] | None = None) -> dict[str, Cell]:
        """Attributes of the current entity; hidden ones read as ``"********"``."""
        return self._runner.run(self._inner.get_attributes(names))

    def set_attributes(self, values: Mapping[str, Cell]) -> str:
        """Write attributes of the current entity; returns the entity."""
        return self._runner.run(self._inner.set_attributes(values))

    def perform_entity_operation(self, name: str, parameters: Mapping[str, Cell] | None = None) -> str:
        """Run an operation of the current entity; returns the entity it led to."""
        return self._runner.run(self._inner.perform_entity_operation(name, parameters))

    def fetch_records(
        self, recordset: str, max_records: int | None = None, filters: Mapping[str, Cell] | None = None
    ) -> Records[Cell]:
        """Records of a recordset of the current entity, paging forward from the page shown."""
        return self._runner.run(self._inner.fetch_records(recordset, max_records, filters))

    def perform_table_procedure(
        self,
        table: str,
        procedure: str,
        inputs: Mapping[str, Cell] | None = None,
        filters: Mapping[str, Cell] | None = None,
    ) -> Records[Cell]:
        """Run a procedure of a model table (inputs go to the host, filters apply to the rows)."""
        return self._runner.run(self._inner.perform_table_procedure(table, procedure, inputs, filters))

    def query(self, sql: str) -> Records[Cell]:
        """``SELECT cols FROM table [WHERE col = value [AND ...]]`` over the model's tables."""
        return self._runner.run(self._inner.query(sql))

    def close(self) -> None:
        """Sign off and disconnect (idempotent)."""
        if self._inner.closed:
            return
        try:
            self._runner.run(self._inner.close())
        finally:
            if self._owns_runner:
                self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _session(connect: Coroutine[Any, Any, AsyncSession]) -> Session:
    runner = _LoopThread()
    try:
        inner = runner.run(connect)
    except BaseException:
        runner.stop()
        raise
    return Session(runner, inner)


def _blocking(
    connect: Callable[P, Coroutine[Any, Any, AsyncSession]], name: str, doc: str
) -> Callable[P, Session]:
    """The sync twin of an async connect function: the same parameters (one signature, not a copy that can
    drift), the session run on its own loop thread."""

    @functools.wraps(connect)
    def run(*args: P.args, **kwargs: P.kwargs) -> Session:
        return _session(connect(*args, **kwargs))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    run.__module__ = __name__
    # help() and IDEs read this: the async function's parameters, returning the blocking Session.
    setattr(run, "__signature__", inspect.signature(connect).replace(return_annotation=Session))  # noqa: B010
    return run


connect_to_model_via_domain = _blocking(
    connect_via_domain,
    "connect_to_model_via_domain",
    """VHI ``ConnectToModelViaDomain``: a signed-on session on ``model`` on a live session server of
    ``domain``, found through the management cluster's ``alias`` (parameters: :func:`connect_via_domain`).

    >>> with connect_to_model_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                  ca_file=Path("ca.pem"), variables={"userid": "ADA"}) as s:
    ...     s.current_entity()
    'Menu'
    """,
)

connect_to_model = _blocking(
    connect_direct,
    "connect_to_model",
    """VHI ``ConnectToModel``: a session on ``model`` on one session server, named (``session01``) or by URL;
    the management cluster at ``management`` (its alias) checks the user and issues the token (parameters:
    :func:`connect_direct`).

    >>> with connect_to_model("session01", "orders", management="vhi-prod-sea", user="u", password="p",
    ...                       ca_file=Path("ca.pem")) as s:
    ...     s.query("SELECT name FROM customers")
    """,
)


connect_to_session = _blocking(
    connect_session_direct,
    "connect_to_session",
    """VHI ``ConnectToSession``: a ready session from ``pool`` on one session server (signed on, at the pool's
    startup entity); closing it gives it back to the pool (parameters: :func:`connect_session_direct`).

    >>> with connect_to_session("session01", "orders", management="vhi-prod-sea", user="u", password="p",
    ...                         ca_file=Path("ca.pem")) as s:
    ...     s.current_entity()
    'Menu'
    """,
)


connect_to_session_via_domain = _blocking(
    connect_session_via_domain,
    "connect_to_session_via_domain",
    """VHI ``ConnectToSessionViaDomain``: a ready session from ``pool`` on a session server of ``domain``
    (signed on, at the pool's startup entity), routed by the management cluster's ``alias`` to a server with
    idle sessions of the pool first; closing it gives it back to the pool (parameters:
    :func:`connect_session_via_domain`).

    >>> with connect_to_session_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                    ca_file=Path("ca.pem")) as s:
    ...     s.current_entity()
    'Menu'
    """,
)


class Connector:
    """The blocking twin of :class:`~hostgate.connector.AsyncConnector`: connects one user to one cluster again
    and again, keeping its connections to the members and the session servers, and direct tokens, between
    connects (about 10 ms a connect without, issue #18). One event-loop thread serves all its sessions; threads
    may share a connector. Closing it closes the sessions still open (pooled ones go back to their pool).

    >>> with Connector("vhi-prod-sea", user="u", password="p", ca_file=Path("ca.pem")) as hg:
    ...     for order in orders:
    ...         with hg.connect_to_session_via_domain("prod", "orders") as s:
    ...             s.perform_entity_operation("Submit", {"number": order})
    """

    def __init__(
        self,
        cluster: str | ClusterLocation,
        *,
        user: str,
        password: str,
        ca_file: Path | None = None,
        hosts_file: Path | None = None,
        dns_servers: Sequence[str] = (),
        deadline: float = 10.0,
        server_connect_timeout: float = 2.0,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self._inner = AsyncConnector(
            cluster,
            user=user,
            password=password,
            ca_file=ca_file,
            hosts_file=hosts_file,
            dns_servers=dns_servers,
            deadline=deadline,
            server_connect_timeout=server_connect_timeout,
            timeout=timeout,
        )
        self._runner = _LoopThread()
        self._closed = False

    def _session(self, connect: Coroutine[Any, Any, AsyncSession]) -> Session:
        return Session(self._runner, self._runner.run(connect), owns_runner=False)

    def connect_to_model_via_domain(
        self, domain: str, model: str, *, variables: Mapping[str, Any] | None = None
    ) -> Session:
        """VHI ``ConnectToModelViaDomain`` through this connector (:func:`connect_to_model_via_domain`)."""
        return self._session(self._inner.connect_via_domain(domain, model, variables=variables))

    def connect_to_model(
        self, server: str, model: str, *, variables: Mapping[str, Any] | None = None
    ) -> Session:
        """VHI ``ConnectToModel`` through this connector (:func:`connect_to_model`)."""
        return self._session(self._inner.connect_direct(server, model, variables=variables))

    def connect_to_session(self, server: str, pool: str) -> Session:
        """VHI ``ConnectToSession`` through this connector (:func:`connect_to_session`)."""
        return self._session(self._inner.connect_session_direct(server, pool))

    def connect_to_session_via_domain(self, domain: str, pool: str) -> Session:
        """VHI ``ConnectToSessionViaDomain`` through this connector (:func:`connect_to_session_via_domain`)."""
        return self._session(self._inner.connect_session_via_domain(domain, pool))

    def close(self) -> None:
        """Close the sessions still open and every kept connection, and stop the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self._inner.aclose())
        finally:
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
