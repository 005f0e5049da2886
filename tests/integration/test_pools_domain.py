"""Acceptance: ``connect_to_session_via_domain(alias, domain, pool)`` over real session servers (issue #18).

Given a lone management member and a domain of three session servers: session01 and session02 run a pool per
test host (3270, 5250, VT), session02 keeps idle sessions of the 3270 pool and session01 none, session03 runs
no pool at all. Then:

- a client gets a ready session at the pool's startup entity on every host kind, and closing it gives it back;
- with fresh heartbeats, routing lands on the server that has an idle session of the pool (observed over
  several rounds); a server without the pool is never chosen, and a pool no server runs is HG-4360;
- a grant on the pool (or its model) lets a plain user route to it, a grant on another pool does not;
- a client process killed (SIGKILL) while holding a session it got via the domain gets it reclaimed;
- a host that drops an idle session (the TCP connection ends) is healed: the next client gets a fresh one.
"""

from __future__ import annotations

import base64
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.connector import Connector, Session, connect_to_session_via_domain
from hostgate.errors import NotAuthorized, PoolNotInDomain, error_from_payload
from hostgate.webservices.app import build_app
from hostgate.webservices.invoke import ClusterTrust
from hostgate.webservices.wiring import assemble
from tests.helpers.cluster_calls import count_cluster_calls
from tests.helpers.hosts import HostProcess, host_3270, host_5250, host_vt
from tests.helpers.models import write_model
from tests.helpers.proxy import TcpRelay
from tests.helpers.webservices import plugin_cfg_text

__all__ = ["host_3270", "host_5250", "host_vt"]

pytestmark = [pytest.mark.slow]

ALIAS = "vhi-prod-sea"
DOMAIN = "prod"
KINDS = ["3270", "5250", "vt"]
INTERVAL = 0.5  # heartbeats: the pool figures routing reads are at most this old
LEASE = 3.0
PLAIN_USER, PLAIN_PASSWORD = "clerk", "clerk-password-1"

POOL = """\
  p{kind}:
    model: demo{kind}
    startup_entity: CustomerList
    max_concurrent: 2
    initial_idle: {idle}
    min_idle: {idle}
    max_idle: 2
    max_wait: 30
    lease: {lease}
    idle_timeout: {idle_timeout}
"""
HEALED = """\
  healed:
    model: relayed3270
    startup_entity: CustomerList
    max_concurrent: 2
    initial_idle: 1
    min_idle: 1
    max_wait: 30
"""


