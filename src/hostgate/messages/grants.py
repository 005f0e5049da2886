"""Bodies of ``/api/v1/grants`` (api/grant_routes.py): profiles granted to users and directory groups.

A grant is a profile (VHI's User, Developer, Administrator) given to a subject (a user name, or a directory
group by DN or bare name) cluster-wide or on one model, domain or pool. The request names the grant the same
way whether it adds or removes it; who granted it and when are the server's to fill in.
"""

from __future__ import annotations

from typing import Literal

from hostgate.messages._base import Message, Reply

__all__ = ["GrantRequest", "GrantView"]

ProfileName = Literal["user", "developer", "administrator"]
SubjectKind = Literal["user", "group"]
ScopeKind = Literal["cluster", "model", "domain", "pool"]


class GrantRequest(Message, frozen=True):
    """``POST`` (add) or ``DELETE`` (remove) ``/api/v1/grants``: one grant."""

    profile: ProfileName
    subject_kind: SubjectKind
    subject: str
    scope_kind: ScopeKind = "cluster"
    scope: str = ""  # the model, domain or pool name; empty for a cluster-wide grant


class GrantView(Reply, frozen=True):
    """One stored grant (``GET /api/v1/grants``; ``profiles`` of ``GET /api/v1/whoami``)."""

    profile: str
    subject_kind: str
    subject: str
    scope_kind: str
    scope: str
    granted_by: str
    granted_at: float
