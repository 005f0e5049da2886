"""DeploymentService in process over a real SqliteStore and ConfigCache (management/deployments.py).

What it guarantees: a deploy token only for the session server whose registered certificate is presented,
and only to a caller holding Developer for it (the contract management/access.py: with its placeholder an
Administrator holds it, any other account does not; a refusal is audited and changes nothing); a record or
withdrawal needs that server's certificate AND a deploy token of this cluster for that server and model; the
list reads memory, filtered by server or domain; each record and withdrawal is an audit entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hostgate import pki, tokens
from hostgate.errors import (
    AuthenticationFailed,
    DeployTokenMismatch,
    ManagementSessionError,
    NotAuthorized,
    ServerCertificateRefused,
    UsageError,
)
from hostgate.management.deployments import OFFLINE_DEPLOYER, DeploymentService, deployment_key
from hostgate.messages import HeldModel
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, OPERATOR, InProcessMember, start_member

DIGEST = "0123456789abcdef"


@dataclass
class Trail:
    """Keeps what ``AuditTrail.record`` was given (the contract's keyword arguments)."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, **entry: Any) -> None:
        self.entries.append(entry)


@dataclass
class Lab:
    member: InProcessMember
    deployments: DeploymentService
    certs: dict[str, str]
    trail: Trail


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    member = await start_member(tmp_path)
    trail = Trail()
    member.service.deployments.audit = trail  # type: ignore[assignment]
    certs = {}
    for name in ("s1", "s2"):
        csr, _key = pki.make_csr(name)
        grant = await member.service.domains.register_server(
            ADMIN, name=name, address="127.0.0.1", port=9000, advertised_address="", advertised_port=0,
            csr_pem=csr.decode(),
        )  # fmt: skip
        certs[name] = grant.cert_pem
    await member.service.domains.create_domain(ADMIN, "prod")
    await member.service.domains.add_server(ADMIN, "prod", "s1", 1, 1)
    try:
        yield Lab(member, member.service.deployments, certs, trail)
    finally:
        await member.close()


async def test_a_developer_gets_a_token_bound_to_cluster_server_user_and_model(lab: Lab) -> None:
    grant = lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "deploy", "10.0.0.9")
    assert (grant.cluster_id, grant.server, grant.user, grant.model) == (CLUSTER_ID, "s1", "admin", "orders")
    keys = tokens.KeySet(lab.member.service.domains.token_keys.public())
    claims = keys.verify(grant.token, kind="deploy", cluster_id=CLUSTER_ID, server="s1")
    assert (claims.user, claims.model, claims.action, claims.digest) == ("admin", "orders", "deploy", "")
    with pytest.raises(AuthenticationFailed, match="a deploy token cannot be used here"):
        keys.verify(grant.token, kind="session", cluster_id=CLUSTER_ID, server="s1")  # not a session token


async def test_a_user_profile_caller_is_refused_and_audited(lab: Lab) -> None:
    with pytest.raises(
        NotAuthorized, match="Deployment of model failed: user 'operator' does not hold the Developer"
    ):
        lab.deployments.authorize(OPERATOR, "s1", lab.certs["s1"], "orders", "deploy", "10.0.0.9")
    [entry] = lab.trail.entries
    assert entry == {
        "actor": "operator",
        "action": "model.deploy",
        "target": "s1/orders",
        "source": "10.0.0.9",
        "outcome": "HG-3002",
    }


async def test_only_the_servers_own_certificate_gets_a_token(lab: Lab) -> None:
    with pytest.raises(ServerCertificateRefused):
        lab.deployments.authorize(ADMIN, "s1", lab.certs["s2"], "orders", "deploy", "")
    with pytest.raises(AuthenticationFailed):
        lab.deployments.authorize(ADMIN, "s1", None, "orders", "deploy", "")
    with pytest.raises(UsageError):
        lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "../etc", "deploy", "")
    with pytest.raises(UsageError):
        lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "explode", "")


async def test_a_record_needs_the_certificate_and_a_token_for_that_server_and_model(lab: Lab) -> None:
    grant = lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "deploy", "")
    with pytest.raises(ServerCertificateRefused):
        await lab.deployments.record("s1", lab.certs["s2"], "orders", grant.token, DIGEST, "")
    with pytest.raises(
        ManagementSessionError, match="Token binding is invalid: the deploy token is for model"
    ):
        await lab.deployments.record("s1", lab.certs["s1"], "payroll", grant.token, DIGEST, "")
    with pytest.raises(ManagementSessionError, match="Token binding is invalid"):
        await lab.deployments.record("s2", lab.certs["s2"], "orders", grant.token, DIGEST, "")
    with pytest.raises(UsageError, match="digest"):
        await lab.deployments.record("s1", lab.certs["s1"], "orders", grant.token, "nope", "")
    assert lab.member.cache.get(deployment_key("s1", "orders")) is None
    assert lab.trail.entries == []

    rec = await lab.deployments.record("s1", lab.certs["s1"], "orders", grant.token, DIGEST, "10.0.0.9 via x")
    assert (rec.server, rec.model, rec.digest, rec.deployed_by, rec.recorded_by) == (
        "s1", "orders", DIGEST, "admin", "m1",
    )  # fmt: skip
    assert lab.trail.entries == [
        {
            "actor": "admin",
            "action": "model.deploy",
            "target": "s1/orders",
            "source": "10.0.0.9 via x",
            "detail": {"digest": DIGEST},
        }
    ]
    assert [r.model for r in lab.deployments.list()] == ["orders"]


