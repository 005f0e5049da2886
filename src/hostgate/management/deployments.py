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

A session server also reports the models it holds (:meth:`reconcile`, its certificate only), so that a model put
in its data directory offline (``hostgate model deploy --data-dir``, which contacts no server) is recorded too,
as deployed by :data:`OFFLINE_DEPLOYER`: the web services and the console list what the cluster records, and
the server serves what its directory holds whatever the cluster says, so the record follows the directory.

Records live at ``/hostgate/deployments/<server>/<model>`` (in every member's in-memory copy, so ``hostgate
model list`` reads memory); each record and withdrawal is also an audit entry (``AuditTrail.record``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hostgate import tokens
from hostgate.errors import (
    CompareFailed,
    ManagementSessionError,
    NotAuthorized,
    StoreUnavailable,
    UsageError,
)
from hostgate.management.access import Access, Profile
from hostgate.management.audit import AuditTrail
from hostgate.management.cache import ConfigCache
from hostgate.management.domains import DEPLOYMENTS_PREFIX, DomainService
from hostgate.management.records import CLUSTER_KEY, ClusterInfo, _Record
from hostgate.management.security import Principal
from hostgate.messages import DeployGrant, DeploymentView, HeldModel, HeldModelsAnswer
from hostgate.store.base import Store
from hostgate.store.guard import note_unseen

__all__ = [
    "DEPLOYMENTS_PREFIX",
    "DEPLOY_ACTIONS",
    "DEPLOY_TOKEN_TTL",
    "OFFLINE_DEPLOYER",
    "DeploymentRecord",
    "DeploymentService",
    "deployment_key",
]

log = logging.getLogger("hostgate.management.deployments")

# Long enough for a session server on a busy machine to validate, activate and record (a few seconds at
# most); short, because a deploy token lets its holder record one deployment of one model on one server.
DEPLOY_TOKEN_TTL = 120.0
DEPLOY_ACTIONS = ("deploy", "withdraw")
# ``deployed_by`` of a model a session server reported holding with no deployment through the cluster (no user
# deployed it through a management session; parentheses, so it is never an account's name).
OFFLINE_DEPLOYER = "(offline)"
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

    async def reconcile(
        self, server: str, cert_pem: str | None, held: Sequence[HeldModel], source: str
    ) -> HeldModelsAnswer:
        """Make ``server``'s records what it holds: a model with no record (or a record of another digest) is
        recorded as deployed offline, a record of a model it no longer holds is removed; a record of the same
        digest is kept as it is (who deployed it, when). Refused whole (nothing changes) when a name or digest
        is malformed. The server sends this only while none of its deployments runs (session/model_report.py),
        so it never overwrites a deployment being recorded."""
        self.domains.authenticate_server(server, cert_pem)
        seen: set[str] = set()
        for h in held:
            _check_model_name(h.model)
            if not _DIGEST.match(h.digest):
                raise UsageError(
                    f"field 'digest' of model {h.model!r}: {h.digest[:40]!r} is not 16 hex digits"
                )
            if h.model in seen:
                raise UsageError(f"model {h.model!r} is reported twice")
            seen.add(h.model)
        recorded = {r.model: r for r in self.list(server=server)}
        now = time.time()
        puts = [
            DeploymentRecord(
                server, h.model, h.digest, OFFLINE_DEPLOYER, h.modified_at or now, self.member_name
            )
            for h in held
            if h.model not in recorded or recorded[h.model].digest != h.digest
        ]
        gone = sorted(set(recorded) - seen)
        revision = 0
        for start in range(0, len(puts), 100):  # put_many takes at most 100 keys
            batch = puts[start : start + 100]
            revision = await self.store.put_many(
                [(deployment_key(server, r.model), r.encode()) for r in batch]
            )
        for model in gone:
            key = deployment_key(server, model)
            kv = await self.store.get(key)
            if kv is not None:
                with contextlib.suppress(CompareFailed):  # changed meanwhile: the next report decides
                    await self.store.compare_and_delete(key, kv.mod_revision)
        visible = await self.cache.wait_until(
            lambda: (
                {r.model: r.digest for r in self.list(server=server)} == {h.model: h.digest for h in held}
            ),
            self._visibility_timeout,
        )
        if not visible and revision:
            note_unseen(revision)
        answer = HeldModelsAnswer(server, tuple(r.model for r in puts), tuple(gone))
        if puts or gone:
            self.audit.record(
                actor=server,
                action="model.report",
                target=server,
                source=source,
                detail={"recorded": list(answer.recorded), "removed": list(answer.removed)},
            )
            log.info(
                "session server %s holds models recorded now: %s; records removed: %s",
                server,
                ", ".join(answer.recorded) or "none",
                ", ".join(gone) or "none",
            )
        return answer

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
