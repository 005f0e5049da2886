"""Acceptance: the security switch of a session server and its offline bound, with real processes (issue #17).

Given a lone management member (SQLite store) and session server session01 (heartbeat every second) with model
"m" deployed (the 3270 sample against the mock 3270 host):

- an Administrator switches session01's security off: it learns it from its next heartbeat answer, its health
  answer and `hostgate servers` say so, its log has a WARNING, and a client with no credentials opens a
  session (as "anonymous"), also through the connector's direct connect; switched on again, the same client
  is refused;
- the setting survives a restart of the session server while management is down (kill -9);
- while the member is frozen (SIGSTOP): the connector re-uses its last token and route answer; an expired
  token of a user verified 10 s ago is accepted (WARNING naming the user), one verified past the bound is
  refused with HG-3220 saying why; while the member answers, the same expired token is only "expired".
"""

from __future__ import annotations

import json
import re
import sqlite3
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.connector import ClusterLocation, connect_to_model, connect_to_model_via_domain
from hostgate.errors import AuthenticationFailed, NoMemberAnswered
from hostgate.management.records import TOKEN_KEYS_KEY, TokenKeySet
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import write_model

__all__ = ["host_3270"]

pytestmark = [pytest.mark.slow]

INTERVAL = 1.0
SERVER = "session01"


