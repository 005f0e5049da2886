"""`hostgate sessions list|end` (issue #21) against a real member, session server and VT host: the CLI gets a
one-minute sessions-admin token per session server from the cluster and asks the server itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostgate.cli.lab import VtTestHost
from hostgate.connector import connect_to_model_via_domain
from hostgate.errors import HostgateError
from tests.helpers.lone_member import LoneMember, lone_member

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoneMember, VtTestHost]]:
    root = tmp_path_factory.mktemp("sessions-cli")
    host = VtTestHost(root / "vt.log").start()
    try:
        with lone_member(root / "lab", heartbeat_interval=1.0) as lab:
            inst = lab.inst
            inst.deploy_model(lab.session, host.model_file(root, "sessvt"))
            inst.hostgate("domain", "create", "sess", *inst.client_args())
            inst.hostgate("domain", "add-server", "sess", "session01", *inst.client_args())
            yield lab, host
    finally:
        host.stop()


def _open(lab: LoneMember) -> object:
    inst = lab.inst
    return connect_to_model_via_domain(
        lab.member.target, "sess", "sessvt", user="admin", password=inst.password, ca_file=inst.ca_file,
        hosts_file=Path(inst.root / "hosts"),
    )  # fmt: skip


def test_list_shows_a_live_session_and_end_ends_it(lab: tuple[LoneMember, VtTestHost]) -> None:
    member, _ = lab
    inst = member.inst
    with _open(member) as session:  # type: ignore[attr-defined]
        session.set_current_entity("CustomerList")
        listed = inst.hostgate("sessions", "list", "--json", *inst.client_args())
        rows = json.loads(listed.stdout)
        assert [r["server"] for r in rows] == ["session01"] and rows[0]["error"] is None
        (found,) = [s for s in rows[0]["sessions"] if s["id"] == session.id]
        assert found["user"] == "admin" and found["model"] == "sessvt" and found["entity"] == "CustomerList"
        text = inst.hostgate("sessions", "list", *inst.client_args()).stdout
        assert session.id in text and "1 session(s) on 1 server(s)" in text
        ended = inst.hostgate("sessions", "end", "session01", session.id, *inst.client_args())
        assert f"Session {session.id} on session01 ended." in ended.stdout
        with pytest.raises(HostgateError) as caught:
            session.current_entity()
        assert caught.value.code in ("HG-4202", "HG-4201"), caught.value
    after = json.loads(inst.hostgate("sessions", "list", "--json", *inst.client_args()).stdout)
    assert after[0]["sessions"] == []
    again = inst.hostgate("sessions", "end", "session01", "no-such-id", *inst.client_args(), check=False)
    assert again.returncode == 1 and "HG-4202" in again.stderr


def test_only_an_administrator_gets_the_token(lab: tuple[LoneMember, VtTestHost]) -> None:
    member, _ = lab
    inst = member.inst
    pw = inst.root / "plain.pw"
    pw.write_text("a-plain-users-password\n")
    inst.hostgate("user", "add", "plain", "--new-password-file", str(pw), *inst.client_args())
    done = inst.hostgate(
        "sessions", "list", "--server", member.member.target, "--ca-file", str(inst.ca_file),
        "--user", "plain", "--password-file", str(pw), check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "HG-3002" in done.stderr, done.stderr


def test_the_session_server_refuses_other_tokens(lab: tuple[LoneMember, VtTestHost]) -> None:
    member, _ = lab
    url = f"{member.session_url}/api/v1/admin/sessions"
    assert httpx.get(url, verify=member.ctx, timeout=30).json()["code"] == "HG-3001"
    # A session token (routing's answer) is bound to this server too, but is of another kind.
    route = httpx.post(
        f"{member.member.url}/api/v1/route", json={"domain": "sess"}, verify=member.ctx,
        auth=("admin", member.inst.password), timeout=30,
    ).json()  # fmt: skip
    refused = httpx.get(
        url, headers={"Authorization": f"Bearer {route['token']}"}, verify=member.ctx, timeout=30
    )
    assert refused.status_code in (401, 403) and refused.json()["code"].startswith("HG-3"), refused.text
