"""``GET /api/v1/cluster/backup``: every configuration key of the cluster at one store revision (Administrator).

A linearizable read of the ``/hostgate/`` prefix: one revision of the store, so the copy is consistent as an
etcd snapshot is, and it restores into either backend (``hostgate cluster restore``, management/restore.py),
which is also how a lone SQLite server moves to an etcd cluster. The answer holds the cluster's CA keys,
token keys and password hashes: only a cluster-wide Administrator gets it, and the CLI writes it 0600.
Hedged-write records (``/hostgate-writes/``) and etcd's own state (member ids, leases) are not configuration
and are left out.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import reply
from hostgate.management.access import Profile
from hostgate.management.records import PREFIX
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
from hostgate.messages import API, BackupDump, BackupEntry

__all__ = ["backup_routes"]

log = logging.getLogger("hostgate.api.backup")


def backup_routes(service: ManagementService, principal: Callable[[Request], Principal]) -> list[Route]:
    async def backup(request: Request) -> Response:
        who = principal(request)
        service.access.require(who, Profile.ADMINISTRATOR)
        entries, revision = await service.store.get_prefix(PREFIX)
        info = service.cluster_info()
        dump = BackupDump(
            info.id,
            info.name,
            str(service.settings.store),
            service.member_name,
            revision,
            time.time(),
            tuple(BackupEntry(kv.key, base64.b64encode(kv.value).decode()) for kv in entries),
        )
        log.info("backup of %d keys at revision %d taken by %s", len(entries), revision, who.name)
        return reply(dump)

    return [Route(API.backup.path, backup, methods=["GET"])]
