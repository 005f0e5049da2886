"""The audit trail: who changed what, when, from where (issue #17).

This is the contract the rest of the code calls. ``AuditTrail.record`` never raises and never makes its caller
wait for the store: an entry that cannot be kept is logged. Storing entries in the cluster (bounded by a
retention setting) and ``hostgate audit`` arrive with the audit work; until then entries go to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

__all__ = ["AuditTrail"]

log = logging.getLogger("hostgate.audit")


class AuditTrail:
    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        source: str = "",
        outcome: str = "ok",
        detail: Mapping[str, str] | None = None,
    ) -> None:
        """Keep one entry. ``actor``: the user (or session server) that acted; ``action``: a dotted verb
        (``user.add``, ``model.deploy``, ``login.failed``, ``login.lockout``); ``target``: what it acted on;
        ``source``: the client address; ``outcome``: ``ok`` or the error code; ``detail``: a few words, never
        a secret."""
        log.info(
            "audit: %s %s %s from %s: %s %s",
            actor,
            action,
            target,
            source or "-",
            outcome,
            dict(detail or {}),
        )
