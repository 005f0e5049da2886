"""Model deployment on this session server through a management session (VHI's activatemodel/deactivatemodel).

KB 7021563: "when deploying models, use the specific individual session server system names (not the cluster
common alias name)" and "the session server contacts the management server for authentication and
authorization". So ``hostgate activatemodel --server THIS-SERVER`` sends the model here, with the caller's
credentials, and this server:

1. validates the whole model (refused whole, every issue listed, nothing changed);
2. establishes a management session through ITS configured management alias (its ``ClusterClient``: the alias
   re-resolved, members dialled staggered, TLS verified with the cluster CA, this server's registered
   certificate presented) and forwards the caller's credentials; the member checks the certificate and that the
   caller holds Developer for this server or model, and answers a deploy token bound to cluster, server, user,
   model and action (and the model text's digest). Any failure to get there is VHI's ``[HG-3852] Deployment of model failed: Cannot establish
   management session`` with the cause: the alias does not resolve, no member answered (each address's fault,
   another cluster's members included), or the login (the user's, or this server's certificate) was refused;
3. checks that token with its own public keys, as it checks session tokens: a token of another cluster or for
   another server is ``[HG-3852] Deployment of model failed: Token binding is invalid``, naming what the token
   was bound to and which server checked it; one granted for another action or model text is HG-7260. A key
   it does not know yet (a rotation its heartbeat has not brought) makes it fetch the key set once first;
4. activates the model: one rename in its models directory (models/library.py). No restart: open sessions keep
   the model they started with, new sessions get the new one; a withdrawal removes the file, for new sessions only;
5. records the deployment in the cluster with the token; if that fails the activation is rolled back (the bytes
   served before, or no file) and the answer says so (HG-6201): served and recorded, or neither.

Deployments of one model on this server run one at a time (a lock per name), so a rollback never undoes another
deployment's file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from hostgate import tokens
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import (
    AuthenticationFailed,
    BodyTooLarge,
    CertificateError,
    DeploymentNotRecorded,
    DirectoryUnavailable,
    HostgateError,
    ManagementSessionError,
    ModelError,
    ModelIssue,
    NamingError,
    NoMemberAnswered,
    ServerCertificateRefused,
    SessionServerNotFound,
    TooManyAttempts,
    WrongCluster,
)
from hostgate.messages import (
    API,
    DeployAuthorize,
    DeployGrant,
    DeploymentAnswer,
    DeploymentReport,
)
from hostgate.models.library import (
    activate_text,
    model_file_name,
    restore_model,
    text_digest,
    withdraw_model,
)
from hostgate.models.loader import load_model
from hostgate.session.registry import SessionRegistry

__all__ = ["MAX_MODEL_TEXT", "Credentials", "DeployGate", "Deployer", "forwarded_credentials"]

log = logging.getLogger("hostgate.session.deploy")

# A model is a text file of a few kilobytes to a few hundred; the body cap of the face applies first.
MAX_MODEL_TEXT = 1_048_576
FAILED = "Deployment of model failed"
_ESTABLISH_HINT = (
    "Check this session server's [session] management alias (`hostgate doctor ALIAS` from this host): it must "
    "name this cluster's management members (KB 7021563), and the caller's user name and password."
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The caller's credentials as they came (forwarded to the cluster, never checked or kept here)."""

    user: str | None = None
    password: str | None = None
    bearer: str | None = None

    @property
    def who(self) -> str:
        return f"user {self.user!r}" if self.user is not None else "the login token's user"


def forwarded_credentials(authorization: str) -> Credentials:
    """The ``Authorization`` header's credentials: HTTP Basic, or a Bearer login token passed on as it is."""
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credentials(bearer=value)
    if scheme.lower() == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AuthenticationFailed("the Authorization header is malformed") from None
        if sep:
            return Credentials(user=user, password=password)
        raise AuthenticationFailed("the Authorization header is malformed")
    raise AuthenticationFailed(
        "deploying a model needs your credentials (HTTP Basic, or a login token): this server forwards them to "
        "its management cluster, which decides"
    )


ClientFactory = Callable[[Credentials | None], ClusterClient]


