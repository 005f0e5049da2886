"""Acceptance: `hostgate login` / `logout` / `user passwd` through the CLI against real member processes (SQLite
stores, real TLS): commands work without a password after a login, the token file is private, an expired or
superseded login is refused with its code, and a login of cluster B is refused by cluster A.

Every CLI run keeps its login under the installation's own XDG_STATE_HOME (``Installation.hostgate``).
"""

from __future__ import annotations

import json
import ssl
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from hostgate.cli.lab import Installation, installation, start_cluster
from hostgate.cli.main import cli
from hostgate.connector.cluster import cluster_id_of_ca

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("a")) as inst:
        start_cluster(inst, 1, store="sqlite")
        yield inst


@pytest.fixture(scope="module")
def cluster_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("b")) as inst:
        start_cluster(inst, 1, store="sqlite")
        yield inst


def _secret(inst: Installation, name: str, value: str) -> Path:
    path = inst.root / f"{name}.pw"
    path.write_text(value + "\n")
    return path


def _add_user(inst: Installation, name: str, password: str, *, admin: bool = False) -> Path:
    new = _secret(inst, name, password)
    extra = ["--admin"] if admin else []
    inst.hostgate("user", "add", name, "--new-password-file", str(new), *extra, *inst.client_args())
    return new


def _where(inst: Installation) -> list[str]:
    """--server and --ca-file, no credentials."""
    return ["--server", inst.members[0].target, "--ca-file", str(inst.ca_file)]


def _login_file(inst: Installation) -> Path:
    return inst.root / "state" / "hostgate" / "logins" / f"{cluster_id_of_ca(inst.ca_file.read_bytes())}.json"


def _fails(proc: subprocess.CompletedProcess[str], code: str, words: str = "") -> None:
    assert proc.returncode != 0, proc.stdout
    assert f"error {code}" in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def _whoami(inst: Installation, token: str) -> httpx.Response:
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    return httpx.get(
        f"{inst.members[0].url}/api/v1/whoami",
        headers={"Authorization": f"Bearer {token}"},
        verify=ctx,
        timeout=30.0,
    )


def test_after_login_commands_need_no_password_and_the_token_file_is_private(cluster_a: Installation) -> None:
    inst = cluster_a
    ada_pw = _add_user(inst, "ada", "ada-password-1", admin=True)
    out = inst.hostgate("login", "--user", "ada", "--password-file", str(ada_pw), *_where(inst)).stdout
    assert "Logged in to cluster" in out and "ada" in out
    path = _login_file(inst)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["token"].startswith("hgcli_")
    assert not list(path.parent.glob(".*.tmp"))  # written to a temporary file and renamed

    users = json.loads(inst.hostgate("user", "list", "--json", *_where(inst)).stdout)  # an Administrator's
    assert "ada" in {u["name"] for u in users}
    inst.hostgate("domain", "create", "prod", *_where(inst))
    _fails(
        inst.hostgate("user", "list", "--user", "admin", *_where(inst), check=False),
        "HG-1003", "logged in to this cluster as 'ada', not 'admin'",
    )  # fmt: skip

    # The doctor reads the member list with the login too (no HG-D12 "not checked: no credentials").
    hosts = inst.write_hosts_file()
    doctor = inst.hostgate(
        "doctor", f"vhi-prod-sea:{inst.api_port}", "--json", "--ca-file", str(inst.ca_file),
        "--hosts-file", str(hosts), "--source", "hosts_file", check=False,
    )  # fmt: skip
    assert "HG-D12" not in {f["code"] for f in json.loads(doctor.stdout)["findings"]}, doctor.stdout

    assert "Logged out" in inst.hostgate("logout", "--ca-file", str(inst.ca_file)).stdout
    assert not path.exists()
    _fails(inst.hostgate("user", "list", *_where(inst), check=False), "HG-3001", "not logged in")


def test_an_expired_login_is_refused_with_its_code(cluster_a: Installation) -> None:
    inst = cluster_a
    inst.hostgate("login", "--ttl", "60", *inst.client_args())
    path = _login_file(inst)
    stored = json.loads(path.read_text())
    stored["expires_at"] = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    path.write_text(json.dumps(stored))
    proc = inst.hostgate("cluster", "status", *_where(inst), check=False)
    _fails(proc, "HG-3240", "your login expired at 2023-11-14 22:13:20 UTC; run `hostgate login`")
    path.chmod(0o644)
    _fails(inst.hostgate("cluster", "status", *_where(inst), check=False), "HG-3245", "other users")
    inst.hostgate("logout", "--all")


