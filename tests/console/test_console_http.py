"""The console over HTTP, in process: the real ManagementService over a real SQLite store, its member app with
the console mounted exactly as ``hostgate server`` mounts it (runtime/server.py), driven by httpx.

What a browser cannot show cheaply: cookie flags, the coded refusals (HG-3300, HG-3301, HG-3002), the JSON twins,
the security headers, and that a console session is a record every member's copy knows (two members over one
store: logged in on one, used and logged out on the other).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hostgate.api.app import create_app
from hostgate.cli.lab import free_port
from hostgate.config.settings import NamingSettings
from hostgate.console import mount_console
from hostgate.console.web import CSP
from hostgate.management.audit_query import Query
from hostgate.management.cache import ConfigCache
from hostgate.management.records import PREFIX, UserRecord, user_key
from hostgate.management.service import ManagementService
from tests.helpers.inprocess import PASSWORD, InProcessMember, password_hash, start_member

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_app(service: ManagementService) -> httpx.ASGITransport:
    app = create_app(service)
    mount_console(app, service, app.state.login_guard)
    return httpx.ASGITransport(app=app)


def client(service: ManagementService, host: str = "m1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=console_app(service), base_url=f"https://{host}")


async def log_in(c: httpx.AsyncClient, user: str = "admin", password: str = PASSWORD) -> str:
    """Log in through the form; the session's CSRF token (from the next page's forms)."""
    form = await c.get("/console/login")
    token = _CSRF.search(form.text)
    assert token is not None
    answer = await c.post(
        "/console/login",
        data={"user": user, "password": password, "csrf": token.group(1), "next": "/console/status"},
    )
    assert answer.status_code == 303, answer.text
    page = await c.get("/console/status")
    found = _CSRF.search(page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path)
    await m.grant("user", "operator")
    yield m
    await m.close()


async def test_pages_need_a_login_and_the_cookie_is_locked_down(member: InProcessMember) -> None:
    async with client(member.service) as c:
        page = await c.get("/console/domains")
        assert page.status_code == 303 and page.headers["location"] == "/console/login?next=/console/domains"
        twin = await c.get("/console/domains.json")
        assert twin.status_code == 401 and twin.json()["code"] == "HG-3301"
        form = await c.get("/console/login")
        token = _CSRF.search(form.text)
        assert token is not None
        answer = await c.post(
            "/console/login", data={"user": "admin", "password": PASSWORD, "csrf": token.group(1)}
        )
        cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("__Host-hgconsole="))
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "path=/", "samesite=strict"} <= flags
        assert not any(f.startswith("domain=") for f in flags)  # the __Host- prefix forbids it
        assert answer.headers["location"] == "/console/overview"


async def test_every_page_has_a_json_twin_from_the_same_view(member: InProcessMember) -> None:
    async with client(member.service) as c:
        await log_in(c)
        for path in (
            "/console/overview",
            "/console/cluster",
            "/console/domains",
            "/console/security",
            "/console/audit",
        ):
            html = await c.get(path)
            assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
            by_suffix = (await c.get(path + ".json")).json()
            by_accept = (await c.get(path, headers={"Accept": "application/json"})).json()
            assert by_suffix["status_bar"] == {
                "cluster": "vhi-prod-sea",
                "cluster_id": "test-cluster",
                "member": "m1",
                "user": "admin",
                "profile": "Administrator",
            }
            assert by_suffix.keys() == by_accept.keys() == {"title", "status_bar", "page"}
            assert by_suffix["title"] == by_accept["title"]
        overview = (await c.get("/console/overview.json")).json()["page"]
        assert overview["cluster"]["members"][0]["name"] == "m1"
        assert overview["counts"]["console_sessions"] == 1


async def test_security_headers_and_no_inline_script(member: InProcessMember) -> None:
    async with client(member.service) as c:
        await log_in(c)
        for path in (
            "/console/login",
            "/console/overview",
            "/console/static/console.js",
            "/console/static/console.css",
        ):
            answer = await c.get(path)
            assert answer.status_code in (200, 303), path
            assert answer.headers["content-security-policy"] == CSP
            assert answer.headers["x-content-type-options"] == "nosniff"
        page = (await c.get("/console/overview")).text
        assert re.search(r"<script(?![^>]*\bsrc=)", page) is None  # every script is a file of this origin
        assert " style=" not in page and "<style" not in page
        assert "http://" not in page and "//cdn" not in page


async def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    member: InProcessMember,
) -> None:
    async with client(member.service) as c, client(member.service) as other:
        token = await log_in(c)
        other_token = await log_in(other)
        for data in (
            {"name": "prod"},
            {"name": "prod", "csrf": other_token},
            {"name": "prod", "csrf": token + "x"},
        ):
            refused = await c.post(
                "/console/domains/create", data=data, headers={"Accept": "application/json"}
            )
            assert refused.status_code == 403 and refused.json()["code"] == "HG-3300"
        html = await c.post("/console/domains/create", data={"name": "prod"})
        assert html.status_code == 403 and "HG-3300" in html.text
        assert member.service.domains.domains() == []
        done = await c.post("/console/domains/create", data={"name": "prod", "csrf": token})
        assert done.status_code == 303
        assert [d.name for d in member.service.domains.domains()] == ["prod"]
        # The token may come as a header too (the JSON way).
        twin = await c.post(
            "/console/domains/create",
            json={"name": "test"},
            headers={"Accept": "application/json", "X-CSRF-Token": token},
        )
        assert twin.status_code == 200 and twin.json() == {"done": "domain test created"}


async def test_the_login_form_needs_its_own_token(member: InProcessMember) -> None:
    async with client(member.service) as c:
        answer = await c.post("/console/login", data={"user": "admin", "password": PASSWORD})
        assert answer.status_code == 403 and "HG-3300" in answer.text
        assert "__Host-hgconsole" not in c.cookies


async def test_a_failed_login_is_refused_next_to_the_form_and_audited(member: InProcessMember) -> None:
    async with client(member.service) as c:
        form = await c.get("/console/login")
        token = _CSRF.search(form.text)
        assert token is not None
        answer = await c.post(
            "/console/login", data={"user": "admin", "password": "wrong-one", "csrf": token.group(1)}
        )
        assert answer.status_code == 401
        assert 'class="error"' in answer.text and "HG-3001" in answer.text
        assert 'value="admin"' in answer.text  # the user name stays filled in
        assert "wrong-one" not in answer.text
    await member.service.audit.flush(5.0)
    entries = (await member.service.audit.read(Query(limit=20, action="login"))).entries
    assert any(e.action == "login.failed" and e.target == "admin" for e in entries), entries


async def test_a_user_profile_login_sees_no_change_and_is_refused(member: InProcessMember) -> None:
    async with client(member.service) as c:
        token = await log_in(c, "operator")
        status = (await c.get("/console/status.json")).json()["status_bar"]
        assert status["profile"] == "User"
        page = (await c.get("/console/domains")).text
        assert "/console/domains/create" not in page
        assert page.count('method="post"') == 1  # the logout form only
        for path, data in (
            ("/console/domains/create", {"name": "sneaky"}),
            ("/console/cluster/rename", {"name": "sneaky"}),
            ("/console/cluster/remove-member", {"member": "m1"}),
        ):
            refused = await c.post(path, data={**data, "csrf": token}, headers={"Accept": "application/json"})
            assert refused.status_code == 403 and refused.json()["code"] == "HG-3002", path
        assert member.service.domains.domains() == []
        assert member.service.cluster_info().name == "vhi-prod-sea"
        # Each refusal is in the audit trail, with who tried and the code.
        await member.service.audit.flush(5.0)
        entries = (await member.service.audit.read(Query(limit=20, action="console"))).entries
        tried = {(e.actor, e.action, e.outcome) for e in entries}
        assert ("operator", "console.domains.create", "HG-3002") in tried, tried
        assert ("operator", "console.cluster.rename", "HG-3002") in tried, tried
        # Pages only Administrators read answer with the coded refusal, not a traceback.
        audit = await c.get("/console/audit")
        assert audit.status_code == 403 and "HG-3002" in audit.text


async def test_bad_input_is_refused_whole_next_to_its_form(member: InProcessMember) -> None:
    async with client(member.service) as c:
        token = await log_in(c)
        await c.post("/console/domains/create", data={"name": "prod", "csrf": token})
        answer = await c.post(
            "/console/domains/add-server",
            data={"domain": "prod", "server": "s1", "weight": "lots", "priority": "1", "csrf": token},
        )
        assert answer.status_code == 400 and "HG-1003" in answer.text and "weight" in answer.text
        bad_name = await c.post("/console/cluster/rename", data={"name": "a..b", "csrf": token})
        assert bad_name.status_code == 400
        assert member.service.cluster_info().name == "vhi-prod-sea"
        assert member.service.domains.domain("prod").members == ()


async def second_member(member: InProcessMember) -> tuple[ManagementService, ConfigCache]:
    """Member m2 over the same store: its own in-memory copy, fed by its own watch."""
    cache = ConfigCache(member.store, PREFIX)
    await cache.start()
    server = dataclasses.replace(member.settings.server, member_name="m2")
    return ManagementService(dataclasses.replace(member.settings, server=server), member.store, cache), cache


async def test_a_session_is_valid_on_every_member_and_logout_ends_it_everywhere(
    member: InProcessMember,
) -> None:
    m2, cache = await second_member(member)
    try:
        async with client(member.service) as on_m1, client(m2) as on_m2:
            token = await log_in(on_m1)
            on_m2.cookies = on_m1.cookies  # the browser's cookie, now answered by another member
            seen = await on_m2.get("/console/status.json")
            assert seen.status_code == 200
            assert (
                seen.json()["status_bar"]["member"] == "m2" and seen.json()["status_bar"]["user"] == "admin"
            )
            # The CSRF token is the session's, so a form of m1's page posts to m2.
            created = await on_m2.post("/console/domains/create", data={"name": "prod", "csrf": token})
            assert created.status_code == 303
            out = await on_m2.post("/console/logout", data={"csrf": token})
            assert out.status_code == 303 and out.headers["location"] == "/console/login"
            assert await member.cache.wait_until(
                lambda: len(member.cache.items(PREFIX + "console/")) == 0, 5.0
            )
            after = await on_m1.get("/console/status.json")
            assert after.status_code == 401 and after.json()["code"] == "HG-3301"
    finally:
        await cache.close()


async def test_a_changed_password_ends_the_accounts_sessions(member: InProcessMember) -> None:
    async with client(member.service) as c:
        await log_in(c, "operator")
        assert (await c.get("/console/status.json")).status_code == 200
        revision = await member.store.put(
            user_key("operator"),
            UserRecord("operator", password_hash("another-password-9"), ("user",)).encode(),
        )
        assert await member.cache.wait_for_revision(revision, 5.0)
        after = await c.get("/console/status.json")
        assert after.status_code == 401 and after.json()["code"] == "HG-3301"
        assert "password changed" in after.json()["message"]


async def test_the_alias_check_shows_the_doctors_findings(member: InProcessMember, tmp_path: Path) -> None:
    # The alias names a loopback address where nothing listens: the doctor reports it with its fix. Names come
    # from the member's own [naming] (a hosts file only here: nothing is asked of any DNS server).
    port = free_port("127.0.0.1")
    hosts = tmp_path / "alias-hosts"
    hosts.write_text("127.0.0.1 m1 vhi-alias\n")
    naming = NamingSettings(hosts_file=str(hosts), sources=("hosts_file",))
    member.service.settings = dataclasses.replace(member.settings, naming=naming)
    async with client(member.service, f"vhi-alias:{port}") as c:
        await log_in(c)
        page = await c.get("/console/cluster/alias.json")
        assert page.status_code == 200, page.text
        report = page.json()["page"]["report"]
        assert [a["address"] for a in report["addresses"]] == ["127.0.0.1"]
        assert any(f["code"] == "HG-D08" for f in report["findings"]), report["findings"]
        html = (await c.get("/console/cluster/alias")).text
        assert "HG-D08" in html
    async with client(member.service, "127.0.0.1") as by_address:
        await log_in(by_address)
        assert (await by_address.get("/console/cluster/alias.json")).json()["page"]["by_address"] is True


async def test_security_users_and_grants(member: InProcessMember) -> None:
    async with client(member.service) as c, client(member.service) as bob:
        token = await log_in(c)
        differ = await c.post(
            "/console/security/add-user",
            data={"name": "bob", "password": "bob-password-1", "password2": "bob-password-2", "csrf": token},
        )
        assert differ.status_code == 400 and "differ" in differ.text
        assert all(u.name != "bob" for u in member.service.users())
        added = await c.post(
            "/console/security/add-user",
            data={"name": "bob", "password": "bob-password-1", "password2": "bob-password-1", "csrf": token},
        )
        assert added.status_code == 303
        grant = {"profile": "developer", "subject_kind": "user", "subject": "bob", "scope_kind": "domain"}
        bad = await c.post("/console/security/add-grant", data={**grant, "scope": "", "csrf": token})
        assert bad.status_code == 400 and "HG-1011" in bad.text
        granted = await c.post("/console/security/add-grant", data={**grant, "scope": "prod", "csrf": token})
        assert granted.status_code == 303
        page = (await c.get("/console/security.json")).json()["page"]
        assert {
            "profile": "developer",
            "subject": "bob",
            "scope_kind": "domain",
            "scope": "prod",
        }.items() <= next(g for g in page["grants"] if g["subject"] == "bob").items()
        removed = await c.post(
            "/console/security/remove-grant", data={**grant, "scope": "prod", "csrf": token}
        )
        assert removed.status_code == 303
        assert all(
            g["subject"] != "bob" for g in (await c.get("/console/security.json")).json()["page"]["grants"]
        )
        # Removing the account ends its console sessions on the spot.
        await log_in(bob, "bob", "bob-password-1")
        assert (await bob.get("/console/status.json")).status_code == 200
        gone = await c.post("/console/security/remove-user", data={"user": "bob", "csrf": token})
        assert gone.status_code == 303
        after = await bob.get("/console/status.json")
        assert after.status_code == 401 and after.json()["code"] == "HG-3301"
        # The built-in admin stays (its coded refusal next to the users table).
        builtin = await c.post("/console/security/remove-user", data={"user": "admin", "csrf": token})
        assert builtin.status_code == 409 and "HG-3201" in builtin.text
