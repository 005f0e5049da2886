"""The Sessions and Models pages against real processes: a member (SQLite), a session server and the 3270
test host (mainframe-mocker), over HTTPS with httpx.

Given a model whose sessions stay on the host's sign-on screen, activated through the console (the session
server validates it, gets a deploy token from the cluster with the console user's credentials, records it):
a client opens a session and types a password into the non-display password field without pressing Enter.
The console lists the session (server, model, user, age) and shows its screen: the user id typed beside it is
there, the password is in neither the HTML nor the JSON twin, and the field is a masked run. Ending the session
from the console ends it (the client's next call is HG-4202, the list is empty, the end is audited). Then the
model is deactivated and activated again from the console, the records following each step.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate.cli.lab import poll
from hostgate.connector import connect_to_model_via_domain
from hostgate.errors import HostgateError
from tests.helpers.hosts import MainframeHost
from tests.helpers.lone_member import LoneMember, lone_member
from tests.helpers.models import model_text

pytestmark = pytest.mark.slow

MODEL = "signon3270"
PASSWORD_TYPED = "ZQXJ7KPW"  # 8 characters: the password field's length
USERID_TYPED = "GRACEH"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def stay_on_sign_on(doc: dict[str, Any]) -> None:
    """Sessions of this model open on the sign-on screen and stay there (no sign-on navigation)."""
    doc["navigation"] = {"start": "SignOn"}
    doc["description"] = "The sign-on screen only: sessions stay on it."


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoneMember, str]]:
    root = tmp_path_factory.mktemp("console-live")
    with MainframeHost("3270").start() as host, lone_member(root / "lab", heartbeat_interval=1.0) as lab:
        inst = lab.inst
        inst.hostgate("domain", "create", "scr", *inst.client_args())
        inst.hostgate("domain", "add-server", "scr", "session01", *inst.client_args())
        yield lab, model_text("demo3270", host.port, name=MODEL, extra=stay_on_sign_on)


@contextlib.contextmanager
def console(lab: LoneMember) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lab.member.url, verify=lab.ctx, timeout=60.0) as c:
        yield _logged_in(c, lab)


def _logged_in(c: httpx.Client, lab: LoneMember) -> httpx.Client:
    form = c.get("/console/login")
    token = _CSRF.search(form.text)
    assert token is not None
    answer = c.post(
        "/console/login",
        data={
            "user": "admin",
            "password": lab.inst.password,
            "csrf": token.group(1),
            "next": "/console/status",
        },
    )
    assert answer.status_code == 303, answer.text
    return c


def csrf_of(c: httpx.Client) -> str:
    found = _CSRF.search(c.get("/console/status").text)
    assert found is not None
    return found.group(1)


def post(c: httpx.Client, path: str, form: dict[str, str]) -> httpx.Response:
    return c.post(path, data={**form, "csrf": csrf_of(c)}, headers={"Accept": "application/json"})


def deployed(lab: LoneMember) -> list[dict[str, Any]]:
    with httpx.Client(base_url=lab.member.url, verify=lab.ctx, timeout=30.0) as api:
        found: list[dict[str, Any]] = api.get("/api/v1/deployments", auth=("admin", lab.inst.password)).json()
        return found


def test_activate_view_a_masked_screen_end_the_session(lab: tuple[LoneMember, str]) -> None:
    member, text = lab
    inst = member.inst
    with console(member) as c:
        activated = post(
            c, "/console/models/activate", {"model": MODEL, "target": "domain:scr", "text": text}
        )
        assert activated.status_code == 200, activated.text
        assert activated.json()["done"] == f"model {MODEL} activated on session01"
        assert [(d["server"], d["model"]) for d in deployed(member)] == [("session01", MODEL)]
        models = c.get("/console/models.json").json()["page"]["models"]
        assert models[0]["description"] == "The sign-on screen only: sessions stay on it."
        with connect_to_model_via_domain(
            member.member.target, "scr", MODEL, user="admin", password=inst.password, ca_file=inst.ca_file,
            hosts_file=Path(inst.root / "hosts"),
        ) as session:  # fmt: skip
            assert session.current_entity() == "SignOn"
            session.set_attributes({"userid": USERID_TYPED, "password": PASSWORD_TYPED})
            listed = c.get("/console/sessions.json").json()["page"]
            (row,) = [s for s in listed["sessions"] if s["id"] == session.id]
            assert (row["server"], row["user"], row["model"], row["entity"]) == (
                "session01", "admin", MODEL, "SignOn",
            )  # fmt: skip
            assert row["age"].endswith(" s") or "min" in row["age"]
            html = c.get("/console/sessions").text
            assert (
                session.id in html
                and f"/console/sessions/screen?server=session01&amp;id={session.id}" in html
            )

            path = f"/console/sessions/screen?server=session01&id={session.id}"
            screen_html = c.get(path)
            screen_json = c.get(path, headers={"Accept": "application/json"})
            assert screen_html.status_code == 200 and screen_json.status_code == 200
            for body in (screen_html.text, screen_json.text):
                assert USERID_TYPED in body  # what is displayed is shown...
                assert PASSWORD_TYPED not in body  # ...what is hidden never leaves the server
            view = screen_json.json()["page"]["screen"]
            (hidden,) = [f for f in view["fields"] if f["hidden"]]
            assert (hidden["row"], hidden["col"], hidden["text"]) == (12, 34, "*" * hidden["length"])
            assert view["lines"][11][33 : 33 + hidden["length"]] == "*" * hidden["length"]
            assert '<span class="masked" title="hidden field: never shown">' in screen_html.text

            ended = post(c, "/console/sessions/end", {"server": "session01", "id": session.id})
            assert (
                ended.status_code == 200
                and ended.json()["done"] == f"session {session.id} on session01 ended"
            )
            with pytest.raises(HostgateError) as caught:
                session.current_entity()
            assert caught.value.code in ("HG-4202", "HG-4201"), caught.value
        assert not [
            s for s in c.get("/console/sessions.json").json()["page"]["sessions"] if s["id"] == session.id
        ]
        gone = c.get(f"/console/sessions/screen.json?server=session01&id={session.id}")
        assert gone.status_code == 404 and gone.json()["code"] == "HG-4202"

        def newest_end() -> tuple[str, str] | None:  # written behind the answer (management/audit.py): polled
            entries = c.get("/console/audit.json?action=console.session.end").json()["page"]["entries"]
            return (entries[0]["target"], entries[0]["actor"]) if entries else None

        poll("the end audited", lambda: newest_end() == (f"session01/{session.id}", "admin"), 30)


def test_deactivate_then_activate_again(lab: tuple[LoneMember, str]) -> None:
    member, text = lab
    with console(member) as c:
        if not deployed(member):
            assert (
                post(
                    c,
                    "/console/models/activate",
                    {"model": MODEL, "target": "server:session01", "text": text},
                ).status_code
                == 200
            )
        off = post(c, "/console/models/deactivate", {"model": MODEL, "target": "server:session01"})
        assert off.status_code == 200 and off.json()["done"] == f"model {MODEL} deactivated on session01"
        assert deployed(member) == []
        assert c.get("/console/models.json").json()["page"]["models"] == []
        bad = post(
            c, "/console/models/activate", {"model": MODEL, "target": "server:session01", "text": "name: x"}
        )
        assert bad.status_code == 400 and bad.json()["code"].startswith("HG-600"), bad.text
        assert deployed(member) == []  # refused whole: nothing changed
        on = post(c, "/console/models/activate", {"model": MODEL, "target": "server:session01", "text": text})
        assert on.status_code == 200, on.text
        poll("the model recorded again", lambda: [d["model"] for d in deployed(member)] == [MODEL], 30)

        def newest_two() -> list[str]:
            page = c.get("/console/audit.json?action=console.model").json()["page"]
            return [e["action"] for e in page["entries"]][:2]

        # The audit trail is written behind the answer (management/audit.py: recording never delays or fails
        # the caller), so the last activation's entry may reach the store a moment after the answer: polled.
        poll(
            "the activation audited after the deactivation",
            lambda: newest_two() == ["console.model.deploy", "console.model.withdraw"],
            30,
        )


def test_the_screen_route_needs_a_sessions_admin_token(lab: tuple[LoneMember, str]) -> None:
    member, _ = lab
    url = f"{member.session_url}/api/v1/admin/sessions/any-id/screen"
    bare = httpx.get(url, verify=member.ctx, timeout=30)
    assert bare.status_code == 401 and bare.json()["code"] == "HG-3001"
    # A session token (routing's answer) is bound to this server too, but is of another kind.
    route = httpx.post(
        f"{member.member.url}/api/v1/route", json={"domain": "scr"}, verify=member.ctx,
        auth=("admin", member.inst.password), timeout=30,
    ).json()  # fmt: skip
    refused = httpx.get(
        url, headers={"Authorization": f"Bearer {route['token']}"}, verify=member.ctx, timeout=30
    )
    assert refused.status_code in (401, 403) and refused.json()["code"].startswith("HG-3"), refused.text
