"""Directory (LDAP / Active Directory) provider settings: frozen values, validated whole, naming the bad field.

The settings are replicated (one record in the store, ``records.LDAP_KEY``) so every management member
authenticates the same way. Secrets are not: the service account's password is a *reference* resolved on each
member when it binds (``file:/path`` or ``env:NAME``), so the store, the API and the logs never hold it.

VHI's own LDAP settings (provider URL, administrator user, user search base and attribute, group search base
and attribute) map onto :class:`DirectoryConfig`; the user filter template generalises VHI's "user attribute
name" (``(uid={user})`` is VHI's ``uid``).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from hostgate.errors import DirectoryConfigInvalid, DirectoryUnavailable
from hostgate.management.records import PREFIX

__all__ = [
    "IN_CHAIN_RULE",
    "LDAP_KEY",
    "DirectoryConfig",
    "LdapSettings",
    "NestedGroups",
    "TlsMode",
    "resolve_secret",
]

# The one replicated record of the directories' settings (under PREFIX: the config cache follows it).
LDAP_KEY = PREFIX + "security/ldap"

# LDAP_MATCHING_RULE_IN_CHAIN: Active Directory walks nested membership server side ([MS-ADTS] 3.1.1.3.4.4).
IN_CHAIN_RULE = "1.2.840.113556.1.4.1941"


class TlsMode(StrEnum):
    LDAPS = "ldaps"  # TLS from the first byte (ldaps://, port 636)
    STARTTLS = "starttls"  # RFC 4511 §4.14 on ldap://, before any bind
    NONE = "none"  # plain LDAP: only towards a loopback address (passwords would cross the network in clear)


class NestedGroups(StrEnum):
    AUTO = "auto"  # in_chain when the root DSE says Active Directory (capability 1.2.840.113556.1.4.800)
    IN_CHAIN = "in_chain"  # one search with the AD matching rule (only AD supports it)
    ITERATIVE = "iterative"  # expand level by level: any LDAP server, bounded by max_depth, loops cut
    OFF = "off"  # direct groups only


_FIELDS_NEEDING_TEXT = ("name", "user_base", "user_filter", "group_filter", "member_attribute")


def _field_error(index: int, name: str, problem: str) -> DirectoryConfigInvalid:
    return DirectoryConfigInvalid(f"ldap.directories[{index}].{name}: {problem}")


def _check_filter(index: int, name: str, text: str, placeholder: str | None) -> None:
    # A filter must be one parenthesised item (RFC 4515 §3); the placeholder is replaced by an escaped value,
    # so only its presence matters here.
    if not (text.startswith("(") and text.endswith(")")) or text.count("(") != text.count(")"):
        raise _field_error(index, name, f"{text!r} is not a parenthesised LDAP filter (RFC 4515)")
    if placeholder is not None and placeholder not in text:
        raise _field_error(index, name, f"{text!r} must contain {placeholder} (the escaped value goes there)")


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    """One directory. ``urls`` are replicas of the same directory, tried in order by ldap3 for each step."""

    name: str
    urls: tuple[str, ...]
    user_base: str
    bind_dn: str = ""  # empty: anonymous search (RFC 4513 §5.1.1)
    bind_password_ref: str = ""  # "file:/path" or "env:NAME", resolved on each member; never the password
    user_filter: str = "(&(objectClass=inetOrgPerson)(uid={user}))"
    group_base: str = ""  # empty: no groups
    group_filter: str = "(objectClass=groupOfNames)"  # which entries are groups (AD: "(objectClass=group)")
    member_attribute: str = "member"
    group_name_attribute: str = "cn"
    nested: NestedGroups = NestedGroups.AUTO
    max_depth: int = 8
    tls: TlsMode = TlsMode.STARTTLS
    ca_file: str = ""  # empty: the system's trusted CAs
    connect_timeout: float = 3.0
    timeout: int = 5  # seconds per answer; ldap3 needs whole seconds (SO_RCVTIMEO is packed as integers)

    def validate(self, index: int) -> None:
        for name in _FIELDS_NEEDING_TEXT:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise _field_error(index, name, "must not be empty")
        if not self.urls:
            raise _field_error(index, "urls", "name at least one ldap:// or ldaps:// URL")
        for url in self.urls:
            self._check_url(index, url)
        _check_filter(index, "user_filter", self.user_filter, "{user}")
        _check_filter(index, "group_filter", self.group_filter, None)
        if self.bind_password_ref and not self.bind_password_ref.startswith(("file:", "env:")):
            raise _field_error(
                index, "bind_password_ref", "must be file:/path or env:NAME (never the password)"
            )
        if self.bind_password_ref and not self.bind_dn:
            raise _field_error(index, "bind_password_ref", "a password needs a bind_dn")
        if not 1 <= self.max_depth <= 64:
            raise _field_error(index, "max_depth", f"{self.max_depth} is outside 1-64")
        if not 0.1 <= self.connect_timeout <= 60:
            raise _field_error(index, "connect_timeout", f"{self.connect_timeout} is outside 0.1-60 seconds")
        if not 1 <= self.timeout <= 300:
            raise _field_error(index, "timeout", f"{self.timeout} is outside 1-300 seconds")
        if self.ca_file and not Path(self.ca_file).is_absolute():
            raise _field_error(index, "ca_file", f"{self.ca_file!r} must be an absolute path")

    def _check_url(self, index: int, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise _field_error(index, "urls", f"{url!r} is not ldap://HOST[:PORT] or ldaps://HOST[:PORT]")
        try:
            parts.port  # noqa: B018  # raises ValueError for a port outside 0-65535
        except ValueError as exc:
            raise _field_error(index, "urls", f"{url!r}: {exc}") from None
        if (parts.scheme == "ldaps") != (self.tls is TlsMode.LDAPS):
            raise _field_error(index, "urls", f"{url!r} does not fit tls = {self.tls.value!r}")
        if self.tls is TlsMode.NONE and not _is_loopback(parts.hostname):
            raise _field_error(
                index, "tls", "'none' sends passwords in clear: only allowed towards a loopback address"
            )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls"] = list(self.urls)
        data["nested"] = self.nested.value
        data["tls"] = self.tls.value
        return data

    @classmethod
    def from_json(cls, index: int, data: Mapping[str, Any]) -> Self:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise _field_error(index, unknown[0], "is not a directory setting")
        values = dict(data)
        urls = values.get("urls", ())
        if not isinstance(urls, (str, list, tuple)) or not all(isinstance(u, str) for u in urls):
            raise _field_error(index, "urls", "must be a list of ldap:// or ldaps:// URLs")
        values["urls"] = (urls,) if isinstance(urls, str) else tuple(urls)
        for name, kind in (("nested", NestedGroups), ("tls", TlsMode)):
            if name in values:
                try:
                    values[name] = kind(values[name])
                except ValueError:
                    choices = ", ".join(k.value for k in kind)
                    raise _field_error(index, name, f"{values[name]!r} is not one of {choices}") from None
        for name, expected in (("max_depth", int), ("timeout", int), ("connect_timeout", (int, float))):
            value = values.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, expected)):
                raise _field_error(index, name, f"{value!r} is not a number of the right kind")
        for name in known - {"urls", "nested", "tls", "max_depth", "timeout", "connect_timeout"}:
            if name in values and not isinstance(values[name], str):
                raise _field_error(index, name, f"{values[name]!r} is not text")
        try:
            config = cls(**values)
        except TypeError as exc:  # a required field missing
            raise DirectoryConfigInvalid(f"ldap.directories[{index}]: {exc}") from None
        config.validate(index)
        return config


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """The directories, tried in order after the local accounts (management/ldap/provider.py says how)."""

    directories: tuple[DirectoryConfig, ...] = field(default=())
    # How long a successful directory login is recognised without asking the directory again (0: never).
    # Bounds how long a password changed or an account disabled in the directory still works here.
    cache_seconds: int = 60

    def encode(self) -> bytes:
        data = {"directories": [d.to_json() for d in self.directories], "cache_seconds": self.cache_seconds}
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def decode(cls, key: str, raw: bytes) -> LdapSettings:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise DirectoryConfigInvalid(f"{key}: not JSON ({exc})") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> LdapSettings:
        if not isinstance(data, dict) or not isinstance(data.get("directories", []), list):
            raise DirectoryConfigInvalid("ldap.directories: must be a list of directory settings")
        unknown = sorted(set(data) - {"directories", "cache_seconds"})
        if unknown:
            raise DirectoryConfigInvalid(f"ldap.{unknown[0]}: is not an LDAP setting")
        cache_seconds = data.get("cache_seconds", 60)
        if (
            isinstance(cache_seconds, bool)
            or not isinstance(cache_seconds, int)
            or not 0 <= cache_seconds <= 3600
        ):
            raise DirectoryConfigInvalid(f"ldap.cache_seconds: {cache_seconds!r} is outside 0-3600 seconds")
        directories: list[DirectoryConfig] = []
        for index, item in enumerate(data.get("directories", [])):
            if not isinstance(item, dict):
                raise DirectoryConfigInvalid(f"ldap.directories[{index}]: must be a table of settings")
            directories.append(DirectoryConfig.from_json(index, item))
        names = [d.name for d in directories]
        for index, name in enumerate(names):
            if names.index(name) != index:
                raise _field_error(index, "name", f"{name!r} is used by directories[{names.index(name)}] too")
        return cls(tuple(directories), cache_seconds)


def resolve_secret(directory: DirectoryConfig) -> str:
    """The service account's password from its reference, on this member; never logged or echoed."""
    ref = directory.bind_password_ref
    if not ref:
        return ""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise DirectoryUnavailable(
                f"directory {directory.name!r}: the environment variable {where} (bind_password_ref) is not set"
            )
        return value
    try:
        return Path(where).read_text().rstrip("\r\n")
    except OSError as exc:
        raise DirectoryUnavailable(
            f"directory {directory.name!r}: the bind password file {where} cannot be read ({exc.strerror})"
        ) from None
