"""Who may do what: VHI's profiles (User, Developer, Administrator) and the checks every face calls.

This is the contract the rest of the code calls (issue #17). ``Access.require`` raises ``NotAuthorized``
(HG-3002) unless the principal holds ``profile`` (or a higher one) cluster-wide or on one of the scopes named.
Grants of profiles to users and directory groups, stored in the cluster, arrive with the grants work; until then
an Administrator (``Principal.is_admin``) holds every profile and any other account holds User everywhere.
"""

from __future__ import annotations

import enum

from hostgate.errors import NotAuthorized
from hostgate.management.cache import ConfigCache
from hostgate.management.security import Principal

__all__ = ["Access", "Profile"]


class Profile(enum.IntEnum):
    """VHI's profiles, each including the rights of the ones below it."""

    USER = 1  # connect to models (sessions, pools)
    DEVELOPER = 2  # and deploy / withdraw models
    ADMINISTRATOR = 3  # and change the cluster


class Access:
    def __init__(self, cache: ConfigCache) -> None:
        self._cache = cache

    def require(
        self,
        principal: Principal,
        profile: Profile,
        *,
        model: str | None = None,
        domain: str | None = None,
        pool: str | None = None,
        server: str | None = None,
    ) -> None:
        """Raise ``NotAuthorized`` unless ``principal`` holds ``profile`` cluster-wide or on a named scope."""
        if principal.is_admin or profile is Profile.USER:
            return
        named = (("model", model), ("domain", domain), ("pool", pool), ("server", server))
        scope = next((f"{kind} {name!r}" for kind, name in named if name), "this cluster")
        raise NotAuthorized(
            f"user {principal.name!r} does not hold the {profile.name.title()} profile for {scope}"
        )
