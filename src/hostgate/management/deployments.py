"""Model deployments through a management session: the cluster's side (issue #17, KB 7021563).

"When deploying models, the session server contacts the management server for authentication and
authorization." A session server asked to activate a model (``hostgate activatemodel --server S``) calls
:meth:`DeploymentService.authorize` through its own management alias, presenting its registered TLS certificate
and forwarding the caller's credentials: the caller must hold the Developer profile for that server and model
(``Access.require``). The answer is a short-lived **deploy token** (``typ`` ``deploy``) bound to the cluster id,
the server, the user, the model and the action (and, for a deployment, the digest of the model text), signed like session tokens (tokens.py), which the session server checks with
its own public keys: a token of another cluster or for another server is "Token binding is invalid". After
activating the model the server records it (:meth:`record` / :meth:`withdraw`) with the same token, which is
what lets a certificate alone record nothing it was not authorised for; a token granted to deploy cannot
withdraw, a withdraw token cannot record, and a token naming a digest records that text only (HG-7260).

Records live at ``/hostgate/deployments/<server>/<model>`` (in every member's in-memory copy, so ``hostgate
model list`` reads memory); each record and withdrawal is also an audit entry (``AuditTrail.record``).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from hostgate import tokens
from hostgate.errors import ManagementSessionError, NotAuthorized, StoreUnavailable, UsageError
from hostgate.management.access import Access, Profile
from hostgate.management.audit import AuditTrail
from hostgate.management.cache import ConfigCache
from hostgate.management.domains import DEPLOYMENTS_PREFIX, DomainService
from hostgate.management.records import CLUSTER_KEY, ClusterInfo, _Record
from hostgate.management.security import Principal
from hostgate.messages import DeployGrant, DeploymentView
from hostgate.store.base import Store
from hostgate.store.guard import note_unseen

__all__ = [
    "DEPLOYMENTS_PREFIX",
    "DEPLOY_ACTIONS",
    "DEPLOY_TOKEN_TTL",
    "DeploymentRecord",
    "DeploymentService",
    "deployment_key",
]

log = logging.getLogger("hostgate.management.deployments")

# Long enough for a session server on a busy machine to validate, activate and record (a few seconds at
# most); short, because a deploy token lets its holder record one deployment of one model on one server.
DEPLOY_TOKEN_TTL = 120.0
DEPLOY_ACTIONS = ("deploy", "withdraw")
_DIGEST = re.compile(r"[0-9a-f]{16}\Z")
# The session server's rule for a deployed model's file name (models/library.py, which management may not
# import): the name becomes NAME.yaml in its models directory.
_MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\Z")


def deployment_key(server: str, model: str) -> str:
    return f"{DEPLOYMENTS_PREFIX}{server}/{model}"


@dataclass(frozen=True, slots=True)
class DeploymentRecord(_Record):
    """A model a session server serves: its digest, who deployed it, when, and which member recorded it."""

    server: str
    model: str
    digest: str
    deployed_by: str
    deployed_at: float
    recorded_by: str

    def view(self) -> DeploymentView:
        return DeploymentView(
            self.server, self.model, self.digest, self.deployed_by, self.deployed_at, self.recorded_by
        )


def _check_model_name(model: str) -> None:
    if not _MODEL_NAME.match(model) or model.endswith("."):
        raise UsageError(
            f"model name {model[:120]!r} cannot be deployed: use letters, digits, '_', '.' or '-' (at most 100)"
        )


class DeploymentService:
    """Deploy tokens, deployment records and their listing, for the API face.

    Guarantees:

    - ``authorize`` answers a token only to the session server whose registered certificate the request
      presented, for a caller holding Developer (or Administrator) for that server or model; a refusal is
      audited and changes nothing.
    - ``record``/``withdraw`` accept only a deploy token of this cluster, for that server and model, that has
      not expired: a certificate alone cannot record anything, and a token cannot record another model. The
      token must also have been granted for that action (and, when it names a digest, for that model text):
      a mismatch is HG-7260 and changes nothing.
    - Reads (``list``) come from this member's in-memory copy.
    """

    def __init__(
        self,
        store: Store,
        cache: ConfigCache,
        domains: DomainService,
        access: Access,
        audit: AuditTrail,
        member_name: str,
        *,
        visibility_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.cache = cache
        self.domains = domains
        self.access = access
        self.audit = audit
        self.member_name = member_name
        self._visibility_timeout = visibility_timeout

    def _cluster_id(self) -> str:
        info = self.cache.decode(CLUSTER_KEY, ClusterInfo.decode)
        if info is None:
            raise StoreUnavailable("this member has not loaded the cluster's configuration yet")
        return info.id

    # --- the management session ---------------------------------------------------------------------------

    def authorize(
        self,
        principal: Principal,
        server: str,
        cert_pem: str | None,
        model: str,
        action: str,
        source: str,
        digest: str = "",
    ) -> DeployGrant:
        record = self.domains.authenticate_server(server, cert_pem)
        if action not in DEPLOY_ACTIONS:
            raise UsageError(f"field 'action': {action!r} is not one of {', '.join(DEPLOY_ACTIONS)}")
        if digest and (action != "deploy" or not _DIGEST.match(digest)):
            raise UsageError(
                f"field 'digest': {digest[:40]!r} is not 16 lower-case hex digits of a model text to deploy"
            )
        _check_model_name(model)
        try:
            self.access.require(principal, Profile.DEVELOPER, model=model, server=server)
        except NotAuthorized as exc:
            self.audit.record(
                actor=principal.name,
                action=f"model.{action}",
                target=f"{server}/{model}",
                source=source,
                outcome=exc.code,
            )
            raise NotAuthorized(
                f"Deployment of model failed: {exc.message}",
                hint="Deploying needs the Developer profile (or Administrator) for the session server or the "
                "model; ask an Administrator of the cluster for it.",
            ) from None
        cluster_id = self._cluster_id()
        expires = time.time() + DEPLOY_TOKEN_TTL
        token = self.domains.token_keys.signer().mint(
            tokens.TokenClaims(
                kind="deploy",
                cluster_id=cluster_id,
                server=record.name,
                user=principal.name,
                model=model,
                expires_at=expires,
                action=action,
                digest=digest,
            )
        )
        log.info("deploy token for %s of model %s on %s granted to %s", action, model, server, principal.name)
        return DeployGrant(token, expires, cluster_id, record.name, principal.name, model, action, digest)

    def _claims(
        self, server: str, cert_pem: str | None, model: str, token: str, action: str, digest: str = ""
    ) -> tokens.TokenClaims:
        self.domains.authenticate_server(server, cert_pem)
        cluster_id = self._cluster_id()
        claims = tokens.KeySet(self.domains.token_keys.public()).verify(
            token, kind="deploy", cluster_id=cluster_id, server=server
        )
        if claims.model != model:
            raise ManagementSessionError(
                f"Token binding is invalid: the deploy token is for model {claims.model!r}, not {model!r} "
                f"(checked by member {self.member_name})"
            )
        tokens.check_deploy_grant(claims, action, digest, checked_by=f"member {self.member_name}")
        return claims

    async def record(
        self, server: str, cert_pem: str | None, model: str, token: str, digest: str, source: str
    ) -> DeploymentRecord:
        """Record that ``server`` now serves ``model`` (``digest``), as the user the deploy token names."""
        if not _DIGEST.match(digest):
            raise UsageError(f"field 'digest': {digest[:40]!r} is not 16 lower-case hex digits")
        claims = self._claims(server, cert_pem, model, token, "deploy", digest)
        record = DeploymentRecord(server, model, digest, claims.user, time.time(), self.member_name)
        revision = await self.store.put(deployment_key(server, model), record.encode())
        if not await self.cache.wait_for_revision(revision, self._visibility_timeout):
            note_unseen(revision)
        self.audit.record(
            actor=claims.user,
            action="model.deploy",
            target=f"{server}/{model}",
            source=source,
            detail={"digest": digest},
        )
        log.info("model %s (%s) deployed on %s by %s", model, digest, server, claims.user)
        return record

    async def withdraw(self, server: str, cert_pem: str | None, model: str, token: str, source: str) -> None:
        """Record that ``server`` no longer serves ``model`` (no record is no error: it may have been deployed
        offline with ``hostgate model deploy --data-dir``)."""
        claims = self._claims(server, cert_pem, model, token, "withdraw")
        key = deployment_key(server, model)
        kv = await self.store.get(key)
        if kv is not None:
            await self.store.compare_and_delete(key, kv.mod_revision)
            if not await self.cache.wait_until(lambda: self.cache.get(key) is None, self._visibility_timeout):
                note_unseen(kv.mod_revision + 1)
        self.audit.record(
            actor=claims.user, action="model.withdraw", target=f"{server}/{model}", source=source
        )
        log.info("model %s withdrawn from %s by %s", model, server, claims.user)

    # --- reads ----------------------------------------------------------------------------------------------

    def list(self, *, server: str | None = None, domain: str | None = None) -> list[DeploymentRecord]:
        """Recorded deployments (from memory), sorted by server and model; ``domain`` keeps its servers'."""
        wanted: set[str] | None = None
        if domain:
            wanted = {m.server for m in self.domains.domain(domain).members}
        found = []
        for key, _ in self.cache.items(DEPLOYMENTS_PREFIX):
            rec = self.cache.decode(key, DeploymentRecord.decode)
            if rec is None or (server and rec.server != server):
                continue
            if wanted is not None and rec.server not in wanted:
                continue
            found.append(rec)
        return sorted(found, key=lambda r: (r.server, r.model))
