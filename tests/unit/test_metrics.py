"""The metrics registry: one per server (never the global default), every exported name documented, the
request timer labelled by route template, the scrape token, and the JSON log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import prometheus_client
import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hostgate._http import CURRENT_REQUEST_ID
from hostgate.config.settings import MetricsSettings, ServerSettings, Settings
from hostgate.metrics import NO_ROUTE, ServerMetrics, SessionsCollector
from hostgate.runtime.logs import JsonFormatter
from hostgate.runtime.metrics_face import MetricsFace, ensure_token
from hostgate.session.pool_metrics import PoolCollector
from hostgate.session.pool_service import PoolService

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _exported(metrics: ServerMetrics) -> set[str]:
    """The names a scrape shows, as a user reads them (counters with their ``_total``)."""
    names = set()
    for family in metrics.registry.collect():
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def _full(metrics: ServerMetrics) -> ServerMetrics:
    metrics.register(SessionsCollector(lambda: {"orders": 2}))
    # A session server's pools (SessionRole.collectors): the families show even before a pool runs.
    metrics.register(PoolCollector(cast(PoolService, SimpleNamespace(pools={}))))
    metrics.leader_seen(7)  # exported once sampled (etcd members only)
    return metrics


def test_the_doc_lists_every_exported_name() -> None:
    documented = set(re.findall(r"^\| `(hostgate_[a-z_]+)` \|", DOC.read_text(), re.MULTILINE))
    exported = _exported(_full(ServerMetrics("m1", ("management", "session"))))
    assert exported - documented == set(), "exported but not in docs/metrics.md"
    assert documented - exported == set(), "in docs/metrics.md but not exported"


def test_each_server_has_its_own_registry_and_none_touches_the_default() -> None:
    before = set(prometheus_client.REGISTRY._names_to_collectors)
    one, two = ServerMetrics("m1", ("management",)), ServerMetrics("m2", ("management",))
    one.route_decision("prod", "routed")
    one.route_decision("prod", "routed")
    assert (
        one.registry.get_sample_value(
            "hostgate_route_decisions_total", {"domain": "prod", "outcome": "routed"}
        )
        == 2
    )
    assert (
        two.registry.get_sample_value(
            "hostgate_route_decisions_total", {"domain": "prod", "outcome": "routed"}
        )
        is None
    )
    assert set(prometheus_client.REGISTRY._names_to_collectors) == before


def test_register_adds_a_collector_read_at_each_scrape() -> None:
    seen = {"n": 1}

    class Pools(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            family = GaugeMetricFamily("hostgate_test_pool_idle", "test", labels=["pool"])
            family.add_metric(["p1"], seen["n"])
            yield family

    metrics = ServerMetrics("s1", ("session",))
    metrics.register(Pools())
    assert b'hostgate_test_pool_idle{pool="p1"} 1.0' in metrics.exposition()
    seen["n"] = 7
    assert b'hostgate_test_pool_idle{pool="p1"} 7.0' in metrics.exposition()


def _settings(tmp_path: Path, token_file: str = "metrics-token") -> Settings:
    return Settings(
        tmp_path, ServerSettings("m1", "127.0.0.1"), metrics=MetricsSettings(token_file=token_file)
    )


def test_the_token_is_made_once_private_and_kept(tmp_path: Path) -> None:
    token = ensure_token(_settings(tmp_path))
    assert token is not None and len(token) >= 32
    assert (tmp_path / "metrics-token").stat().st_mode & 0o777 == 0o600
    assert ensure_token(_settings(tmp_path)) == token
    assert ensure_token(_settings(tmp_path, token_file="")) is None


async def _call(
    app: MetricsFace, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": "https",
        "server": ("127.0.0.1", 1),
        "client": ("127.0.0.1", 2),
        "root_path": "",
        "http_version": "1.1",
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    status = sent[0]["status"]
    assert isinstance(status, int)
    return status, b"".join(m.get("body", b"") for m in sent[1:])  # type: ignore[misc]


def test_requests_are_labelled_by_template_and_scrapes_need_the_token() -> None:
    async def show(request: Request) -> Response:
        return PlainTextResponse(request.path_params["name"])

    metrics = ServerMetrics("m1", ("management",))
    app = MetricsFace(
        Starlette(routes=[Route("/api/v1/domains/{name}", show)]), metrics, "management", b"s3cret-token-xyz"
    )

    async def run() -> None:
        assert (await _call(app, "GET", "/api/v1/domains/prod", []))[0] == 200
        assert (await _call(app, "GET", "/api/v1/domains/test", []))[0] == 200
        assert (await _call(app, "GET", "/no/such/path-1234", []))[0] == 404
        assert (await _call(app, "BREW", "/api/v1/domains/x", []))[0] == 405
        status, body = await _call(app, "GET", "/metrics", [])
        assert status == 401 and json.loads(body)["code"] == "HG-7201"
        status, body = await _call(app, "GET", "/metrics", [(b"authorization", b"Bearer wrong-token-abcdef")])
        assert status == 401 and b"hostgate_" not in body
        status, body = await _call(app, "GET", "/metrics", [(b"authorization", b"Bearer s3cret-token-xyz")])
        assert status == 200
        text = body.decode()
        assert 'route="/api/v1/domains/{name}",status="200"' in text
        assert f'route="{NO_ROUTE}",status="404"' in text
        assert 'method="OTHER"' in text
        assert "prod" not in text and "path-1234" not in text  # raw paths never become labels

    asyncio.run(run())
    count = metrics.registry.get_sample_value(
        "hostgate_http_request_duration_seconds_count",
        {"face": "management", "method": "GET", "route": "/api/v1/domains/{name}", "status": "200"},
    )
    assert count == 2


def test_a_json_log_line_is_one_object_with_the_request_id() -> None:
    formatter = JsonFormatter("workhorse01")
    record = logging.LogRecord("hostgate.api", logging.WARNING, __file__, 1, "two\nlines %s", ("x",), None)
    reset = CURRENT_REQUEST_ID.set("abc-1f")
    try:
        line = formatter.format(record)
    finally:
        CURRENT_REQUEST_ID.reset(reset)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING" and out["logger"] == "hostgate.api" and out["message"] == "two\nlines x"
    assert out["request_id"] == "abc-1f" and out["server"] == "workhorse01"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["time"])
    assert "request_id" not in json.loads(formatter.format(record))


@pytest.mark.parametrize("field,value", [("level", "loud"), ("format", "xml")])
def test_bad_log_settings_are_refused(tmp_path: Path, field: str, value: str) -> None:
    from hostgate.config.settings import settings_from_mapping
    from hostgate.errors import ConfigError

    raw = {"server": {"member_name": "m1", "address": "127.0.0.1"}, "log": {field: value}}
    with pytest.raises(ConfigError, match=f"log.{field}"):
        settings_from_mapping(raw, tmp_path, {}, "hostgate.toml")
