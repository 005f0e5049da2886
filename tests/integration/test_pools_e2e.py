"""Acceptance: ``connect_to_session(server, pool)`` through the management cluster to a session server's pools on
the real 3270, 5250 and VT test hosts.

Given a lone management member, one session server whose pools file defines a pool per test host, a client
gets a ready session at the pool's startup entity, and closing it gives it back (the pool signs on no new
session for the next client). A client process killed (SIGKILL) while holding a session gets it reclaimed
after the pool's lease, and the next client is served from it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.connector import AsyncConnector, Connector, Session, connect_to_session
from hostgate.errors import PoolNotFound, SessionLost, error_from_payload
from tests.helpers.cluster_calls import count_cluster_calls
from tests.helpers.hosts import HostProcess, host_3270, host_5250, host_vt
from tests.helpers.models import write_model

__all__ = ["host_3270", "host_5250", "host_vt"]

pytestmark = [pytest.mark.slow]

ALIAS = "vhi-prod-sea"
KINDS = ["3270", "5250", "vt"]
LEASE = 3.0

POOLS = """\
pools:
{pools}
"""
POOL = """\
  p{kind}:
    model: demo{kind}
    startup_entity: CustomerList
    max_concurrent: 2
    initial_idle: 1
    min_idle: 1
    max_wait: 30
    lease: {lease}
"""


@dataclass
class Lab:
    inst: Installation
    server: Member

    def kwargs(self) -> dict[str, Any]:
        return {
            "management": f"{ALIAS}:{self.inst.api_port}",
            "user": "admin",
            "password": self.inst.password,
            "ca_file": self.inst.ca_file,
            "hosts_file": self.inst.root / "hosts",
        }

    def connect(self, pool: str) -> Session:
        return connect_to_session(self.server.name, pool, **self.kwargs())

    def figures(self, pool: str) -> dict[str, Any]:
        """The pool's figures from the session server (with a token for that pool; no session acquired)."""
        ctx = ssl.create_default_context(cafile=str(self.inst.ca_file))
        auth = base64.b64encode(f"admin:{self.inst.password}".encode()).decode()
        grant = httpx.post(
            f"{self.inst.members[0].url}/api/v1/tokens",
            json={"server": self.server.name, "pool": pool},
            headers={"Authorization": f"Basic {auth}"},
            verify=ctx,
            timeout=30,
        ).json()
        resp = httpx.get(
            f"{self.server.url}/api/v1/pools/{pool}",
            headers={"Authorization": f"Bearer {grant['token']}"},
            verify=ctx,
            timeout=10,
        )
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
    host_3270: HostProcess,
    host_5250: HostProcess,
    host_vt: HostProcess,
) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("pools-e2e")
    models = root / "model-files"
    models.mkdir()
    with installation(root / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        server = inst.add_session_server(1, ALIAS, interval=1.0)
        hosts = {"3270": host_3270, "5250": host_5250, "vt": host_vt}
        for kind, host in hosts.items():
            inst.deploy_model(server, write_model(models, f"demo{kind}", host.port))
        text = POOLS.format(pools="".join(POOL.format(kind=k, lease=LEASE) for k in KINDS))
        (server.data_dir / "pools.yaml").write_text(text)
        server.terminate()  # the pools file is read at start (interim, until pools live in the cluster)
        server.start()
        server.wait_healthy()
        yield Lab(inst, server)


@pytest.mark.parametrize("kind", KINDS)
def test_connect_to_session_hands_out_a_ready_session_and_close_gives_it_back(lab: Lab, kind: str) -> None:
    pool = f"p{kind}"
    with lab.connect(pool) as session:
        assert session.current_entity() == "CustomerList"
        assert session.info().pool == pool
        assert len(session.fetch_records("customers", max_records=3)) == 3
        session.set_current_entity("Menu")
    with lab.connect(pool) as again:
        assert again.current_entity() == "CustomerList"  # brought back on release
    figures = lab.figures(pool)
    assert figures["acquired"] >= 2 and figures["created"] <= 2, figures
    assert figures["failed"] == 0


def test_an_unknown_pool_is_a_coded_error(lab: Lab) -> None:
    with pytest.raises(PoolNotFound) as caught:
        lab.connect("nosuchpool")
    assert caught.value.code == "HG-4301"


CLIENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hostgate.connector import connect_to_session
    server, pool, management, password, ca, hosts = sys.argv[1:]
    session = connect_to_session(server, pool, management=management, user="admin", password=password,
                                 ca_file=Path(ca), hosts_file=Path(hosts))
    print(session.id, flush=True)
    sys.stdin.read()  # holds the session until killed
    """
)


def test_a_client_killed_while_holding_a_session_gets_it_reclaimed(lab: Lab) -> None:
    pool = "p3270"
    k = lab.kwargs()
    argv = [sys.executable, "-c", CLIENT, lab.server.name, pool, k["management"], k["password"]]
    argv += [str(k["ca_file"]), str(k["hosts_file"])]
    before = lab.figures(pool)["reclaimed"]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as client:
        try:
            assert client.stdout is not None
            held = client.stdout.readline().strip()
            assert held, "the client got no session"
        finally:
            os.kill(client.pid, signal.SIGKILL)  # dies holding the session: no close, no goodbye
            client.wait(10)
    poll("the held session reclaimed", lambda: lab.figures(pool)["reclaimed"] > before, LEASE + 30)
    poll("the reclaimed session parked again", lambda: lab.figures(pool)["busy"] == 0, 30)
    with lab.connect(pool) as session:
        assert session.current_entity() == "CustomerList"
    with pytest.raises(Exception) as gone:
        _call_as_the_dead_client(lab, pool, held)
    assert getattr(gone.value, "code", "") == "HG-4202"


def _call_as_the_dead_client(lab: Lab, pool: str, session_id: str) -> None:
    """What the killed client's next call would get (the same user's token: ownership is not the refusal)."""
    ctx = ssl.create_default_context(cafile=str(lab.inst.ca_file))
    auth = base64.b64encode(f"admin:{lab.inst.password}".encode()).decode()
    grant = httpx.post(
        f"{lab.inst.members[0].url}/api/v1/tokens",
        json={"server": lab.server.name, "pool": pool},
        headers={"Authorization": f"Basic {auth}"},
        verify=ctx,
        timeout=30,
    ).json()
    resp = httpx.get(
        f"{lab.server.url}/api/v1/sessions/{session_id}/entity",
        headers={"Authorization": f"Bearer {grant['token']}"},
        verify=ctx,
        timeout=10,
    )
    raise error_from_payload(resp.json(), resp.status_code)


# --- A Connector keeps what a connect needs between connects (issue #18: a whole connect_to_session was about
# 10 ms, a new cluster client, token and TLS connections each time, more than the cold sign-on it saves).


def _connector(lab: Lab) -> Connector:
    k = lab.kwargs()
    return Connector(
        k["management"],
        user="admin",
        password=k["password"],
        ca_file=k["ca_file"],
        hosts_file=k["hosts_file"],
    )


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the management API each ClusterClient of this process calls, in order."""
    return count_cluster_calls(monkeypatch)


