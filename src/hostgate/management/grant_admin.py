"""Changing grants: add, remove, list, and the rule that the cluster always keeps a local Administrator.

Every change is one compare-and-set of the grant set (``records.GRANTS_KEY``) made from what the store holds at
that moment, re-read and re-checked when another change came first. So the guard below is checked against the
very state it replaces: two Administrators removing each other's grants at once cannot both succeed.

The guard: no change may leave the cluster without a cluster-wide Administrator grant held by an existing
local account (``LastAdministrator``, HG-3200). Grants to directory groups do not count: a directory may be
down or changed outside the cluster, and then nobody could administer it. The built-in ``admin`` account is
never removed (``BuiltinAdminProtected``, HG-3201; service.remove_user).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from hostgate.errors import (
    BuiltinAdminProtected,
    CompareFailed,
    GrantNotFound,
    HostgateError,
    InvalidField,
    LastAdministrator,
    NotAuthorized,
)
from hostgate.management.access import Access, Profile
from hostgate.management.cache import ConfigCache
from hostgate.management.grants import SCOPE_KINDS, legacy_grants
from hostgate.management.records import (
    GRANTS_KEY,
    USERS_PREFIX,
    GrantRecord,
    GrantSet,
    UserRecord,
)
from hostgate.management.security import Principal
from hostgate.store.base import Store
from hostgate.store.guard import note_unseen

__all__ = [
    "BUILTIN_ADMIN",
    "GrantAdmin",
    "check_grant",
    "ensure_grants",
    "local_administrators",
    "refuse_builtin_admin",
]

log = logging.getLogger("hostgate.management.grants")

BUILTIN_ADMIN = "admin"
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_SUBJECT_MAX = {"user": 256, "group": 1024}
_ATTEMPTS = 5
R = TypeVar("R")


def local_administrators(grants: Iterable[GrantRecord], users: Iterable[UserRecord]) -> set[str]:
    """Existing local accounts (lower case) holding a cluster-wide Administrator grant of their own."""
    accounts = {u.name.lower() for u in users}
    return {
        g.subject.lower()
        for g in grants
        if g.profile == "administrator"
        and g.subject_kind == "user"
        and g.scope_kind == "cluster"
        and g.subject.lower() in accounts
    }


def refuse_builtin_admin(name: str) -> None:
    if name.lower() == BUILTIN_ADMIN:
        raise BuiltinAdminProtected(f"the built-in account {BUILTIN_ADMIN!r} cannot be removed")


def check_grant(grant: GrantRecord) -> GrantRecord:
    """The grant as stored (names trimmed, profile lower case), or ``InvalidField`` naming the field."""
    profile = Profile.parse(grant.profile)
    if profile is None:
        raise InvalidField(f"field 'profile': {grant.profile[:40]!r} is not user, developer or administrator")
    if grant.subject_kind not in _SUBJECT_MAX:
        raise InvalidField(f"field 'subject_kind': {grant.subject_kind[:40]!r} is not user or group")
    subject = grant.subject.strip()
    if not subject or len(subject) > _SUBJECT_MAX[grant.subject_kind]:
        raise InvalidField(
            f"field 'subject': a {grant.subject_kind} name of 1-{_SUBJECT_MAX[grant.subject_kind]} characters"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in subject):
        raise InvalidField("field 'subject': control characters are not allowed")
    if grant.scope_kind not in SCOPE_KINDS:
        raise InvalidField(
            f"field 'scope_kind': {grant.scope_kind[:40]!r} is not one of {', '.join(SCOPE_KINDS)}"
        )
    scope = grant.scope.strip()
    if grant.scope_kind == "cluster":
        if scope:
            raise InvalidField("field 'scope': a cluster-wide grant names no model, domain or pool")
    elif not _SCOPE_NAME.match(scope):
        raise InvalidField(
            f"field 'scope': {scope[:40]!r} is not a {grant.scope_kind} name (letters, digits, '_', '.', '-')"
        )
    return GrantRecord(
        profile.name.lower(),
        grant.subject_kind,
        subject,
        grant.scope_kind,
        scope,
        grant.granted_by,
        grant.granted_at,
    )


def describe(grant: GrantRecord) -> str:
    where = "cluster-wide" if grant.scope_kind == "cluster" else f"on {grant.scope_kind} {grant.scope!r}"
    return f"{grant.profile.capitalize()} for {grant.subject_kind} {grant.subject!r} {where}"


class GrantAdmin:
    """Grant changes for every face; Administrators only, checked whole before anything is written."""

    def __init__(
        self,
        store: Store,
        cache: ConfigCache,
        access: Access,
        *,
        visibility_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cache = cache
        self.access = access
        self._visibility_timeout = visibility_timeout
        self._clock = clock

    def list_grants(self, principal: Principal, user: str | None = None) -> list[GrantRecord]:
        """Every grant (an Administrator), or the grants that apply to the caller (anyone). ``user``: only
        the grants to that user name (an Administrator, or the caller's own name)."""
        if principal.is_admin:
            grants = list(self.access.grants.index().grants)
            if user is not None:
                grants = [g for g in grants if g.subject_kind == "user" and g.subject.lower() == user.lower()]
            return grants
        if user is not None and user.lower() != principal.name.lower():
            raise NotAuthorized(
                f"user {principal.name!r} may read only its own grants, not those of {user!r}",
                hint="An Administrator can list every grant; `hostgate whoami` shows yours.",
            )
        return self.access.effective(principal)

    async def add(self, principal: Principal, grant: GrantRecord) -> GrantRecord:
        """Store ``grant`` (granted by ``principal``, now); adding a grant that is already stored changes
        nothing and answers the stored one."""
        principal.require_admin()
        wanted = check_grant(grant)
        wanted = GrantRecord(
            wanted.profile,
            wanted.subject_kind,
            wanted.subject,
            wanted.scope_kind,
            wanted.scope,
            principal.name,
            self._clock(),
        )

        def change(current: tuple[GrantRecord, ...]) -> tuple[tuple[GrantRecord, ...], GrantRecord]:
            existing = next((g for g in current if g.same_grant(wanted)), None)
            if existing is not None:
                return current, existing
            return (*current, wanted), wanted

        added = await self._change(change, what=f"grant {describe(wanted)}")
        log.info("%s granted by %s", describe(added), principal.name)
        return added

    async def remove(self, principal: Principal, grant: GrantRecord) -> GrantRecord:
        principal.require_admin()
        wanted = check_grant(grant)

        def change(current: tuple[GrantRecord, ...]) -> tuple[tuple[GrantRecord, ...], GrantRecord]:
            existing = next((g for g in current if g.same_grant(wanted)), None)
            if existing is None:
                raise GrantNotFound(f"no grant of {describe(wanted)} is stored")
            return tuple(g for g in current if not g.same_grant(wanted)), existing

        removed = await self._change(change, what=f"removing the grant of {describe(wanted)}")
        log.info("grant of %s removed by %s", describe(removed), principal.name)
        return removed

    async def drop_user(self, principal: Principal, name: str) -> None:
        """Before account ``name`` is removed: refuse if it is the built-in admin or holds the last local
        Administrator grant, else remove the grants to that user name (a later account of the same name must
        not inherit them)."""
        principal.require_admin()
        refuse_builtin_admin(name)

        def change(current: tuple[GrantRecord, ...]) -> tuple[tuple[GrantRecord, ...], None]:
            mine = [g for g in current if g.subject_kind == "user" and g.subject.lower() == name.lower()]
            return tuple(g for g in current if g not in mine), None

        await self._change(change, what=f"removing user {name!r}", removed_user=name)

    async def _change(
        self,
        change: Callable[[tuple[GrantRecord, ...]], tuple[tuple[GrantRecord, ...], R]],
        *,
        what: str,
        removed_user: str = "",
    ) -> R:
        for _ in range(_ATTEMPTS):
            kv = await self.store.get(GRANTS_KEY)
            users = await self._users()
            if kv is None:  # a store made before grants: its first change writes the migrated grants too
                current, revision = legacy_grants(users), 0
            else:
                current, revision = GrantSet.decode(kv.key, kv.value).grants, kv.mod_revision
            updated, result = change(current)
            remaining = [u for u in users if u.name.lower() != removed_user.lower()]
            before = local_administrators(current, users)
            if before and not local_administrators(updated, remaining):
                raise LastAdministrator(
                    f"{what} is refused: it would leave no local account holding a cluster-wide Administrator "
                    f"grant (held now by {', '.join(sorted(before))})"
                )
            if kv is not None and updated == current:
                return result  # nothing to store (a grant already there, an account without grants)
            try:
                stored = await self.store.compare_and_set(GRANTS_KEY, GrantSet(updated).encode(), revision)
            except CompareFailed:
                continue  # another change came first: decide again on what it left
            if not await self.cache.wait_for_revision(stored, self._visibility_timeout):
                note_unseen(stored)
            return result
        raise CompareFailed("the grants kept changing meanwhile; try again")

    async def _users(self) -> list[UserRecord]:
        kvs, _ = await self.store.get_prefix(USERS_PREFIX)
        return [UserRecord.decode(kv.key, kv.value) for kv in kvs]


async def ensure_grants(store: Store, cache: ConfigCache) -> str:
    """Migration of a store made before grants: write the grants its accounts' ``admin`` roles stood for.
    Best effort (like ``token_keys.ensure_token_keys``): until it is done, grants.py derives the same grants
    from the accounts, so nobody is locked out meanwhile. Returns the decision, for the log."""
    if cache.get(GRANTS_KEY) is not None:
        return "grants present"
    try:
        kvs, _ = await store.get_prefix(USERS_PREFIX)
        migrated = legacy_grants(UserRecord.decode(kv.key, kv.value) for kv in kvs)
        try:
            revision = await store.compare_and_set(GRANTS_KEY, GrantSet(migrated).encode(), 0)
        except CompareFailed:
            return "grants written meanwhile by another member"
        await cache.wait_for_revision(revision)
        names = ", ".join(g.subject for g in migrated) or "nobody"
        return f"grants created from the accounts' admin role (store made by an earlier version): {names}"
    except HostgateError as exc:
        return f"grants not migrated yet ({exc}); the admin role counts until the next start tries again"
