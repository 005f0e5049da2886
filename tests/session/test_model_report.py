"""The session server's report of the models it holds (session/model_report.py), in process: what it sends and
when. The member's side is in tests/management/test_deployments.py; real processes in
tests/integration/test_offline_deploy.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostgate.connector.cluster import Answer
from hostgate.errors import HostgateError, NoMemberAnswered
from hostgate.messages import API, Endpoint, HeldModels, HeldModelsAnswer
from hostgate.models.library import ModelLibrary, deploy_model, text_digest
from hostgate.session.deployer import DeployGate
from hostgate.session.model_report import ModelReporter
from tests.helpers.models import model_text


@dataclass
class Member:
    sent: list[HeldModels] = field(default_factory=list)
    fail: HostgateError | None = None
    closed: int = 0

    def client(self) -> Any:
        return self

    async def call(self, endpoint: Endpoint[Any, Any], body: Any, **params: str) -> Answer[Any]:
        assert endpoint is API.deployments_held and params == {"name": "session01"}
        if self.fail is not None:
            raise self.fail
        self.sent.append(body)
        return Answer("m1", "127.0.0.1", 200, HeldModelsAnswer("session01", (), ()))

    async def aclose(self) -> None:
        self.closed += 1


def _deploy(tmp_path: Path, models: Path, name: str, marker: str = "") -> str:
    text = (f"# {marker}\n" if marker else "") + model_text("demo3270", 3270, name=name)
    source = tmp_path / f"{name}-{marker}.yaml"
    source.write_text(text)
    deploy_model(source, models)
    return text_digest(text)


def test_it_reports_at_start_and_on_change_only_and_again_after_a_failure(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    member = Member()
    reporter = ModelReporter(ModelLibrary(models), "session01", member.client, DeployGate(), 1.0)
    first = _deploy(tmp_path, models, "orders")
    (models / "broken.yaml").write_text("not: a model\n")  # does not validate: not served, not reported

    async def scenario() -> list[str]:
        decisions = [await reporter.run_cycle(), await reporter.run_cycle()]
        second = _deploy(tmp_path, models, "orders", marker="v2")
        member.fail = NoMemberAnswered("no management server answered")
        decisions.append(await reporter.run_cycle())
        member.fail = None
        decisions.append(await reporter.run_cycle())
        assert [[(h.model, h.digest) for h in s.models] for s in member.sent] == [
            [("orders", first)],
            [("orders", second)],
        ]
        return decisions

    decisions = asyncio.run(scenario())
    assert decisions[0].startswith("models: 1 held, reported to m1")
    assert decisions[1] == ""  # nothing changed: nothing sent
    assert "not reported to the management cluster" in decisions[2]
    assert member.closed == 3


def test_a_report_waits_for_a_deployment_in_progress(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    member = Member()
    gate = DeployGate()
    reporter = ModelReporter(ModelLibrary(models), "session01", member.client, gate, 1.0)

    async def scenario() -> None:
        async with gate.deploying():
            task = asyncio.create_task(reporter.run_cycle())
            # Turns of the loop, not time: an ungated report of the empty directory would be sent by now.
            for _ in range(20):
                await asyncio.sleep(0)
            assert not task.done() and member.sent == []
            _deploy(tmp_path, models, "orders")
        await task
        # What it read, it read after the deployment ended.
        assert [h.model for h in member.sent[0].models] == ["orders"]

    asyncio.run(scenario())
