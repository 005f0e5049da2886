"""How the console, on a member, asks session servers: their live sessions, a session's screen, ending one,
a model's catalog, and activating or withdrawing a model (the Sessions and Models pages, issue #20).

The same paths ``hostgate sessions`` and ``hostgate activatemodel`` take (why: management/session_admin.py),
with the member in the CLI's place: the page's own profile check is done first, here on the member (where the
profiles are), then

- for sessions and screens the member mints a one-minute ``sessions-admin`` token bound to that one server
  (``mint_sessions_admin``) and asks the server with it; the token never leaves this process;
- for a model's catalog (its description) it asks for a direct session token as the console's user
  (``DomainService.grant_direct``: the User profile on the model decides, as for the Web Services Explorer);
- for activating or withdrawing a model it sends the session server a short-lived login token of the console's
  user (``CliTokens.mint``, 5 minutes), which the server forwards to the cluster like any caller's credentials:
  the cluster's deploy check (Developer on the server or the model) decides and records, as for the CLI.

Every call is over TLS verified with the cluster CA, with a short deadline: a session server that does not
answer is :class:`~hostgate.errors.ConsoleServerSilent` (HG-3340), which the pages show next to that server
instead of failing.
"""

from __future__ import annotations

import ssl

from hostgate.connector.admin_sessions import Gathered, ask_session_server, gather_sessions
from hostgate.errors import ConsoleServerSilent, SessionServerNotFound
from hostgate.management.cli_tokens import MIN_TTL, CliTokens
from hostgate.management.records import SessionServerRecord
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
from hostgate.management.session_admin import mint_sessions_admin
from hostgate.messages import (
    SESSION,
    Closed,
    DeploymentAnswer,
    ModelUpload,
    ScreenView,
    SessionList,
    decode_answer,
    encode,
)
from hostgate.messages.catalog import ModelCatalog

__all__ = ["Gathered", "SessionServers"]

# Long enough for a loaded session server's answer, short enough that a page with a silent server still comes
# back within its refresh period or two.
TIMEOUT = 3.0
# A model activation validates the model and records it in the cluster through the server's own alias.
DEPLOY_TIMEOUT = 30.0
_CATALOG_CACHE = 256


class SessionServers:
    """The console's client of the session servers (one per console; see the module doc)."""

    def __init__(self, service: ManagementService, *, timeout: float = TIMEOUT) -> None:
        self._service = service
        self._timeout = timeout
        self._tls: ssl.SSLContext | None = None
        self._logins = CliTokens(
            service.domains.token_keys,
            service.cache,
            service.settings.server.cluster_id,
            service.auth.principal,
        )
        self._catalogs: dict[tuple[str, str], ModelCatalog] = {}

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            settings = self._service.settings
            self._tls = ssl.create_default_context(cafile=str(settings.path(settings.tls.ca_file)))
        return self._tls

    async def _request(
        self,
        server: str,
        url: str,
        method: str,
        path: str,
        authorization: str,
        *,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> bytes:
        return await ask_session_server(
            self._context(), server, url, method, path, authorization, timeout=timeout or self._timeout,
            silent=ConsoleServerSilent, body=body,
        )  # fmt: skip

    async def _admin(self, who: Principal, server: str, method: str, path: str) -> bytes:
        grant = mint_sessions_admin(
            self._service.domains, self._service.settings.server.cluster_id, who.name, server
        )
        return await self._request(server, grant.url, method, path, f"Bearer {grant.token}")

    # --- sessions ---------------------------------------------------------------------------------------------

    async def sessions(self, who: Principal, server: str) -> SessionList:
        raw = await self._admin(who, server, "GET", SESSION.admin_sessions.path)
        listing: SessionList = decode_answer(raw, SessionList, f"session server {server}")
        return listing

    async def gather(self, who: Principal, servers: list[str]) -> list[Gathered]:
        """Every server of ``servers`` asked at once; one that fails is reported, not raised."""
        return await gather_sessions(
            servers, lambda name: self._admin(who, name, "GET", SESSION.admin_sessions.path)
        )

    async def screen(self, who: Principal, server: str, session_id: str) -> ScreenView:
        raw = await self._admin(who, server, "GET", SESSION.admin_screen.url_path(id=session_id))
        view: ScreenView = decode_answer(raw, ScreenView, f"session server {server}")
        return view

    async def end(self, who: Principal, server: str, session_id: str) -> Closed:
        raw = await self._admin(who, server, "DELETE", SESSION.admin_end.url_path(id=session_id))
        closed: Closed = decode_answer(raw, Closed, f"session server {server}")
        return closed

    # --- models -----------------------------------------------------------------------------------------------

    async def catalog(self, who: Principal, server: str, model: str, digest: str) -> ModelCatalog:
        """``model``'s catalog as ``server`` serves it (cached by digest: a redeploy changes the digest).

        The token is asked for even on a cache hit, as ``ClusterCatalog`` does: that is where the User profile
        on the model is checked (from memory), so the cache never shows one user what another may read."""
        grant = self._service.domains.grant_direct(who, server, model)
        cached = self._catalogs.get((model, digest))
        if cached is not None:
            return cached
        raw = await self._request(
            server, grant.url, "GET", SESSION.catalog.url_path(name=model), f"Bearer {grant.token}"
        )
        found: ModelCatalog = decode_answer(raw, ModelCatalog, f"session server {server}")
        if len(self._catalogs) >= _CATALOG_CACHE:
            self._catalogs.pop(next(iter(self._catalogs)))
        self._catalogs[(model, digest)] = found
        return found

    def _server(self, name: str) -> SessionServerRecord:
        record = self._service.domains.servers().get(name)
        if record is None:
            raise SessionServerNotFound(f"no session server named {name!r}")
        return record

    def _login(self, who: Principal) -> str:
        bearer, _ = self._logins.mint(who, MIN_TTL)
        return f"Bearer {bearer}"

    async def deploy(self, who: Principal, server: str, model: str, text: str) -> DeploymentAnswer:
        record = self._server(server)
        body = encode(ModelUpload(text))
        raw = await self._request(
            server, record.url, "PUT", SESSION.deploy.url_path(name=model), self._login(who), body=body,
            timeout=DEPLOY_TIMEOUT,
        )  # fmt: skip
        answer: DeploymentAnswer = decode_answer(raw, DeploymentAnswer, f"session server {server}")
        return answer

    async def withdraw(self, who: Principal, server: str, model: str) -> DeploymentAnswer:
        record = self._server(server)
        raw = await self._request(
            server, record.url, "DELETE", SESSION.withdraw.url_path(name=model), self._login(who),
            timeout=DEPLOY_TIMEOUT,
        )  # fmt: skip
        answer: DeploymentAnswer = decode_answer(raw, DeploymentAnswer, f"session server {server}")
        return answer
