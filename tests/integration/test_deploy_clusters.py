"""Deployment across two clusters (KB 7021563: "you may have an incorrect configuration in step 2", the alias).

Given cluster A and cluster B, each a lone management member with a session server ``session01``, as real
processes on loopback:

- A's session server whose management alias names B's member cannot establish a management session: its
  client verifies members with A's CA and refuses B's (another CA, another cluster id), and says so. This is what
  the KB's misconfigured alias shows in hostgate: the TLS check comes before any token could.
- A token of cluster B reaches A's session server only if that server trusts B too (B's CA and a certificate B
  registered, say a data directory mixed from two registrations): the management session then succeeds against
  B's real member, and the server's own check refuses B's token with "Token binding is invalid", naming the
  cluster and server the token was bound to and the server that checked it. The session server's side runs in
  this process here (session/deployer.py, the code ``hostgate server`` runs), with B's member as a real process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w

from hostgate import tokens
from hostgate.cli.lab import Installation, Member, installation
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import ManagementSessionError
from hostgate.models.library import ModelLibrary
from hostgate.session.deployer import Credentials, Deployer
from hostgate.session.registry import SessionRegistry
from tests.helpers.models import model_text

pytestmark = [pytest.mark.slow]


@dataclass
class Cluster:
    inst: Installation
    alias: str
    server: Member

    @property
    def cluster_id(self) -> str:
        return str(json.loads((self.server.data_dir / "session-secrets.json").read_text())["cluster_id"])


def _cluster(inst: Installation, alias: str) -> Cluster:
    member = inst.install_first(store="sqlite", cluster_name=alias)
    member.start()
    member.wait_healthy()
    inst.write_hosts_file(alias)
    return Cluster(inst, alias, inst.add_session_server(1, alias, interval=1.0))


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Cluster]]:
    root = tmp_path_factory.mktemp("two-clusters")
    with installation(root / "a") as first:
        a = _cluster(first, "vhi-prod-sea")
        # B's API port is chosen once A's member holds its own (no two installations on one port).
        with installation(root / "b") as second:
            yield a, _cluster(second, "vhi-test-sea")


def test_an_alias_naming_another_clusters_member_cannot_establish_the_session(
    clusters: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    a, b = clusters
    server = a.server
    server.terminate()
    hosts = tmp_path / "hosts"
    b_member = b.inst.members[0]
    hosts.write_text(f"{b_member.address} {b_member.name} {b.alias}\n")
    path = server.data_dir / "hostgate.toml"
    original = path.read_text()
    doc = tomllib.loads(original)
    doc["session"]["management"] = f"{b.alias}:{b.inst.api_port}"
    doc["naming"]["hosts_file"] = str(hosts)
    path.write_text(tomli_w.dumps(doc))
    server.start()
    server.wait_healthy()
    try:
        model = tmp_path / "orders.yaml"
        model.write_text(model_text("demo3270", 3270, name="orders"))
        proc = a.inst.hostgate(
            "activatemodel", "--server", server.target, str(model), "--ca-file", str(a.inst.ca_file),
            "--password-file", str(a.inst.password_file), check=False, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 1
        assert (
            "[HG-3852] Deployment of model failed: Cannot establish management session: the management alias "
            f"'{b.alias}:{b.inst.api_port}' names servers of another cluster, not of cluster {a.cluster_id} "
            f"({b_member.address} presented a certificate not signed by this cluster's CA)"
        ) in proc.stderr, proc.stderr
        assert not (server.data_dir / "models" / "orders.yaml").exists()
    finally:
        server.terminate()
        path.write_text(original)
        server.start()
        server.wait_healthy()


def test_a_token_of_another_cluster_is_an_invalid_binding(
    clusters: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    a, b = clusters
    secrets = json.loads((a.server.data_dir / "session-secrets.json").read_text())
    keys = tokens.KeySet([tokens.PublicKey.from_json(k) for k in secrets["token_keys"]])
    registry = SessionRegistry("session01", a.cluster_id, keys, 10, ModelLibrary(tmp_path / "models"))
    hosts = tmp_path / "hosts"
    b_member = b.inst.members[0]
    hosts.write_text(f"{b_member.address} {b_member.name} {b.alias}\n")
    alias = f"{b.alias}:{b.inst.api_port}"

    def client_for(credentials: Credentials | None) -> ClusterClient:
        given = credentials or Credentials()
        # Trusting B: B's CA and the certificate B registered for its own session01.
        return ClusterClient(
            alias,
            ca_file=b.inst.ca_file,
            user=given.user,
            password=given.password,
            hosts_file=hosts,
            cert_file=b.server.data_dir / "member.pem",
            key_file=b.server.data_dir / "member-key.pem",
        )

    deployer = Deployer(registry, client_for, alias)
    auth = "Basic " + base64.b64encode(f"admin:{b.inst.password}".encode()).decode()
    with pytest.raises(ManagementSessionError) as caught:
        asyncio.run(deployer.deploy(auth, "orders", model_text("demo3270", 3270, name="orders")))
    message = caught.value.message
    assert message.startswith("Deployment of model failed: Token binding is invalid"), message
    assert (
        f"the token was bound to cluster {b.cluster_id}, session server 'session01', user 'admin', model "
        f"'orders'; checked by session server 'session01' of cluster {a.cluster_id}"
    ) in message
    assert not (tmp_path / "models" / "orders.yaml").exists()