@dataclass
class Lab:
    inst: Installation
    servers: dict[str, Member]
    relay: TcpRelay
    ctx: ssl.SSLContext

    def kwargs(self, user: str = "admin", password: str | None = None) -> dict[str, Any]:
        return {
            "user": user,
            "password": self.inst.password if password is None else password,
            "ca_file": self.inst.ca_file,
            "hosts_file": self.inst.root / "hosts",
        }

    @property
    def alias(self) -> str:
        return f"{ALIAS}:{self.inst.api_port}"

    def connect(self, pool: str, **kwargs: Any) -> Session:
        return connect_to_session_via_domain(self.alias, DOMAIN, pool, **(self.kwargs() | kwargs))

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        auth = base64.b64encode(f"admin:{self.inst.password}".encode()).decode()
        resp = httpx.request(
            method,
            f"{self.inst.members[0].url}{path}",
            json=body,
            headers={"Authorization": f"Basic {auth}"},
            verify=self.ctx,
            timeout=30,
        )
        if resp.status_code >= 400:
            raise error_from_payload(resp.json(), resp.status_code)
        return resp.json()

    def figures(self, server: str, pool: str) -> dict[str, Any]:
        """The pool's figures on ``server`` (a token for that pool there; no session acquired)."""
        grant = self.admin("POST", "/api/v1/tokens", {"server": server, "pool": pool})
        resp = httpx.get(
            f"{self.servers[server].url}/api/v1/pools/{pool}",
            headers={"Authorization": f"Bearer {grant['token']}"},
            verify=self.ctx,
            timeout=10,
        )
        body: dict[str, Any] = resp.json()
        return body

    def heartbeat_since(self, server: str, since: float) -> bool:
        """Whether the member has had a heartbeat of ``server`` sent after ``since`` (time.monotonic())."""
        rows = {s["name"]: s for s in self.admin("GET", "/api/v1/session-servers")}
        age = rows[server]["seconds_since_heartbeat"]
        return age is not None and age < time.monotonic() - since


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
    host_3270: HostProcess,
    host_5250: HostProcess,
    host_vt: HostProcess,
) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("pools-domain")
    models = root / "model-files"
    models.mkdir()
    hosts = {"3270": host_3270, "5250": host_5250, "vt": host_vt}
    with TcpRelay(host_3270.port) as relay, installation(root / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        servers = {}
        for index in (1, 2, 3):
            server = inst.add_session_server(index, ALIAS, interval=INTERVAL)
            servers[server.name] = server
            for kind, host in hosts.items():
                inst.deploy_model(server, write_model(models, f"demo{kind}", host.port))
        # session02 keeps an idle session of each pool, session01 makes them on demand; session03 has none.
        # session01's sessions made on demand sign off 1 s after they come back (above its min idle of 0), so
        # that only session02 shows idle sessions between clients.
        for name, idle, idle_timeout in (("session01", 0, 1), ("session02", 1, 600)):
            text = "".join(
                POOL.format(kind=k, idle=idle, lease=LEASE, idle_timeout=idle_timeout) for k in KINDS
            )
            if name == "session01":
                inst.deploy_model(
                    servers[name], write_model(models, "demo3270", relay.port, name="relayed3270")
                )
                text += HEALED
            (servers[name].data_dir / "pools.yaml").write_text("pools:\n" + text)
            servers[
                name
            ].terminate()  # the pools file is read at start (interim, until pools live in the cluster)
            servers[name].start()
            servers[name].wait_healthy()
        args = inst.client_args()
        inst.hostgate("domain", "create", DOMAIN, *args)
        for name in servers:
            inst.hostgate("domain", "add-server", DOMAIN, name, "--weight", "1", "--priority", "1", *args)
        made = Lab(inst, servers, relay, ssl.create_default_context(cafile=str(inst.ca_file)))
        made.admin("POST", "/api/v1/users", {"name": PLAIN_USER, "password": PLAIN_PASSWORD})
        made.admin(
            "POST",
            "/api/v1/grants",
            {
                "profile": "user",
                "subject_kind": "user",
                "subject": PLAIN_USER,
                "scope_kind": "pool",
                "scope": "p5250",
            },
        )
        poll(
            "every server live with its pools in the heartbeats",
            lambda: made.figures("session02", "p3270")["idle"] == 1 and made.heartbeat_since("session02", 0),
            60,
        )
        yield made


@pytest.mark.parametrize("kind", KINDS)
def test_a_ready_session_via_the_domain_on_every_host_kind(lab: Lab, kind: str) -> None:
    pool = f"p{kind}"
    with lab.connect(pool) as session:
        assert session.server in {"session01", "session02"}
        assert session.current_entity() == "CustomerList"
        assert session.info().pool == pool
        assert len(session.fetch_records("customers", max_records=3)) == 3
        session.set_current_entity("Menu")
        held_on = session.server
    poll("given back", lambda: lab.figures(held_on, pool)["busy"] == 0, 30)
    assert lab.figures(held_on, pool)["failed"] == 0


def test_routing_prefers_the_server_with_idle_sessions_and_never_one_without_the_pool(lab: Lab) -> None:
    pool = "p3270"
    landed = []
    for _ in range(5):
        # Fresh figures: session02 shows its idle session again in a heartbeat sent after it came back, and
        # session01 none (its idle timeout is 1 s).
        poll("session02 idle again", lambda: lab.figures("session02", pool)["idle"] >= 1, 30)
        poll("session01 without idle", lambda: lab.figures("session01", pool)["idle"] == 0, 30)
        seen = time.monotonic()
        poll("a heartbeat with it", lambda t=seen: lab.heartbeat_since("session02", t), 30)  # type: ignore[misc]
        with lab.connect(pool) as session:
            landed.append(session.server)
            assert session.current_entity() == "CustomerList"
    assert landed == ["session02"] * 5
    # Without waiting for heartbeats: whatever the figures, never session03 (it runs no pool).
    routed = [
        lab.admin("POST", "/api/v1/route", {"domain": DOMAIN, "pool": pool})["server"] for _ in range(30)
    ]
    assert "session03" not in routed
    assert set(routed) <= {"session01", "session02"}
    with pytest.raises(PoolNotInDomain) as caught:
        lab.connect("nosuchpool")
    assert caught.value.code == "HG-4360" and "nosuchpool" in caught.value.message


def test_a_connector_is_routed_every_time_and_keeps_its_connections(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Connector asks the cluster for a route on every connect (it balances the servers) over its kept
    connection to the member, and reaches each session server on one kept connection (issue #18)."""
    pool = "p3270"
    asked = count_cluster_calls(monkeypatch)
    sources: dict[str, set[Any]] = {}
    with Connector(lab.alias, **lab.kwargs()) as hg:
        members = hg._inner._kit.cluster
        for _ in range(4):
            with hg.connect_to_session_via_domain(DOMAIN, pool) as session:
                assert session.current_entity() == "CustomerList"
                conn = session._inner._wire._idle[0]
                sources.setdefault(session.server, set()).add(conn.socket.getsockname())
        assert len(members._wires) == 1  # one member, one kept connection to it
        assert len(members._wires[lab.inst.members[0].address]._idle) == 1
    assert asked == ["/api/v1/route"] * 4
    assert set(sources) <= {"session01", "session02"}
    assert all(len(ends) == 1 for ends in sources.values()), sources


def test_a_pool_grant_lets_a_plain_user_route_to_that_pool_only(lab: Lab) -> None:
    with lab.connect("p5250", user=PLAIN_USER, password=PLAIN_PASSWORD) as session:
        assert session.current_entity() == "CustomerList"
    with pytest.raises(NotAuthorized) as caught:
        lab.connect("p3270", user=PLAIN_USER, password=PLAIN_PASSWORD)
    assert caught.value.code == "HG-3002"


CLIENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hostgate.connector import connect_to_session_via_domain
    alias, domain, pool, password, ca, hosts = sys.argv[1:]
    session = connect_to_session_via_domain(alias, domain, pool, user="admin", password=password,
                                            ca_file=Path(ca), hosts_file=Path(hosts))
    print(session.server, session.id, flush=True)
    sys.stdin.read()  # holds the session until killed
    """
)


def test_a_client_killed_holding_a_session_from_the_domain_gets_it_reclaimed(lab: Lab) -> None:
    pool = "pvt"
    k = lab.kwargs()
    argv = [sys.executable, "-c", CLIENT, lab.alias, DOMAIN, pool, k["password"], str(k["ca_file"])]
    argv.append(str(k["hosts_file"]))
    before = {name: lab.figures(name, pool)["reclaimed"] for name in ("session01", "session02")}
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as client:
        try:
            assert client.stdout is not None
            server, held = client.stdout.readline().split()
        finally:
            os.kill(client.pid, signal.SIGKILL)  # dies holding the session: no close, no goodbye
            client.wait(10)
    poll(
        "the held session reclaimed",
        lambda: lab.figures(server, pool)["reclaimed"] > before[server],
        LEASE + 30,
    )
    poll("the reclaimed session parked again", lambda: lab.figures(server, pool)["busy"] == 0, 30)
    assert held  # its id now leads nowhere (tests/integration/test_pools_e2e.py checks HG-4202)
    with lab.connect(pool) as session:
        assert session.current_entity() == "CustomerList"


def test_a_host_that_drops_an_idle_session_is_healed_unseen(lab: Lab) -> None:
    poll("the idle session warmed", lambda: lab.figures("session01", "healed")["idle"] == 1, 60)
    before = lab.figures("session01", "healed")
    lab.relay.end_all(reset=False)  # the host side closes the idle session's connection; the host lives on
    # Healed at the health check or found at hand-out: either way the client gets a working session.
    with lab.connect("healed") as session:
        assert session.server == "session01"  # the only server running it
        assert session.current_entity() == "CustomerList"
        assert len(session.fetch_records("customers", max_records=2)) == 2
    after = lab.figures("session01", "healed")
    assert after["replaced"] > before["replaced"]
    assert after["failed"] == 0


async def test_a_stateless_web_service_call_naming_the_pool_takes_a_pooled_session(
    lab: Lab, tmp_path: Path
) -> None:
    """#19 over #18: a REST call that names a pool (``?pool=``) runs on a session handed out by the pool via
    the domain (the connector's connect_session_via_domain, wired by webservices/wiring.py), and gives it back."""
    [model_file] = (lab.inst.root.parent / "model-files").glob("demo3270-*.yaml")
    data = tmp_path / "ws"
    (data / "webservices").mkdir(parents=True)
    (data / "webservices" / "plugin-cfg.xml").write_text(plugin_cfg_text(lab.alias, domain=DOMAIN))
    trust = ClusterTrust(
        ca_file=lab.inst.ca_file,
        hosts_file=lab.inst.root / "hosts",
        sources=("hosts_file",),
        default_port=lab.inst.api_port,
        deadline=20.0,
    )
    ws, joined = assemble(data, trust, files=[model_file])
    app = build_app(ws, extra_routes=joined)
    servers = ("session01", "session02")

    def acquired() -> int:
        return sum(int(lab.figures(s, "p3270")["acquired"]) for s in servers)

    before = acquired()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://ws.test", timeout=120
        ) as client:
            resp = await client.post(
                "/ws/v1/models/demo3270/procedures/list_customers",
                params={"pool": "p3270"},
                json={},
                auth=httpx.BasicAuth("admin", lab.inst.password),
            )
            assert resp.status_code == 200, resp.text
            assert len(resp.json()["rows"]) >= 3
            # The OpenAPI document offers the pool parameter now that pooled calls are wired.
            doc = (
                await client.get(
                    "/ws/v1/models/demo3270/openapi.json", auth=httpx.BasicAuth("admin", lab.inst.password)
                )
            ).json()
            assert (
                "pool" in doc["paths"]["/ws/v1/models/demo3270/procedures/list_customers"]["post"].__repr__()
            )
    finally:
        await ws.invoker.aclose()
    assert acquired() == before + 1
    # Given back: no session of the pool stays busy on either server.
    poll(
        "the pooled session given back",
        lambda: all(lab.figures(s, "p3270")["busy"] == 0 for s in servers),
        60,
    )