def test_passwd_with_a_login_asks_the_current_password_and_ends_the_login(cluster_a: Installation) -> None:
    inst = cluster_a
    pia_pw = _add_user(inst, "pia", "pia-password-1")
    inst.hostgate("login", "--user", "pia", "--password-file", str(pia_pw), *_where(inst))
    token = json.loads(_login_file(inst).read_text())["token"]
    assert _whoami(inst, token).json()["name"] == "pia"
    new_pw = _secret(inst, "pia-new", "pia-password-2")
    wrong = _secret(inst, "pia-wrong", "not-pias-password")

    passwd = ["user", "passwd", "--new-password-file", str(new_pw), *_where(inst)]
    _fails(
        inst.hostgate(*passwd, "--current-password-file", str(wrong), check=False),
        "HG-3244", "current password is wrong",
    )  # fmt: skip
    short = _secret(inst, "short", "short")
    _fails(
        inst.hostgate(
            "user", "passwd", "--new-password-file", str(short), "--current-password-file", str(pia_pw),
            *_where(inst), check=False,
        ),
        "HG-1011", "field 'new_password'",
    )  # fmt: skip
    assert _whoami(inst, token).status_code == 200  # refused whole: the login and password unchanged
    # Not an Administrator: cannot reset another account's password.
    _fails(inst.hostgate("user", "passwd", "admin", *passwd[2:], check=False), "HG-3002")

    out = inst.hostgate(*passwd, "--current-password-file", str(pia_pw)).stdout
    assert "Password of pia changed" in out and "Your login ended" in out
    assert not _login_file(inst).exists()
    refused = _whoami(inst, token)
    assert refused.status_code == 401 and refused.json()["code"] == "HG-3241", refused.text
    assert "password of user 'pia' has changed" in refused.json()["message"]
    _fails(
        inst.hostgate("login", "--user", "pia", "--password-file", str(pia_pw), *_where(inst), check=False),
        "HG-3001",
    )
    inst.hostgate("login", "--user", "pia", "--password-file", str(new_pw), *_where(inst))
    inst.hostgate("logout", "--all")


def test_an_administrator_resets_a_password_and_prompts_ask_twice(
    cluster_a: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = cluster_a
    _add_user(inst, "quinn", "quinn-password-1")
    reset = _secret(inst, "quinn-reset", "quinn-password-2")
    out = inst.hostgate(
        "user", "passwd", "quinn", "--new-password-file", str(reset), *inst.client_args()
    ).stdout
    assert "Password of quinn changed" in out
    # Typed at the prompts (in process, click's runner feeds stdin): current once, the new one twice.
    monkeypatch.setenv("XDG_STATE_HOME", str(inst.root / "state"))
    runner = CliRunner()
    args = ["user", "passwd", "--user", "quinn", *_where(inst)]
    # Authenticated by the current password (--password-file): only the new one is asked, twice.
    result = runner.invoke(cli, [*args, "--password-file", str(reset)], input="quinn-password-3\n" * 2)
    assert result.exit_code == 0, result.output
    assert "Password of quinn changed" in result.output
    three = _secret(inst, "quinn-3", "quinn-password-3")
    inst.hostgate("login", "--user", "quinn", "--password-file", str(three), *_where(inst))
    result = runner.invoke(cli, args, input="quinn-password-3\nquinn-password-4\nquinn-password-4\n")
    assert result.exit_code == 0, result.output
    assert "Your login ended" in result.output
    four = _secret(inst, "quinn-4", "quinn-password-4")
    inst.hostgate("login", "--user", "quinn", "--password-file", str(four), *_where(inst))
    inst.hostgate("logout", "--all")


def test_a_login_of_cluster_b_is_refused_by_cluster_a(
    cluster_a: Installation, cluster_b: Installation
) -> None:
    cluster_b.hostgate("login", *cluster_b.client_args())
    token_b = json.loads(_login_file(cluster_b).read_text())["token"]
    assert _whoami(cluster_b, token_b).json()["name"] == "admin"
    refused = _whoami(cluster_a, token_b)
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "HG-3241"
    assert "this login is for cluster" in refused.json()["message"]
    # The CLI never sends B's login to A: it keeps logins by the cluster the CA names. With B's login in A's
    # user's state directory, a command for A finds no login of A's.
    logins_a = _login_file(cluster_a).parent
    logins_a.mkdir(mode=0o700, parents=True, exist_ok=True)
    (logins_a / _login_file(cluster_b).name).write_bytes(_login_file(cluster_b).read_bytes())
    (logins_a / _login_file(cluster_b).name).chmod(0o600)
    _fails(
        cluster_a.hostgate("cluster", "status", *_where(cluster_a), check=False), "HG-3001", "not logged in"
    )


def test_a_command_without_password_or_login_sends_nothing_that_counts_as_a_failed_login(
    cluster_a: Installation,
) -> None:
    # Before: the CLI sent Basic "admin:" (an empty password), which the member counted as a failed login for
    # admin from this address: a few such calls put the address in backoff, ten locked admin out.
    log = cluster_a.members[0].data_dir.parent / f"{cluster_a.members[0].name}.server.log"
    before = log.read_text(errors="replace").count("failed login for user 'admin'")
    proc = cluster_a.hostgate("domain", "list", *_where(cluster_a), check=False)
    assert log.read_text(errors="replace").count("failed login for user 'admin'") == before
    _fails(proc, "HG-3001", "not logged in")


def test_logout_ends_the_token_on_the_cluster_not_only_the_file(cluster_a: Installation) -> None:
    # Before issue #21 logout deleted the file only: a copy of the token (a backup, a leaked file) kept working
    # until it expired, up to 8 hours later.
    inst = cluster_a
    inst.hostgate("login", *inst.client_args())
    token = json.loads(_login_file(inst).read_text())["token"]
    assert _whoami(inst, token).status_code == 200
    assert "Logged out of cluster" in inst.hostgate("logout", "--ca-file", str(inst.ca_file)).stdout
    assert not _login_file(inst).exists()
    refused = _whoami(inst, token)
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "HG-3241" and "ended by `hostgate logout`" in refused.json()["message"]
    # A new login is a new token, untouched by the old one's end.
    inst.hostgate("login", *inst.client_args())
    assert _whoami(inst, json.loads(_login_file(inst).read_text())["token"]).status_code == 200
    inst.hostgate("logout", "--all")
