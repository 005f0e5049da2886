"""The session server's side of a deployment in process (session/deployer.py): what it does with the answers of
its management session. No sockets: the management session is an in-process stand-in that answers as a member
would (a deploy token minted by a real ``tokens.Signer``, or a coded error), so each answer can be chosen; the
real processes are in tests/integration/test_deploy.py.

Held here: the token is checked with this server's own public keys ("Token binding is invalid" naming what the
token was bound to and who checked it; a key it does not know yet is fetched once); a failure to record rolls the
activation back (the bytes served before, or no file); the management session's failures name their cause.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hostgate import tokens
from hostgate.connector.cluster import Answer
from hostgate.errors import (
    AuthenticationFailed,
    DeploymentNotRecorded,
    DeployTokenMismatch,
    HostgateError,
    ManagementSessionError,
    ModelError,
    NoMemberAnswered,
    QuorumLost,
    ResolutionFailed,
    WrongCluster,
)
from hostgate.messages import API, DeployGrant, DeploymentView, Endpoint, Removed, TokenKeysAnswer
from hostgate.models.library import ModelLibrary, text_digest
from hostgate.session.deployer import Credentials, Deployer
from hostgate.session.registry import SessionRegistry
from tests.helpers.models import model_text

CLUSTER = "cluster-a"
SERVER = "session01"
AUTH = "Basic " + base64.b64encode(b"dev:secret-password").decode()


@dataclass
class Member:
    """An in-process stand-in for the member a management session reaches: each endpoint answers or raises."""

    signer: tokens.Signer
    public: tuple[tokens.PublicKey, ...]
    cluster_id: str = CLUSTER
    server: str = SERVER
    fail: dict[str, BaseException] = field(default_factory=dict)
    # A member that grants another action than asked (None: the one asked, as members do).
    grant_action: str | None = None
    calls: list[str] = field(default_factory=list)
    credentials: list[Credentials | None] = field(default_factory=list)

    def client(self, credentials: Credentials | None) -> Any:
        """The "ClusterClient" of the management session (its ``cluster_id``: the cluster its CA names)."""
        self.credentials.append(credentials)
        return self

    async def call(self, endpoint: Endpoint[Any, Any], body: Any, **params: str) -> Answer[Any]:
        name = next(n for n, e in vars(type(API)).items() if e is endpoint)
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]
        if name == "deploy_authorize":
            expires = time.time() + 60
            action = body.action if self.grant_action is None else self.grant_action
            claims = tokens.TokenClaims(
                "deploy", self.cluster_id, self.server, "dev", body.model, "", expires, action=action,
                digest=body.digest,
            )  # fmt: skip
            token = self.signer.mint(claims)
            return Answer(
                "m1",
                "127.0.0.1",
                200,
                DeployGrant(token, expires, self.cluster_id, SERVER, "dev", body.model),
            )
        if name == "deployment_record":
            return Answer(
                "m1", "127.0.0.1", 200, DeploymentView(SERVER, params["model"], body.digest, "dev", 1.0, "m1")
            )
        if name == "deployment_withdrawn":
            return Answer("m1", "127.0.0.1", 200, Removed(params["model"]))
        if name == "token_keys":
            return Answer("m1", "127.0.0.1", 200, TokenKeysAnswer("v", self.public))
        raise AssertionError(name)


def _key() -> tuple[tokens.Signer, tokens.PublicKey]:
    kid, private_pem, public_b64 = tokens.generate_key()
    return tokens.Signer(kid, private_pem), tokens.PublicKey(kid, public_b64, 0.0)


@dataclass
class Setup:
    deployer: Deployer
    member: Member
    registry: SessionRegistry
    models: Path


def _setup(tmp_path: Path, **member: Any) -> Setup:
    signer, public = _key()
    registry = SessionRegistry(
        SERVER, CLUSTER, tokens.KeySet([public]), 10, ModelLibrary(tmp_path / "models")
    )
    found = Member(signer, (public,), **member)
    deployer = Deployer(registry, found.client, "vhi-prod-sea:9440")
    return Setup(deployer, found, registry, tmp_path / "models")


def _text(name: str = "orders", marker: str = "") -> str:
    return (f"# {marker}\n" if marker else "") + model_text("demo3270", 3270, name=name)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_deployment_activates_and_records_with_the_callers_credentials_forwarded(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    answer = run(s.deployer.deploy(AUTH, "orders", _text()))
    assert (answer.model, answer.digest, answer.replaced) == ("orders", text_digest(_text()), False)
    assert (s.models / "orders.yaml").read_text() == _text()
    assert s.member.calls == ["deploy_authorize", "deployment_record"]
    assert s.member.credentials == [Credentials(user="dev", password="secret-password")]
    assert run(s.registry.models.get_async("orders")).digest == answer.digest


def test_a_login_token_is_forwarded_as_it_is(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    run(s.deployer.deploy("Bearer abc.def.ghi", "orders", _text()))
    assert s.member.credentials == [Credentials(bearer="abc.def.ghi")]


@pytest.mark.parametrize("previous", [None, "v1"])
def test_a_deployment_the_cluster_does_not_record_is_rolled_back(
    tmp_path: Path, previous: str | None
) -> None:
    s = _setup(tmp_path)
    if previous:
        run(s.deployer.deploy(AUTH, "orders", _text(marker=previous)))
    before = (s.models / "orders.yaml").read_bytes() if previous else None
    s.member.fail["deployment_record"] = QuorumLost("no majority")
    with pytest.raises(DeploymentNotRecorded) as caught:
        run(s.deployer.deploy(AUTH, "orders", _text(marker="v2")))
    message = caught.value.message
    assert message.startswith(
        "Deployment of model failed: the management cluster did not record the deployment"
    )
    assert "[HG-2002] no majority" in message and "the activation was rolled back" in message
    if before is None:
        assert not (s.models / "orders.yaml").exists()
        assert "it serves no model 'orders' again" in message
    else:
        assert (s.models / "orders.yaml").read_bytes() == before
        assert f"earlier version ({text_digest(before.decode())}) again" in message


def test_a_record_whose_outcome_is_unknown_says_so(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    s.member.fail["deployment_record"] = NoMemberAnswered(
        "no management server answered (127.0.0.1: timeout)"
    )
    with pytest.raises(DeploymentNotRecorded, match="whether the cluster stored the record is unknown"):
        run(s.deployer.deploy(AUTH, "orders", _text()))
    assert not (s.models / "orders.yaml").exists()


def test_a_request_cancelled_while_recording_leaves_nothing_half_applied(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    run(s.deployer.deploy(AUTH, "orders", _text(marker="v1")))
    before = (s.models / "orders.yaml").read_bytes()
    s.member.fail["deployment_record"] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        run(s.deployer.deploy(AUTH, "orders", _text(marker="v2")))
    assert (s.models / "orders.yaml").read_bytes() == before


def test_a_withdrawal_the_cluster_does_not_record_puts_the_model_back(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    run(s.deployer.deploy(AUTH, "orders", _text()))
    s.member.fail["deployment_withdrawn"] = QuorumLost("no majority")
    with pytest.raises(DeploymentNotRecorded, match="did not record the withdrawal"):
        run(s.deployer.withdraw(AUTH, "orders"))
    assert (s.models / "orders.yaml").read_text() == _text()


def test_a_token_of_another_cluster_is_an_invalid_binding_and_changes_nothing(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    other_signer, other_public = _key()  # cluster B's member signs with its own key
    s.member.signer, s.member.cluster_id = other_signer, "cluster-b"
    s.member.public = (other_public,)  # what cluster B serves when asked for its keys
    with pytest.raises(ManagementSessionError) as caught:
        run(s.deployer.deploy(AUTH, "orders", _text()))
    assert str(caught.value).startswith("[HG-3852] Deployment of model failed: Token binding is invalid")
    assert (
        f"the token was bound to cluster cluster-b, session server {SERVER!r}, user 'dev', model 'orders'; "
        f"checked by session server {SERVER!r} of cluster {CLUSTER}"
    ) in caught.value.message
    assert not (s.models / "orders.yaml").exists()
    assert "deployment_record" not in s.member.calls
    assert other_public.kid not in {k.kid for k in s.registry.token_keys.keys}  # B's keys were not taken


def test_a_token_for_another_server_or_model_is_an_invalid_binding(tmp_path: Path) -> None:
    s = _setup(tmp_path, server="session02")
    with pytest.raises(ManagementSessionError, match="for session server 'session02', not 'session01'"):
        run(s.deployer.deploy(AUTH, "orders", _text()))
    assert not (s.models / "orders.yaml").exists()


def test_a_deploy_token_granted_for_another_action_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """The session server checks the action the token was granted for too (HG-7260), before touching the file:
    a member answering a withdrawal with a deploy token withdraws nothing, and the reverse deploys nothing."""
    s = _setup(tmp_path)
    run(s.deployer.deploy(AUTH, "orders", _text()))
    s.member.grant_action = "deploy"
    with pytest.raises(DeployTokenMismatch, match="granted to deploy, not to withdraw") as caught:
        run(s.deployer.withdraw(AUTH, "orders"))
    assert caught.value.code == "HG-7260" and caught.value.http_status == 403
    assert (s.models / "orders.yaml").read_text() == _text()
    assert s.member.calls.count("deployment_withdrawn") == 0
    s.member.grant_action = "withdraw"
    with pytest.raises(DeployTokenMismatch, match="granted to withdraw, not to deploy"):
        run(s.deployer.deploy(AUTH, "orders", _text(marker="v2")))
    assert (s.models / "orders.yaml").read_text() == _text()
    assert s.member.calls.count("deployment_record") == 1


def test_a_key_rotated_since_the_last_heartbeat_is_fetched_once(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    rotated, rotated_public = _key()
    s.member.signer = rotated
    s.member.public = (*s.member.public, rotated_public)
    run(s.deployer.deploy(AUTH, "orders", _text()))
    assert s.member.calls == ["deploy_authorize", "token_keys", "deployment_record"]
    assert s.member.credentials[1] is None  # the key fetch is this server's certificate alone
    assert rotated_public.kid in {k.kid for k in s.registry.token_keys.keys}


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (ResolutionFailed("vhi-prod-sea: no source knows it"), "the management alias 'vhi-prod-sea:9440' does not resolve"),
        (WrongCluster("127.0.0.5 answered for cluster cluster-b"), "names servers of another cluster, not of cluster cluster-a"),
        (NoMemberAnswered("no management server answered (127.0.0.5: refused)"), "no management member answered through the alias"),
        (AuthenticationFailed("wrong user name or password"), "refused the login of user 'dev' ([HG-3001]"),
    ],
)  # fmt: skip
def test_the_management_session_says_why_it_cannot_be_established(
    tmp_path: Path, error: HostgateError, cause: str
) -> None:
    s = _setup(tmp_path)
    s.member.fail["deploy_authorize"] = error
    with pytest.raises(ManagementSessionError) as caught:
        run(s.deployer.deploy(AUTH, "orders", _text()))
    assert caught.value.message.startswith(
        "Deployment of model failed: Cannot establish management session: "
    ), caught.value.message
    assert cause in caught.value.message
    assert not (s.models / "orders.yaml").exists()


def test_a_bad_model_is_refused_whole_before_any_management_session(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    bad = _text().replace("port: 3270", "port: -1", 1).replace("type: '3270'", "type: nonsense", 1)
    with pytest.raises(ModelError) as caught:
        run(s.deployer.deploy(AUTH, "orders", bad))
    assert {i.path for i in caught.value.issues} >= {"host.port", "host.type"}
    with pytest.raises(ModelError, match="named 'orders', but was sent as 'other'"):
        run(s.deployer.deploy(AUTH, "other", _text()))
    assert s.member.calls == [] and not s.models.exists()


def test_no_credentials_are_refused_before_anything(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    with pytest.raises(AuthenticationFailed):
        run(s.deployer.deploy("", "orders", _text()))
    assert s.member.calls == []
