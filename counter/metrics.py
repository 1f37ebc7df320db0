"""Prometheus metrics, all on one injected ``CollectorRegistry`` per app.

Label values are bounded: sites are ids of configured sites (at most ``site_limit`` distinct
values per process, the rest reported as ``_other``), routes are canonical paths from the
route table, methods and Redis error kinds come from fixed sets.

Other parts of the service report through small methods here: the poll code calls
:meth:`Metrics.vote` once per accepted vote and wraps each Server-Sent-Events stream in
``with metrics.sse_connection(site):``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis import exceptions as rx

from counter.counting.batcher import FlushReport

SITE_LABEL_LIMIT = 200
OTHER = "_other"
CLASSES = {"g": "guest", "m": "member", "b": "bot"}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

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


class Metrics:
    def __init__(self, registry: CollectorRegistry, *, site_limit: int = SITE_LABEL_LIMIT):
        self.registry = registry
        self.exposition = registry
        """What ``GET /metrics`` serves: ``registry``, or a multiprocess merge of all workers."""
        self.before_scrape: list[Callable[[], Awaitable[None]]] = []
        """Run (awaited) before each exposition, e.g. to refresh values read from Redis."""
        self.site = SiteLabels(site_limit)
        # Labelled children, looked up once: labels() costs microseconds on every request.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._hit_children: dict[tuple[str, str], Counter] = {}
        r = registry
        self.requests = Counter(
            "counter_http_requests", "HTTP requests answered, by route and status.",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "counter_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.hits = Counter(
            "counter_hits", "Hits durably counted, by site and visitor class.",
            ["site", "class"], registry=r,
        )  # fmt: skip
        self.flushes = Counter(
            "counter_flushes", "Group-commit flushes to Redis, by result.", ["result"], registry=r
        )
        self.batch_size = Histogram(
            "counter_flush_batch_size", "Events written per group-commit flush.",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.flush_duration = Histogram(
            "counter_flush_duration_seconds", "Time of one group-commit flush (one round trip).",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "counter_queue_depth", "Events waiting for the next group-commit flush.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.redis_errors = Counter(
            "counter_redis_errors", "Errors from Redis calls (retried ones included), by kind.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.votes = Counter("counter_votes", "Poll votes accepted, by site.", ["site"], registry=r)
        self.sse_open = Gauge(
            "counter_sse_connections_open", "Server-Sent-Events streams open, by site.",
            ["site"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        for result in ("ok", "error"):
            self.flushes.labels(result)
        for kind in {k for _, k in ERROR_KINDS} | {"other"}:
            self.redis_errors.labels(kind)

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        label = method if method in METHODS else "other"
        key = (label, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(label, route, str(status)),
                self.request_duration.labels(label, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(duration_s)

    def observe_flush(self, report: FlushReport) -> None:
        """A ``GroupCommit`` observer: called once per flush."""
        self.flushes.labels("ok" if report.ok else "error").inc()
        self.batch_size.observe(report.events)
        self.flush_duration.observe(report.duration_s)
        self.queue_depth.set(report.queued_after)

    def observe_hit(self, site: str, cls: str) -> None:
        """A ``CountingService`` hit observer: one durably counted hit."""
        child = self._hit_children.get((site, cls))
        if child is None:
            child = self.hits.labels(self.site(site), CLASSES.get(cls, "other"))
            self._hit_children[(site, cls)] = child
        child.inc()

    def observe_redis_error(self, exc: BaseException) -> None:
        """A storage error observer: one failed Redis call."""
        self.redis_errors.labels(error_kind(exc)).inc()

    def vote(self, site: str) -> None:
        """Count one accepted poll vote (called by the poll code)."""
        self.votes.labels(self.site(site)).inc()

    @contextmanager
    def sse_connection(self, site: str) -> Iterator[None]:
        """Count an open Server-Sent-Events stream for as long as the block runs."""
        gauge = self.sse_open.labels(self.site(site))
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
