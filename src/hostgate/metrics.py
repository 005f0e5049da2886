"""What a hostgate server counts, for Prometheus (``GET /metrics``; the names are listed in docs/metrics.md).

One :class:`ServerMetrics` per server process (``hostgate server``), holding its own ``CollectorRegistry``:
tests run several servers in one process, and prometheus-client's global default registry would mix them (and
refuse the second server's metrics as duplicates). Nothing here touches that default registry.

The parts of a server get the callables they need from it (the HTTP faces the request timer, the store its
request timer, the session registry its operation timer...), so no part imports prometheus-client but this
module, and a part run without a server (unit tests) simply has no hook. The counters and histograms are plain
Python values turned into metric families only when scraped (prometheus-client's own take locks on every
call): the hot paths (routing, heartbeats) pay about a microsecond each.

More collectors (the pool figures, say) are added with :meth:`ServerMetrics.register`::

    class PoolCollector(prometheus_client.registry.Collector):
        def collect(self) -> Iterable[Metric]: ...

    metrics.register(PoolCollector(...))   # before or after the server starts serving

Only prometheus-client is imported: the module sits at the bottom of the package map, beside ``errors``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
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


class _Histogram:
    """A histogram kept in plain Python lists, exported by :class:`_Figures` at scrape time.

    prometheus-client's own ``Histogram.observe`` takes a lock per bucket and per sum (about 10 us a call on this
    machine, measured with timeit while it was loaded); this is one ``bisect`` and two additions (about 1 us).
    Every hook runs on the server's event loop thread, so no lock is needed.
    """

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name, self.doc, self.labels, self.bounds = name, doc, labels, buckets
        # Per label set: the count of each bucket (not cumulative; the last is +Inf), then the sum.
        self.series: dict[tuple[str | int, ...], list[float]] = {}

    def observe(self, key: tuple[str | int, ...], value: float) -> None:
        counts = self.series.get(key)
        if counts is None:
            counts = self.series[key] = [0.0] * (len(self.bounds) + 2)
        counts[bisect.bisect_left(self.bounds, value)] += 1  # Prometheus' le: value <= bound
        counts[-1] += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, counts in sorted(self.series.items(), key=lambda item: [str(k) for k in item[0]]):
            running, buckets = 0.0, []
            for bound, count in zip((*self.bounds, math.inf), counts, strict=False):
                running += count
                buckets.append(("+Inf" if math.isinf(bound) else repr(float(bound)), running))
            family.add_metric([str(k) for k in key], buckets, counts[-1])
        return family


class _Counter:
    """A counter kept in a dict (same reason as :class:`_Histogram`); ``name`` without ``_total``."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.series: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1) -> None:
        self.series[key] = self.series.get(key, 0) + amount

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in sorted(self.series.items()):
            family.add_metric(list(key), value)
        return family


class _Gauge:
    """A gauge without labels that is exported only once set (the store's leader: etcd members only)."""

    def __init__(self, name: str, doc: str) -> None:
        self.name, self.doc, self.labels = name, doc, ()
        self.value: float | None = None

    def family(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.doc, labels=())
        if self.value is not None:
            family.add_metric([], self.value)
        return family


class _Figures(Collector):
    """The server's own counters and histograms, turned into metric families when scraped."""

    def __init__(self, parts: Sequence[_Histogram | _Counter | _Gauge]) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            yield part.family()

    def describe(self) -> Iterable[Metric]:
        return [part.family() for part in self._parts]


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
        self._requests = _Histogram(
            "hostgate_http_request_duration_seconds",
            "HTTP requests answered, by face, method, route template and status (seconds from the request to "
            "the end of the answer).",
            ("face", "method", "route", "status"),
            HTTP_BUCKETS,
        )
        self._routes = _Counter(
            "hostgate_route_decisions",
            "Routing requests (POST /api/v1/route) by domain and outcome: routed, or the error code.",
            ("domain", "outcome"),
        )
        self._heartbeats_in = _Counter(
            "hostgate_heartbeats_received",
            "Session-server heartbeats received by this member, by outcome: accepted, or the error code.",
            ("outcome",),
        )
        self._heartbeats_out = _Counter(
            "hostgate_heartbeats_sent",
            "Heartbeats this session server sent to management members, by outcome: answered, or failed.",
            ("outcome",),
        )
        self._store = _Histogram(
            "hostgate_store_request_duration_seconds",
            "Requests to the store (etcd or SQLite) by backend and kind (read, write), retries included.",
            ("backend", "kind"),
            STORE_BUCKETS,
        )
        self._leader_changes = _Counter(
            "hostgate_store_leader_changes",
            "Changes of the etcd leader seen by this member (sampled every few seconds).",
            (),
        )
        self._has_leader = _Gauge(
            "hostgate_store_has_leader", "1 while this member's etcd member knows a leader, else 0."
        )
        self._host_ops = _Histogram(
            "hostgate_host_operation_duration_seconds",
            "Session calls that drive a host (entity, attributes, operations, recordsets, procedures, "
            "queries), by model and outcome (ok, or the error code).",
            ("model", "outcome"),
            HOST_BUCKETS,
        )
        self._session_opens = _Histogram(
            "hostgate_session_open_duration_seconds",
            "Session opens (connect and sign on), by model and outcome (ok, or the error code).",
            ("model", "outcome"),
            HOST_BUCKETS,
        )
        self._login_failures = _Counter(
            "hostgate_login_failures",
            "Refused logins (wrong user or password) by who checked them: local account, or directory.",
            ("checked_by",),
        )
        r.register(
            _Figures(
                [
                    self._requests,
                    self._routes,
                    self._heartbeats_in,
                    self._heartbeats_out,
                    self._store,
                    self._leader_changes,
                    self._has_leader,
                    self._host_ops,
                    self._session_opens,
                    self._login_failures,
                ]
            )
        )

    # --- the hooks the parts of a server call (on its event loop thread) --------------------------------

    def request(self, face: str, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request answered (``route`` is the template, ``NO_ROUTE`` when none matched)."""
        self._requests.observe((face, method, route, status), seconds)

    def request_observer(self) -> Callable[[tuple[str, str, str, int], float], None]:
        """``observe((face, method, route, status), seconds)``: :meth:`request` without its call layer, for
        the faces' request timer (every request passes it)."""
        return self._requests.observe

    def route_decision(self, domain: str, outcome: str) -> None:
        self._routes.inc((domain, outcome))

    def heartbeat_received(self, outcome: str) -> None:
        self._heartbeats_in.inc((outcome,))

    def heartbeat_sent(self, outcome: str, count: int = 1) -> None:
        self._heartbeats_out.inc((outcome,), count)

    def store_timer(self, backend: str) -> Callable[[str, float], None]:
        """``observe(kind, seconds)`` for one store (``kind``: read or write)."""
        keys = {kind: (backend, kind) for kind in ("read", "write")}
        observe = self._store.observe

        def timed(kind: str, seconds: float) -> None:
            observe(keys[kind], seconds)

        return timed

    def leader_seen(self, leader: int) -> None:
        """The etcd leader this member's etcd member names now (0: none)."""
        self._has_leader.value = 1 if leader else 0

    def leader_changed(self) -> None:
        self._leader_changes.inc(())

    def host_operation(self, model: str, outcome: str, seconds: float) -> None:
        self._host_ops.observe((model, outcome), seconds)

    def session_open(self, model: str, outcome: str, seconds: float) -> None:
        self._session_opens.observe((model, outcome), seconds)

    def login_failed(self, checked_by: str) -> None:
        self._login_failures.inc((checked_by,))

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
