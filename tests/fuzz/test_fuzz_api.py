"""Property-based fuzzing of the management API (issue #15): every route, every kind of caller, hostile bodies,
path parameters and headers; every answer must be coded, stamped and traceback-free (``_common.check_answer``).

In process: the real ``create_app`` over a real SqliteStore, ConfigCache and ManagementService, seeded like a
fresh cluster (CA, token keys, an Administrator, an account with no role, a session server, a domain). The
security settings are lenient (no fail delay, no backoff, no lockout) so that examples with the right password
are not all answered 429; a 429 with Retry-After is still a correct answer.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.config.settings import SecuritySettings, ServerSettings, Settings
from hostgate.management.cache import ConfigCache
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    PREFIX,
    CaRecord,
    ClusterInfo,
    UserRecord,
    user_key,
)
from hostgate.management.security import ADMIN_ROLE, hash_password
from hostgate.management.service import ManagementService
from hostgate.management.token_keys import ensure_token_keys
from hostgate.store.sqlite import SqliteStore
from tests.fuzz._common import (
    EXAMPLES,
    NUMBERS,
    TEXT,
    Fuzzed,
    LogTrap,
    check_answer,
    header_values,
    json_bodies,
    path_params,
)
from tests.helpers.etcd import write_member_files

CLUSTER = "fuzz-cluster"
PASSWORD = "correct-horse-battery"
IDENTITY = {"X-Hostgate-Cluster-Id": CLUSTER, "X-Hostgate-Member": "m1"}

# The route table (api/app.py): method, path template, the body's fields.
ROUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("GET", "/api/v1/health", ()),
    ("GET", "/api/v1/ca", ()),
    ("GET", "/api/v1/whoami", ()),
    ("GET", "/api/v1/cluster", ()),
    ("PUT", "/api/v1/cluster/name", ("name",)),
    (
        "POST",
        "/api/v1/cluster/members",
        ("name", "address", "port", "etcd_client_port", "etcd_peer_port", "csr_pem"),
    ),
    ("DELETE", "/api/v1/cluster/members/{name}", ()),
    ("GET", "/api/v1/session-servers", ()),
    (
        "POST",
        "/api/v1/session-servers",
        ("name", "address", "port", "advertised_address", "advertised_port", "csr_pem"),
    ),
    ("DELETE", "/api/v1/session-servers/{name}", ()),
    ("POST", "/api/v1/session-servers/{name}/heartbeat", ("active_sessions", "capacity", "interval")),
    ("GET", "/api/v1/token-keys", ()),
    ("POST", "/api/v1/token-keys/rotate", ()),
    ("GET", "/api/v1/domains", ()),
    ("POST", "/api/v1/domains", ("name",)),
    ("GET", "/api/v1/domains/{name}", ()),
    ("DELETE", "/api/v1/domains/{name}", ()),
    ("PUT", "/api/v1/domains/{name}/servers/{server}", ("weight", "priority")),
    ("DELETE", "/api/v1/domains/{name}/servers/{server}", ()),
    ("POST", "/api/v1/route", ("domain", "model", "exclude", "unreachable")),
    ("POST", "/api/v1/tokens", ("server", "model")),
    ("GET", "/api/v1/users", ()),
    ("POST", "/api/v1/users", ("name", "password", "admin")),
    ("DELETE", "/api/v1/users/{name}", ()),
    # Not routes: Starlette's own 404 and 405 must be coded and stamped too.
    ("GET", "/api/v1/{name}", ()),
    ("PATCH", "/api/v1/users", ()),
)
_PORTS = st.one_of(st.integers(min_value=-1, max_value=70_000), st.sampled_from([0, 1, 65535, 65536, 2**64]))
_CSR = pki.make_csr("fuzz")[0].decode()
# A value of the right type for each body field (hostile ones are mixed in by json_bodies).
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "name": st.one_of(st.sampled_from(("x1", "a..b", "-x", "x" * 64, "UPPER")), TEXT),
    "address": st.sampled_from(("127.0.0.1", "0.0.0.0", "::", "::1", "host.example", "a b", "999.1.1.1")),
    "advertised_address": st.sampled_from(("", "127.0.0.2", "h..x", "[::1]")),
    "port": _PORTS,
    "etcd_client_port": _PORTS,
    "etcd_peer_port": _PORTS,
    "advertised_port": _PORTS,
    "csr_pem": st.one_of(st.just(_CSR), st.just(_CSR[:200]), TEXT),
    "active_sessions": NUMBERS,
    "capacity": NUMBERS,
    "interval": NUMBERS,
    "weight": NUMBERS,
    "priority": NUMBERS,
    "domain": st.sampled_from(("prod", "none", "")),
    "model": st.one_of(st.sampled_from(("m", "")), TEXT),
    "exclude": st.lists(st.sampled_from(("s1", "x")), max_size=3),
    "unreachable": st.lists(st.sampled_from(("s1", "x")), max_size=3),
    "server": st.sampled_from(("s1", "s2", "")),
    "password": st.one_of(st.just("long-enough-password"), TEXT),
    "admin": st.booleans(),
}
# Names that exist, so that some examples get past "not found". Not "admin": removing the fuzzer's own
# Administrator would turn the rest of the run into 401s.
KNOWN = ("m1", "s1", "prod", "operator", "nobody")


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


# Callers: none, the Administrator, an account with no role, a wrong password, an unknown user, garbage.
_AUTH = st.one_of(
    st.sampled_from(
        [
            None,
            _basic("admin", PASSWORD),
            _basic("admin", PASSWORD),
            _basic("operator", PASSWORD),
            _basic("admin", "wrong"),
            _basic("ghost", "x"),
            b"Basic",
            b"Basic !!!",
            b"Basic " + base64.b64encode(b"no-colon"),
            b"Basic " + base64.b64encode(b"\xff\xfe:\xff"),
            b"Bearer abc",
        ]
    ),
    header_values(()).map(lambda v: b"Basic " + v),
)

_IDEMPOTENCY = st.one_of(
    st.none(),
    header_values(("k" * 16, "k" * 128, "k" * 129, "short", "a b c d e f g h i j", "key:with.dots_and-dash")),
)
_DEADLINE = st.one_of(
    st.none(),
    st.floats(min_value=-60, max_value=600).map(lambda d: f"{time.time() + d:.3f}".encode()),
    header_values(("nan", "inf", "-inf", "1e400", "-0", "0", "9" * 400, "1e-400", " 12 ", "0x10")),
)


@st.composite
def requests(draw: st.DrawFn) -> Fuzzed:
    method, template, fields = draw(st.sampled_from(ROUTES))
    path = template
    for param in ("{name}", "{server}"):
        if param in path:
            path = path.replace(param, draw(path_params(KNOWN)))
    headers: dict[str, bytes] = {}
    # Half the examples as the Administrator, so that most get past the login gate into the handlers.
    auth = _basic("admin", PASSWORD) if draw(st.booleans()) else draw(_AUTH)
    if auth is not None:
        headers["Authorization"] = auth
    if draw(st.booleans()):  # else a request without them (curl): a key of its own, a 30 s deadline
        key = draw(_IDEMPOTENCY)
        if key is not None:
            headers["Idempotency-Key"] = key
        deadline = draw(_DEADLINE)
        if deadline is not None:
            headers["X-Hostgate-Deadline"] = deadline
    if draw(st.booleans()):
        headers["Content-Type"] = draw(header_values(("application/json", "text/plain", "")))
    body = (
        draw(json_bodies({f: FIELDS[f] for f in fields}))
        if method in ("POST", "PUT", "PATCH", "DELETE")
        else None
    )
    return Fuzzed(method, path, headers, body)


async def _start(data_dir: Path) -> tuple[httpx.AsyncClient, SqliteStore, ConfigCache]:
    ca = pki.create_ca(CLUSTER)
    write_member_files(data_dir, ca, "m1", "127.0.0.1")
    settings_ = Settings(
        data_dir=data_dir,
        server=ServerSettings(member_name="m1", address="127.0.0.1", cluster_id=CLUSTER),
        security=SecuritySettings(
            login_fail_delay=0.0,
            login_free_failures=1_000_000,
            lockout_failures=1_000_000,
            login_backoff=0.001,
            login_backoff_max=0.001,
        ),
    )
    store = SqliteStore(data_dir / "store.sqlite3", member_name="m1")
    await store.put(CLUSTER_KEY, ClusterInfo(CLUSTER, "vhi-fuzz", time.time()).encode())
    await store.put(CA_KEY, CaRecord(ca.cert_pem.decode(), ca.key_pem.decode()).encode())
    await store.put(user_key("admin"), UserRecord("admin", hash_password(PASSWORD), (ADMIN_ROLE,)).encode())
    await store.put(user_key("operator"), UserRecord("operator", hash_password(PASSWORD), ()).encode())
    cache = ConfigCache(store, PREFIX)
    await cache.start()
    await ensure_token_keys(store, cache)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ManagementService(settings_, store, cache))),
        base_url="https://m1",
    )
    admin = {"Authorization": _basic("admin", PASSWORD).decode()}
    csr, _key = pki.make_csr("s1")
    seeded = [
        await http.post(
            "/api/v1/session-servers",
            json={
                "name": "s1",
                "address": "127.0.0.1",
                "port": 9,
                "advertised_address": "",
                "advertised_port": 0,
                "csr_pem": csr.decode(),
            },
            headers=admin,
        ),
        await http.post("/api/v1/domains", json={"name": "prod"}, headers=admin),
        await http.put("/api/v1/domains/prod/servers/s1", json={"weight": 1, "priority": 1}, headers=admin),
    ]
    for resp in seeded:
        assert resp.status_code in (200, 201), resp.text
    return http, store, cache


def test_the_management_api_answers_every_request_coded_and_stamped(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    trap = LogTrap()
    try:
        with trap.installed():
            http, store, cache = loop.run_until_complete(_start(tmp_path / "m1"))
            trap.take()

            async def send(fuzzed: Fuzzed) -> httpx.Response:
                return await http.request(
                    fuzzed.method, fuzzed.path, headers=fuzzed.headers, content=fuzzed.body
                )

            @settings(max_examples=EXAMPLES, deadline=None, database=None)
            @given(fuzzed=requests())
            @example(fuzzed=Fuzzed("GET", "/api/v1/nowhere"))
            @example(fuzzed=Fuzzed("PATCH", "/api/v1/users"))
            def one(fuzzed: Fuzzed) -> None:
                resp = loop.run_until_complete(send(fuzzed))
                check_answer(fuzzed, resp, IDENTITY, trap.take())

            try:
                one()
            finally:
                loop.run_until_complete(http.aclose())
                loop.run_until_complete(cache.close())
                loop.run_until_complete(store.close())
    finally:
        loop.close()
