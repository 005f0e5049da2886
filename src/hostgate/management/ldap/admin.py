"""Administering the directories: read the replicated settings, replace them whole, check them on a user.

Called by the API (api/ldap_routes.py) for ``hostgate ldap show|set|test``. Changes need an Administrator; the
settings are validated whole before anything is written (a bad field changes nothing), and hold password
*references* only, so neither the store nor an answer ever carries a directory password.
"""

from __future__ import annotations

import logging
from typing import Any

from hostgate.management.cache import ConfigCache
from hostgate.management.ldap.config import LDAP_KEY, LdapSettings
from hostgate.management.ldap.provider import DirectoryAuthenticator, DirectoryReport
from hostgate.management.security import Principal
from hostgate.store.base import Store
from hostgate.store.guard import note_unseen

__all__ = ["LdapAdmin"]

log = logging.getLogger("hostgate.security.ldap")


class LdapAdmin:
    def __init__(
        self,
        store: Store,
        cache: ConfigCache,
        directories: DirectoryAuthenticator,
        *,
        visibility_timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._cache = cache
        self._directories = directories
        self._visibility_timeout = visibility_timeout

    def settings(self) -> LdapSettings:
        return self._cache.decode(LDAP_KEY, LdapSettings.decode) or LdapSettings()

    async def replace(self, who: Principal, data: Any) -> LdapSettings:
        """Validate ``data`` (the JSON form of :class:`LdapSettings`) whole, then store it for every member."""
        who.require_admin()
        settings = LdapSettings.from_json(data)
        revision = await self._store.put(LDAP_KEY, settings.encode())
        if not await self._cache.wait_for_revision(revision, self._visibility_timeout):
            note_unseen(revision)
        log.info(
            "LDAP directories set by %s: %s",
            who.name,
            ", ".join(d.name for d in settings.directories) or "none",
        )
        return settings

    async def test(self, who: Principal, user: str) -> list[DirectoryReport]:
        who.require_admin()
        return await self._directories.look_up(user)
