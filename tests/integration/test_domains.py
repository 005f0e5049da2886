"""Acceptance: session servers, load-distribution domains and session-server failover, with real processes.

Given 3 management members and 3 session servers on 127.0.0.x (heartbeat every second), routing follows the
domain's priority tiers and weights, skips servers that stop heartbeating or that a client reports, and
sessions outlive the whole management cluster. Sessions are real: every session server has model "m" (the 3270
sample, pointed at the mock 3270 host) deployed, and a session signs on to the host when it opens.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll, start_cluster
from hostgate.connector import ClusterLocation, SessionLost, connect_to_model_via_domain
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import write_model
from tests.helpers.ports import free_port

__all__ = ["host_3270"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]

INTERVAL = 1.0
# Chi-square critical value, 2 degrees of freedom, significance 0.001 (three servers in one tier).
CHI2_2DOF_P001 = 13.816


class Api:
    """Direct calls to one management member's API (keep-alive), for the many-routings tests."""

    def __init__(self, inst: Installation, member: Member) -> None:
        auth = base64.b64encode(f"admin:{inst.password}".encode()).decode()
        self.client = httpx.Client(
            base_url=member.url,
            verify=ssl.create_default_context(cafile=str(inst.ca_file)),
            headers={"Authorization": f"Basic {auth}"},
            timeout=10,
        )

    def route(self, domain: str, **extra: Any) -> dict[str, Any]:
        resp = self.client.post("/api/v1/route", json={"domain": domain, "model": "m", **extra})
        body: dict[str, Any] = resp.json()
        if resp.status_code != 200:
            raise AssertionError(f"route failed: {resp.status_code} {body}")
        return body

    def route_error(self, domain: str) -> dict[str, Any]:
        resp = self.client.post("/api/v1/route", json={"domain": domain, "model": "m"})
        assert resp.status_code >= 400
        body: dict[str, Any] = resp.json()
        return body

    def servers(self) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.client.get("/api/v1/session-servers").json()}

    def close(self) -> None:
        self.client.close()


def _setup(inst: Installation, host: HostProcess) -> None:
    start_cluster(inst, 3)
    inst.write_hosts_file()
    model = write_model(inst.root, "demo3270", host.port, name="m")
    for i in (1, 2, 3):
        inst.deploy_model(inst.add_session_server(i, interval=INTERVAL), model)
    args = inst.client_args()
    for domain, members in {
        "weighted": [("session01", 1, 1), ("session02", 3, 1), ("session03", 6, 1)],
        "tiers": [("session01", 1, 1), ("session02", 1, 1), ("session03", 1, 2)],
    }.items():
        inst.hostgate("domain", "create", domain, *args)
        for server, weight, priority in members:
            inst.hostgate(
                "domain",
                "add-server",
                domain,
                server,
                "--weight",
                str(weight),
                "--priority",
                str(priority),
                *args,
            )


def _all_live(api: Api, names: set[str]) -> bool:
    servers = api.servers()
    return all(servers.get(n, {}).get("live") for n in names)


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess
) -> Iterator[tuple[Installation, Api]]:
    with installation(tmp_path_factory.mktemp("domains")) as inst:
        _setup(inst, host_3270)
        api = Api(inst, inst.members[0])
        poll("every session server live", lambda: _all_live(api, {"session01", "session02", "session03"}), 30)
        yield inst, api
        api.close()


def _connect(inst: Installation, domain: str, *, as_location: bool = False) -> Any:
    if as_location:  # where the cluster is, as one value built once (issue #16)
        where = ClusterLocation(f"vhi-prod-sea:{inst.api_port}", inst.ca_file, hosts_file=inst.root / "hosts")
        return connect_to_model_via_domain(where, domain, "m", user="admin", password=inst.password)
    return connect_to_model_via_domain(
        f"vhi-prod-sea:{inst.api_port}",
        domain,
        "m",
        user="admin",
        password=inst.password,
        ca_file=inst.ca_file,
        hosts_file=inst.root / "hosts",
    )