def test_a_connector_hands_out_pooled_sessions_on_one_connection_and_one_token(
    lab: Lab, grants: list[str]
) -> None:
    pool = "p3270"
    sources = set()
    with _connector(lab) as hg:
        for _ in range(3):
            with hg.connect_to_session(lab.server.name, pool) as session:
                assert session.current_entity() == "CustomerList"
                sources.add(session._inner._wire._idle[0].socket.getsockname())  # the kept connection's end
    assert grants == ["/api/v1/tokens"]  # asked once, used for the three connects
    assert len(sources) == 1  # one TLS connection to the session server for all of them
    figures = lab.figures(pool)
    assert figures["busy"] == 0 and figures["failed"] == 0, figures


def test_a_connector_asks_again_for_a_token_the_server_refuses(lab: Lab, grants: list[str]) -> None:
    pool = "p5250"
    with _connector(lab) as hg:
        with hg.connect_to_session(lab.server.name, pool) as session:
            assert session.current_entity() == "CustomerList"
        kit = hg._inner._kit
        ((key, (route, got)),) = kit._tokens.items()
        # Its signature no longer matches (as after the server was given other keys): the server refuses it.
        kit._tokens[key] = (msgspec.structs.replace(route, token=route.token[:-6] + "AAAAAA"), got)
        with hg.connect_to_session(lab.server.name, pool) as session:
            assert session.current_entity() == "CustomerList"
        assert kit._tokens[key][0].token != route.token[:-6] + "AAAAAA"
    assert grants == ["/api/v1/tokens", "/api/v1/tokens"]


def test_closing_a_connector_gives_back_the_sessions_it_still_holds(lab: Lab) -> None:
    pool = "pvt"
    hg = _connector(lab)
    held = hg.connect_to_session(lab.server.name, pool)
    assert held.current_entity() == "CustomerList"
    assert lab.figures(pool)["busy"] == 1
    hg.close()
    poll("the held session given back", lambda: lab.figures(pool)["busy"] == 0, 30)
    with pytest.raises(SessionLost):
        held.current_entity()


def test_an_async_connector_hands_out_pooled_sessions_direct(lab: Lab) -> None:
    k = lab.kwargs()

    async def twice() -> list[str]:
        async with AsyncConnector(
            k["management"],
            user="admin",
            password=k["password"],
            ca_file=k["ca_file"],
            hosts_file=k["hosts_file"],
        ) as hg:
            seen = []
            for _ in range(2):
                async with await hg.connect_session_direct(lab.server.name, "p3270") as session:
                    seen.append(await session.current_entity())
            return seen

    assert asyncio.run(twice()) == ["CustomerList", "CustomerList"]