@dataclass
class Lab:
    inst: Installation
    member: Member
    session: Member
    cluster_id: str

    @property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.inst.ca_file))

    def location(self, deadline: float = 10.0) -> ClusterLocation:
        return ClusterLocation(
            f"vhi-prod-sea:{self.inst.api_port}",
            self.inst.ca_file,
            hosts_file=self.inst.root / "hosts",
            deadline=deadline,
        )

    def health(self) -> dict[str, object]:
        resp = httpx.get(f"{self.session.url}/api/v1/health", verify=self.tls, timeout=5)
        body: dict[str, object] = resp.json()
        return body

    def switch(self, setting: str) -> None:
        out = self.inst.hostgate("servers", "security", SERVER, setting, *self.inst.client_args()).stdout
        assert f"security {setting}" in out
        poll(f"{SERVER} to run with security {setting}", lambda: self.health().get("security") == setting, 30)

    def open_raw(self, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.post(
            f"{self.session.url}/api/v1/sessions",
            json={"model": "m"},
            headers=headers,
            verify=self.tls,
            timeout=30,
        )

    def close_raw(self, session_id: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        resp = httpx.delete(
            f"{self.session.url}/api/v1/sessions/{session_id}", headers=headers, verify=self.tls, timeout=30
        )
        assert resp.status_code == 200, resp.text

    def server_log(self) -> str:
        return (self.inst.root / f"{SERVER}.server.log").read_text(errors="replace")

    def mint(self, *, verified_ago: float, lifetime: float, user: str = "admin") -> str:
        """A session token as a member mints it, with chosen times (signed with the cluster's active key,
        read from the member's SQLite store file)."""
        with sqlite3.connect(self.member.data_dir / "store.sqlite3") as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (TOKEN_KEYS_KEY.encode(),)).fetchone()
        active = TokenKeySet.decode(TOKEN_KEYS_KEY, bytes(row[0])).active
        assert active is not None
        issued = time.time() - verified_ago
        payload = {
            "typ": "session", "cid": self.cluster_id, "srv": SERVER, "sub": user, "mdl": "m", "dom": "",
            "jti": f"{user}-{issued}", "iat": int(issued), "exp": int(issued + lifetime),
        }  # fmt: skip
        return jwt.encode(payload, active.private_pem, algorithm="EdDSA", headers={"kid": active.kid})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[Lab]:
    with installation(tmp_path_factory.mktemp("switch")) as inst:
        member = inst.install_first(store="sqlite", cluster_name="vhi-prod-sea")
        member.start()
        member.wait_healthy()
        inst.write_hosts_file()
        session = inst.add_session_server(1, interval=INTERVAL)
        inst.deploy_model(session, write_model(inst.root, "demo3270", host_3270.port, name="m"))
        inst.hostgate("domain", "create", "prod", *inst.client_args())
        inst.hostgate("domain", "add-server", "prod", SERVER, *inst.client_args())
        cluster_id = str((member.health() or {})["cluster_id"])
        lab = Lab(inst, member, session, cluster_id)
        poll(f"{SERVER} to be live", lambda: _servers(lab)[SERVER]["live"], 30)
        yield lab


def _servers(lab: Lab) -> dict[str, dict[str, object]]:
    out = json.loads(lab.inst.hostgate("servers", "--json", *lab.inst.client_args()).stdout)
    return {s["name"]: s for s in out["servers"]}


def _ensure_member_up(lab: Lab) -> None:
    if lab.member.stopped:
        lab.member.cont()
    if lab.member.proc is None or lab.member.proc.poll() is not None:
        lab.member.start()
    lab.member.wait_healthy()
    poll(f"{SERVER} to be live again", lambda: _servers(lab)[SERVER]["live"], 30)


def test_switched_off_any_client_opens_a_session_and_switched_on_it_is_refused(lab: Lab) -> None:
    assert lab.health()["security"] == "on" and _servers(lab)[SERVER]["security"] == "on"  # the default
    refused = lab.open_raw(None)
    assert (refused.status_code, refused.json()["code"]) == (401, "HG-3001")

    lab.switch("off")
    assert _servers(lab)[SERVER]["security"] == "off"
    table = lab.inst.hostgate("servers", *lab.inst.client_args()).stdout
    assert re.search(rf"{SERVER}\b.*\bOFF\b", table), table
    assert re.search(
        r"WARNING.*session server session01: security OFF by the management cluster", lab.server_log()
    )
    opened = lab.open_raw(None)
    assert opened.status_code == 201, opened.text
    assert opened.json()["user"] == "anonymous"  # left open: switching security on signs it off
    # The connector's direct connect, no credentials: it learns the setting from the server's health answer.
    with connect_to_model(lab.session.url, "m", management=lab.location()) as s:
        assert s.info().user == "anonymous"
        assert s.current_entity() == "Menu"
    # A user who has a token is still recorded as that user.
    with connect_to_model(
        SERVER, "m", management=lab.location(), user="admin", password=lab.inst.password
    ) as s:
        assert s.info().user == "admin"

    lab.switch("on")
    refused = lab.open_raw(None)
    assert (refused.status_code, refused.json()["code"]) == (401, "HG-3001")
    poll(
        "the token-less session to be signed off",
        lambda: "closed 1 session(s) opened without a token" in lab.server_log(),
        30,
    )
    with pytest.raises(AuthenticationFailed, match="security on"):
        connect_to_model(lab.session.url, "m", management=lab.location())
    assert _servers(lab)[SERVER]["security"] == "on"


def test_only_an_administrator_switches_and_bad_input_changes_nothing(lab: Lab) -> None:
    args = lab.inst.client_args()
    pw = lab.inst.root / "bob.pw"
    pw.write_text("bob-password-1\n")
    lab.inst.hostgate("user", "add", "bob", "--new-password-file", str(pw), *args, check=False)
    bob = [a if a != str(lab.inst.password_file) else str(pw) for a in args] + ["--user", "bob"]
    proc = lab.inst.hostgate("servers", "security", SERVER, "off", *bob, check=False)
    assert proc.returncode != 0 and "HG-3002" in proc.stderr, proc.stderr
    proc = lab.inst.hostgate("servers", "security", "nope", "off", *args, check=False)
    assert proc.returncode != 0 and "HG-4103" in proc.stderr, proc.stderr
    admin = ("admin", lab.inst.password)
    resp = httpx.put(
        f"{lab.member.url}/api/v1/session-servers/{SERVER}/security",
        json={"security": "disabled"},
        auth=admin,
        verify=lab.tls,
    )
    assert (resp.status_code, resp.json()["code"]) == (400, "HG-1011"), resp.text
    assert _servers(lab)[SERVER]["security"] == "on"


def test_a_restart_while_management_is_down_keeps_the_setting(lab: Lab) -> None:
    lab.switch("off")
    try:
        lab.member.kill9()
        lab.session.terminate()
        lab.session.start()
        lab.session.wait_healthy()
        assert lab.health()["security"] == "off"  # from its own state file, no member to ask
        assert re.search(r"WARNING.*security OFF at start", lab.server_log())
        opened = lab.open_raw(None)
        assert opened.status_code == 201, opened.text
        lab.close_raw(opened.json()["id"], None)
        secrets = json.loads((lab.session.data_dir / "session-secrets.json").read_text())
        assert secrets["security"] is False
        assert (lab.session.data_dir / "session-secrets.json").stat().st_mode & 0o777 == 0o600
    finally:
        _ensure_member_up(lab)
        lab.switch("on")


def test_with_every_member_silent_recently_verified_users_get_in_and_later_ones_not(lab: Lab) -> None:
    # While the member answers, an expired token is only "expired", whoever it names.
    recent = lab.mint(verified_ago=10, lifetime=-70)  # verified 10 s ago, past its expiry and the clock skew
    refused = lab.open_raw(recent)
    assert (refused.status_code, refused.json()["code"]) == (401, "HG-3001")
    assert "expired" in refused.json()["message"]
    try:
        lab.member.stop()  # SIGSTOP: accepts connections, answers nothing
        # The session server is cut off once 1.5 heartbeat intervals pass without an answer.
        opened = poll("the expired token to be accepted within the bound", lambda: _opened(lab, recent), 30)
        lab.close_raw(opened, recent)
        log = lab.server_log()
        found = re.search(
            r"WARNING.*management unreachable since .*accepting user admin with an expired token, verified "
            r"(\d+) s ago, expired (\d+) s ago \(offline bound 300 s\)",
            log,
        )
        assert found, log[-2000:]
        assert 10 <= int(found[1]) < 60  # minted as verified 10 s ago; the rest is the time to be cut off
        assert (
            80 <= int(found[2]) < 130
        )  # and expired 80 s ago: within the bound, which counts from the expiry
        late = lab.mint(verified_ago=400, lifetime=-70)
        refused = lab.open_raw(late)
        body = refused.json()
        assert (refused.status_code, body["code"]) == (401, "HG-3220"), body
        assert "management unreachable since" in body["message"]
        verified = re.search(r"user 'admin' was verified (\d+) s ago", body["message"])
        assert verified and 400 <= int(verified[1]) < 460, body["message"]
        assert "the token expired" in body["message"]
        assert "offline bound of 300 s" in body["message"]
    finally:
        _ensure_member_up(lab)


def test_with_every_member_down_the_connector_reuses_its_last_answers(lab: Lab) -> None:
    creds = {"user": "admin", "password": lab.inst.password}
    with connect_to_model(SERVER, "m", management=lab.location(), **creds) as s:
        assert s.info().user == "admin"
    with connect_to_model_via_domain(lab.location(), "prod", "m", **creds) as s:
        assert s.server == SERVER
    try:
        lab.member.kill9()
        # No member answers: the last token (direct) and route answer (via domain) are used again.
        with connect_to_model(SERVER, "m", management=lab.location(deadline=3.0), **creds) as s:
            assert s.info().user == "admin"
        with connect_to_model_via_domain(lab.location(deadline=3.0), "prod", "m", **creds) as s:
            assert s.info().user == "admin"
        # Only for the same credentials: another password gets nothing remembered.
        with pytest.raises(NoMemberAnswered):
            connect_to_model(
                SERVER, "m", management=lab.location(deadline=3.0), user="admin", password="not-the-password"
            )
    finally:
        _ensure_member_up(lab)


def _opened(lab: Lab, token: str) -> str | None:
    resp = lab.open_raw(token)
    if resp.status_code == 201:
        return str(resp.json()["id"])
    assert resp.json()["code"] == "HG-3001", resp.text  # not cut off yet: only "expired"
    return None
