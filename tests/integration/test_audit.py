"""The audit trail against a real member (a process, its store: SQLite, or its own etcd member), through the CLI
a user runs: an admin change, a refused change, bad passwords and a lockout each leave their entry with who,
when, from where and what; ``hostgate audit`` filters them; no password, right or wrong, is in any stored byte.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from hostgate.cli.lab import Installation, installation, poll
from tests.helpers.etcd import requires_etcd

pytestmark = [pytest.mark.slow]

BOB_PASSWORD = "Bob-Secret-Passphrase-9931"
EVE_PASSWORD = "Eve-Secret-Passphrase-1177"
GUESS = "Guessed-Wrong-Passphrase-5150"


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=requires_etcd)])
def inst(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Installation]:
    with installation(tmp_path / "lab") as inst:
        first = inst.install_first(store=request.param)
        config = first.data_dir / "hostgate.toml"
        doc = tomllib.loads(config.read_text())
        # No backoff and no fail delay (the test's guesses then cost no waiting); lockout after 4 failures.
        doc["security"].update(login_free_failures=1000, login_fail_delay=0.0, lockout_failures=4)
        config.write_text(tomli_w.dumps(doc))
        first.start()
        first.wait_healthy()
        yield inst


def _cli(inst: Installation, *args: str, user: str = "admin", password_file: Path | None = None) -> Any:
    client = [*inst.client_args(), "--user", user]
    if password_file is not None:
        client[client.index("--password-file") + 1] = str(password_file)
    return inst.hostgate(*args, *client, check=False)


def _audit(inst: Installation, *args: str) -> list[dict[str, Any]]:
    proc = _cli(inst, "audit", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


def test_changes_refusals_failed_logins_and_a_lockout_are_audited(inst: Installation) -> None:
    member = inst.members[0]
    started = time.time()
    bob_pw, eve_pw = inst.root / "bob.pw", inst.root / "eve.pw"
    bob_pw.write_text(BOB_PASSWORD + "\n")
    eve_pw.write_text(EVE_PASSWORD + "\n")
    assert _cli(inst, "user", "add", "bob", "--new-password-file", str(bob_pw)).returncode == 0
    assert _cli(inst, "user", "add", "eve", "--new-password-file", str(eve_pw)).returncode == 0
    refused = _cli(inst, "domain", "create", "prod", user="eve", password_file=eve_pw)
    assert refused.returncode == 1 and "HG-3002" in refused.stderr

    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    guess = "Basic " + base64.b64encode(f"bob:{GUESS}".encode()).decode()
    with httpx.Client(base_url=member.url, verify=ctx, timeout=30.0) as api:
        statuses = [api.get("/api/v1/whoami", headers={"Authorization": guess}).status_code for _ in range(6)]
    assert statuses == [401] * 4 + [429] * 2  # locked out after the 4th failure

    def entries_present() -> list[dict[str, Any]]:
        found = _audit(inst, "--since", "10m", "--oldest-first")
        actions = [e["action"] for e in found]
        return found if "login.lockout" in actions and "create_domain" in actions else []

    found = poll("the audit entries", entries_present, 60.0, 0.5)
    source = member.address  # the CLI and httpx connect from the member's loopback address
    by = {(e["action"], e["target"]): e for e in found}
    add_bob = by[("add_user", "bob")]
    assert (add_bob["actor"], add_bob["outcome"], add_bob["member"]) == ("admin", "ok", member.name)
    assert add_bob["detail"]["password"] == "(removed)" and started - 1 <= add_bob["time"] <= time.time()
    assert add_bob["source"].startswith("127.")
    create = by[("create_domain", "prod")]
    assert (create["actor"], create["outcome"]) == ("eve", "HG-3002")
    failed = by[("login.failed", "bob")]
    assert (failed["outcome"], failed["source"]) == ("HG-3001", source)
    lockout = by[("login.lockout", "bob")]
    assert (lockout["outcome"], lockout["detail"]["failures"]) == ("HG-3003", "4")
    assert [e["action"] for e in found].count("login.lockout") == 1

    logins = _audit(inst, "--action", "login")  # newest first, the family login.*
    assert [e["action"] for e in logins] == ["login.lockout", "login.failed"]
    assert _audit(inst, "--since", "2999-01-01T00:00") == []
    newest = _audit(inst, "--limit", "1")
    assert len(newest) == 1 and newest[0]["time"] == max(e["time"] for e in found)

    table = _cli(inst, "audit", "--action", "add_user")
    assert table.returncode == 0 and "bob" in table.stdout and "eve" in table.stdout
    bad = _cli(inst, "audit", "--since", "last tuesday")
    assert bad.returncode == 2 and "HG-1003" in bad.stderr

    inst.stop_all()  # every byte the member wrote: store files, etcd's WAL and snapshots, logs
    stored = b"".join(
        p.read_bytes() for p in inst.root.rglob("*") if p.is_file() and not p.name.endswith(".pw")
    )
    assert b"login.lockout" in stored  # the search covers the store's bytes
    for secret in (BOB_PASSWORD, EVE_PASSWORD, GUESS):
        assert secret.encode() not in stored, secret


@pytest.mark.parametrize("inst", ["sqlite"], indirect=True)
def test_failed_logins_still_counted_at_a_stop_are_stored(inst: Installation) -> None:
    """A member stopped (SIGTERM) within a failure window kept its count of failed logins only in memory and
    lost it: the login guard was never closed, so the count never became an audit entry."""
    member = inst.members[0]
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    guess = "Basic " + base64.b64encode(f"admin:{GUESS}".encode()).decode()
    with httpx.Client(base_url=member.url, verify=ctx, timeout=30.0) as api:
        statuses = [api.get("/api/v1/whoami", headers={"Authorization": guess}).status_code for _ in range(3)]
    assert statuses == [401] * 3  # the first is recorded at once, the next two only counted (one window)
    member.terminate()
    member.start()
    member.wait_healthy()

    def counted() -> list[dict[str, Any]]:
        found = _audit(inst, "--action", "login.failed")
        return [e for e in found if e["target"] == "admin" and e["detail"].get("count")]

    [entry] = poll("the counted failures' entry", counted, 60.0, 0.5)
    assert entry["detail"]["count"] == "2" and entry["outcome"] == "HG-3001"