def test_servers_are_listed_live_with_their_domains(lab: tuple[Installation, Api]) -> None:
    inst, _ = lab
    out = json.loads(inst.hostgate("servers", "--json", *inst.client_args()).stdout)
    rows = {s["name"]: s for s in out["servers"]}
    assert set(rows) == {"session01", "session02", "session03"}
    assert all(s["live"] for s in rows.values())
    assert rows["session03"]["domains"] == ["tiers", "weighted"]
    assert rows["session01"]["advertised"].startswith("127.0.0.11:")
    shown = json.loads(inst.hostgate("domain", "show", "weighted", "--json", *inst.client_args()).stdout)
    assert [(m["server"], m["weight"]) for m in shown["members"]] == [
        ("session01", 1),
        ("session02", 3),
        ("session03", 6),
    ]


def test_distribution_over_3000_routings_matches_the_weights(lab: tuple[Installation, Api]) -> None:
    _, api = lab
    counts = Counter(api.route("weighted")["server"] for _ in range(3000))
    expected = {"session01": 300.0, "session02": 900.0, "session03": 1800.0}
    chi2 = sum((counts[s] - e) ** 2 / e for s, e in expected.items())
    assert set(counts) == set(expected), counts
    assert chi2 < CHI2_2DOF_P001, f"{counts} is not 1:3:6 (chi-square {chi2:.1f})"


def test_priority_tier_falls_back_only_when_the_whole_tier_is_down(lab: tuple[Installation, Api]) -> None:
    inst, api = lab
    s1, s2, _ = inst.session_servers
    first = Counter(api.route("tiers")["server"] for _ in range(200))
    assert set(first) == {"session01", "session02"}, first
    try:
        s1.stop()  # SIGSTOP: it stops heartbeating (and would never answer)
        poll("session01 to be skipped", lambda: not api.servers()["session01"]["live"], 10)
        one_left = Counter(api.route("tiers")["server"] for _ in range(100))
        assert set(one_left) == {"session02"}, one_left
        s2.stop()
        poll("session02 to be skipped", lambda: not api.servers()["session02"]["live"], 10)
        fallback = Counter(api.route("tiers")["server"] for _ in range(100))
        assert set(fallback) == {"session03"}, fallback
    finally:
        s1.cont()
        s2.cont()
    poll("the first tier back", lambda: _all_live(api, {"session01", "session02"}), 10)
    assert set(Counter(api.route("tiers")["server"] for _ in range(100))) == {"session01", "session02"}


def test_a_server_reported_unreachable_is_skipped_until_its_next_heartbeat(
    lab: tuple[Installation, Api],
) -> None:
    inst, api = lab
    s1 = inst.session_servers[0]
    # A report counts only for a server this member recently routed the user to (issue #15, finding 6).
    poll("a routing to session01", lambda: api.route("tiers")["server"] == "session01", 30)
    try:
        s1.stop()  # frozen: no heartbeat can clear the report while the test looks
        assert api.route("tiers", unreachable=["session01"])["server"] == "session02"
        assert not api.servers()["session01"]["live"]
        assert {api.route("tiers")["server"] for _ in range(20)} == {"session02"}
    finally:
        s1.cont()
    poll("session01's next heartbeat to clear the report", lambda: api.servers()["session01"]["live"], 10)


def test_no_live_server_is_a_coded_error(lab: tuple[Installation, Api]) -> None:
    inst, api = lab
    inst.hostgate("domain", "create", "empty", *inst.client_args())
    body = api.route_error("empty")
    assert body["code"] == "HG-4101"
    assert api.route_error("nope")["code"] == "HG-4102"


