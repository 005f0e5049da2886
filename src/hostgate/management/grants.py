"""Evaluating grants: which profile a user holds, cluster-wide or on a model, domain or pool (issue #17).

Rules (docs/architecture.md, "Profiles and grants"):

- A profile includes the ones below it: Administrator > Developer > User.
- A grant is cluster-wide or on one scope. A domain grant covers every model routed through that domain and
  every session server in it; a pool grant is stored and listed now and counts once pools are routed (#18).
- A subject is a user name (local or directory; case-insensitive, as accounts are looked up) or a directory
  group. A group given as a DN (``cn=ops,ou=groups,dc=example,dc=org``) matches that group's DN exactly
  (case-insensitive, spaces around ``,``/``=`` ignored), in whichever directory the user was found; a bare
  name (``ops``) matches a group whose name attribute (``group_name_attribute``, cn by default) has that
  value, in any configured directory. Use the DN when several directories may hold groups of one name.
- Before the cluster holds any grant record (a store made by an earlier version), an account whose record
  carries the ``admin`` role counts as a cluster-wide Administrator, so nobody is locked out by the upgrade;
  the first grant change (or a member's start, ``grant_admin.ensure_grants``) writes those grants for real.

Reads only the member's in-memory copy (ConfigCache): checks answer without a quorum. The index of a stored
grant set is built once per stored value (``ConfigCache.decode``), so a check is a few dict look-ups.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hostgate.management.cache import ConfigCache
from hostgate.management.records import (
    DOMAINS_PREFIX,
    GRANTS_KEY,
    USERS_PREFIX,
    DomainRecord,
    GrantRecord,
    GrantSet,
    UserRecord,
    group_key,
    user_key,
)

__all__ = [
    "DECODE_GRANT_INDEX",
    "SCOPE_KINDS",
    "GrantIndex",
    "Grants",
    "Profile",
    "Subject",
    "legacy_grants",
]

CLUSTER = "cluster"
SCOPE_KINDS = ("cluster", "model", "domain", "pool")
# Who "granted" the grants an upgrade derives from the old admin role.
UPGRADE = "(upgrade: admin role)"


class Profile(enum.IntEnum):
    """VHI's profiles, each including the rights of the ones below it."""

    USER = 1  # connect to models (sessions, pools)
    DEVELOPER = 2  # and deploy / withdraw models
    ADMINISTRATOR = 3  # and change the cluster

    @property
    def label(self) -> str:
        """As VHI names it: "Administrator"."""
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Profile | None:
        return cls.__members__.get(text.strip().upper())


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks: a user name and, for a directory user, the groups' names and DNs."""

    name: str
    groups: tuple[str, ...] = ()
    group_dns: tuple[str, ...] = ()


# (scope kind, scope name) -> the highest profile granted there
_Levels = dict[tuple[str, str], Profile]


class GrantIndex:
    """A grant set arranged for look-ups: per user and per group, the highest profile on each scope."""

    __slots__ = ("_groups", "_users", "grants")

    def __init__(self, grants: Iterable[GrantRecord]) -> None:
        self.grants = tuple(grants)
        self._users: dict[str, _Levels] = {}
        self._groups: dict[str, _Levels] = {}
        for g in self.grants:
            profile = Profile.parse(g.profile)
            if profile is None or g.scope_kind not in SCOPE_KINDS:
                continue  # a kind a newer version added: ignored here, kept in the store
            if g.subject_kind == "user":
                table = self._users.setdefault(g.subject.lower(), {})
            elif g.subject_kind == "group":
                table = self._groups.setdefault(group_key(g.subject), {})
            else:
                continue
            scope = (g.scope_kind, "" if g.scope_kind == CLUSTER else g.scope)
            table[scope] = max(table.get(scope, profile), profile)

    @classmethod
    def decode(cls, key: str, raw: bytes) -> GrantIndex:
        return cls(GrantSet.decode(key, raw).grants)

    def level(self, who: Subject, scopes: Iterable[tuple[str, str]] = ()) -> Profile | None:
        """The highest profile ``who`` holds cluster-wide or on any of ``scopes`` (``None``: none).

        On every routing request (twice: the principal's cluster profile, then the model/domain check): a few
        dict look-ups, no allocation beyond the scopes tuple."""
        wanted = tuple(scopes)
        best: Profile | None = None
        table = self._users.get(who.name.lower())
        if table is not None:
            best = _best(table, wanted)
        if self._groups and (who.groups or who.group_dns):
            for group in (*who.groups, *who.group_dns):
                table = self._groups.get(group_key(group))
                if table is not None:
                    found = _best(table, wanted)
                    if found is not None and (best is None or found > best):
                        best = found
        return best

    def held_by(self, who: Subject) -> list[GrantRecord]:
        """The grants that apply to ``who``: to the user's name or to one of its groups."""
        name = who.name.lower()
        groups = {group_key(g) for g in (*who.groups, *who.group_dns)}
        return [
            g
            for g in self.grants
            if (g.subject_kind == "user" and g.subject.lower() == name)
            or (g.subject_kind == "group" and group_key(g.subject) in groups)
        ]


