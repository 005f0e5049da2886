"""The grant rules, evaluated in memory (management/grants.py): every scope, users and groups, precedence."""

from __future__ import annotations

import pytest

from hostgate.errors import InvalidField
from hostgate.management.grant_admin import check_grant, local_administrators
from hostgate.management.grants import GrantIndex, Profile, Subject, legacy_grants
from hostgate.management.records import GrantRecord, GrantSet, UserRecord

OPS_DN = "cn=ops,ou=groups,dc=example,dc=test"


def g(profile: str, kind: str, subject: str, scope_kind: str = "cluster", scope: str = "") -> GrantRecord:
    return GrantRecord(profile, kind, subject, scope_kind, scope)


def level(grants: list[GrantRecord], who: Subject, *scopes: tuple[str, str]) -> Profile | None:
    return GrantIndex(grants).level(who, scopes)


ANA = Subject("ana")


def test_no_grant_no_profile() -> None:
    assert level([], ANA) is None
    assert level([g("administrator", "user", "bob")], ANA, ("model", "m")) is None


@pytest.mark.parametrize("kind", ["model", "domain", "pool"])
def test_a_scoped_grant_counts_on_its_scope_only(kind: str) -> None:
    grants = [g("developer", "user", "ana", kind, "x")]
    assert level(grants, ANA, (kind, "x")) is Profile.DEVELOPER
    assert level(grants, ANA, (kind, "y")) is None
    assert level(grants, ANA) is None  # not cluster-wide
    other = next(k for k in ("model", "domain", "pool") if k != kind)
    assert level(grants, ANA, (other, "x")) is None  # a model and a domain of one name are different scopes


def test_a_cluster_wide_grant_counts_everywhere() -> None:
    grants = [g("user", "user", "ana")]
    assert level(grants, ANA) is Profile.USER
    assert level(grants, ANA, ("model", "m"), ("domain", "d")) is Profile.USER


def test_the_highest_profile_of_every_applicable_grant_wins() -> None:
    grants = [
        g("user", "user", "ana"),
        g("administrator", "user", "ana", "domain", "prod"),
        g("developer", "group", "ops", "model", "orders"),
        g("user", "user", "ana", "domain", "prod"),  # a lower grant on the same scope lowers nothing
    ]
    assert level(grants, ANA, ("domain", "prod")) is Profile.ADMINISTRATOR
    assert level(grants, ANA, ("model", "orders")) is Profile.USER
    ops_ana = Subject("ana", ("ops",))
    assert level(grants, ops_ana, ("model", "orders")) is Profile.DEVELOPER
    assert level(grants, ops_ana, ("model", "orders"), ("domain", "prod")) is Profile.ADMINISTRATOR
    assert Profile.ADMINISTRATOR > Profile.DEVELOPER > Profile.USER  # each includes the ones below


def test_user_names_match_case_insensitively_as_accounts_do() -> None:
    assert level([g("user", "user", "Ana")], Subject("ANA")) is Profile.USER


def test_groups_match_by_bare_name_or_by_dn_case_insensitively() -> None:
    member = Subject("carl", groups=("Ops",), group_dns=("CN=Ops,OU=Groups,DC=example,DC=test",))
    assert level([g("user", "group", "ops")], member) is Profile.USER
    assert level([g("user", "group", OPS_DN)], member) is Profile.USER
    assert level([g("user", "group", "cn=ops, ou=groups, dc=example, dc=test")], member) is Profile.USER
    # A DN names one group: the same name elsewhere in the tree is another group.
    assert level([g("user", "group", "cn=ops,ou=partners,dc=example,dc=test")], member) is None
    # A user name is not a group, nor the other way round.
    assert level([g("user", "user", "ops")], member) is None
    assert level([g("user", "group", "carl")], member) is None
    assert level([g("user", "group", "ops")], Subject("ops")) is None


def test_kinds_a_newer_version_adds_are_ignored_not_fatal() -> None:
    grants = [
        g("auditor", "user", "ana"),
        g("user", "robot", "ana"),
        g("user", "user", "ana", "server", "s1"),
        g("developer", "user", "ana", "model", "m"),
    ]
    assert level(grants, ANA, ("model", "m"), ("server", "s1")) is Profile.DEVELOPER
    assert level(grants, ANA) is None


def test_the_index_is_decoded_from_the_stored_set() -> None:
    raw = GrantSet((g("developer", "group", OPS_DN, "domain", "prod"),)).encode()
    index = GrantIndex.decode("/hostgate/grants", raw)
    who = Subject("carl", (), (OPS_DN.upper(),))
    assert index.level(who, [("domain", "prod")]) is Profile.DEVELOPER
    assert [x.subject for x in index.held_by(who)] == [OPS_DN]
    assert index.held_by(ANA) == []


def test_before_grants_only_the_admin_role_made_an_administrator() -> None:
    users = [UserRecord("admin", "h", ("admin",)), UserRecord("op", "h", ("user",)), UserRecord("x", "h", ())]
    migrated = legacy_grants(users)
    assert [(m.profile, m.subject, m.scope_kind) for m in migrated] == [("administrator", "admin", "cluster")]


def test_only_local_accounts_own_cluster_wide_administrator_grants_count_for_the_guard() -> None:
    users = [UserRecord("admin", "h"), UserRecord("ada", "h")]
    grants = [
        g("administrator", "user", "Admin"),
        g("administrator", "user", "ghost"),  # no such account (a directory user, or removed)
        g("administrator", "group", "admins"),
        g("administrator", "user", "ada", "domain", "prod"),
        g("developer", "user", "ada"),
    ]
    assert local_administrators(grants, users) == {"admin"}


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        (g("root", "user", "a"), "profile"),
        (g("user", "robot", "a"), "subject_kind"),
        (g("user", "user", "  "), "subject"),
        (g("user", "user", "a\tb"), "subject"),
        (g("user", "user", "x" * 257), "subject"),
        (g("user", "user", "a", "server", "s1"), "scope_kind"),
        (g("user", "user", "a", "cluster", "prod"), "scope"),
        (g("user", "user", "a", "model", ""), "scope"),
        (g("user", "user", "a", "domain", "a b"), "scope"),
    ],
)
def test_malformed_grants_are_refused_naming_the_field(grant: GrantRecord, field: str) -> None:
    with pytest.raises(InvalidField, match=f"field '{field}'"):
        check_grant(grant)


def test_a_grant_is_stored_trimmed_with_its_profile_in_lower_case() -> None:
    checked = check_grant(g("Developer", "group", f"  {OPS_DN} ", "model", " orders "))
    assert (checked.profile, checked.subject, checked.scope) == ("developer", OPS_DN, "orders")
    assert checked.same_grant(g("developer", "group", OPS_DN.upper(), "model", "orders"))
    assert not checked.same_grant(g("developer", "group", OPS_DN, "model", "Orders"))
