"""What a hostgate server counts, for Prometheus (``GET /metrics``; the names are listed in docs/metrics.md).

One :class:`ServerMetrics` per server process (``hostgate server``), holding its own ``CollectorRegistry``:
tests run several servers in one process, and prometheus-client's global default registry would mix them (and
refuse the second server's metrics as duplicates). Nothing here touches that default registry.

The parts of a server get the callables they need from it (the HTTP faces the request timer, the store its
request timer, the session registry its operation timer...), so no part imports prometheus-client but this
module, and a part run without a server (unit tests) simply has no hook. Every hook is one dictionary look-up
and one ``observe``/``inc``: the hot paths (routing, heartbeats) pay about a microsecond each.

More collectors (the pool figures, say) are added with :meth:`ServerMetrics.register`::

    class PoolCollector(prometheus_client.registry.Collector):
        def collect(self) -> Iterable[Metric]: ...

    metrics.register(PoolCollector(...))   # before or after the server starts serving

Only prometheus-client is imported: the module sits at the bottom of the package map, beside ``errors``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hostgate import __version__

__all__ = [
    "CONTENT_TYPE",
    "HTTP_BUCKETS",
    "NO_ROUTE",
    "OPEN_SESSIONS",
    "UNKNOWN",
    "ServerMetrics",
    "SessionsCollector",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Requests that matched no route (404s, a gate's refusal before the API serves) share one label value: the raw
# path would let any client grow the metric without bound.
NO_ROUTE = "<unmatched>"
# The domain label of a routing request for a domain that does not exist (same reason).
UNKNOWN = "<unknown>"
# Loopback answers take 0.2-5 ms; a session call waiting for a host can take seconds.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HOST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OPEN_SESSIONS = "hostgate_sessions_open"

Observe = Callable[[float], None]


class SessionsCollector(Collector):
    """``hostgate_sessions_open{model}``, read from the session registry when scraped (nothing per call)."""

    def __init__(self, by_model: Callable[[], dict[str, int]]) -> None:
        self._by_model = by_model

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(OPEN_SESSIONS, "Sessions open on this session server.", labels=["model"])
        for model, count in sorted(self._by_model().items()):
            family.add_metric([model], count)
        yield family

    def describe(self) -> Iterable[Metric]:
        # Described without calling the registry (registering must not need a running session server).
        return [GaugeMetricFamily(OPEN_SESSIONS, "Sessions open on this session server.", labels=["model"])]


class ServerMetrics:
    """The metrics of one server process, in a registry of its own."""

    def __init__(self, member: str = "", roles: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        info = Gauge(
            "hostgate_info",
            "Always 1: this server's version, name and role.",
            ["version", "server", "role"],
            registry=r,
        )
        for role in roles:
            info.labels(__version__, member, role).set(1)
        self._requests = Histogram(
            "hostgate_http_request_duration_seconds",
            "HTTP requests answered, by face, method, route template and status (seconds from the request to "
            "the end of the answer).",
            ["face", "method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self._routes = Counter(
            "hostgate_route_decisions",
            "Routing requests (POST /api/v1/route) by domain and outcome: routed, or the error code.",
            ["domain", "outcome"],
            registry=r,
        )
        self._heartbeats_in = Counter(
            "hostgate_heartbeats_received",
            "Session-server heartbeats received by this member, by outcome: accepted, or the error code.",
            ["outcome"],
            registry=r,
        )
        self._heartbeats_out = Counter(
            "hostgate_heartbeats_sent",
            "Heartbeats this session server sent to management members, by outcome: answered, or failed.",
            ["outcome"],
            registry=r,
        )
        self._store = Histogram(
            "hostgate_store_request_duration_seconds",
            "Requests to the store (etcd or SQLite) by backend and kind (read, write), retries included.",
            ["backend", "kind"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self._leader_changes = Counter(
            "hostgate_store_leader_changes",
            "Changes of the etcd leader seen by this member (sampled every few seconds).",
            registry=r,
        )
        self._has_leader = Gauge(
            "hostgate_store_has_leader",
            "1 while this member's etcd member knows a leader, else 0.",
            registry=r,
        )
        self._host_ops = Histogram(
            "hostgate_host_operation_duration_seconds",
            "Session calls that drive a host (entity, attributes, operations, recordsets, procedures, "
            "queries), by model and outcome (ok, or the error code).",
            ["model", "outcome"],
            buckets=HOST_BUCKETS,
            registry=r,
        )
        self._session_opens = Histogram(
            "hostgate_session_open_duration_seconds",
            "Session opens (connect and sign on), by model and outcome (ok, or the error code).",
            ["model", "outcome"],
            buckets=HOST_BUCKETS,
            registry=r,
        )
        self._login_failures = Counter(
            "hostgate_login_failures",
            "Refused logins (wrong user or password) by who checked them: local, or a directory's name.",
            ["checked_by"],
            registry=r,
        )
        # labels() takes a lock and builds a tuple key per call; the hot paths look their child up here instead.
        self._children: dict[tuple[str, str, str, str], Observe] = {}
        self._decisions: dict[tuple[str, str], Callable[[], None]] = {}
        self._lock = threading.Lock()

    # --- the hooks the parts of a server call ------------------------------------------------------------

    def request(self, face: str, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request answered (``route`` is the template, ``NO_ROUTE`` when none matched)."""
        key = (face, method, route, str(status))
        observe = self._children.get(key)
        if observe is None:
            with self._lock:
                observe = self._requests.labels(*key).observe
                self._children[key] = observe
        observe(seconds)

    def route_decision(self, domain: str, outcome: str) -> None:
        key = (domain, outcome)
        inc = self._decisions.get(key)
        if inc is None:
            with self._lock:
                inc = self._routes.labels(domain, outcome).inc
                self._decisions[key] = inc
        inc()

    def heartbeat_received(self, outcome: str) -> None:
        self._heartbeats_in.labels(outcome).inc()

    def heartbeat_sent(self, outcome: str, count: int = 1) -> None:
        self._heartbeats_out.labels(outcome).inc(count)

    def store_timer(self, backend: str) -> Callable[[str, float], None]:
        """``observe(kind, seconds)`` for one store (``kind``: read or write)."""
        children = {kind: self._store.labels(backend, kind).observe for kind in ("read", "write")}

        def observe(kind: str, seconds: float) -> None:
            children[kind](seconds)

        return observe

    def leader_seen(self, leader: int) -> None:
        """The etcd leader this member's etcd member names now (0: none)."""
        self._has_leader.set(1 if leader else 0)

    def leader_changed(self) -> None:
        self._leader_changes.inc()

    def host_operation(self, model: str, outcome: str, seconds: float) -> None:
        self._host_ops.labels(model, outcome).observe(seconds)

    def session_open(self, model: str, outcome: str, seconds: float) -> None:
        self._session_opens.labels(model, outcome).observe(seconds)

    def login_failed(self, checked_by: str) -> None:
        self._login_failures.labels(checked_by).inc()

    # --- more collectors, and the text a scrape reads --------------------------------------------------

    def register(self, collector: Collector) -> None:
        """Add a collector (its ``collect()`` runs at each scrape) to this server's registry: the hook for
        figures kept elsewhere (pools, say). Its metric names must be new (prometheus-client refuses a
        duplicate with ``ValueError``) and listed in docs/metrics.md."""
        self.registry.register(collector)

    def unregister(self, collector: Collector) -> None:
        self.registry.unregister(collector)

    def exposition(self) -> bytes:
        """The Prometheus text format (version 0.0.4) of everything registered."""
        return generate_latest(self.registry)
