"""Bodies of ``/api/v1/ldap`` (api/ldap_routes.py): the directories' settings and a check of them on one user.

The struct gives the types, the config gives the rules: a wrong-typed, missing or unknown field is refused here
with HG-1011 naming its path (``directories[0].urls``); ranges, filters, URL/TLS fit and duplicate names stay in
``management/ldap/config.py`` (HG-3100 naming ``ldap.directories[i].field``), which also owns the defaults: an
optional field left out of a request stays ``UNSET`` and is not sent on, so the config fills it in.
Answers carry password *references*, never passwords (the settings hold nothing else).
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from hostgate.messages._base import Message, Reply

__all__ = [
    "LdapDirectory",
    "LdapDirectoryView",
    "LdapSettingsUpdate",
    "LdapSettingsView",
    "LdapTestAnswer",
    "LdapTestReport",
    "LdapTestRequest",
]


class LdapDirectory(Message, frozen=True):
    """One directory as sent to ``PUT /api/v1/ldap`` (fields of ``management.ldap.config.DirectoryConfig``)."""

    name: str
    urls: tuple[str, ...]  # a list even for one URL: a bare string is refused (it is not a list of replicas)
    user_base: str
    bind_dn: str | UnsetType = UNSET
    bind_password_ref: str | UnsetType = UNSET  # "file:/path" or "env:NAME", never the password
    user_filter: str | UnsetType = UNSET
    group_base: str | UnsetType = UNSET
    group_filter: str | UnsetType = UNSET
    member_attribute: str | UnsetType = UNSET
    group_name_attribute: str | UnsetType = UNSET
    nested: str | UnsetType = UNSET  # auto | in_chain | iterative | off (checked by the config)
    max_depth: int | UnsetType = UNSET
    tls: str | UnsetType = UNSET  # ldaps | starttls | none (checked by the config)
    ca_file: str | UnsetType = UNSET
    connect_timeout: float | UnsetType = UNSET
    timeout: int | UnsetType = UNSET


class LdapSettingsUpdate(Message, frozen=True):
    """``PUT /api/v1/ldap``: replace the directories whole (asked in order after the local accounts)."""

    directories: tuple[LdapDirectory, ...] = ()
    cache_seconds: int | UnsetType = UNSET


class LdapDirectoryView(Reply, frozen=True):
    """One directory as the cluster holds it (every field, defaults filled in)."""

    name: str
    urls: tuple[str, ...]
    user_base: str
    bind_dn: str
    bind_password_ref: str
    user_filter: str
    group_base: str
    group_filter: str
    member_attribute: str
    group_name_attribute: str
    nested: str
    max_depth: int
    tls: str
    ca_file: str
    connect_timeout: float
    timeout: int


class LdapSettingsView(Reply, frozen=True):
    """``GET``/``PUT /api/v1/ldap``: the directories' settings in force."""

    directories: tuple[LdapDirectoryView, ...]
    cache_seconds: int


class LdapTestRequest(Message, frozen=True):
    """``POST /api/v1/ldap/test``: look ``user`` up in every directory (no password of the user is sent)."""

    user: str


class LdapTestReport(Reply, frozen=True):
    """What one directory said about the user (``management.ldap.provider.DirectoryReport``)."""

    directory: str
    outcome: str  # "found", "not found", "ambiguous", "down"
    dn: str = ""
    groups: tuple[str, ...] = ()
    nested: str = ""
    fault: str = ""


class LdapTestAnswer(Reply, frozen=True):
    user: str
    directories: tuple[LdapTestReport, ...]