_CLUSTER_SCOPE = (CLUSTER, "")


def _best(table: _Levels, scopes: tuple[tuple[str, str], ...]) -> Profile | None:
    best = table.get(_CLUSTER_SCOPE)
    for scope in scopes:
        found = table.get(scope)
        if found is not None and (best is None or found > best):
            best = found
    return best


def legacy_grants(users: Iterable[UserRecord]) -> tuple[GrantRecord, ...]:
    """What a store made before grants means: every account with the ``admin`` role is a cluster-wide
    Administrator (what ``is_admin`` meant then); other accounts hold no profile until granted one."""
    return tuple(
        GrantRecord("administrator", "user", u.name, CLUSTER, "", UPGRADE, 0.0) for u in users if u.is_admin
    )


# One decoder object: the copy memoises decoded records by (key, decoder), and a bound classmethod is a new
# object (hashed anew) at every attribute access.
_DECODE_INDEX = DECODE_GRANT_INDEX = GrantIndex.decode


class Grants:
    """The grants as this member's copy holds them (read-only, from memory)."""

    def __init__(self, cache: ConfigCache) -> None:
        self._cache = cache

    @property
    def stored(self) -> bool:
        """Whether the cluster holds a grant record (``False``: a store made before grants)."""
        return self._cache.get(GRANTS_KEY) is not None

    def level(self, who: Subject, scopes: Iterable[tuple[str, str]] = ()) -> Profile | None:
        """The highest profile ``who`` holds cluster-wide or on any of ``scopes`` (``None``: none)."""
        index = self._cache.decode(GRANTS_KEY, _DECODE_INDEX)
        if index is not None:
            return index.level(who, scopes)
        # Before the migration: what the account's admin role meant (legacy_grants), one record read.
        record = self._cache.decode(user_key(who.name), UserRecord.decode) if who.name else None
        return Profile.ADMINISTRATOR if record is not None and record.is_admin else None

    def index(self) -> GrantIndex:
        """Every grant (for listing); before the migration, the ones the accounts' admin role stands for."""
        index = self._cache.decode(GRANTS_KEY, _DECODE_INDEX)
        return index if index is not None else GrantIndex(legacy_grants(self.users()))

    def users(self) -> list[UserRecord]:
        found = (self._cache.decode(k, UserRecord.decode) for k, _ in self._cache.items(USERS_PREFIX))
        return [u for u in found if u is not None]

    def local_user(self, name: str) -> UserRecord | None:
        return self._cache.decode(user_key(name), UserRecord.decode)

    def domains_of(self, server: str) -> list[str]:
        """The domains session server ``server`` is a member of (a domain grant covers its servers)."""
        names = []
        for key, _ in self._cache.items(DOMAINS_PREFIX):
            rec = self._cache.decode(key, DomainRecord.decode)
            if rec is not None and any(m.server == server for m in rec.members):
                names.append(rec.name)
        return names

    def cluster_profile(self, who: Subject) -> Profile | None:
        """The profile ``who`` holds cluster-wide (``None``: none)."""
        return self.level(who)
