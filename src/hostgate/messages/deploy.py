"""Bodies of model deployment through a management session (``hostgate activatemodel`` / ``deactivatemodel``).

Three legs, as in VHI (KB 7021563, "What Happens At Runtime"): the CLI sends the model to ONE named session
server (``ModelUpload``, answered by ``DeploymentAnswer``); that server establishes a management session through
its own management alias and asks for a short-lived deploy token bound to it, the user and the model
(``DeployAuthorize`` -> ``DeployGrant``); after activating the model it records the deployment in the cluster with
that token (``DeploymentReport``). ``DeploymentView`` is one stored deployment as ``hostgate model list`` reads it.
A session server also reports the models it holds (``HeldModels``), so that models put in its data directory
offline (``hostgate model deploy --data-dir``) are recorded too.
"""

from __future__ import annotations

from hostgate.messages._base import Message, Reply

__all__ = [
    "DeployAuthorize",
    "DeployGrant",
    "DeploymentAnswer",
    "DeploymentReport",
    "DeploymentView",
    "HeldModel",
    "HeldModels",
    "HeldModelsAnswer",
    "ModelUpload",
]


class ModelUpload(Message, frozen=True):
    """``PUT /api/v1/models/{name}`` on a session server: the model's YAML text (its ``name`` must be ``{name}``)."""

    text: str


class DeploymentAnswer(Reply, frozen=True):
    """What a session server did: ``action`` is ``deploy`` or ``withdraw``; ``replaced`` whether an earlier
    version was served; ``recorded_by`` the management member that recorded it."""

    server: str
    model: str
    action: str
    digest: str
    replaced: bool
    user: str
    recorded_by: str
    recorded_at: float


class DeployAuthorize(Message, frozen=True):
    """``POST /api/v1/session-servers/{name}/deployments/authorize``: the session server (its certificate) asks on
    behalf of the user whose credentials it forwards."""

    model: str
    action: str = "deploy"  # or "withdraw"
    source: str = ""  # the address the caller reached the session server from (for the audit trail)
    # For "deploy": the digest of the model text to be recorded (DeploymentReport.digest), bound into the token
    # so it records that text only. Empty from session servers before the binding: the token then binds none.
    digest: str = ""


class DeployGrant(Reply, frozen=True):
    """A deploy token (``typ`` ``deploy``) bound to cluster, session server, user, model and action (and the
    model text's digest when the request named one); short-lived."""

    token: str
    expires_at: float
    cluster_id: str
    server: str
    user: str
    model: str
    action: str = ""
    digest: str = ""


class DeploymentReport(Message, frozen=True):
    """``PUT``/``DELETE /api/v1/session-servers/{name}/deployments/{model}``: the deploy token and what is served
    (``digest``: the first 16 hex digits of the SHA-256 of the model text; empty for a withdrawal)."""

    token: str
    digest: str = ""
    source: str = ""  # the caller's address as the session server saw it (for the audit trail)


class DeploymentView(Reply, frozen=True):
    """One recorded deployment: which model (by digest) a session server serves, who deployed it and when."""

    server: str
    model: str
    digest: str
    deployed_by: str
    deployed_at: float
    recorded_by: str


class HeldModel(Message, frozen=True):
    """A model a session server serves from its models directory: its name, the digest of its text, and the
    file's modification time (seconds since the epoch, the server's clock)."""

    model: str
    digest: str
    modified_at: float = 0.0


class HeldModels(Message, frozen=True):
    """``PUT /api/v1/session-servers/{name}/deployments``: every model the server holds now (its certificate
    only). The member records those it has no record of (or another digest of) as deployed offline, and removes
    the records of models the server no longer holds."""

    models: tuple[HeldModel, ...] = ()


class HeldModelsAnswer(Reply, frozen=True):
    """What the member changed: models recorded as deployed offline, and records removed."""

    server: str
    recorded: tuple[str, ...]
    removed: tuple[str, ...]
