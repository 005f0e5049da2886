"""Acceptance: connector → management (via domain, through the alias) → session server → a real host.

Given a lone management member (SQLite store), one session server in domain "prod" and the sample models
deployed on it (pointed at the real 3270 and 5250 mock hosts and the VT curses host), a client signs on,
navigates, reads attributes (hidden ones masked), pages through a recordset, runs a procedure and an SQL query,
and signs off. The negative cases end in coded errors: unknown model, host down at connect, a screen the model
does not know, an operation landing elsewhere, a host dropping mid-operation, a refused sign-on, a bad model
refused at deploy with nothing applied.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.connector import (
    EntityNotRecognized,
    ModelNotFound,
    Session,
    SessionNotFound,
    UnexpectedEntity,
    connect_to_model,
    connect_to_model_via_domain,
    connect_via_domain,
)
from hostgate.errors import HostDisconnected, HostUnreachable, SignOnFailed
from tests.helpers.hosts import HostProcess, host_3270, host_5250, host_vt
from tests.helpers.models import FAULTS, write_model
from tests.helpers.ports import free_port

__all__ = ["host_3270", "host_5250", "host_vt"]

pytestmark = [pytest.mark.slow]

ALIAS = "vhi-prod-sea"
KINDS = ["3270", "5250", "vt"]


@dataclass
class Lab:
    inst: Installation
    server: Member
    hosts: dict[str, HostProcess]
    models: Path

    def connect(self, model: str, **kwargs: Any) -> Session:
        return connect_to_model_via_domain(
            f"{ALIAS}:{self.inst.api_port}", "prod", model, user="admin", password=self.inst.password,
            ca_file=self.inst.ca_file, hosts_file=self.inst.root / "hosts", **kwargs,
        )  # fmt: skip

    def health(self) -> dict[str, Any]:
        """The session server's health with its detail (which needs a token of the cluster for it)."""
        ctx = ssl.create_default_context(cafile=str(self.inst.ca_file))
        auth = base64.b64encode(f"admin:{self.inst.password}".encode()).decode()
        grant = httpx.post(
            f"{self.inst.members[0].url}/api/v1/tokens",
            json={"server": self.server.name, "model": ""},
            headers={"Authorization": f"Basic {auth}"},
            verify=ctx,
            timeout=30,
        ).json()
        headers = {"Authorization": f"Bearer {grant['token']}"}
        resp = httpx.get(f"{self.server.url}/api/v1/health", headers=headers, verify=ctx, timeout=5)
        body: dict[str, Any] = resp.json()
        return body

    def live(self) -> bool:
        auth = base64.b64encode(f"admin:{self.inst.password}".encode()).decode()
        resp = httpx.get(
            f"{self.inst.members[0].url}/api/v1/session-servers",
            headers={"Authorization": f"Basic {auth}"},
            verify=ssl.create_default_context(cafile=str(self.inst.ca_file)),
            timeout=5,
        )
        return any(s["name"] == self.server.name and s["live"] for s in resp.json())


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
    host_3270: HostProcess,
    host_5250: HostProcess,
    host_vt: HostProcess,
) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("models-e2e")
    models = root / "model-files"
    models.mkdir()
    with installation(root / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        server = inst.add_session_server(1, ALIAS, interval=1.0)
        args = inst.client_args()
        inst.hostgate("domain", "create", "prod", *args)
        inst.hostgate("domain", "add-server", "prod", server.name, *args)
        hosts = {"3270": host_3270, "5250": host_5250, "vt": host_vt}
        for kind, host in hosts.items():
            inst.deploy_model(server, write_model(models, f"demo{kind}", host.port))
        inst.deploy_model(
            server, write_model(models, "demo3270", host_3270.port, name="faults", extra=FAULTS)
        )
        inst.deploy_model(server, write_model(models, "demo3270", free_port(), name="down"))
        found = Lab(inst, server, hosts, models)
        poll("the session server to be live", found.live, 20)
        yield found


@pytest.mark.parametrize("kind", KINDS)
def test_sign_on_navigate_read_page_query_sign_off(lab: Lab, kind: str) -> None:
    host = lab.hosts[kind]
    sign_offs = host.log.count("aid=PF12 screen=MENU")
    with lab.connect(f"demo{kind}") as session:
        assert session.server == lab.server.name
        assert session.current_entity() == "Menu"  # signed on by the model's sign_on navigation
        assert session.set_current_entity("SignOn") == "SignOn"
        session.set_attributes({"userid": "ADA", "password": "LOVELACE"})
        shown = session.get_attributes()
        assert shown["userid"] == "ADA" and shown["password"] == "********"
        assert session.perform_entity_operation("signon") == "Menu"
        assert session.set_current_entity("CustomerList") == "CustomerList"
        customers = session.fetch_records("customers")
        assert customers.columns == ("number", "name", "city")
        assert [c["number"] for c in customers] == list(range(1, 41))  # three pages
        assert customers[39] == {"number": 40, "name": "CUSTOMER 40", "city": "CITY0"}
        added = session.perform_table_procedure(
            "customers", "add_customer", {"number": 42, "name": "HOPPER", "city": "NEW YORK"}
        )
        assert added[0]["result"] == "SAVED 42 HOPPER OF NEW YORK"
        found = session.query("SELECT name, number FROM customers WHERE city = 'CITY3'")
        assert found.columns == ("name", "number")
        assert [r["number"] for r in found] == [3, 8, 13, 18, 23, 28, 33, 38]
        assert session.info().entity == "Menu"
    assert lab.health()["active_sessions"] == 0
    if kind != "vt":  # the mock host logs each key; the VT host has no log
        # PF12 on the menu twice: navigating to SignOn above, and the sign-off when the session closed.
        poll(
            "the sign-off in the host's log",
            lambda: host.log.count("aid=PF12 screen=MENU") == sign_offs + 2,
            5,
        )


def test_connect_to_model_direct_by_name_and_by_url(lab: Lab) -> None:
    common: dict[str, Any] = {
        "management": f"{ALIAS}:{lab.inst.api_port}",
        "user": "admin",
        "password": lab.inst.password,
        "ca_file": lab.inst.ca_file,
        "hosts_file": lab.inst.root / "hosts",
    }
    with connect_to_model(lab.server.name, "demo3270", **common) as by_name:
        assert by_name.current_entity() == "Menu"
    with connect_to_model(lab.server.url, "demo5250", **common) as by_url:
        assert by_url.server == lab.server.name
        by_url.set_current_entity("CustomerList")
        assert [c["number"] for c in by_url.fetch_records("customers", max_records=5)] == [1, 2, 3, 4, 5]


def test_calls_on_one_session_are_serialised_and_sessions_are_independent(lab: Lab) -> None:
    async def run() -> list[int]:
        sessions = [
            await connect_via_domain(
                f"{ALIAS}:{lab.inst.api_port}",
                "prod",
                "demo3270",
                user="admin",
                password=lab.inst.password,
                ca_file=lab.inst.ca_file,
                hosts_file=lab.inst.root / "hosts",
            )
            for _ in range(2)
        ]
        try:
            # Three procedures at once on each session: each walks Menu → list → 3 pages → Menu, so two of
            # them interleaved on one host screen would land on each other's entities.
            calls = [
                s.perform_table_procedure("customers", "list_customers") for s in sessions for _ in range(3)
            ]
            return [len(found) for found in await asyncio.gather(*calls)]
        finally:
            for s in sessions:
                await s.close()

    assert asyncio.run(run()) == [40] * 6


def test_unknown_model_is_a_coded_404(lab: Lab) -> None:
    with pytest.raises(ModelNotFound, match="no model 'nope'") as caught:
        lab.connect("nope")
    assert caught.value.code == "HG-6108"
    assert "demo3270" in caught.value.message  # it lists the models it has


def test_host_down_at_connect(lab: Lab) -> None:
    with pytest.raises(HostUnreachable) as caught:
        lab.connect("down")
    assert caught.value.code == "HG-7001"
    assert lab.health()["active_sessions"] == 0


def test_wrong_password_is_refused_sign_on(lab: Lab) -> None:
    with pytest.raises(SignOnFailed, match="USER ID OR PASSWORD IS INCORRECT"):
        lab.connect("demo3270", variables={"password": "WRONG"})


def test_unrecognised_screen_and_unexpected_entity(lab: Lab) -> None:
    with lab.connect("faults") as session:
        with pytest.raises(UnexpectedEntity, match="shows CustomerForm, not CustomerList"):
            session.perform_entity_operation("open_form_as_list")
        assert session.set_current_entity("Menu") == "Menu"  # the session goes on
        with pytest.raises(EntityNotRecognized, match="SLOW SCREEN") as caught:
            session.perform_entity_operation("open_slow")
        assert caught.value.code == "HG-6101"


def test_host_dropping_mid_operation_closes_the_session(lab: Lab) -> None:
    session = lab.connect("faults")
    try:
        assert session.set_current_entity("Drop") == "Drop"
        with pytest.raises(HostDisconnected) as caught:
            session.perform_entity_operation("press")
        assert caught.value.code == "HG-7002"
        with pytest.raises(SessionNotFound):
            session.ping()  # the server closed the session
        assert lab.health()["active_sessions"] == 0
    finally:
        session.close()


BAD = """format_version: 1
name: demo3270
host: {type: "3270", address: 127.0.0.1, port: 3270}
navigation: {start: SignOn, home: Nowhere}
entities:
  SignOn:
    rules: [{text: SIGN ON, row: 30}]
    attributes:
      userid: {row: 10, col: 79, length: 8, access: readwrite}
"""


def test_a_bad_model_is_refused_whole_and_nothing_is_applied(lab: Lab) -> None:
    deployed = lab.server.data_dir / "models" / "demo3270.yaml"
    before = deployed.read_bytes()
    bad = lab.models / "bad.yaml"
    bad.write_text(BAD)
    proc = lab.inst.hostgate("model", "deploy", str(bad), "--data-dir", str(lab.server.data_dir), check=False)
    assert proc.returncode == 1
    assert "nothing deployed" in proc.stderr and "HG-6001" in proc.stderr
    assert "navigation.home: no entity 'Nowhere'" in proc.stderr
    assert "entities.SignOn.rules[0].row: 30 is outside the 24x80 screen (line 7)" in proc.stderr
    assert "entities.SignOn.attributes.userid.length: 8 runs past column 80" in proc.stderr
    assert deployed.read_bytes() == before
    assert sorted(p.name for p in deployed.parent.iterdir()) == sorted(
        f"{n}.yaml" for n in ("demo3270", "demo5250", "demovt", "faults", "down")
    )  # no temporary file left behind
    with lab.connect("demo3270") as session:
        assert session.current_entity() == "Menu"


def test_a_new_version_serves_new_sessions_and_a_broken_file_keeps_the_last_good(lab: Lab) -> None:
    def with_title(doc: dict[str, Any]) -> None:
        doc["entities"]["Menu"]["attributes"]["title"] = {"row": 1, "col": 30, "length": 20}

    port = lab.hosts["3270"].port
    lab.inst.deploy_model(lab.server, write_model(lab.models, "demo3270", port, name="hot"))
    with lab.connect("hot") as old:
        lab.inst.deploy_model(
            lab.server, write_model(lab.models, "demo3270", port, name="hot", extra=with_title)
        )
        with lab.connect("hot") as new:
            assert new.get_attributes(["title"]) == {"title": "MAIN MENU"}
        with pytest.raises(Exception, match="no attribute 'title'"):
            old.get_attributes(["title"])  # an open session keeps the version it started with
    (lab.server.data_dir / "models" / "hot.yaml").write_text("name: [\n")  # a broken edit in place
    with lab.connect("hot") as again:
        assert again.get_attributes(["title"]) == {"title": "MAIN MENU"}
    log = (lab.inst.root / f"{lab.server.name}.server.log").read_text()
    assert "[HG-6002]" in log and "hot.yaml" in log and "keeping the version loaded before" in log
    (lab.server.data_dir / "models" / "hot.yaml").unlink()
    with pytest.raises(ModelNotFound):
        lab.connect("hot")
