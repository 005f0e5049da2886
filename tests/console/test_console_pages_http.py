"""The Sessions and Models pages over HTTP, in process (as tests/console/test_console_http.py): the real
ManagementService over SQLite with the console mounted as ``hostgate server`` mounts it, driven by httpx.

What needs no session server process: the JSON twins, the empty states, who sees which buttons, the refused
POSTs (HG-3300 without the CSRF token, HG-3002 for a User, both audited), and a registered, live session server
that does not answer (a heartbeat recorded for a port nobody listens on): shown as not answering (HG-3340),
never a 500. The live session, its masked screen and a model's deactivation are in test_console_pages_live.py
(real processes) and the browser tests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.cli.lab import free_port
from hostgate.console.session_servers import SessionServers
from hostgate.console.sessions_page import age_text
from hostgate.errors import NotAuthorized
from hostgate.management.audit_query import Query
from hostgate.management.deployments import DeploymentRecord, deployment_key
from hostgate.management.routing import Heartbeat
from hostgate.management.security import Principal
from hostgate.messages.catalog import ModelCatalog
from tests.console.test_console_http import client, log_in
from tests.helpers.inprocess import ADMIN, InProcessMember, start_member


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path)
    await m.grant("user", "operator")
    yield m
    await m.close()


async def _silent_server(m: InProcessMember, name: str = "s1") -> None:
    """A registered session server at a port nobody listens on, kept live by a heartbeat."""
    csr, _key = pki.make_csr(name)
    grant = await m.service.domains.register_server(
        ADMIN, name=name, address="127.0.0.1", port=free_port(), advertised_address="", advertised_port=0,
        csr_pem=csr.decode(),
    )  # fmt: skip
    m.service.domains.heartbeat(name, grant.cert_pem, Heartbeat(name, 1, 10, 30.0))


async def _deployed(m: InProcessMember, server: str, model: str, digest: str = "0123456789abcdef") -> None:
    record = DeploymentRecord(server, model, digest, "admin", time.time(), "m1")
    revision = await m.store.put(deployment_key(server, model), record.encode())
    await m.cache.wait_for_revision(revision, 5.0)


def test_ages_read_at_a_glance() -> None:
    assert [age_text(s) for s in (-3, 0, 59, 60, 185, 3600, 7620)] == [
        "0 s", "0 s", "59 s", "1 min 00 s", "3 min 05 s", "1 h 00 min", "2 h 07 min",
    ]  # fmt: skip


async def test_empty_states_and_json_twins(member: InProcessMember) -> None:
    async with client(member.service) as c:
        await log_in(c)
        for path, empty in (
            ("/console/sessions", "No session server is registered yet"),
            ("/console/models", "No model is deployed."),
        ):
            html = await c.get(path)
            assert html.status_code == 200 and empty in html.text, html.text
            assert f'href="{path}" aria-current="page"' in html.text  # in the navigation
            twin = (await c.get(path + ".json")).json()
            assert twin.keys() == {"title", "status_bar", "page"}
        sessions = (await c.get("/console/sessions.json")).json()["page"]
        assert sessions == {"everyone": True, "servers": [], "sessions": []}
        models = (await c.get("/console/models", headers={"Accept": "application/json"})).json()["page"]
        assert models == {"models": [], "servers": [], "domains": [], "can_deploy": True}


async def test_a_live_server_that_does_not_answer_is_shown_as_such(member: InProcessMember) -> None:
    await _silent_server(member)
    async with client(member.service) as c:
        await log_in(c)
        started = time.monotonic()
        page = await c.get("/console/sessions")
        assert time.monotonic() - started < 20
        assert page.status_code == 200 and "did not answer" in page.text and "HG-3340" in page.text
        twin = (await c.get("/console/sessions.json")).json()["page"]
        (state,) = twin["servers"]
        assert state["name"] == "s1" and state["live"] and not state["answered"]
        assert state["error"].startswith("HG-3340: session server s1")
        # A screen of a silent server: the coded error page, not a 500.
        screen = await c.get("/console/sessions/screen.json?server=s1&id=x")
        assert screen.status_code == 502 and screen.json()["code"] == "HG-3340"


async def test_a_user_sees_no_end_button_and_its_forged_posts_are_refused(member: InProcessMember) -> None:
    await _silent_server(member)
    await _deployed(member, "s1", "orders")
    async with client(member.service) as c:
        csrf = await log_in(c, "operator")
        sessions = await c.get("/console/sessions")
        assert sessions.status_code == 200
        assert "Your own live sessions" in sessions.text and "/console/sessions/end" not in sessions.text
        assert (await c.get("/console/sessions.json")).json()["page"]["everyone"] is False
        models = await c.get("/console/models")
        assert "Model orders" in models.text
        assert (
            "/console/models/deactivate" not in models.text and "/console/models/activate" not in models.text
        )
        screen = await c.get("/console/sessions/screen.json?server=s1&id=x")
        assert screen.status_code == 403 and screen.json()["code"] == "HG-3002"
        for path, form in (
            ("/console/sessions/end", {"server": "s1", "id": "x"}),
            ("/console/models/deactivate", {"model": "orders", "target": "server:s1"}),
            ("/console/models/activate", {"model": "orders", "target": "server:s1", "text": "name: orders"}),
        ):
            refused = await c.post(path, data={**form, "csrf": csrf}, headers={"Accept": "application/json"})
            assert refused.status_code == 403 and refused.json()["code"] == "HG-3002", (path, refused.text)
            html = await c.post(path, data={**form, "csrf": csrf})
            assert html.status_code == 403 and "HG-3002" in html.text
        # The record is untouched and each refusal is in the audit trail.
        assert [r.model for r in member.service.deployments.list()] == ["orders"]
    await member.service.audit.flush(5.0)
    entries = (await member.service.audit.read(Query(limit=50, action="console"))).entries
    refused_actions = {e.action for e in entries if e.actor == "operator" and e.outcome == "HG-3002"}
    assert {
        "console.sessions.end", "console.models.deactivate", "console.models.activate"
    } <= refused_actions  # fmt: skip


async def test_posts_without_the_csrf_token_are_refused(member: InProcessMember) -> None:
    async with client(member.service) as c:
        await log_in(c)
        for path in ("/console/sessions/end", "/console/models/deactivate", "/console/models/activate"):
            refused = await c.post(
                path, data={"server": "s1", "id": "x"}, headers={"Accept": "application/json"}
            )
            assert refused.status_code == 403 and refused.json()["code"] == "HG-3300", path


async def test_the_models_page_shows_where_a_model_is_deployed(member: InProcessMember) -> None:
    await _silent_server(member, "s1")
    await _silent_server(member, "s2")
    await member.service.domains.create_domain(ADMIN, "prod")
    await member.service.domains.add_server(ADMIN, "prod", "s1", 1, 1)
    await member.service.domains.add_server(ADMIN, "prod", "s2", 1, 1)
    await _deployed(member, "s1", "orders")
    await _deployed(member, "s2", "orders", "fedcba9876543210")
    async with client(member.service) as c:
        csrf = await log_in(c)
        page = (await c.get("/console/models.json")).json()["page"]
        (orders,) = page["models"]
        assert orders["name"] == "orders" and orders["mixed"] is True
        assert [p["server"] for p in orders["placements"]] == ["s1", "s2"]
        assert orders["domains"] == [{"domain": "prod", "servers": 2, "of": 2}]
        assert orders["links"] == {
            "explorer": "/ws/explorer#model=orders",
            "wsdl": "/ws/soap/orders?wsdl",
            "openapi": "/ws/v1/models/orders/openapi.json",
        }
        assert orders["description"] == ""  # no server answered with its catalog
        html = (await c.get("/console/models")).text
        assert 'href="/ws/explorer#model=orders"' in html and "Deactivate model orders on s1" in html
        # A deactivation on a server that does not answer: the coded error next to the form, nothing changed.
        answer = await c.post(
            "/console/models/deactivate", data={"model": "orders", "target": "server:s1", "csrf": csrf}
        )
        assert answer.status_code == 502 and "HG-3340" in answer.text
        # A domain: each server in turn, every failure named (HG-6202).
        answer = await c.post(
            "/console/models/deactivate",
            data={"model": "orders", "target": "domain:prod", "csrf": csrf},
            headers={"Accept": "application/json"},
        )
        assert answer.status_code == 409 and answer.json()["code"] == "HG-6202"
        assert "s1: HG-3340" in answer.json()["message"] and "s2: HG-3340" in answer.json()["message"]
        bad = await c.post(
            "/console/models/activate",
            data={"model": "orders", "target": "nowhere", "text": "x", "csrf": csrf},
            headers={"Accept": "application/json"},
        )
        assert bad.status_code == 400 and "target" in bad.json()["message"]
        assert len(member.service.deployments.list()) == 2


async def test_a_cached_description_is_not_shown_to_a_login_the_model_is_not_granted_to(
    member: InProcessMember,
) -> None:
    """The catalog cache is shared by the console's logins: the profile check must come before it."""
    await _silent_server(member)
    servers = SessionServers(member.service)
    digest = "0123456789abcdef"
    servers._catalogs[("orders", digest)] = ModelCatalog("orders", description="seen by an Administrator")
    found = await servers.catalog(ADMIN, "s1", "orders", digest)
    assert found.description == "seen by an Administrator"
    with pytest.raises(NotAuthorized):
        await servers.catalog(Principal("nobody", ()), "s1", "orders", digest)
