"""Issue #21, against a real lone server (SQLite member + session server as processes): the error texts a new
user meets first, the exit codes scripts use, and the maintenance commands that need no etcd.

- a refused connection names the address and the port; a session server's port where a member's is expected
  says so (HG-1072); a duplicate is a conflict (HG-1070, HTTP 409, exit 4), not a usage error; click's own
  usage errors are coded (HG-1071, exit 2);
- `cluster status`: 0 healthy, 2 down (no member answers), 3 could not tell; `--watch` without a terminal
  prints one stamped block (or JSON line) per look and ends on SIGINT with the last look's code;
- `cluster hosts-file` (KB 7021563's format, from the live membership), `servers remove`, `cluster
  move-leader` refused on a lone server (HG-2004), `--version --data-dir`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from hostgate.cli.lab import PYTHON, free_port
from hostgate.naming import read_hosts_file
from tests.helpers.lone_member import LoneMember, lone_member

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoneMember]:
    with lone_member(tmp_path_factory.mktemp("first-hour"), heartbeat_interval=1.0) as lab:
        yield lab


def _run(lab: LoneMember, *args: str, server: str | None = None) -> subprocess.CompletedProcess[str]:
    return lab.inst.hostgate(*args, *lab.inst.client_args(server), check=False)


def test_a_refused_connection_names_the_address_and_port(lab: LoneMember) -> None:
    port = free_port("127.0.0.1")
    done = _run(lab, "cluster", "status", server=f"127.0.0.1:{port}")
    assert done.returncode == 2, done.stderr  # down: no member answered
    assert "error HG-5101" in done.stderr
    assert f"127.0.0.1: port {port}: connection refused" in done.stderr, done.stderr
    assert "All connection attempts failed" not in done.stderr


def test_a_session_servers_port_where_a_members_is_expected_says_so(lab: LoneMember) -> None:
    done = _run(lab, "domain", "list", server=lab.session.target)
    assert done.returncode == 1, done.stderr
    assert f"error HG-1072: {lab.session.target} is session server 'session01', not a management member" in (
        done.stderr
    ), done.stderr
    assert "same one" in done.stderr  # the hint: every member uses the same API port


def test_a_duplicate_is_a_conflict_with_its_own_code_and_exit(lab: LoneMember) -> None:
    assert _run(lab, "domain", "create", "dup-first-hour").returncode == 0
    again = _run(lab, "domain", "create", "dup-first-hour")
    assert again.returncode == 4, again.stderr
    assert "error HG-1070: domain 'dup-first-hour' already exists" in again.stderr
    resp = httpx.post(
        f"{lab.member.url}/api/v1/domains",
        json={"name": "dup-first-hour"},
        verify=lab.ctx,
        auth=("admin", lab.inst.password),
        timeout=30,
    )
    assert resp.status_code == 409 and resp.json()["code"] == "HG-1070", resp.text
    pw = lab.inst.root / "new-user.pw"
    pw.write_text("another-long-passphrase\n")
    assert _run(lab, "user", "add", "dup-user", "--new-password-file", str(pw)).returncode == 0
    user_again = _run(lab, "user", "add", "dup-user", "--new-password-file", str(pw))
    assert user_again.returncode == 4 and "error HG-1070: user 'dup-user' already exists" in user_again.stderr


def test_clicks_usage_errors_carry_a_code(lab: LoneMember) -> None:
    done = lab.inst.hostgate("cluster", "status", "--no-such-option", check=False)
    assert done.returncode == 2
    assert "error HG-1071: No such option '--no-such-option'" in done.stderr, done.stderr
    assert "Usage: hostgate cluster status" in done.stderr
    unknown = lab.inst.hostgate("no-such-command", check=False)
    assert unknown.returncode == 2 and "error HG-1071: No such command 'no-such-command'" in unknown.stderr


def test_status_of_a_healthy_lone_server_exits_0(lab: LoneMember) -> None:
    done = _run(lab, "cluster", "status")
    assert done.returncode == 0, done.stderr
    assert "workhorse01" in done.stdout and "healthy" in done.stdout


def test_status_that_cannot_tell_exits_3(lab: LoneMember) -> None:
    wrong = lab.inst.root / "wrong.pw"
    wrong.write_text("not-the-password\n")
    done = lab.inst.hostgate(
        "cluster", "status", "--server", lab.member.target, "--ca-file", str(lab.inst.ca_file),
        "--password-file", str(wrong), check=False,
    )  # fmt: skip
    assert done.returncode == 3 and "HG-3001" in done.stderr, done.stderr


def _watch(lab: LoneMember, server: str | None, *extra: str, lines: int) -> tuple[list[str], int, str]:
    """Run `cluster status --watch` (pipes: no terminal), read ``lines`` lines, then Ctrl-C it (SIGINT)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
    env["XDG_STATE_HOME"] = str(lab.inst.root / "state")
    args = [PYTHON, "-m", "hostgate.cli.main", "cluster", "status", "--watch", "--interval", "0.2", *extra]
    with subprocess.Popen(
        [*args, *lab.inst.client_args(server)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            read = [proc.stdout.readline() for _ in range(lines)]
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(60)
            return read, rc, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_watch_without_a_terminal_prints_each_look_and_ends_on_sigint(lab: LoneMember) -> None:
    lines, rc, err = _watch(lab, None, "--json", lines=3)
    looks = [json.loads(line) for line in lines]  # three looks, one JSON object per line
    assert [look["verdict"] for look in looks] == ["healthy"] * 3
    assert looks[0]["status"]["answered_by"] == "workhorse01" and looks[0]["at"] < looks[2]["at"]
    assert rc == 0, err


def test_watch_text_without_a_terminal_is_a_log_of_stamped_blocks(lab: LoneMember) -> None:
    (first, second), rc, err = _watch(lab, f"127.0.0.1:{free_port('127.0.0.1')}", lines=2)
    assert first.rstrip().endswith("down (exit 2)"), first
    assert "HG-5101" in second and "connection refused" in second
    assert rc == 2, err  # the last look's verdict


def test_hosts_file_prints_the_kb_lines_of_the_live_membership(lab: LoneMember) -> None:
    done = _run(lab, "cluster", "hosts-file", "--alias", "vhi-test-sea")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["127.0.0.1", "workhorse01", "vhi-test-sea"]
    path = lab.inst.root / "generated-hosts"
    path.write_text(done.stdout)
    parsed = read_hosts_file(path)
    assert [str(a) for a in parsed.lookup("vhi-test-sea")] == ["127.0.0.1"]
    # The file works as an alias at once: status through it, with the members' API port.
    through = lab.inst.hostgate(
        "cluster", "status", "--server", f"vhi-test-sea:{lab.inst.api_port}", "--hosts-file", str(path),
        "--ca-file", str(lab.inst.ca_file), "--password-file", str(lab.inst.password_file), check=False,
    )  # fmt: skip
    assert through.returncode == 0, through.stderr
    bad = _run(lab, "cluster", "hosts-file", "--alias", "not_a_name")
    assert bad.returncode == 2 and "HG-1003" in bad.stderr


def test_move_leader_is_refused_clearly_on_a_lone_server(lab: LoneMember) -> None:
    done = _run(lab, "cluster", "move-leader", "workhorse01")
    assert done.returncode == 1, done.stderr
    assert "error HG-2004" in done.stderr and "lone server" in done.stderr, done.stderr


def test_version_says_the_store_of_a_data_dir(lab: LoneMember) -> None:
    done = lab.inst.hostgate("--version", "--data-dir", str(lab.member.data_dir))
    lines = done.stdout.splitlines()
    assert lines[0].startswith("hostgate ") and lines[1].startswith("Python 3.")
    assert lines[2].startswith("etcd ")
    assert "management server workhorse01 of cluster" in done.stdout
    assert "store: sqlite" in done.stdout and f"server: running (pid {lab.member.pid})" in done.stdout
    session = lab.inst.hostgate("--version", f"--data-dir={lab.session.data_dir}").stdout
    assert "store: none" in session
    missing = lab.inst.hostgate("--version", "--data-dir", str(lab.inst.root / "nothing"), check=False)
    assert missing.returncode == 1 and "error HG-1002" in missing.stderr


def test_servers_remove_takes_a_session_server_out(lab: LoneMember) -> None:
    # Last: session01 is gone afterwards.
    done = _run(lab, "servers", "remove", "session01")
    assert done.returncode == 0, done.stderr
    assert "Session server session01 removed." in done.stdout
    listed = _run(lab, "servers", "--json")
    assert json.loads(listed.stdout)["servers"] == []
    again = _run(lab, "servers", "remove", "session01")
    assert again.returncode == 1 and "HG-4103" in again.stderr
