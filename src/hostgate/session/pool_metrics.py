"""The figures of a session server's pools for Prometheus (issue #18): a prometheus-client ``Collector``.

Read from each pool's ``status()`` when scraped, so acquiring and releasing cost nothing extra, and the numbers
are the ones ``GET /api/v1/pools`` answers. One label, ``pool``; the server is the scrape target (each server
has a registry of its own, ``hostgate.metrics.ServerMetrics`` of wt-ops2). Variable-list values never appear:
only counts.

- gauges: ``hostgate_pool_sessions{pool,state}`` (idle, busy, warming, returning), ``hostgate_pool_pending``
  (clients waiting in the queue), ``hostgate_pool_max_concurrent``;
- counters: ``hostgate_pool_sessions_created_total``, ``..._failed_total`` (a session could not be made
  ready), ``..._replaced_total``, ``..._recycled_total``, ``..._reclaimed_total``, ``hostgate_pool_acquired_total``,
  ``hostgate_pool_waited_total`` (acquires that queued), ``hostgate_pool_timed_out_total``,
  ``hostgate_pool_refused_total`` (queue full);
- histogram: ``hostgate_pool_wait_seconds`` (time from the request to the hand-out; the pool's ``le``
  buckets, session/pools.py ``WAIT_BUCKETS``).

Scrape on the server's event-loop thread (the pools are not thread-safe), as an async ``/metrics`` handler
does when it calls ``generate_latest`` directly.

    registry.register(PoolCollector(pool_service))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hostgate.messages import PoolStatus
from hostgate.session.pool_service import PoolService

__all__ = ["PoolCollector"]

_STATES = ("idle", "busy", "warming", "returning")
# (figure of PoolStatus, metric name without _total, help)
_COUNTERS = (
    ("created", "hostgate_pool_sessions_created", "Host sessions of the pool signed on and made ready."),
    ("failed", "hostgate_pool_sessions_failed", "Host sessions of the pool that could not be made ready."),
    ("replaced", "hostgate_pool_sessions_replaced", "Sessions replaced because their host dropped them."),
    ("recycled", "hostgate_pool_sessions_recycled", "Sessions signed off for recycling (uses or age)."),
    (
        "reclaimed",
        "hostgate_pool_sessions_reclaimed",
        "Sessions taken back from a holder whose lease ran out.",
    ),
    ("acquired", "hostgate_pool_acquired", "Sessions handed out."),
    ("waited", "hostgate_pool_waited", "Hand-outs that waited in the pool's queue."),
    ("timed_out", "hostgate_pool_timed_out", "Clients that waited max_wait without a session."),
    ("refused", "hostgate_pool_refused", "Clients refused at once because max_pending already waited."),
)


def _families() -> tuple[
    GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, list[CounterMetricFamily], HistogramMetricFamily
]:
    sessions = GaugeMetricFamily(
        "hostgate_pool_sessions", "Sessions of the pool by state.", labels=["pool", "state"]
    )
    pending = GaugeMetricFamily("hostgate_pool_pending", "Clients waiting for a session.", labels=["pool"])
    cap = GaugeMetricFamily("hostgate_pool_max_concurrent", "The pool's max concurrent now.", labels=["pool"])
    counters = [CounterMetricFamily(name, doc, labels=["pool"]) for _, name, doc in _COUNTERS]
    wait = HistogramMetricFamily(
        "hostgate_pool_wait_seconds", "Time from a client's request to its hand-out.", labels=["pool"]
    )
    return sessions, pending, cap, counters, wait


class PoolCollector(Collector):
    """Every pool of ``pools`` (a session server's PoolService), read at each scrape."""

    def __init__(self, pools: PoolService) -> None:
        self._pools = pools

    def collect(self) -> Iterator[Metric]:
        sessions, pending, cap, counters, wait = _families()
        for _, pool in sorted(self._pools.pools.items()):
            _add(pool.status(), sessions, pending, cap, counters, wait)
        yield sessions
        yield pending
        yield cap
        yield from counters
        yield wait

    def describe(self) -> Iterable[Metric]:
        # The families without samples: registering must not read pools that are not running yet.
        sessions, pending, cap, counters, wait = _families()
        return [sessions, pending, cap, *counters, wait]


def _add(
    status: PoolStatus,
    sessions: GaugeMetricFamily,
    pending: GaugeMetricFamily,
    cap: GaugeMetricFamily,
    counters: list[CounterMetricFamily],
    wait: HistogramMetricFamily,
) -> None:
    name = status.name
    for state in _STATES:
        sessions.add_metric([name, state], getattr(status, state))
    pending.add_metric([name], status.pending)
    cap.add_metric([name], status.max_concurrent)
    for (figure, _, _), family in zip(_COUNTERS, counters, strict=True):
        family.add_metric([name], getattr(status, figure))
    # PoolStatus keeps the histogram cumulative already, keyed like Prometheus's ``le`` ("+Inf" last).
    buckets = list(status.wait_histogram.items())
    wait.add_metric([name], buckets, status.wait_seconds_sum)
