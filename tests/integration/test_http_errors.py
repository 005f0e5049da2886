"""Both HTTP faces answer every failure with a coded body, a request id and their identity headers (#14.7, #15.5).

Given one management member (its etcd member beside it) and one session server, as real processes over HTTPS:
deeply nested JSON (Python's json raises RecursionError there, not ValueError) sent without credentials gets a
coded 4xx, never an uncoded 500; a real internal error (a stored record 100,000 levels deep) gets HG-1000 with
a request id, is logged once with its traceback, and the connector and the CLI report it as HG-1000 from the
right cluster, not as HG-5102 "another cluster"; weight 0 is refused naming the field.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.config.settings import load_settings
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError, WrongCluster
from hostgate.store.etcd import EtcdStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]

DEPTH = 100_000
NESTED = b"[" * DEPTH + b"]" * DEPTH
CODED = re.compile(r"HG-\d{4}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Installation, Member, Member]]:
    with installation(tmp_path_factory.mktemp("http-errors")) as inst:
        member = inst.install_first()
        member.start()
        member.wait_healthy()
        inst.write_hosts_file()
        session = inst.add_session_server(1, interval=1.0)
        yield inst, member, session


def _client(inst: Installation, base_url: str, *, admin: bool = False) -> httpx.Client:
    headers = {}
    if admin:
        headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{inst.password}".encode()).decode()
    tls = ssl.create_default_context(cafile=str(inst.ca_file))
    return httpx.Client(base_url=base_url, verify=tls, headers=headers, timeout=30)


def _assert_coded(resp: httpx.Response, cluster_id: str) -> dict[str, Any]:
    """A coded JSON error with the request id in body and header, stamped with the cluster id."""
    assert "Traceback" not in resp.text and 'File "' not in resp.text, resp.text[:500]
    assert resp.headers.get("x-hostgate-cluster-id") == cluster_id, dict(resp.headers)
    body: dict[str, Any] = resp.json()
    assert CODED.fullmatch(body["code"]), body
    request_id = resp.headers.get("x-request-id")
    assert request_id and body["request_id"] == request_id, (body, dict(resp.headers))
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/session-servers/session01/heartbeat"),
        ("POST", "/api/v1/domains"),
        ("POST", "/api/v1/route"),
        ("PUT", "/api/v1/domains/d/servers/session01"),
        ("PUT", "/api/v1/cluster/name"),
    ],
)
def test_nested_json_to_the_management_api_gets_a_coded_4xx(
    lab: tuple[Installation, Member, Member], method: str, path: str
) -> None:
    inst, member, _ = lab
    cluster_id = load_settings(member.data_dir).server.cluster_id
    with _client(inst, member.url) as http:
        resp = http.request(method, path, content=NESTED, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    _assert_coded(resp, cluster_id)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/sessions"),
        ("PUT", "/api/v1/sessions/x/entity"),
        ("PUT", "/api/v1/sessions/x/attributes"),
        ("POST", "/api/v1/sessions/x/operations/go"),
        ("POST", "/api/v1/sessions/x/procedures"),
        ("POST", "/api/v1/sessions/x/query"),
    ],
)
def test_nested_json_to_the_session_server_gets_a_coded_4xx(
    lab: tuple[Installation, Member, Member], method: str, path: str
) -> None:
    inst, member, session = lab
    cluster_id = load_settings(member.data_dir).server.cluster_id
    with _client(inst, session.url) as http:
        resp = http.request(method, path, content=NESTED, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    _assert_coded(resp, cluster_id)
    assert resp.headers.get("x-hostgate-session-server") == "session01"


def test_unknown_paths_are_stamped_too(lab: tuple[Installation, Member, Member]) -> None:
    inst, member, session = lab
    cluster_id = load_settings(member.data_dir).server.cluster_id
    for url in (member.url, session.url):
        with _client(inst, url) as http:
            resp = http.get("/api/v1/no-such-thing")
        assert resp.status_code == 404
        assert resp.headers.get("x-hostgate-cluster-id") == cluster_id and resp.headers.get("x-request-id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weight": 0, "priority": 1}, "weight"),
        ({"weight": -1, "priority": 1}, "weight"),
        ({"weight": 10**12, "priority": 1}, "weight"),
        ({"weight": 1, "priority": 0}, "priority"),
        ({"weight": 1, "priority": 101}, "priority"),
    ],
)
def test_the_api_refuses_weight_zero_and_absurd_values_naming_the_field(
    lab: tuple[Installation, Member, Member], body: dict[str, int], field: str
) -> None:
    inst, member, _ = lab
    cluster_id = load_settings(member.data_dir).server.cluster_id
    with _client(inst, member.url, admin=True) as http:
        if http.get("/api/v1/domains/w").status_code == 404:
            assert http.post("/api/v1/domains", json={"name": "w"}).status_code == 201
        resp = http.put("/api/v1/domains/w/servers/session01", json=body)
        after = http.get("/api/v1/domains/w").json()
    assert resp.status_code == 400, resp.text
    payload = _assert_coded(resp, cluster_id)
    assert payload["code"] == "HG-1003" and f"'{field}'" in payload["message"], payload
    assert after["members"] == [], "a refused change must change nothing"


def test_the_cli_refuses_weight_zero_before_connecting(lab: tuple[Installation, Member, Member]) -> None:
    inst, _, _ = lab
    # No member at this address: the refusal must come before any connection.
    args = [
        "--server",
        "127.0.0.1:1",
        "--ca-file",
        str(inst.ca_file),
        "--password-file",
        str(inst.password_file),
    ]
    for option, value in (("--weight", "0"), ("--weight", "-2"), ("--priority", "0"), ("--weight", "1001")):
        done = inst.hostgate("domain", "add-server", "w", "session01", option, value, *args, check=False)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert f"error HG-1003: {option} {value} is outside" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def _records(log_file: Path) -> list[str]:
    """The log's records (a record's traceback lines belong to it)."""
    text = log_file.read_text(errors="replace")
    return re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", text)


def test_an_internal_error_is_hg_1000_logged_once_and_from_the_right_cluster(
    lab: tuple[Installation, Member, Member],
) -> None:
    """Runs last in this module: the corrupt record stays (it also stops the member's routing decisions)."""
    inst, member, _ = lab
    settings = load_settings(member.data_dir)

    async def corrupt() -> None:
        store = EtcdStore.from_settings(settings)
        try:
            # A record nobody meant to write, its nesting in a field the typed decoder skips (a nested value
            # where a field is typed is StoreCorrupt, HG-2005: tests/unit/test_record_types.py).
            await store.put("/hostgate/domains/deep", b'{"name": "deep", "x": ' + NESTED + b"}")
        finally:
            await store.close()

    asyncio.run(corrupt())
    with _client(inst, member.url, admin=True) as http:
        resp = poll(
            "the member to see the stored record",
            lambda: (r := http.get("/api/v1/domains/deep")).status_code != 404 and r,
            deadline=60,
        )
    assert resp.status_code == 500, resp.text[:300]
    body = _assert_coded(resp, settings.server.cluster_id)
    assert body["code"] == "HG-1000" and body["request_id"] in body["message"], body

    log_file = member.data_dir / "logs" / "hostgate.log"
    mine = poll(
        "the failure's log record",
        lambda: [r for r in _records(log_file) if body["request_id"] in r],
        deadline=30,
    )
    assert len(mine) == 1, mine
    assert "Traceback (most recent call last)" in mine[0] and "RecursionError" in mine[0], mine[0][:2000]
    assert "Exception in ASGI application" not in log_file.read_text(errors="replace")

    client = ClusterClient(member.target, ca_file=inst.ca_file, user="admin", password=inst.password)
    with pytest.raises(HostgateError) as caught:
        client.request_sync("GET", "/api/v1/domains/deep")
    assert not isinstance(caught.value, WrongCluster), caught.value
    assert caught.value.code == "HG-1000" and body["request_id"] not in caught.value.message  # a new request

    done = inst.hostgate("domain", "show", "deep", *inst.client_args(), check=False)
    assert done.returncode == 1 and "error HG-1000" in done.stderr and "HG-5102" not in done.stderr, (
        done.stderr
    )
    assert "request" in done.stderr and "Traceback" not in done.stderr
