"""A stand-in ManagementService with just the attributes ``create_app`` touches while it builds its routes.

For tests that list the management face's routes without calling them (the endpoint table, the audit hook's
action names): every face module that ``create_app`` wires needs its attribute to exist, nothing more.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hostgate.config.settings import SecuritySettings
from hostgate.management.audit import AuditTrail

__all__ = ["listing_service"]


def listing_service() -> Any:
    return SimpleNamespace(
        settings=SimpleNamespace(security=SecuritySettings(), server=SimpleNamespace(cluster_id="c")),
        # The LDAP routes' admin and the CLI login tokens' principal (management/cli_tokens.py).
        auth=SimpleNamespace(directories=None, principal=None),
        domains=SimpleNamespace(token_keys=None),  # the CLI login tokens' keys
        store=None,
        cache=None,
        member_name="m",
        grant_admin=None,
        deployments=None,  # the deployment routes only keep a reference to it
        pools=None,  # so do the pool-definition routes (api/pool_routes.py)
        audit=AuditTrail(),  # the write hook and GET /api/v1/audit (api/audit_routes.py)
    )
