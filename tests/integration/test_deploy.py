"""Model deployment through a management session (issue #17, KB 7021563 "What Happens At Runtime").

Given a lone management member (SQLite store, alias ``vhi-prod-sea``), two session servers in domain ``prod``
and a real mock 3270 host, ``hostgate activatemodel --server SESSIONSERVER FILE`` sends the model to that one
server, which asks the cluster through its own management alias (its certificate + the caller's forwarded
credentials) for a deploy token, checks it, activates the model without a restart and records the deployment.
All processes are real; every server listens on its own 127.0.0.x address and free ports.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.connector import ModelNotFound, Session, connect_to_model
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError
from hostgate.messages import API, DeployAuthorize, DeploymentReport
from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.models import model_text

__all__ = ["host_3270"]

pytestmark = [pytest.mark.slow]

ALIAS = "vhi-prod-sea"


@dataclass
class Lab:
    inst: Installation
    s1: Member
    s2: Member
    host: HostProcess
    files: Path
    bob_password: Path

    def run(self, *args: str, user: str = "admin", password: Path | None = None) -> Any:
        """``hostgate ARGS`` with the CA and credentials (not checked: the test reads the exit code)."""
        creds = ["--ca-file", str(self.inst.ca_file), "--user", user]
        creds += ["--password-file", str(password or self.inst.password_file)]
        return self.inst.hostgate(*args, *creds, check=False, timeout=120)

    def management(self) -> list[str]:
        return [
            "--management",
            f"{ALIAS}:{self.inst.api_port}",
            "--hosts-file",
            str(self.inst.root / "hosts"),
        ]

    def model_file(self, name: str, *, marker: str = "") -> Path:
        text = model_text("demo3270", self.host.port, name=name)
        if marker:
            text = f"# {marker}\n{text}"  # another text, so another digest
        path = self.files / f"{name}-{marker or 'v1'}.yaml"
        path.write_text(text)
        return path

    def session(self, server: Member, model: str) -> Session:
        return connect_to_model(
            server.name,
            model,
            management=f"{ALIAS}:{self.inst.api_port}",
            user="admin",
            password=self.inst.password,
            ca_file=self.inst.ca_file,
            hosts_file=self.inst.root / "hosts",
        )

    def deployments(self, *extra: str) -> list[dict[str, Any]]:
        proc = self.run("model", "list", "--json", *self.management(), *extra)
        assert proc.returncode == 0, proc.stderr
        found: list[dict[str, Any]] = json.loads(proc.stdout)["deployments"]
        return found


def _set_management(server: Member, alias: str, hosts_lines: list[str]) -> None:
    """Point ``server``'s management alias elsewhere (its own hosts file) and restart it."""
    server.terminate()
    hosts = server.data_dir.parent / f"{server.name}.hosts"
    hosts.write_text("\n".join(hosts_lines) + "\n")
    path = server.data_dir / "hostgate.toml"
    doc = tomllib.loads(path.read_text())
    doc["session"]["management"] = alias
    doc["naming"]["hosts_file"] = str(hosts)
    path.write_text(tomli_w.dumps(doc))
    server.start()
    server.wait_healthy()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("deploy")
    files = root / "model-files"
    files.mkdir()
    with installation(root / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        s1 = inst.add_session_server(1, ALIAS, interval=1.0)
        s2 = inst.add_session_server(2, ALIAS, interval=1.0)
        args = inst.client_args()
        inst.hostgate("domain", "create", "prod", *args)
        for s in (s1, s2):
            inst.hostgate("domain", "add-server", "prod", s.name, *args)
        bob = root / "bob.pw"
        bob.write_text("bob-is-a-user-only\n")
        inst.hostgate("user", "add", "bob", "--new-password-file", str(bob), *args)
        yield Lab(inst, s1, s2, host_3270, files, bob)


def _model_path(server: Member, name: str) -> Path:
    return server.data_dir / "models" / f"{name}.yaml"


def test_activatemodel_deploys_records_and_a_new_session_uses_it(lab: Lab) -> None:
    path = lab.model_file("orders")
    proc = lab.run("activatemodel", "--server", lab.s1.target, str(path))
    assert proc.returncode == 0, proc.stderr
    assert (
        f"{lab.s1.name} ({lab.s1.target}): deployed model orders (" in proc.stdout
        and "new model" in proc.stdout
    )
    assert "recorded by workhorse01" in proc.stdout
    assert _model_path(lab.s1, "orders").read_text() == path.read_text()
    [record] = lab.deployments("--server", lab.s1.name)
    assert (record["server"], record["model"], record["deployed_by"]) == (lab.s1.name, "orders", "admin")
    with lab.session(lab.s1, "orders") as session:
        assert session.current_entity() == "Menu"  # signed on through the deployed model
        assert session.info().model_digest == record["digest"]


def test_a_user_profile_caller_is_refused_and_nothing_changes(lab: Lab) -> None:
    path = lab.model_file("bobs")
    proc = lab.run(
        "activatemodel", "--server", lab.s1.target, str(path), user="bob", password=lab.bob_password
    )
    assert proc.returncode == 1
    assert (
        "[HG-3002] Deployment of model failed: user 'bob' does not hold the Developer profile" in proc.stderr
    )
    assert not _model_path(lab.s1, "bobs").exists()
    assert not [d for d in lab.deployments() if d["model"] == "bobs"]


def test_a_wrong_password_is_a_refused_login_of_the_management_session(lab: Lab) -> None:
    wrong = lab.files / "wrong.pw"
    wrong.write_text("not-the-password\n")
    proc = lab.run("activatemodel", "--server", lab.s1.target, str(lab.model_file("wrongpw")), password=wrong)
    assert proc.returncode == 1
    assert (
        "[HG-3852] Deployment of model failed: Cannot establish management session: the management cluster "
        "refused the login of user 'admin' ([HG-3001]"
    ) in proc.stderr
    assert not _model_path(lab.s1, "wrongpw").exists()


def test_redeploy_replaces_new_sessions_get_it_and_an_open_session_keeps_its_model(lab: Lab) -> None:
    first = lab.model_file("pay", marker="v1")
    assert lab.run("activatemodel", "--server", lab.s1.target, str(first)).returncode == 0
    with lab.session(lab.s1, "pay") as old:
        old_digest = old.info().model_digest
        # By the server's own name this time (its certificate carries it), resolved with a hosts file.
        names = lab.files / "hosts"
        names.write_text(f"{lab.s1.address} {lab.s1.name}\n")
        target = f"{lab.s1.name}:{lab.s1.port}"
        proc = lab.run(
            "activatemodel",
            "--server",
            target,
            "--hosts-file",
            str(names),
            str(lab.model_file("pay", marker="v2")),
        )
        assert proc.returncode == 0, proc.stderr
        assert "replaced the earlier version" in proc.stdout
        [record] = [d for d in lab.deployments("--server", lab.s1.name) if d["model"] == "pay"]
        assert record["digest"] != old_digest
        with lab.session(lab.s1, "pay") as new:
            assert new.info().model_digest == record["digest"]
        assert old.info().model_digest == old_digest  # the open session kept its model ...
        assert old.set_current_entity("CustomerList") == "CustomerList"  # ... and still works


def test_deactivate_withdraws_for_new_sessions_only(lab: Lab) -> None:
    assert lab.run("activatemodel", "--server", lab.s1.target, str(lab.model_file("gone"))).returncode == 0
    with lab.session(lab.s1, "gone") as open_session:
        proc = lab.run("deactivatemodel", "--server", lab.s1.target, "gone")
        assert proc.returncode == 0, proc.stderr
        assert "withdrew model gone" in proc.stdout
        with pytest.raises(ModelNotFound):
            lab.session(lab.s1, "gone")
        assert open_session.set_current_entity("CustomerList") == "CustomerList"
    assert not _model_path(lab.s1, "gone").exists()
    assert not [d for d in lab.deployments() if d["model"] == "gone"]


def test_a_bad_model_is_refused_whole_and_nothing_changes(lab: Lab) -> None:
    assert lab.run("activatemodel", "--server", lab.s1.target, str(lab.model_file("keep"))).returncode == 0
    before = _model_path(lab.s1, "keep").read_bytes()
    records = lab.deployments()

    def spoil(doc: dict[str, Any]) -> None:
        doc["host"]["port"] = -1
        doc["host"]["type"] = "nonsense"

    bad = model_text("demo3270", lab.host.port, name="keep", extra=spoil)
    # Straight to the session server: it validates the whole model itself, whatever the client checked.
    ctx = ssl.create_default_context(cafile=str(lab.inst.ca_file))
    resp = httpx.put(
        f"{lab.s1.url}/api/v1/models/keep",
        json={"text": bad},
        auth=("admin", lab.inst.password),
        verify=ctx,
        timeout=60,
    )
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "HG-6001"
    assert "2 errors" in body["message"] and "host.port" in body["message"] and "host.type" in body["message"]
    assert _model_path(lab.s1, "keep").read_bytes() == before
    assert lab.deployments() == records
    # The CLI refuses it too, listing every error, before sending anything.
    bad_file = lab.files / "bad.yaml"
    bad_file.write_text(bad)
    proc = lab.run("activatemodel", "--server", lab.s1.target, str(bad_file))
    assert proc.returncode == 1
    assert "HG-6001" in proc.stderr and "host.port" in proc.stderr and "host.type" in proc.stderr


def test_an_alias_pointing_at_nothing_cannot_establish_the_management_session(lab: Lab) -> None:
    # Nothing listens on 127.0.0.99 (the lab binds nothing there).
    _set_management(lab.s2, f"vhi-nowhere:{lab.inst.api_port}", ["127.0.0.99 nothing vhi-nowhere"])
    proc = lab.run("activatemodel", "--server", lab.s2.target, str(lab.model_file("lost")))
    assert proc.returncode == 1
    assert (
        "[HG-3852] Deployment of model failed: Cannot establish management session: no management member "
        f"answered through the alias 'vhi-nowhere:{lab.inst.api_port}' (no management server answered "
        "(127.0.0.99:"
    ) in proc.stderr
    assert not _model_path(lab.s2, "lost").exists()
    # A domain: each server on its own line, exit 1, and the servers that took it keep it.
    proc = lab.run("activatemodel", "--domain", "prod", *lab.management(), str(lab.model_file("both")))
    assert proc.returncode == 1
    assert f"{lab.s1.name} ({lab.s1.target}): deployed model both" in proc.stdout
    assert (
        f"{lab.s2.name} ({lab.s2.target}): [HG-3852] Deployment of model failed: Cannot establish"
        in proc.stderr
    )
    assert "[HG-6202] deploying model both failed on 1 of 2 servers: session02" in proc.stderr
    assert [d["server"] for d in lab.deployments("--domain", "prod") if d["model"] == "both"] == [lab.s1.name]
    _set_management(
        lab.s2, f"{ALIAS}:{lab.inst.api_port}", [f"{lab.inst.members[0].address} workhorse01 {ALIAS}"]
    )
    proc = lab.run(
        "activatemodel", "--domain", "prod", *lab.management(), str(lab.model_file("both")), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert [s["ok"] for s in json.loads(proc.stdout)["servers"]] == [True, True]


def test_a_stored_login_deploys_without_a_password_and_the_deployment_is_audited(lab: Lab) -> None:
    """Merge of the login, deploy and audit work: `hostgate activatemodel` used only --password-file (a stored
    `hostgate login` was refused with "deploying needs your password"), and each deployment leaves an audit
    entry naming who deployed what where."""
    args = lab.inst.client_args()
    lab.inst.hostgate("login", *args)
    path = lab.model_file("ledger")
    proc = lab.inst.hostgate(
        "activatemodel", "--server", lab.s2.target, str(path), "--ca-file", str(lab.inst.ca_file), check=False,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _model_path(lab.s2, "ledger").read_text() == path.read_text()
    # The lab is shared by this module's tests: s2 may serve other models deployed before this one.
    [record] = [r for r in lab.deployments("--server", lab.s2.name) if r["model"] == "ledger"]
    assert record["deployed_by"] == "admin"

    def deployed() -> list[dict[str, Any]]:
        out = lab.inst.hostgate("audit", "--json", "--action", "model.deploy", *args).stdout
        return [e for e in json.loads(out) if e["target"] == f"{lab.s2.name}/ledger"]

    [entry] = poll("the deployment's audit entry", deployed, 60)
    assert (entry["actor"], entry["outcome"]) == ("admin", "ok")
    assert entry["detail"].get("digest") == record["digest"]


def _as_server(lab: Lab, server: Member) -> ClusterClient:
    """A management session as ``server`` opens one: its registered certificate, the caller's credentials."""
    return ClusterClient(
        f"{ALIAS}:{lab.inst.api_port}",
        ca_file=lab.inst.ca_file,
        user="admin",
        password=lab.inst.password,
        hosts_file=lab.inst.root / "hosts",
        cert_file=server.data_dir / "member.pem",
        key_file=server.data_dir / "member-key.pem",
    )


async def _refusals(lab: Lab, model: str, attempts: list[tuple[str, str, str]]) -> list[tuple[str, int]]:
    """As session server s1: for each ``(granted action, used for, digest reported)``, a deploy token granted
    for the first, presented to record (``deploy``) or withdraw; the coded refusals, in order."""
    client = _as_server(lab, lab.s1)
    name = lab.s1.name
    refused = []
    try:
        for granted, used_for, digest in attempts:
            body = DeployAuthorize(model, granted)
            grant = (await client.call(API.deploy_authorize, body, name=name)).payload
            endpoint = API.deployment_record if used_for == "deploy" else API.deployment_withdrawn
            try:
                await client.call(endpoint, DeploymentReport(grant.token, digest), name=name, model=model)
            except HostgateError as exc:
                refused.append((exc.code, exc.http_status))
    finally:
        await client.aclose()
    return refused


def test_a_deploy_token_binds_its_action_and_a_mismatch_changes_nothing(lab: Lab) -> None:
    """A token minted to deploy model X on S cannot withdraw X, and a withdraw token cannot record a deployment:
    HG-7260 (403), and the record stays as it was. Before, a token bound only cluster, server, user and model,
    so the holder of S's certificate and a deploy token withdrew the record."""
    path = lab.model_file("bound")
    assert lab.run("activatemodel", "--server", lab.s1.target, str(path)).returncode == 0
    [before] = [d for d in lab.deployments("--server", lab.s1.name) if d["model"] == "bound"]
    attempts = [("deploy", "withdraw", ""), ("withdraw", "deploy", "0123456789abcdef")]
    assert asyncio.run(_refusals(lab, "bound", attempts)) == [("HG-7260", 403)] * 2
    [after] = [d for d in lab.deployments("--server", lab.s1.name) if d["model"] == "bound"]
    assert after == before
    assert _model_path(lab.s1, "bound").read_text() == path.read_text()


def test_a_deploy_token_binds_the_digest_it_was_granted_for(lab: Lab) -> None:
    """The session server names the model text's digest when it asks: the token records that text only."""
    path = lab.model_file("digested")
    assert lab.run("activatemodel", "--server", lab.s1.target, str(path)).returncode == 0
    [before] = [d for d in lab.deployments("--server", lab.s1.name) if d["model"] == "digested"]

    async def attempt() -> tuple[str, int]:
        client = _as_server(lab, lab.s1)
        try:
            body = DeployAuthorize("digested", "deploy", digest=before["digest"])
            grant = (await client.call(API.deploy_authorize, body, name=lab.s1.name)).payload
            report = DeploymentReport(grant.token, "0123456789abcdef")
            with pytest.raises(HostgateError) as caught:
                await client.call(API.deployment_record, report, name=lab.s1.name, model="digested")
            return caught.value.code, caught.value.http_status
        finally:
            await client.aclose()

    assert asyncio.run(attempt()) == ("HG-7260", 403)
    assert [d for d in lab.deployments("--server", lab.s1.name) if d["model"] == "digested"] == [before]
