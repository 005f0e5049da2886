"""Bodies of ``POST /api/v1/login`` (a short-lived CLI login token) and ``PUT /api/v1/users/{name}/password``
(api/login_routes.py). Answers never carry a password; the login answer carries the token itself once."""

from __future__ import annotations

from hostgate.messages._base import Message, Reply

__all__ = ["LoginAnswer", "LoginEnded", "LoginRequest", "PasswordChange", "PasswordChanged"]


class LoginRequest(Message, frozen=True):
    """``ttl``: seconds the login should last (the member's default when left out; capped)."""

    ttl: float | None = None


class LoginAnswer(Reply, frozen=True):
    user: str
    cluster_id: str
    token: str  # "hgcli_" + a JWT signed with the cluster's token key; sent only as "Authorization: Bearer"
    expires_at: float  # seconds since the epoch


class LoginEnded(Reply, frozen=True):
    """``DELETE /api/v1/login``: the login whose token was sent is ended on every member (``hostgate logout``);
    ``expires_at`` is when it would have expired."""

    user: str
    expires_at: float


class PasswordChange(Message, frozen=True):
    """``current_password`` is needed to change one's own password (not for an Administrator's reset of
    another account's)."""

    new_password: str
    current_password: str = ""


class PasswordChanged(Reply, frozen=True):
    name: str
    changed_by: str