class DeployGate:
    """Deployments run together; a report of the models held (session/model_report.py) runs alone.

    A report reads the models directory and then sends it: a deployment recorded between the two would be
    overwritten with what the directory held before it. So a report waits until no deployment runs, and
    deployments wait for a running report (one HTTPS call)."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._deploying = 0
        self._reporting = False

    @contextlib.asynccontextmanager
    async def deploying(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._reporting)
            self._deploying += 1
        try:
            yield
        finally:
            async with self._changed:
                self._deploying -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def reporting(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._reporting and not self._deploying)
            self._reporting = True
        try:
            yield
        finally:
            async with self._changed:
                self._reporting = False
                self._changed.notify_all()


class Deployer:
    """Activates and withdraws models of this session server through management sessions.

    ``client_for(credentials)`` makes a client of the management cluster through this server's own alias,
    presenting this server's certificate (``None``: the certificate alone, for the token-key fetch);
    ``on_token_keys`` installs a fetched public key set (the heartbeat's own hook).
    """

    def __init__(
        self,
        registry: SessionRegistry,
        client_for: ClientFactory,
        alias: str,
        *,
        on_token_keys: Callable[[tuple[tokens.PublicKey, ...]], None] | None = None,
    ) -> None:
        self._registry = registry
        self._client_for = client_for
        self._alias = alias
        self._on_token_keys = on_token_keys
        self._locks: dict[str, asyncio.Lock] = {}
        self.gate = DeployGate()

    @property
    def _directory(self) -> Path:
        return self._registry.models.directory

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # --- the two actions ------------------------------------------------------------------------------------

    async def deploy(self, authorization: str, name: str, text: str, source: str = "") -> DeploymentAnswer:
        credentials = forwarded_credentials(authorization)
        if len(text.encode()) > MAX_MODEL_TEXT:
            raise BodyTooLarge(f"the model text is larger than {MAX_MODEL_TEXT} bytes")
        model_file_name(name)  # ModelError for a name that cannot be a file here
        model = await asyncio.to_thread(load_model, text)  # the whole model: every issue, nothing changed
        if model.name != name:
            raise ModelError(
                f"the model is named {model.name!r}, but was sent as {name!r}",
                issues=[ModelIssue("name", f"is {model.name!r}; deploy it as {model.name!r}")],
            )
        digest = text_digest(text)
        async with self.gate.deploying(), self._lock(name):
            client = self._client(credentials)
            body = DeployAuthorize(name, "deploy", source, digest=digest)
            grant = await self._session(client, body, credentials)
            await self._check_token(grant.token, name, "deploy", digest)
            previous = await asyncio.to_thread(activate_text, text, name, self._directory)
            report = DeploymentReport(grant.token, digest, source)
            try:
                answer = await client.call(API.deployment_record, report, name=self._server, model=name)
            except BaseException as exc:
                raise self._rolled_back(exc, name, previous, "deployment") from None
        rec = answer.payload
        log.info("model %s (%s) deployed by %s, recorded by %s", name, digest, rec.deployed_by, answer.member)
        return DeploymentAnswer(
            self._server,
            name,
            "deploy",
            digest,
            previous is not None,
            rec.deployed_by,
            rec.recorded_by,
            rec.deployed_at,
        )

    async def withdraw(self, authorization: str, name: str, source: str = "") -> DeploymentAnswer:
        credentials = forwarded_credentials(authorization)
        model_file_name(name)
        async with self.gate.deploying(), self._lock(name):
            client = self._client(credentials)
            grant = await self._session(client, DeployAuthorize(name, "withdraw", source), credentials)
            await self._check_token(grant.token, name, "withdraw")
            previous = await asyncio.to_thread(withdraw_model, name, self._directory)
            try:
                answer = await client.call(
                    API.deployment_withdrawn, DeploymentReport(grant.token, "", source), name=self._server,
                    model=name,
                )  # fmt: skip
            except BaseException as exc:
                raise self._rolled_back(exc, name, previous, "withdrawal") from None
        digest = text_digest(previous.decode("utf-8", "replace")) if previous is not None else ""
        log.info("model %s withdrawn by %s (recorded by %s)", name, grant.user, answer.member)
        return DeploymentAnswer(
            self._server, name, "withdraw", digest, previous is not None, grant.user, answer.member, 0.0
        )

    # --- the management session -----------------------------------------------------------------------------

    @property
    def _server(self) -> str:
        return self._registry.server

    def _client(self, credentials: Credentials | None) -> ClusterClient:
        try:
            return self._client_for(credentials)
        except CertificateError as exc:
            raise self._cannot_establish(
                f"this session server's CA or certificate cannot be used ({exc.message})"
            ) from None

    def _cannot_establish(self, cause: str) -> ManagementSessionError:
        return ManagementSessionError(
            f"{FAILED}: Cannot establish management session: {cause}", hint=_ESTABLISH_HINT
        )

    async def _session(
        self, client: ClusterClient, body: DeployAuthorize, credentials: Credentials
    ) -> DeployGrant:
        """The management session: a deploy token for ``body`` (coded causes when there is none)."""
        alias = self._alias
        try:
            return (await client.call(API.deploy_authorize, body, name=self._server)).payload
        except NamingError as exc:
            raise self._cannot_establish(f"the management alias {alias!r} does not resolve ({exc})") from None
        except WrongCluster as exc:
            raise self._cannot_establish(
                f"the management alias {alias!r} names servers of another cluster, not of cluster "
                f"{self._registry.cluster_id} ({exc.message})"
            ) from None
        except NoMemberAnswered as exc:
            raise self._cannot_establish(
                f"no management member answered through the alias {alias!r} ({exc.message})"
            ) from None
        except (AuthenticationFailed, TooManyAttempts, DirectoryUnavailable) as exc:
            raise self._cannot_establish(
                f"the management cluster refused the login of {credentials.who} ({exc})"
            ) from None
        except (ServerCertificateRefused, SessionServerNotFound) as exc:
            raise self._cannot_establish(
                f"the management cluster refused this session server {self._server!r} ({exc})"
            ) from None

    async def _check_token(self, token: str, model: str, action: str, digest: str = "") -> tokens.TokenClaims:
        """The deploy token checked with this server's own public keys; VHI's "Token binding is invalid" when
        it is not this cluster's, for this server and this model; HG-7260 when it was granted for another
        action or model text (the member that records checks the same: either refusal changes nothing)."""
        if _kid(token) not in {k.kid for k in self._registry.token_keys.keys}:
            # A key rotated since this server's last heartbeat, maybe: fetch the set once (from the cluster this
            # server's alias and CA name, as heartbeats do) before deciding.
            await self._refresh_keys()
        keys = self._registry.token_keys
        try:
            claims = keys.verify(
                token, kind="deploy", cluster_id=self._registry.cluster_id, server=self._server
            )
        except ManagementSessionError as exc:
            raise ManagementSessionError(
                f"{FAILED}: {exc.message}; {_bound(token)}; checked by session server {self._server!r} of "
                f"cluster {self._registry.cluster_id}",
                hint="The management member that answered this server's alias is not of this server's cluster, "
                "or this server is registered under another name there: check its [session] management alias "
                "and CA (`hostgate doctor ALIAS`), and `hostgate servers`.",
            ) from None
        if claims.model != model:
            raise ManagementSessionError(
                f"{FAILED}: Token binding is invalid: {_bound(token)}, not model {model!r}; checked by session "
                f"server {self._server!r} of cluster {self._registry.cluster_id}"
            )
        tokens.check_deploy_grant(claims, action, digest, checked_by=f"session server {self._server!r}")
        return claims

    async def _refresh_keys(self) -> None:
        client = self._client(None)
        if client.cluster_id != self._registry.cluster_id:
            # This server's CA names another cluster than its registration: keys fetched with it would make it
            # accept that cluster's tokens (and refuse its own cluster's), so none are.
            log.warning(
                "token keys not refreshed: the CA names cluster %s, this server is registered with %s",
                client.cluster_id,
                self._registry.cluster_id,
            )
            return
        try:
            answer = await client.call(API.token_keys, None)
        except HostgateError as exc:
            log.warning("token keys not refreshed before checking a deploy token: %s", exc)
            return
        if self._on_token_keys is not None:
            self._on_token_keys(answer.payload.keys)
        else:
            self._registry.token_keys = tokens.KeySet(answer.payload.keys)
        log.info("token keys refreshed from %s to check a deploy token", answer.member)

    def _rolled_back(self, exc: BaseException, name: str, previous: bytes | None, what: str) -> BaseException:
        """Undo the activation (whatever stopped the record: a coded error, a cancelled request) and say why.

        On the event loop, not a worker thread: one small file written and renamed, and a cancelled task could
        not await the thread. Nothing half-applied is left behind either way."""
        restore_model(name, self._directory, previous)
        if not isinstance(exc, HostgateError):
            return exc
        return self._not_recorded(exc, name, previous, what)

    def _not_recorded(
        self, exc: HostgateError, name: str, previous: bytes | None, what: str
    ) -> DeploymentNotRecorded:
        back = (
            f"it serves the earlier version ({text_digest(previous.decode('utf-8', 'replace'))}) again"
            if previous is not None
            else f"it serves no model {name!r} again"
        )
        unknown = isinstance(exc, NoMemberAnswered)
        outcome = " (no member answered: whether the cluster stored the record is unknown)" if unknown else ""
        return DeploymentNotRecorded(
            f"{FAILED}: the management cluster did not record the {what} of {name!r} on {self._server!r} "
            f"({exc}){outcome}; the activation was rolled back: {back}"
        )


def _claims(token: str) -> dict[str, Any]:
    """The token's claims WITHOUT checking its signature: only to say what a refused token was bound to."""
    try:
        found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return found


def _kid(token: str) -> str:
    try:
        return str(jwt.get_unverified_header(token).get("kid", ""))
    except jwt.PyJWTError:
        return ""


def _bound(token: str) -> str:
    c = _claims(token)
    if not c:
        return "the token cannot be read"
    return (
        f"the token was bound to cluster {c.get('cid', '?')}, session server {c.get('srv', '?')!r}, user "
        f"{c.get('sub', '?')!r}, model {c.get('mdl', '?')!r}"
    )
