"""The LDAP provider against real slapd processes on loopback: binds, nested groups, injection, the order of
directories (not found → next; down → skipped; wrong password → final), LDAPS and StartTLS with the CA.

Two directories: "corp" (alice, bob, twins, nested and looping groups) and "partners" (dave, and another
alice with another password). Started once per module; tests that stop or pause a slapd start their own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.errors import (
    AuthenticationFailed,
    DirectoryUnavailable,
    DirectoryUserAmbiguous,
    EmptyPasswordRefused,
)
from hostgate.management.ldap import (
    DirectoryAuthenticator,
    DirectoryConfig,
    LdapSettings,
    NestedGroups,
    TlsMode,
)
from hostgate.management.ldap.client import DirectoryIdentity, user_filter
from tests.helpers.ports import free_port
from tests.helpers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, Slapd, slapd_binary

pytestmark = pytest.mark.skipif(
    slapd_binary() is None, reason="slapd/ldap-utils not installed (make sysdeps)"
)

PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"


def _person(uid: str, password: str, ou: str = "people") -> str:
    return f"""dn: uid={uid},ou={ou},{BASE_DN}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid}
sn: {uid}
userPassword: {password}
"""


def _group(cn: str, *members: str) -> str:
    lines = "".join(f"member: {m}\n" for m in members)
    return f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}"


def _tree(*entries: str) -> str:
    base = f"""dn: {BASE_DN}
objectClass: dcObject
objectClass: organization
dc: example
o: example

dn: ou=people,{BASE_DN}
objectClass: organizationalUnit
ou: people

dn: ou=contractors,{BASE_DN}
objectClass: organizationalUnit
ou: contractors

