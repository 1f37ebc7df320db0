"""Prometheus metrics: the service's :class:`~counter.instruments.Instruments`, all on one
injected ``CollectorRegistry`` per app.

Label values are bounded: sites are ids of configured sites (at most ``site_limit`` distinct
values per process, the rest reported as ``_other``), routes are canonical paths from the
route table, methods, limits and Redis error kinds come from fixed sets.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from redis import exceptions as rx

from counter.instruments import FlushReport, Instruments

SITE_LABEL_LIMIT = 200
OTHER = "_other"
CLASSES = {"g": "guest", "m": "member", "b": "bot"}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STREAM_KINDS = ("poll", "stats")

ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (rx.BusyLoadingError, "loading"),
    (rx.TimeoutError, "timeout"),
    (rx.ConnectionError, "connection"),
    (rx.ReadOnlyError, "readonly"),
    (rx.NoScriptError, "noscript"),
    (rx.ClusterError, "cluster"),
    (rx.ResponseError, "response"),
)
"""Redis error classes to ``kind`` label values, most specific first; anything else: other."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)


def error_kind(exc: BaseException) -> str:
    for cls, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return kind
    return "other"


class SiteLabels:
    """Site ids as label values, at most ``limit`` distinct ones; later ones are ``_other``."""

    def __init__(self, limit: int = SITE_LABEL_LIMIT) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, site: str) -> str:
        if site in self._seen:
            return site
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(site)
        return site


REQUESTS = ("counter_http_requests", "HTTP requests answered, by route and status.")
DURATIONS = ("counter_http_request_duration_seconds", "Time to answer an HTTP request.")
RequestKey = tuple[str, str, int]
"""Method, route, status."""


class RequestCounts:
    """Requests by method, route and status, and their durations, kept as plain numbers and
    turned into the two metric families when scraped: counting one request costs a
    dictionary lookup and three additions, not the locks of a client-library metric."""

    def __init__(self) -> None:
        self._cells: dict[RequestKey, list[float]] = {}
        """Per key: count, sum of durations, then one count per latency bucket (+Inf last)."""

    def add(self, key: RequestKey, duration_s: float) -> None:
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = [0.0] * (3 + len(LATENCY_BUCKETS))
        cell[0] += 1
        cell[1] += duration_s
        cell[2 + bisect_left(LATENCY_BUCKETS, duration_s)] += 1

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(*REQUESTS, labels=["method", "route", "status"])
        yield HistogramMetricFamily(*DURATIONS, labels=["method", "route"])

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*REQUESTS, labels=["method", "route", "status"])
        durations = HistogramMetricFamily(*DURATIONS, labels=["method", "route"])
        by_route: dict[tuple[str, str], list[float]] = {}
        for (method, route, status), cell in sorted(self._cells.items()):
            requests.add_metric([method, route, str(status)], cell[0])
            total = by_route.setdefault((method, route), [0.0] * len(cell))
            for i, n in enumerate(cell):
                total[i] += n
        for (method, route), total in by_route.items():
            running, buckets = 0.0, []
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), total[2:], strict=True):
                running += n
                buckets.append((_bound(bound), running))
            durations.add_metric([method, route], buckets, total[1])
        yield requests
        yield durations


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class Metrics(Instruments):
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        site_limit: int = SITE_LABEL_LIMIT,
        multiprocess: bool = False,
    ):
        self.registry = registry
        self.exposition = registry
        """What ``GET /metrics`` serves: ``registry``, or a multiprocess merge of all workers."""
        self.site = SiteLabels(site_limit)
        # Labelled children, looked up once: labels() costs microseconds on every request.
        self._request_children: dict[RequestKey, tuple[Counter, Histogram]] = {}
        self._hit_children: dict[tuple[str, str], Counter] = {}
        r = registry
        self.multiprocess = multiprocess
        """With several workers each request is also written to the shared metric files
        (through the client library's metrics, which the merge reads)."""
        self.request_counts = RequestCounts()
        if multiprocess:
            self.requests = Counter(*REQUESTS, ["method", "route", "status"], registry=r)
            self.request_duration = Histogram(
                *DURATIONS, ["method", "route"], buckets=LATENCY_BUCKETS, registry=r
            )
        else:
            r.register(self.request_counts)
        self.hits = Counter(
            "counter_hits", "Hits durably counted, by site and visitor class.",
            ["site", "class"], registry=r,
        )  # fmt: skip
        self.flushes = Counter(
            "counter_flushes", "Group-commit flushes to Redis, by result.", ["result"], registry=r
        )
        self.batch_size = Histogram(
            "counter_flush_batch_size",
            "Events per group-commit flush (hits, pings, leaves, reads for uncounted beacons).",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.flush_duration = Histogram(
            "counter_flush_duration_seconds", "Time of one group-commit flush (one round trip).",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue = Gauge(
            "counter_queue_depth", "Events waiting for the next group-commit flush.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.redis_errors = Counter(
            "counter_redis_errors", "Errors from Redis calls (retried ones included), by kind.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.votes = Counter("counter_votes", "Poll votes accepted, by site.", ["site"], registry=r)
        self.refusals = Counter(
            "counter_limited", "Requests refused or not counted because a limit was reached.",
            ["limit"], registry=r,
        )  # fmt: skip
        self.sse_open = Gauge(
            "counter_sse_connections_open", "Server-Sent-Events streams open, by kind and site.",
            ["kind", "site"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.connections_open = Gauge(
            "counter_http_connections_open", "Client connections open (COUNTER_MAX_CONNECTIONS).",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.build = Gauge(
            "counter_build_info", "1, labelled with the version, event loop and Python running.",
            ["version", "loop", "python"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self._flushes_ok = self.flushes.labels("ok")
        self._flushes_error = self.flushes.labels("error")
        for kind in {k for _, k in ERROR_KINDS} | {"other"}:
            self.redis_errors.labels(kind)

    def running(self, version: str, loop: str, python: str) -> None:
        """Name what runs (once, at start)."""
        self.build.labels(version, loop, python).set(1)

    def request(self, method: str, route: str, status: int, duration_s: float) -> None:
        key = (method if method in METHODS else "other", route, status)
        if not self.multiprocess:
            self.request_counts.add(key, duration_s)
            return
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(key[0], route, str(status)),
                self.request_duration.labels(key[0], route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(duration_s)

    def flushed(self, report: FlushReport) -> None:
        (self._flushes_ok if report.ok else self._flushes_error).inc()
        self.batch_size.observe(report.events)
        self.flush_duration.observe(report.duration_s)
        self.queue.set(report.queued_after)
        for (site, cls), n in report.hits.items():
            child = self._hit_children.get((site, cls))
            if child is None:
                child = self.hits.labels(self.site(site), CLASSES.get(cls, "other"))
                self._hit_children[site, cls] = child
            child.inc(n)

    def queue_depth(self, events: int) -> None:
        self.queue.set(events)

    def redis_error(self, exc: BaseException) -> None:
        self.redis_errors.labels(error_kind(exc)).inc()

    def vote(self, site: str) -> None:
        self.votes.labels(self.site(site)).inc()

    def refused(self, limit: str, site: str | None = None, n: int = 1) -> None:
        self.refusals.labels(limit).inc(n)

    def connections(self, open_now: int) -> None:
        self.connections_open.set(open_now)

    @contextmanager
    def stream(self, kind: str, site: str) -> Iterator[None]:
        gauge = self.sse_open.labels(kind, self.site(site))
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