def test_a_token_is_refused_by_another_session_server(lab: tuple[Installation, Api]) -> None:
    inst, api = lab
    route = api.route("tiers")
    other = next(s for s in inst.session_servers if s.name != route["server"])
    resp = httpx.post(
        f"{other.url}/api/v1/sessions",
        json={"model": "m"},
        headers={"Authorization": f"Bearer {route['token']}"},
        verify=ssl.create_default_context(cafile=str(inst.ca_file)),
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "HG-3852"
    assert "Token binding is invalid" in resp.json()["message"]


def test_session_server_kill9_gives_session_lost_and_a_retry_lands_elsewhere(
    tmp_path: Path, host_3270: HostProcess
) -> None:
    with installation(tmp_path) as inst:
        _setup(inst, host_3270)
        api = Api(inst, inst.members[1])
        poll("live servers", lambda: _all_live(api, {"session01", "session02", "session03"}), 30)
        session = _connect(inst, "tiers")
        victim = next(s for s in inst.session_servers if s.name == session.server)
        assert session.ping().server == victim.name
        victim.kill9()
        with pytest.raises(SessionLost):
            session.ping()
        session.close()
        # The application retries: it lands on another server at once (the connector reports the dead one) ...
        with _connect(inst, "tiers") as again:
            assert again.server != victim.name
            assert again.ping().server == again.server
        # ... and routing avoids the dead server by itself once its heartbeats are missed.
        poll(
            "the dead server to be skipped", lambda: not api.servers()[victim.name]["live"], INTERVAL * 3 + 2
        )
        assert victim.name not in {api.route("tiers")["server"] for _ in range(100)}
        api.close()


def test_sessions_outlive_the_management_cluster_and_registrations_resume(
    tmp_path: Path, host_3270: HostProcess
) -> None:
    with installation(tmp_path) as inst:
        _setup(inst, host_3270)
        api = Api(inst, inst.members[0])
        poll("live servers", lambda: _all_live(api, {"session01", "session02", "session03"}), 30)
        api.close()
        sessions = [_connect(inst, "weighted", as_location=i % 2 == 1) for i in range(6)]
        for m in inst.members:
            m.kill9()
        for s in sessions:
            assert s.ping().session == s.id  # every management member is down: sessions keep working
            assert s.current_entity() == "Menu"  # ... and keep driving their host
        for m in inst.members:
            m.start()
        for m in inst.members:
            m.wait_healthy()
        api = Api(inst, inst.members[2])
        poll(
            "session servers to re-register by themselves",
            lambda: _all_live(api, {"session01", "session02", "session03"}),
            30,
        )
        active = sum(v["active_sessions"] for v in api.servers().values())
        assert active == 6
        for s in sessions:
            s.close()
        api.close()


def test_one_host_runs_both_roles_from_one_data_directory(tmp_path: Path) -> None:
    with installation(tmp_path) as inst:
        member = inst.install_first(store="sqlite", cluster_name="lone")
        member.start()
        member.wait_healthy()
        session_port = free_port(member.address)
        inst.hostgate(
            "install", "--role", "session", "--data-dir", str(member.data_dir), "--address", member.address,
            "--port", str(session_port), "--management", member.target, "--heartbeat-interval", "1",
            "--ca-file", str(inst.ca_file), "--admin-password-file", str(inst.password_file),
        )  # fmt: skip
        member.terminate()
        member.start()
        member.wait_healthy()
        api = Api(inst, member)
        poll("the member's own session role to heartbeat", lambda: _all_live(api, {member.name}), 20)
        inst.hostgate("domain", "create", "here", *inst.client_args())
        inst.hostgate("domain", "add-server", "here", member.name, *inst.client_args())
        route = api.route("here")
        assert route["server"] == member.name
        assert route["port"] == session_port
        # Installing the role twice is refused, and the data directory is left as it was.
        before = (member.data_dir / "hostgate.toml").read_text()
        proc = inst.hostgate(
            "install", "--role", "session", "--data-dir", str(member.data_dir), "--address", member.address,
            "--port", str(session_port), "--management", member.target,
            "--ca-file", str(inst.ca_file), "--admin-password-file", str(inst.password_file), check=False,
        )  # fmt: skip
        assert proc.returncode == 1 and "HG-4001" in proc.stderr
        assert (member.data_dir / "hostgate.toml").read_text() == before
        api.close()
