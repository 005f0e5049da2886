"""The sessions of one session server: opened with bound tokens on deployed models, one call at a time each.

A session is a :class:`~hostgate.session.model_session.ModelSession` (a live host connection driven through a
model) owned by the user its token names. Opening one loads the model from the models directory (reloaded
when its file changed), connects to the host and signs on; only then does the session count. Calls on one
session are serialised by its own lock, so a client that sends two at once gets them one after the other;
sessions never wait for each other. A call after which the host connection is gone (the host dropped it)
closes the session: the call's coded error (HG-7002) is the last answer, later calls get HG-4202.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from hostgate import tokens
from hostgate.errors import AuthenticationFailed, HostgateError, NotAuthorized, SessionNotFound, UsageError
from hostgate.hosts import HostSession, open_session
from hostgate.messages import SessionInfo
from hostgate.models import HostSpec
from hostgate.models.library import ModelLibrary
from hostgate.session.model_session import ModelSession
from hostgate.session.offline import OfflineBound

__all__ = ["ANONYMOUS", "ServedSession", "SessionRegistry"]

log = logging.getLogger("hostgate.session")
T = TypeVar("T")
# The user of a session opened without a token on a server whose security is off (VHI's switch).
ANONYMOUS = "anonymous"
HostFactory = Callable[[HostSpec], HostSession]


@dataclass(slots=True, eq=False)
class ServedSession:
    id: str
    user: str
    model: str
    model_digest: str
    domain: str
    created_at: float
    runtime: ModelSession
    last_used: float = 0.0
    operations: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Opened without a token (security off): only token-less requests reach it, never an account that happens
    # to be named "anonymous".
    anonymous: bool = False
    # A session handed out from a pool (session/pool_service.py): closing it gives it back to its pool
    # (``release(healthy)``) instead of signing off.
    pool: str = ""
    release: Callable[[bool], Awaitable[None]] | None = field(default=None, repr=False)

    def info(self, *, connected: bool | None = None) -> SessionInfo:
        """What the session's JSON face shows about it (no host call). ``connected``: already known (a pool's
        hand-out has just polled the host's socket); otherwise it is polled now."""
        entity = self.runtime.entity
        return SessionInfo(
            self.id,
            self.user,
            self.model,
            self.model_digest,
            self.domain,
            self.created_at,
            self.last_used,
            self.operations,
            entity.name if entity else None,
            self.runtime.connected if connected is None else connected,
            self.pool,
        )


