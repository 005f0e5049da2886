"""Acceptance: `hostgate grant ...` and `hostgate whoami` against a real member process (SQLite store) and a real
session server, and a data directory made before grants started by this version (the upgrade).

Given a member, a session server in domain prod and an account "op" without a grant: op's route request is
refused naming op, the model, the domain and the command that grants it; after `grant add user --user op
--domain prod` op is routed; op cannot change grants; the last local Administrator grant and the built-in admin
stay. An installation whose store holds only the old admin role keeps its administrator after the upgrade.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostgate.cli.lab import Installation, installation, poll, start_cluster
from hostgate.management.install import BOOTSTRAP_FILE
from hostgate.management.records import GRANTS_KEY

pytestmark = [pytest.mark.slow]

OP_PASSWORD = "op-password-123"


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("inst")) as inst:
        start_cluster(inst, 1, store="sqlite")
        inst.write_hosts_file()
        inst.add_session_server(1)
        args = inst.client_args()
        inst.hostgate("domain", "create", "prod", *args)
        inst.hostgate("domain", "add-server", "prod", "session01", *args)
        op_pw = inst.root / "op.pw"
        op_pw.write_text(OP_PASSWORD + "\n")
        inst.hostgate("user", "add", "op", "--new-password-file", str(op_pw), *args)
        yield inst


def _op(inst: Installation, flag: str = "--as") -> list[str]:
    """op's credentials: ``--as`` in `grant` commands (where --user names the grant's user), else --user."""
    return [
        "--server", inst.members[0].target, "--ca-file", str(inst.ca_file),
        flag, "op", "--password-file", str(inst.root / "op.pw"),
    ]  # fmt: skip


def _route(inst: Installation, user: str, password: str, domain: str, model: str) -> httpx.Response:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return httpx.post(
        f"{inst.members[0].url}/api/v1/route",
        json={"domain": domain, "model": model},
        headers={"Authorization": f"Basic {auth}"},
        verify=ssl.create_default_context(cafile=str(inst.ca_file)),
        timeout=30,
    )


def _live(inst: Installation) -> bool:
    servers = json.loads(inst.hostgate("servers", "--json", *inst.client_args()).stdout)
    return any(s["name"] == "session01" and s["live"] for s in servers["servers"])


def test_a_user_is_routed_only_once_granted_and_cannot_grant(inst: Installation) -> None:
    poll("session01 to be live", lambda: _live(inst), 30)
    refused = _route(inst, "op", OP_PASSWORD, "prod", "orders")
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "HG-3002"
    assert "'op'" in refused.json()["message"] and "'orders'" in refused.json()["message"]
    assert "hostgate grant add user --user op --domain prod" in refused.json()["hint"]

    args = inst.client_args()
    out = inst.hostgate("grant", "add", "user", "--user", "op", "--domain", "prod", *args).stdout
    assert "Granted User to user op on domain prod" in out
    routed = _route(inst, "op", OP_PASSWORD, "prod", "orders")
    assert routed.status_code == 200 and routed.json()["server"] == "session01", routed.text

    me = json.loads(inst.hostgate("whoami", "--json", *_op(inst, "--user")).stdout)
    assert me["roles"] == ["user"]
    assert [(p["profile"], p["scope_kind"], p["scope"]) for p in me["profiles"]] == [
        ("user", "domain", "prod")
    ]
    assert "domain prod" in inst.hostgate("whoami", *_op(inst, "--user")).stdout

    denied = inst.hostgate("grant", "add", "administrator", "--user", "op", *_op(inst), check=False)
    assert denied.returncode == 1 and "HG-3002" in denied.stderr and "Traceback" not in denied.stderr
    both = inst.hostgate("grant", "add", "user", "--user", "op", "--group", "g", *args, check=False)
    assert both.returncode == 2 and "exactly one of --user or --group" in both.stderr

    listed = json.loads(inst.hostgate("grant", "list", "--json", *args).stdout)
    assert {(g["profile"], g["subject"], g["scope"], g["granted_by"]) for g in listed} == {
        ("administrator", "admin", "", "install"),
        ("user", "op", "prod", "admin"),
    }
    assert [
        g["subject"]
        for g in json.loads(inst.hostgate("grant", "list", "--user", "OP", "--json", *args).stdout)
    ] == ["op"]
    inst.hostgate("grant", "remove", "user", "--user", "op", "--domain", "prod", *args)
    assert _route(inst, "op", OP_PASSWORD, "prod", "orders").status_code == 403
    gone = inst.hostgate("grant", "remove", "user", "--user", "op", "--domain", "prod", *args, check=False)
    assert gone.returncode == 1 and "HG-3202" in gone.stderr


def test_the_last_local_administrator_and_the_builtin_admin_stay(inst: Installation) -> None:
    args = inst.client_args()
    last = inst.hostgate("grant", "remove", "administrator", "--user", "admin", *args, check=False)
    assert last.returncode == 1 and "HG-3200" in last.stderr and "held now by admin" in last.stderr
    builtin = inst.hostgate("user", "remove", "admin", *args, check=False)
    assert builtin.returncode == 1 and "HG-3201" in builtin.stderr
    assert "Traceback" not in last.stderr + builtin.stderr
    assert inst.hostgate("cluster", "rename", "vhi-prod-sea", *args).returncode == 0  # still an Administrator


def test_a_data_directory_made_before_grants_keeps_its_administrator(tmp_path: Path) -> None:
    with installation(tmp_path / "old") as old:
        first = old.install_first(store="sqlite")
        # What an earlier version's install left: the admin account with the admin role, and no grant.
        bootstrap = first.data_dir / BOOTSTRAP_FILE
        records = json.loads(bootstrap.read_text())
        del records[GRANTS_KEY]
        bootstrap.write_text(json.dumps(records))
        first.start()
        first.wait_healthy()
        args = old.client_args()
        listed = json.loads(old.hostgate("grant", "list", "--json", *args).stdout)
        assert [(g["profile"], g["subject"], g["granted_by"]) for g in listed] == [
            ("administrator", "admin", "(upgrade: admin role)")
        ]
        pw = tmp_path / "ada.pw"
        pw.write_text("ada-password-1\n")
        old.hostgate(
            "user", "add", "ada", "--admin", "--new-password-file", str(pw), *args
        )  # --admin still works
        ada = [
            "--server",
            first.target,
            "--ca-file",
            str(old.ca_file),
            "--user",
            "ada",
            "--password-file",
            str(pw),
        ]
        assert json.loads(old.hostgate("whoami", "--json", *ada).stdout)["roles"] == ["admin"]
