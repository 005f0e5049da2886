"""Property-based fuzzing of the session server (issue #15): every route with no token, a garbage or tampered
token, a token for another server or model, and valid session tokens minted by the management API's
``/tokens`` (``/route`` needs a live server: heartbeats need a TLS client certificate); hostile bodies, session ids, names and query strings. Every answer must be coded, stamped and
traceback-free (``_common.check_answer``).

In process: the real ``create_session_app`` over a real ``SessionRegistry`` that holds only the cluster's
public token keys (fetched from the member, as a registered server gets them), a deployed sample model and a
real TN3270 mock host (mainframe-mocker, a separate process on loopback), so that sessions really open and the
fuzzer drives a signed-on session too, not only "no such session".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hostgate import tokens
from hostgate.models import ModelLibrary, deploy_model
from hostgate.session.registry import SessionRegistry
from hostgate.session.server import create_session_app
from tests.fuzz._cluster import CLUSTER, Member, start_member
from tests.fuzz._common import (
    EXAMPLES,
    NUMBERS,
    TEXT,
    Fuzzed,
    LogTrap,
    check_answer,
    header_values,
    hostile_values,
    json_bodies,
    path_params,
)
from tests.helpers.hosts import MainframeHost
from tests.helpers.models import write_model

IDENTITY = {"X-Hostgate-Cluster-Id": CLUSTER, "X-Hostgate-Session-Server": "s1"}
S = "/api/v1/sessions/{id}"
LIVE = ("LIVE0", "LIVE1")

# The route table (session/server.py): method, path template, the body's fields, query parameters.
ROUTES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("GET", "/api/v1/health", (), False),
    ("POST", "/api/v1/sessions", ("model", "variables"), False),
    ("GET", S, (), False),
    ("DELETE", S, (), False),
    ("POST", f"{S}/ping", (), False),
    ("GET", f"{S}/entity", (), False),
    ("PUT", f"{S}/entity", ("entity",), False),
    ("GET", f"{S}/attributes", (), True),
    ("PUT", f"{S}/attributes", ("attributes",), False),
    ("POST", f"{S}/operations/{{name}}", ("parameters",), False),
    ("GET", f"{S}/recordsets/{{name}}", (), True),
    ("POST", f"{S}/procedures", ("table", "procedure", "inputs", "filters"), False),
    ("POST", f"{S}/query", ("sql",), False),
    # Deployments (session/deploy_routes.py): this in-process server has no management alias, so HG-1004.
    ("PUT", "/api/v1/models/{name}", ("text",), False),
    ("DELETE", "/api/v1/models/{name}", (), False),
    # Not routes: Starlette's own 404 and 405 must be coded and stamped too.
    ("GET", "/api/v1/{name}", (), False),
    ("PATCH", f"{S}/entity", (), False),
)
_NAMES = ("Menu", "SignOn", "CustomerForm", "CustomerList", "customers", "open_form", "open_list", "signoff")
_ATTRS = ("userid", "password", "option", "custno", "name", "city", "message", "page")
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "model": st.one_of(st.sampled_from(("m", "", "other")), TEXT),
    "text": st.one_of(st.sampled_from(("", "name: m\n", "a: [")), TEXT),
    "variables": st.dictionaries(st.sampled_from(("user", "password", "x")), hostile_values(), max_size=3),
    "entity": st.one_of(st.sampled_from(_NAMES), TEXT),
    "attributes": st.dictionaries(st.one_of(st.sampled_from(_ATTRS), TEXT), hostile_values(), max_size=3),
    "parameters": st.dictionaries(st.one_of(st.sampled_from(_ATTRS), TEXT), hostile_values(), max_size=3),
    "table": st.one_of(st.just("customers"), TEXT),
    "procedure": st.one_of(st.sampled_from(("list_customers", "add_customer")), TEXT),
    "inputs": st.dictionaries(st.sampled_from(("number", "name", "city", "x")), hostile_values(), max_size=3),
    "filters": st.dictionaries(
        st.sampled_from(("number", "name", "city", "x")), hostile_values(), max_size=3
    ),
    "sql": st.one_of(
        st.sampled_from(
            (
                "SELECT * FROM customers",
                "SELECT name FROM customers WHERE number = 1",
                "SELECT * FROM customers; DROP TABLE customers",
                "SELECT",
                "SELECT * FROM customers WHERE " + " AND ".join(["number = 1"] * 500),
                "SELECT ((((((((((((((((((((1))))))))))))))))))))",
            )
        ),
        TEXT,
    ),
}
_QUERY_KEYS = st.sampled_from(("names", "max", "filter.name", "filter.number", "filter.", "x"))
_QUERY_VALUES = st.one_of(
    st.sampled_from(("", "1", "-1", "0", "99999999999999999999999", "nan", "1e9", "name,city", ",,,")),
    NUMBERS.map(str),
    TEXT.filter(lambda s: len(s) < 2_000),  # the whole URL stays under httpx's 64 KiB limit
)


@st.composite
def requests(draw: st.DrawFn, tokens_: tuple[str, ...]) -> Fuzzed:
    method, template, fields, query = draw(st.sampled_from(ROUTES))
    # LIVE0/LIVE1: the ids of the two open sessions at the time the example runs (filled in by the test).
    path = template.replace("{id}", draw(st.one_of(st.sampled_from(LIVE), path_params(("x",)))))
    path = path.replace("{name}", draw(path_params(_NAMES)))
    if query:
        params = draw(st.lists(st.tuples(_QUERY_KEYS, _QUERY_VALUES), max_size=4))
        path += "?" + str(httpx.QueryParams(params))
    headers: dict[str, bytes] = {}
    if draw(st.booleans()):  # half the examples with a valid token, to get past the token check
        headers["Authorization"] = b"Bearer " + draw(st.sampled_from(tokens_)).encode()
    else:
        auth = draw(
            st.one_of(
                st.none(),
                st.sampled_from([b"Bearer", b"Bearer ", b"Basic YWRtaW46eA==", b"bearer x.y.z"]),
                header_values(()).map(lambda v: b"Bearer " + v),
                st.sampled_from(tokens_).flatmap(lambda t: _tampered(t)),
            )
        )
        if auth is not None:
            headers["Authorization"] = auth
    if draw(st.booleans()):
        headers["Content-Type"] = draw(header_values(("application/json", "text/plain")))
    body = draw(json_bodies({f: FIELDS[f] for f in fields})) if method in ("POST", "PUT", "PATCH") else None
    return Fuzzed(method, path, headers, body)


def _tampered(token: str) -> st.SearchStrategy[bytes]:
    """A valid token with one character changed, cut short, or with a part dropped."""
    return st.one_of(
        st.integers(min_value=0, max_value=len(token) - 1).map(
            lambda i: b"Bearer " + (token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]).encode()
        ),
        st.integers(min_value=0, max_value=len(token) - 1).map(lambda i: b"Bearer " + token[:i].encode()),
        st.just(b"Bearer " + ".".join(token.split(".")[1:]).encode()),
    )


async def _token(member: Member, path: str, body: dict[str, str]) -> str:
    token = (await member.admin("POST", path, body)).json()["token"]
    assert isinstance(token, str)
    return token


async def _start(tmp_path: Path, port: int) -> tuple[Member, SessionRegistry, tuple[str, ...]]:
    member = await start_member(tmp_path / "m1")
    public = (await member.admin("GET", "/api/v1/token-keys")).json()["keys"]
    keys = tokens.KeySet([tokens.PublicKey.from_json(k) for k in public])
    models = tmp_path / "models"
    models.mkdir()
    deploy_model(write_model(tmp_path, "demo3270", port, name="m"), models)
    registry = SessionRegistry("s1", CLUSTER, keys, 8, ModelLibrary(models))
    minted = (
        await _token(member, "/api/v1/tokens", {"server": "s1", "model": "m"}),
        await _token(member, "/api/v1/tokens", {"server": "s1"}),
        await _token(member, "/api/v1/tokens", {"server": "s1", "model": "other"}),
        await _token(member, "/api/v1/tokens", {"server": "s2", "model": "m"}),  # another server's
    )
    return member, registry, minted


def test_the_session_server_answers_every_request_coded_and_stamped(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    trap = LogTrap()
    try:
        with MainframeHost("3270").start() as host, trap.installed():
            member, registry, minted = loop.run_until_complete(_start(tmp_path, host.port))
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(create_session_app(registry)), base_url="http://s1"
            )

            auth = {"Authorization": f"Bearer {minted[0]}"}
            owner = registry.claims(minted[0])
            live: list[str] = []

            async def keep_two_sessions() -> None:
                """The fuzzer may close the open sessions or open more: close its own, reopen ours."""
                for session_id in [i for i in registry.sessions if i not in live]:
                    await registry.close(owner, session_id)
                live[:] = [i for i in live if i in registry.sessions]
                while len(live) < len(LIVE):
                    resp = await http.post("/api/v1/sessions", json={"model": "m"}, headers=auth)
                    assert resp.status_code == 201, resp.text
                    live.append(resp.json()["id"])

            async def send(fuzzed: Fuzzed) -> httpx.Response:
                await keep_two_sessions()
                trap.take()
                path = fuzzed.path
                for placeholder, session_id in zip(LIVE, live, strict=True):
                    path = path.replace(placeholder, session_id)
                return await http.request(fuzzed.method, path, headers=fuzzed.headers, content=fuzzed.body)

            @settings(max_examples=EXAMPLES, deadline=None, database=None)
            @given(fuzzed=requests(minted))
            @example(fuzzed=Fuzzed("GET", "/api/v1/nowhere"))
            @example(fuzzed=Fuzzed("PATCH", "/api/v1/sessions/x/entity"))
            def one(fuzzed: Fuzzed) -> None:
                resp = loop.run_until_complete(send(fuzzed))
                check_answer(fuzzed, resp, IDENTITY, trap.take())

            try:
                one()
            finally:
                loop.run_until_complete(http.aclose())
                loop.run_until_complete(registry.close_all())
                loop.run_until_complete(member.close())
    finally:
        loop.close()