dn: ou=groups,{BASE_DN}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{BASE_DN}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: person
cn: hostgate
sn: service
userPassword: {SERVICE_PW}
"""
    return "\n".join([base, *entries])


ALICE = f"uid=alice,{PEOPLE}"
CORP = _tree(
    _person("alice", "alice-pass-1"),
    _person("bob", "bob-pass-1"),
    _person("twin", "twin-pass-1"),
    _person("twin", "twin-pass-2", ou="contractors"),
    _group("devs", ALICE),
    _group("engineering", f"cn=devs,{GROUPS}"),
    _group("staff", f"cn=engineering,{GROUPS}"),
    # A membership loop: expansion must end, each group counted once.
    _group("loop-a", ALICE, f"cn=loop-b,{GROUPS}"),
    _group("loop-b", f"cn=loop-a,{GROUPS}"),
    _group("admins", f"uid=bob,{PEOPLE}"),
)
PARTNERS = _tree(
    _person("dave", "dave-pass-1"),
    _person("alice", "alice-other-2"),
    _group("partners", f"uid=dave,{PEOPLE}"),
)


@pytest.fixture(scope="module")
def ca() -> pki.CertPair:
    return pki.create_ca("ldap-tests")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ldap")


@pytest.fixture(scope="module")
def secret_ref(workdir: Path) -> str:
    path = workdir / "service.pw"
    path.write_text(SERVICE_PW + "\n")
    return f"file:{path}"


@pytest.fixture(scope="module")
def corp(workdir: Path, ca: pki.CertPair) -> Iterator[Slapd]:
    with Slapd(workdir / "corp", ca, CORP) as server:
        yield server


@pytest.fixture(scope="module")
def partners(workdir: Path, ca: pki.CertPair) -> Iterator[Slapd]:
    with Slapd(workdir / "partners", ca, PARTNERS) as server:
        yield server


def directory(server: Slapd, secret_ref: str, name: str = "corp", **changes: object) -> DirectoryConfig:
    config = DirectoryConfig(
        name=name,
        urls=(server.url,),
        user_base=BASE_DN,
        bind_dn=SERVICE_DN,
        bind_password_ref=secret_ref,
        group_base=GROUPS,
        ca_file=str(server.ca_file),
        connect_timeout=2.0,
        timeout=2,
    )
    config = replace(config, **changes)  # type: ignore[arg-type]
    config.validate(0)
    return config


async def login(user: str, password: str, *directories: DirectoryConfig) -> DirectoryIdentity:
    provider = DirectoryAuthenticator(lambda: LdapSettings(directories))
    try:
        return await provider.authenticate(user, password)
    finally:
        provider.close()


async def test_a_user_binds_and_gets_direct_nested_and_looping_groups(corp: Slapd, secret_ref: str) -> None:
    who = await login("alice", "alice-pass-1", directory(corp, secret_ref))
    assert who.dn == ALICE
    assert who.directory == "corp"
    # OpenLDAP does not know AD's in-chain rule: "auto" found that in the root DSE and expanded level by level.
    assert who.nested == "iterative"
    assert who.groups == ("devs", "engineering", "loop-a", "loop-b", "staff")


async def test_depth_bound_and_nested_off_count_only_what_they_should(corp: Slapd, secret_ref: str) -> None:
    two = await login("alice", "alice-pass-1", directory(corp, secret_ref, max_depth=2))
    assert two.groups == ("devs", "engineering", "loop-a", "loop-b")
    direct = await login("alice", "alice-pass-1", directory(corp, secret_ref, nested=NestedGroups.OFF))
    assert direct.groups == ("devs", "loop-a")


async def test_a_wrong_password_is_refused_and_final(corp: Slapd, partners: Slapd, secret_ref: str) -> None:
    with pytest.raises(AuthenticationFailed) as wrong:
        await login("alice", "not-her-password", directory(corp, secret_ref))
    assert type(wrong.value) is AuthenticationFailed
    # partners' alice has this password, but corp knows an alice and refused it: partners is not asked.
    with pytest.raises(AuthenticationFailed):
        await login(
            "alice",
            "alice-other-2",
            directory(corp, secret_ref),
            directory(partners, secret_ref, name="partners"),
        )


@pytest.mark.parametrize("injected", ["*)(uid=*", "*", "alice)(|(uid=*", "al*", "alice\x00"])
async def test_an_injected_filter_matches_nothing(corp: Slapd, secret_ref: str, injected: str) -> None:
    config = directory(corp, secret_ref)
    assert "(" not in user_filter(config, injected).removeprefix("(&(objectClass=inetOrgPerson)(uid=")[:-2]
    # Every entry under the base would match the unescaped filter; escaped, none does: "not found".
    with pytest.raises(AuthenticationFailed) as refused:
        await login(injected, "alice-pass-1", config)
    assert type(refused.value) is AuthenticationFailed


async def test_an_unknown_user_is_looked_up_in_the_next_directory(
    corp: Slapd, partners: Slapd, secret_ref: str
) -> None:
    who = await login(
        "dave", "dave-pass-1", directory(corp, secret_ref), directory(partners, secret_ref, name="partners")
    )
    assert (who.directory, who.groups) == ("partners", ("partners",))
    with pytest.raises(AuthenticationFailed):
        await login(
            "nobody", "whatever-1", directory(corp, secret_ref), directory(partners, secret_ref, name="p2")
        )


async def test_an_empty_password_is_refused_before_any_bind(corp: Slapd, secret_ref: str) -> None:
    # The first directory is down: had anything been asked, the answer would be DirectoryUnavailable.
    down = replace(directory(corp, secret_ref, name="down"), urls=(f"ldap://127.0.0.1:{free_port()}",))
    with pytest.raises(EmptyPasswordRefused):
        await login("alice", "", down, directory(corp, secret_ref))


async def test_several_entries_for_one_name_are_refused(corp: Slapd, secret_ref: str) -> None:
    with pytest.raises(DirectoryUserAmbiguous):
        await login("twin", "twin-pass-1", directory(corp, secret_ref))


async def test_a_directory_with_nothing_listening_is_skipped(
    corp: Slapd, partners: Slapd, secret_ref: str
) -> None:
    down = replace(directory(corp, secret_ref, name="down"), urls=(f"ldap://127.0.0.1:{free_port()}",))
    who = await login("dave", "dave-pass-1", down, directory(partners, secret_ref, name="partners"))
    assert who.directory == "partners"
    with pytest.raises(DirectoryUnavailable) as nobody:
        await login("dave", "dave-pass-1", down)
    assert "down:" in nobody.value.message and "refused" in nobody.value.message.lower()


async def test_a_second_url_of_the_same_directory_is_used_when_the_first_is_down(
    corp: Slapd, secret_ref: str
) -> None:
    config = directory(corp, secret_ref)
    two_urls = replace(config, urls=(f"ldap://127.0.0.1:{free_port()}", corp.url))
    assert (await login("alice", "alice-pass-1", two_urls)).directory == "corp"


async def test_a_stopped_directory_is_skipped_within_its_timeouts(
    tmp_path: Path, ca: pki.CertPair, partners: Slapd, secret_ref: str
) -> None:
    with Slapd(tmp_path / "stopped", ca, CORP) as stopped:
        stopped.pause()  # SIGSTOP: TCP connects (the kernel's backlog), nothing ever answers
        for mode in (TlsMode.STARTTLS, TlsMode.LDAPS):
            url = stopped.ldaps_url if mode is TlsMode.LDAPS else stopped.url
            silent = replace(
                directory(stopped, secret_ref, name="stopped"),
                urls=(url,),
                tls=mode,
                connect_timeout=1.0,
                timeout=1,
            )
            started = time.monotonic()
            who = await login("dave", "dave-pass-1", silent, directory(partners, secret_ref, name="partners"))
            elapsed = time.monotonic() - started
            assert who.directory == "partners"
            # One receive timeout (1 s) for the silent one, then a loopback round trip; generous for load.
            assert elapsed < 8.0, (mode, elapsed)


async def test_ldaps_verifies_the_ca_and_refuses_another(
    corp: Slapd, secret_ref: str, tmp_path: Path
) -> None:
    ldaps = replace(directory(corp, secret_ref), urls=(corp.ldaps_url,), tls=TlsMode.LDAPS)
    assert (await login("alice", "alice-pass-1", ldaps)).groups
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(pki.create_ca("someone-else").cert_pem)
    with pytest.raises(DirectoryUnavailable) as refused:
        await login("alice", "alice-pass-1", replace(ldaps, ca_file=str(other_ca)))
    assert "certificate verify failed" in refused.value.message.lower()


async def test_starttls_verifies_the_ca_and_refuses_another(
    corp: Slapd, secret_ref: str, tmp_path: Path
) -> None:
    starttls = directory(corp, secret_ref)
    assert starttls.tls is TlsMode.STARTTLS
    assert (await login("bob", "bob-pass-1", starttls)).groups == ("admins",)
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(pki.create_ca("someone-else").cert_pem)
    with pytest.raises(DirectoryUnavailable) as refused:
        await login("bob", "bob-pass-1", replace(starttls, ca_file=str(other_ca)))
    assert "certificate verify failed" in refused.value.message.lower()


async def test_a_refused_service_account_makes_the_directory_unavailable_not_the_user_wrong(
    corp: Slapd, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-service-password")
    with pytest.raises(DirectoryUnavailable) as refused:
        await login("alice", "alice-pass-1", directory(corp, f"file:{wrong}"))
    assert "service account" in refused.value.message
    assert "not-the-service-password" not in refused.value.message


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now


async def test_a_login_is_recognised_for_cache_seconds_and_only_with_the_same_password(
    corp: Slapd, secret_ref: str
) -> None:
    clock = ManualClock()
    settings = LdapSettings((directory(corp, secret_ref),), cache_seconds=60)
    provider = DirectoryAuthenticator(lambda: settings, clock=clock)
    try:
        assert provider.recall("alice", "alice-pass-1") is None
        who = await provider.authenticate("alice", "alice-pass-1")
        assert provider.recall("alice", "alice-pass-1") == who
        assert provider.recall("alice", "alice-pass-2") is None
        assert provider.recall("bob", "alice-pass-1") is None
        clock.now += 60.0
        assert provider.recall("alice", "alice-pass-1") is None  # expired: the directory is asked again
        await provider.authenticate("alice", "alice-pass-1")
        settings = LdapSettings(settings.directories, cache_seconds=0)  # a change forgets, 0 keeps nothing
        assert provider.recall("alice", "alice-pass-1") is None
        await provider.authenticate("alice", "alice-pass-1")
        assert provider.recall("alice", "alice-pass-1") is None
    finally:
        provider.close()


async def test_a_user_base_that_does_not_exist_is_the_directorys_fault_not_no_such_user(
    corp: Slapd, secret_ref: str
) -> None:
    wrong_base = directory(corp, secret_ref, user_base=f"ou=nowhere,{BASE_DN}")
    with pytest.raises(DirectoryUnavailable) as refused:
        await login("alice", "alice-pass-1", wrong_base)
    assert "noSuchObject" in refused.value.message and "ou=nowhere" in refused.value.message