class SessionRegistry:
    """Token checks, capacity, and the sessions of this server (used from the server's event loop only).

    Guarantees:

    - ``claims`` accepts only session tokens of this cluster, bound to this server, signed with a current key
      and not expired (it holds public keys only: it can check tokens, never mint them); an expired one only
      within the offline bound while every management member is silent (session/offline.py). With
      ``security`` off (VHI's switch, set by the cluster) a request without a token is the user
      ``anonymous``; a token that is presented is still checked whole.
    - A session belongs to the user its token names: another user's ``get``, ``call`` or ``close`` is refused
      (``NotAuthorized``), an unknown or closed id is ``SessionNotFound`` (HG-4202).
    - ``capacity`` is never exceeded: a session counts from the moment its open starts (``active``), so two
      opens racing for the last place cannot both win; an open refused for its token or model touches no
      host, and a failed open gives its place back.
    - Calls on one session run one at a time (its own lock); sessions never wait for each other.
    - A call after which the host connection is gone closes the session; ``close`` waits for the call in
      progress and signs off best effort (it never raises for a host that is already gone).
    """

    def __init__(
        self,
        server: str,
        cluster_id: str,
        token_keys: tokens.KeySet,
        capacity: int,
        models: ModelLibrary,
        *,
        host_factory: HostFactory | None = None,
        security: bool = True,
        offline: OfflineBound | None = None,
    ) -> None:
        self.server = server
        self.cluster_id = cluster_id
        # Public keys only (refreshed by the heartbeat loop): this server checks tokens, it cannot mint them.
        self.token_keys = token_keys
        self.capacity = capacity
        self.models = models
        self.sessions: dict[str, ServedSession] = {}
        self._opening = 0
        self._host_factory: HostFactory = host_factory or open_session
        self.security = security
        # The one value token-less requests get; recognised by identity, not by the user name it carries.
        self._anonymous = tokens.TokenClaims("session", cluster_id, server, ANONYMOUS)
        self._background: set[asyncio.Task[None]] = set()
        # None: an expired token is always refused (a registry without a heartbeat loop, as in unit tests).
        self.offline = offline
        # Host sessions this server holds outside ``sessions``: those of its pools not handed out.
        self.held_elsewhere: Callable[[], int] = lambda: 0
        # Metrics hooks (hostgate/metrics.py, set by `hostgate server`): (model, outcome, seconds) of each open and
        # each call that drives a host; outcome "ok" or the error code.
        self.opened: Callable[[str, str, float], None] | None = None
        self.called: Callable[[str, str, float], None] | None = None

    def open_by_model(self) -> dict[str, int]:
        """Sessions handed out, per model (what ``hostgate_sessions_open`` shows)."""
        counts: dict[str, int] = {}
        for session in self.sessions.values():
            counts[session.model] = counts.get(session.model, 0) + 1
        return counts

    @property
    def active(self) -> int:
        """Sessions open or being opened, pooled ones included (what capacity and heartbeats count)."""
        return len(self.sessions) + self._opening + self.held_elsewhere()

    def claims(self, token: str | None) -> tokens.TokenClaims:
        """Who the caller is: the token's claims, or ``anonymous`` for no token while security is off."""
        if token is None:
            if self.security:
                raise AuthenticationFailed("this request needs the token the management cluster gave you")
            return self._anonymous
        return self.token_keys.verify(
            token,
            kind="session",
            cluster_id=self.cluster_id,
            server=self.server,
            on_expired=self.offline.check if self.offline is not None else None,
        )

    async def open(
        self, claims: tokens.TokenClaims, model: str, variables: Mapping[str, object] | None = None
    ) -> ServedSession:
        """Open a session on ``model``: the host is connected and signed on when this returns."""
        if claims.model and model and claims.model != model:
            raise NotAuthorized(f"the token is for model {claims.model!r}, not {model!r}")
        name = model or claims.model
        if not name:
            raise UsageError("name the model to open a session on (field 'model')")
        deployed = await self.models.get_async(name)
        if self.active >= self.capacity:
            raise UsageError(
                f"session server {self.server} is at its capacity of {self.capacity} sessions",
                hint="Connect via the domain again: routing will pick a server with room.",
            )
        runtime = ModelSession(deployed.model, self._host_factory(deployed.model.host), variables)
        self._opening += 1
        started = time.perf_counter()
        outcome = "ok"
        try:
            await runtime.open()
        except HostgateError as exc:
            outcome = exc.code
            raise
        except BaseException:
            outcome = "error"
            raise
        finally:
            self._opening -= 1
            if self.opened is not None:
                self.opened(name, outcome, time.perf_counter() - started)
        now = time.time()
        session = ServedSession(
            uuid.uuid4().hex, claims.user, name, deployed.digest, claims.domain, now, runtime, now
        )
        session.anonymous = claims is self._anonymous
        self.sessions[session.id] = session
        log.info("session %s opened for %s on model %s (%s)", session.id, session.user, name, deployed.digest)
        return session

    def get(self, claims: tokens.TokenClaims, session_id: str) -> ServedSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id} on session server {self.server}")
        if session.user != claims.user or session.anonymous != (claims is self._anonymous):
            raise NotAuthorized("the session belongs to another user")
        return session

    async def call(
        self, claims: tokens.TokenClaims, session_id: str, action: Callable[[ModelSession], Awaitable[T]]
    ) -> T:
        """Run ``action`` on the session, alone; a host that is gone afterwards closes the session."""
        session = self.get(claims, session_id)
        async with session.lock:
            if self.sessions.get(session_id) is not session:
                raise SessionNotFound(f"session {session_id} was closed meanwhile")
            started = time.perf_counter()
            try:
                result = await action(session.runtime)
            except HostgateError as exc:
                if self.called is not None:
                    self.called(session.model, exc.code, time.perf_counter() - started)
                if not session.runtime.connected:
                    await self._drop(session, f"the host connection is gone ({exc})")
                raise
            except BaseException:
                if self.called is not None:
                    self.called(session.model, "error", time.perf_counter() - started)
                if not session.runtime.connected:
                    await self._drop(session, "the host connection is gone")
                raise
            if self.called is not None:
                self.called(session.model, "ok", time.perf_counter() - started)
            session.operations += 1
            session.last_used = time.time()
            return result

    async def close(self, claims: tokens.TokenClaims, session_id: str) -> None:
        """Sign off (best effort) and disconnect; waits for a call in progress to end first."""
        session = self.get(claims, session_id)
        async with session.lock:
            if self.sessions.pop(session_id, None) is None:
                raise SessionNotFound(f"session {session_id} was closed meanwhile")
            if session.release is not None:
                await session.release(True)
                log.info("session %s returned to pool %s", session_id, session.pool)
                return
            await session.runtime.close()
        log.info("session %s closed", session_id)

    async def end(self, session_id: str) -> ServedSession:
        """End any session (an Administrator's ``hostgate sessions end``, checked by the caller): like
        ``close`` without the owner check; a pooled session is given back to its pool as unhealthy (replaced)."""
        session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id} on session server {self.server}")
        async with session.lock:  # a call in progress ends first
            if self.sessions.pop(session_id, None) is None:
                raise SessionNotFound(f"session {session_id} was closed meanwhile")
            if session.release is not None:
                await session.release(False)
            else:
                await session.runtime.close()
        log.info("session %s of %s ended by an administrator", session_id, session.user)
        return session

    def set_security(self, on: bool) -> asyncio.Task[None] | None:
        """Switch VHI's security setting at once. Switched on, the sessions opened without a token are signed
        off in the background (no request without a token reaches them any more, and they would hold host
        connections and capacity); the task doing it is returned (``None``: nothing to close)."""
        self.security = on
        anonymous = [s for s in self.sessions.values() if s.anonymous] if on else []
        if not anonymous:
            return None
        task = asyncio.get_running_loop().create_task(self._close_anonymous(anonymous))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _close_anonymous(self, sessions: list[ServedSession]) -> None:
        for session in sessions:
            async with session.lock:  # a call in progress ends first
                if self.sessions.pop(session.id, None) is not None:
                    await session.runtime.close()
        log.warning("security switched on: closed %d session(s) opened without a token", len(sessions))

    async def close_all(self) -> None:
        """Sign every session off (the server is stopping)."""
        sessions = [s for s in self.sessions.values() if s.release is None]  # pooled: their pool signs off
        self.sessions.clear()
        await asyncio.gather(*(s.runtime.close() for s in sessions), return_exceptions=True)
        if sessions:
            log.info("closed %d session(s) on shutdown", len(sessions))

    async def _drop(self, session: ServedSession, why: str) -> None:
        self.sessions.pop(session.id, None)
        if session.release is not None:
            await session.release(False)  # its pool replaces it
        else:
            await session.runtime.close()
        log.warning("session %s closed: %s", session.id, why)
