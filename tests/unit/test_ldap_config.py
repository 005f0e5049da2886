"""LDAP settings are validated whole and name the bad field; filters are built escaped (no sockets here)."""

from __future__ import annotations

from typing import Any

import pytest

from hostgate.errors import DirectoryConfigInvalid, DirectoryUnavailable
from hostgate.management.ldap import DirectoryConfig, LdapSettings, NestedGroups, TlsMode
from hostgate.management.ldap.client import group_filter, user_filter
from hostgate.management.ldap.config import LDAP_KEY, resolve_secret

GOOD: dict[str, Any] = {
    "name": "corp",
    "urls": ["ldap://dc1.example.test", "ldap://dc2.example.test:3389"],
    "user_base": "dc=example,dc=test",
    "bind_dn": "cn=svc,dc=example,dc=test",
    "bind_password_ref": "env:HOSTGATE_TEST_LDAP_PW",
    "group_base": "ou=groups,dc=example,dc=test",
}


def test_round_trip_keeps_every_field() -> None:
    settings = LdapSettings.from_json(
        {"directories": [GOOD, {**GOOD, "name": "ad", "nested": "in_chain"}], "cache_seconds": 5}
    )
    again = LdapSettings.decode(LDAP_KEY, settings.encode())
    assert again == settings
    assert again.directories[1].nested is NestedGroups.IN_CHAIN
    assert again.directories[0].tls is TlsMode.STARTTLS
    assert again.cache_seconds == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"urls": ["http://dc1"]}, "urls"),
        ({"urls": []}, "urls"),
        ({"urls": ["ldap://dc1:99999"]}, "urls"),
        ({"urls": ["ldaps://dc1"]}, "urls"),  # ldaps URL with tls = starttls
        ({"tls": "none"}, "tls"),  # clear text towards a non-loopback host
        ({"user_filter": "(uid=alice)"}, "user_filter"),
        ({"user_filter": "uid={user}"}, "user_filter"),
        ({"group_filter": "(objectClass=group"}, "group_filter"),
        ({"bind_password_ref": "hunter2"}, "bind_password_ref"),
        ({"bind_dn": "", "bind_password_ref": "env:X"}, "bind_password_ref"),
        ({"max_depth": 0}, "max_depth"),
        ({"timeout": 0.5}, "timeout"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"ca_file": "relative/ca.pem"}, "ca_file"),
        ({"user_base": ""}, "user_base"),
        ({"colour": "blue"}, "colour"),
        ({"nested": "sideways"}, "nested"),
        ({"tls": "ssl"}, "tls"),
        ({"urls": [3]}, "urls"),
    ],
)
def test_a_bad_field_is_named_and_nothing_is_accepted(change: dict[str, Any], field: str) -> None:
    with pytest.raises(DirectoryConfigInvalid) as refused:
        LdapSettings.from_json({"directories": [GOOD, {**GOOD, "name": "second", **change}]})
    assert f"ldap.directories[1].{field}" in refused.value.message
    assert refused.value.code == "HG-3100"


@pytest.mark.parametrize("value", [-1, 3601, 1.5, True, "60"])
def test_cache_seconds_is_bounded(value: object) -> None:
    with pytest.raises(DirectoryConfigInvalid, match=r"ldap\.cache_seconds"):
        LdapSettings.from_json({"directories": [GOOD], "cache_seconds": value})


def test_names_are_unique_and_plain_ldap_is_allowed_only_on_loopback() -> None:
    with pytest.raises(DirectoryConfigInvalid, match=r"directories\[1\]\.name"):
        LdapSettings.from_json({"directories": [GOOD, GOOD]})
    loopback = {**GOOD, "urls": ["ldap://127.0.0.1:3389"], "tls": "none"}
    assert LdapSettings.from_json({"directories": [loopback]}).directories[0].tls is TlsMode.NONE


def test_filters_escape_every_special_character() -> None:
    config = DirectoryConfig.from_json(0, GOOD)
    assert user_filter(config, "*)(uid=*") == r"(&(objectClass=inetOrgPerson)(uid=\2a\29\28uid=\2a))"
    assert user_filter(config, "a\\b\x00") == r"(&(objectClass=inetOrgPerson)(uid=a\5cb\00))"
    dn = "cn=R&D (west),ou=groups,dc=example,dc=test"
    assert group_filter(config, [dn], in_chain=False) == (
        r"(&(objectClass=groupOfNames)(member=cn=R&D \28west\29,ou=groups,dc=example,dc=test))"
    )
    # Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: the server walks the nesting.
    assert group_filter(config, ["cn=a"], in_chain=True) == (
        "(&(objectClass=groupOfNames)(member:1.2.840.113556.1.4.1941:=cn=a))"
    )
    assert group_filter(config, ["cn=a", "cn=b"], in_chain=False) == (
        "(&(objectClass=groupOfNames)(|(member=cn=a)(member=cn=b)))"
    )


def test_the_service_password_comes_from_its_reference_and_is_never_in_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    config = DirectoryConfig.from_json(0, GOOD)
    monkeypatch.delenv("HOSTGATE_TEST_LDAP_PW", raising=False)
    with pytest.raises(DirectoryUnavailable, match="HOSTGATE_TEST_LDAP_PW"):
        resolve_secret(config)
    monkeypatch.setenv("HOSTGATE_TEST_LDAP_PW", "s3cret-value")
    assert resolve_secret(config) == "s3cret-value"
    assert b"s3cret-value" not in LdapSettings((config,)).encode()
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    from_file = DirectoryConfig.from_json(0, {**GOOD, "bind_password_ref": f"file:{secret}"})
    assert resolve_secret(from_file) == "from-a-file"


def test_the_example_in_hostgate_ldap_set_help_is_valid() -> None:
    import tomllib

    from hostgate.cli.ldap_cmds import set_

    doc = set_.help or ""
    example = doc.split("directories asked in order:", 1)[1]
    settings = LdapSettings.from_json(tomllib.loads("\n".join(line.strip() for line in example.splitlines())))
    assert [d.name for d in settings.directories] == ["corp"]
    assert settings.directories[0].tls is TlsMode.LDAPS


def test_the_wire_messages_have_exactly_the_configs_fields() -> None:
    # The struct gives the types, the config the rules and defaults: a field added to one must reach the other
    # (a Reply ignores unknown fields, so a missing one would silently vanish from `hostgate ldap show`).
    import msgspec

    from hostgate.management.ldap.provider import DirectoryReport
    from hostgate.messages import LdapDirectory, LdapDirectoryView, LdapTestReport

    config = list(DirectoryConfig.__dataclass_fields__)
    assert list(LdapDirectory.__struct_fields__) == config
    assert list(LdapDirectoryView.__struct_fields__) == config
    assert list(LdapTestReport.__struct_fields__) == list(DirectoryReport.__dataclass_fields__)
    view = msgspec.convert(DirectoryConfig.from_json(0, GOOD).to_json(), LdapDirectoryView)
    assert view.urls == tuple(GOOD["urls"]) and view.nested == "auto"
