"""Who may do what: VHI's profiles (User, Developer, Administrator) and the checks every face calls.

This is the contract the rest of the code calls (issue #17). ``Access.require`` raises ``NotAuthorized``
(HG-3002) unless the principal holds ``profile`` (or a higher one) cluster-wide or on one of the scopes named.
The grants it reads are stored in the cluster (``records.GRANTS_KEY``) and evaluated from the member's
in-memory copy (management/grants.py has the rules); changing them is management/grant_admin.py.

``Principal.is_admin`` is the same truth: the Authenticator builds every Principal with the ``admin`` role
exactly when the grants give it cluster-wide Administrator (``Authenticator.principal``).
"""

from __future__ import annotations

from hostgate.errors import NotAuthorized
from hostgate.management.cache import ConfigCache
from hostgate.management.grants import Grants, Profile, Subject
from hostgate.management.records import GrantRecord
from hostgate.management.security import Principal

__all__ = ["Access", "Profile", "subject_of"]


def subject_of(principal: Principal) -> Subject:
    return Subject(principal.name, principal.groups, principal.group_dns)


class Access:
    """Profile checks against the cluster's grants (memory only: they answer without a quorum)."""

    def __init__(self, cache: ConfigCache) -> None:
        self._cache = cache
        self.grants = Grants(cache)

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
        """Raise ``NotAuthorized`` unless ``principal`` holds ``profile`` cluster-wide or on a named scope.

        ``server``: a grant on any domain the session server belongs to counts (a domain grant covers its
        servers and the models reached through them)."""
        scopes = [
            (kind, name) for kind, name in (("model", model), ("domain", domain), ("pool", pool)) if name
        ]
        if server:
            scopes.extend(("domain", d) for d in self.grants.domains_of(server))
        held = self.grants.level(subject_of(principal), scopes)
        if held is not None and held >= profile:
            return
        raise _refusal(principal, profile, model=model, domain=domain, pool=pool, server=server)

    def holds(self, principal: Principal, profile: Profile) -> bool:
        """Whether ``principal`` holds ``profile`` cluster-wide."""
        held = self.grants.cluster_profile(subject_of(principal))
        return held is not None and held >= profile

    def effective(self, principal: Principal) -> list[GrantRecord]:
        """The grants that apply to ``principal`` (its own and its groups'), as stored."""
        return self.grants.index().held_by(subject_of(principal))


def _refusal(
    principal: Principal,
    profile: Profile,
    *,
    model: str | None,
    domain: str | None,
    pool: str | None,
    server: str | None,
) -> NotAuthorized:
    named = [(kind, name) for kind, name in (("model", model), ("domain", domain), ("pool", pool)) if name]
    where = " or ".join(f"{kind} {name!r}" for kind, name in named)
    if server:
        where = (where + " or " if where else "") + f"a domain of session server {server!r}"
    where = where or "this cluster"
    verb = profile.name.lower()
    options = [f"--{kind} {name}" for kind, name in named]
    ways = " or ".join(f"`hostgate grant add {verb} --user {principal.name} {o}`" for o in options)
    cluster_wide = f"`hostgate grant add {verb} --user {principal.name}` (cluster-wide)"
    return NotAuthorized(
        f"user {principal.name!r} does not hold the {profile.label} profile for {where}",
        hint=f"An Administrator can grant it: {ways + ', or ' if ways else ''}{cluster_wide}.",
    )