async def test_a_token_records_only_the_action_and_text_it_was_granted_for(lab: Lab) -> None:
    deploy = lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "deploy", "", DIGEST)
    assert (deploy.action, deploy.digest) == ("deploy", DIGEST)
    await lab.deployments.record("s1", lab.certs["s1"], "orders", deploy.token, DIGEST, "")
    with pytest.raises(DeployTokenMismatch, match="granted to deploy, not to withdraw"):
        await lab.deployments.withdraw("s1", lab.certs["s1"], "orders", deploy.token, "")
    with pytest.raises(DeployTokenMismatch, match=f"granted for the model text {DIGEST}"):
        await lab.deployments.record("s1", lab.certs["s1"], "orders", deploy.token, "f" * 16, "")
    withdraw = lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "withdraw", "")
    with pytest.raises(DeployTokenMismatch, match="granted to withdraw, not to deploy"):
        await lab.deployments.record("s1", lab.certs["s1"], "orders", withdraw.token, DIGEST, "")
    [rec] = lab.deployments.list()
    assert rec.digest == DIGEST
    with pytest.raises(UsageError, match="digest"):  # a withdrawal names no text
        lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "withdraw", "", DIGEST)


async def test_list_filters_by_server_and_domain_and_withdraw_removes(lab: Lab) -> None:
    for server in ("s1", "s2"):
        grant = lab.deployments.authorize(ADMIN, server, lab.certs[server], "orders", "deploy", "")
        await lab.deployments.record(server, lab.certs[server], "orders", grant.token, DIGEST, "")
    assert [r.server for r in lab.deployments.list()] == ["s1", "s2"]
    assert [r.server for r in lab.deployments.list(server="s2")] == ["s2"]
    assert [r.server for r in lab.deployments.list(domain="prod")] == ["s1"]
    grant = lab.deployments.authorize(ADMIN, "s2", lab.certs["s2"], "orders", "withdraw", "")
    await lab.deployments.withdraw("s2", lab.certs["s2"], "orders", grant.token, "")
    assert [r.server for r in lab.deployments.list()] == ["s1"]
    assert lab.trail.entries[-1]["action"] == "model.withdraw"


async def test_the_http_face_wants_both_the_certificate_and_the_users_credentials(lab: Lab) -> None:
    async with lab.member.http() as api:  # an Administrator's credentials, but no client certificate
        resp = await api.post("/api/v1/session-servers/s1/deployments/authorize", json={"model": "orders"})
        assert resp.status_code == 401 and resp.json()["code"] == "HG-3001"
        listed = await api.get("/api/v1/deployments", params={"server": "s1"})
        assert listed.status_code == 200 and listed.json() == []
    async with lab.member.http(user="") as anonymous:
        assert (await anonymous.get("/api/v1/deployments")).status_code == 401


async def test_removing_a_server_removes_its_deployment_records(lab: Lab) -> None:
    for server in ("s1", "s2"):
        grant = lab.deployments.authorize(ADMIN, server, lab.certs[server], "orders", "deploy", "")
        await lab.deployments.record(server, lab.certs[server], "orders", grant.token, DIGEST, "")
    await lab.member.service.domains.remove_server(ADMIN, "s2")
    assert [r.server for r in lab.deployments.list()] == ["s1"]
    assert lab.member.cache.get(deployment_key("s2", "orders")) is None


async def test_a_servers_report_of_its_models_records_offline_ones_and_refuses_bad_input_whole(
    lab: Lab,
) -> None:
    grant = lab.deployments.authorize(ADMIN, "s1", lab.certs["s1"], "orders", "deploy", "", DIGEST)
    await lab.deployments.record("s1", lab.certs["s1"], "orders", grant.token, DIGEST, "")
    online = lab.deployments.list(server="s1")
    held = (HeldModel("orders", DIGEST, 1.0), HeldModel("ledger", "f" * 16, 1234.5))
    with pytest.raises(ServerCertificateRefused):
        await lab.deployments.reconcile("s1", lab.certs["s2"], held, "")
    with pytest.raises(UsageError, match="16 hex digits"):
        await lab.deployments.reconcile("s1", lab.certs["s1"], (*held, HeldModel("bad", "nope")), "")
    with pytest.raises(UsageError, match="reported twice"):
        await lab.deployments.reconcile("s1", lab.certs["s1"], (*held, held[1]), "")
    assert lab.deployments.list(server="s1") == online  # refused whole: nothing changed

    answer = await lab.deployments.reconcile("s1", lab.certs["s1"], held, "10.0.0.7")
    assert (answer.recorded, answer.removed) == (("ledger",), ())
    orders, ledger = sorted(lab.deployments.list(server="s1"), key=lambda r: r.model, reverse=True)
    assert orders == online[0]  # recorded through the cluster: kept as it was
    assert (ledger.digest, ledger.deployed_by, ledger.deployed_at) == ("f" * 16, OFFLINE_DEPLOYER, 1234.5)
    assert lab.trail.entries[-1]["action"] == "model.report"

    answer = await lab.deployments.reconcile("s1", lab.certs["s1"], held[1:], "")
    assert (answer.recorded, answer.removed) == ((), ("orders",))
    assert [r.model for r in lab.deployments.list(server="s1")] == ["ledger"]
