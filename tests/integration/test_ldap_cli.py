"""Acceptance: `hostgate ldap set|show|test` against a real member process (SQLite store) and a real slapd, and a
directory user running a CLI command with their directory password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.cli.lab import Installation, installation, start_cluster
from tests.helpers.ports import free_port
from tests.helpers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, Slapd, slapd_binary
from tests.integration.test_ldap import CORP, GROUPS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(slapd_binary() is None, reason="slapd/ldap-utils not installed (make sysdeps)"),
]


@pytest.fixture(scope="module")
def corp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("corp"), pki.create_ca("ldap-cli"), CORP) as server:
        yield server


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("inst")) as inst:
        start_cluster(inst, 1, store="sqlite")
        yield inst


def _settings_file(
    path: Path, corp: Slapd, user_filter: str = "(&(objectClass=inetOrgPerson)(uid={user}))"
) -> Path:
    secret = path.parent / "svc.pw"
    secret.write_text(SERVICE_PW + "\n")
    path.write_text(
        f"""# the service account's password is a reference, resolved on each member
[[directories]]
name = "old-dc"
urls = ["ldap://127.0.0.1:{free_port()}"]
user_base = "{BASE_DN}"
bind_dn = "{SERVICE_DN}"
bind_password_ref = "file:{secret}"
connect_timeout = 1.0
timeout = 1

[[directories]]
name = "corp"
urls = ["{corp.url}"]
tls = "starttls"
ca_file = "{corp.ca_file}"
user_base = "{BASE_DN}"
user_filter = "{user_filter}"
bind_dn = "{SERVICE_DN}"
bind_password_ref = "file:{secret}"
group_base = "{GROUPS}"
"""
    )
    return path


def test_set_show_test_and_a_directory_user_runs_a_command(
    member: Installation, corp: Slapd, tmp_path: Path
) -> None:
    args = member.client_args()
    bad = member.hostgate(
        "ldap", "set", str(_settings_file(tmp_path / "bad.toml", corp, "(uid=alice)")), *args, check=False
    )
    assert bad.returncode == 1 and "HG-3100" in bad.stderr and "user_filter" in bad.stderr
    assert "Traceback" not in bad.stderr
    # Typed before it is sent (hostgate.messages.LdapSettingsUpdate): a bare string is not a list of URLs.
    one_url = tmp_path / "one-url.toml"
    one_url.write_text(
        _settings_file(tmp_path / "x.toml", corp).read_text().replace("urls = [", "urls = ", 1)
    )
    one_url.write_text(one_url.read_text().replace('"]\nuser_base', '"\nuser_base', 1))
    typed = member.hostgate("ldap", "set", str(one_url), *args, check=False)
    assert typed.returncode == 1 and "HG-1011" in typed.stderr, typed.stderr
    assert "directories[0].urls" in typed.stderr and "Traceback" not in typed.stderr
    assert json.loads(member.hostgate("ldap", "show", "--json", *args).stdout)["directories"] == []

    member.hostgate("ldap", "set", str(_settings_file(tmp_path / "ldap.toml", corp)), *args)
    shown = member.hostgate("ldap", "show", "--json", *args).stdout
    assert [d["name"] for d in json.loads(shown)["directories"]] == ["old-dc", "corp"]

    report = json.loads(member.hostgate("ldap", "test", "alice", "--json", *args).stdout)
    outcomes = {r["directory"]: r for r in report["directories"]}
    assert outcomes["old-dc"]["outcome"] == "down"
    assert outcomes["corp"]["outcome"] == "found"
    assert outcomes["corp"]["groups"] == ["devs", "engineering", "loop-a", "loop-b", "staff"]
    text = member.hostgate("ldap", "test", "alice", *args).stdout
    assert "found" in text and "staff" in text
    for out in (shown, text, json.dumps(report)):
        assert SERVICE_PW not in out

    alice_pw = tmp_path / "alice.pw"
    alice_pw.write_text("alice-pass-1\n")
    alice = ["--server", member.members[0].target, "--ca-file", str(member.ca_file)]
    alice += ["--user", "alice", "--password-file", str(alice_pw)]
    status = member.hostgate("cluster", "status", "--json", *alice)
    assert json.loads(status.stdout)["members"]
    refused = member.hostgate("ldap", "show", *alice, check=False)  # a directory user is no Administrator
    assert refused.returncode == 1 and "HG-3002" in refused.stderr
