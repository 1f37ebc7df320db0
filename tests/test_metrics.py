"""GET /metrics: what the service counts, with bounded labels, on a registry of its own."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient
from redis import exceptions as rx

from counter.app import create_app
from counter.appkeys import METRICS
from counter.instruments import FlushReport
from counter.metrics import Metrics, error_kind
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, hit, make_site
from tests.metrics_helpers import needs_promtool, promtool, samples, scrape, value

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def test_hits_are_counted_by_site_and_class(client: Client) -> None:
    await make_site(client)
    for n in range(3):
        await hit(client, visitor=f"visitor-{n:04d}")
    await client.post(
        "/v1/hit",
        json={"site": "demo", "page": "/a", "visitor": "crawler-01"},
        headers={"User-Agent": GOOGLEBOT},
    )
    text = await scrape(client)
    assert value(text, "counter_hits_total", site="demo", **{"class": "guest"}) == 3
    assert value(text, "counter_hits_total", site="demo", **{"class": "bot"}) == 1


async def test_requests_are_labelled_by_route_template_never_by_raw_url(client: Client) -> None:
    await make_site(client)
    await client.get("/v1/admin/sites/demo", headers=ADMIN)
    await client.get("/v1/admin/sites/no-such-site", headers=ADMIN)
    await client.get("/no/such/path")
    text = await scrape(client)
    route = "/v1/admin/sites/{site}"
    assert value(text, "counter_http_requests_total", method="GET", route=route, status="200") == 1
    assert value(text, "counter_http_requests_total", method="GET", route=route, status="404") == 1
    assert (
        value(text, "counter_http_requests_total", method="GET", route="unmatched", status="404")
        == 1
    )
    durations = "counter_http_request_duration_seconds_count"
    assert value(text, durations, method="GET", route=route) == 2
    assert "no-such-site" not in text
    assert "/no/such/path" not in text


async def test_flushes_report_batch_sizes_that_add_up_to_the_hits(client: Client) -> None:
    await make_site(client)
    await asyncio.gather(*(hit(client, visitor=f"visitor-{n:04d}") for n in range(25)))
    text = await scrape(client)
    flushes = value(text, "counter_flushes_total", result="ok")
    assert flushes is not None
    assert flushes >= 1
    assert value(text, "counter_flush_batch_size_sum") == 25
    assert value(text, "counter_flush_batch_size_count") == flushes
    assert value(text, "counter_flush_duration_seconds_count") == flushes
    assert value(text, "counter_flushes_total", result="error") == 0
    assert value(text, "counter_queue_depth") == 0


async def test_site_counts_come_from_redis_so_every_replica_reports_the_same(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    one = await aiohttp_client(create_app(settings, clock=clock))
    other = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(one)
    await hit(one, visitor="visitor-0001")
    await hit(one, visitor="visitor-0002")
    for client in (one, other):
        text = await scrape(client)
        assert value(text, "counter_site_online", site="demo", **{"class": "guest"}) == 2
        assert value(text, "counter_site_online", site="demo", **{"class": "member"}) == 0
        assert value(text, "counter_site_visits_total", site="demo") == 2
        assert value(text, "counter_site_pageviews_total", site="demo") == 2
        assert value(text, "counter_redis_up") == 1
    other_text = await scrape(other)
    assert value(other_text, "counter_hits_total", site="demo", **{"class": "guest"}) is None


async def test_each_app_gets_a_fresh_registry_or_the_one_it_is_given(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    registry = CollectorRegistry()
    client = await aiohttp_client(create_app(settings, clock=clock, registry=registry))
    await make_site(client)
    await hit(client)
    assert registry.get_sample_value("counter_hits_total", {"site": "demo", "class": "guest"}) == 1
    create_app(settings, clock=clock)  # a second app must not collide with the first


def test_site_labels_are_bounded_to_the_first_sites_seen() -> None:
    metrics = Metrics(CollectorRegistry(), site_limit=2)
    for site in ("alpha", "beta", "gamma", "delta", "alpha"):
        metrics.flushed(FlushReport(1, 1, 0.001, True, 0, {(site, "g"): 1}))
    get = metrics.registry.get_sample_value
    assert get("counter_hits_total", {"site": "alpha", "class": "guest"}) == 2
    assert get("counter_hits_total", {"site": "beta", "class": "guest"}) == 1
    assert get("counter_hits_total", {"site": "_other", "class": "guest"}) == 2
    assert get("counter_hits_total", {"site": "gamma", "class": "guest"}) is None


def test_votes_and_open_streams_are_counted_for_the_poll_code() -> None:
    metrics = Metrics(CollectorRegistry())
    get = metrics.registry.get_sample_value
    metrics.vote("demo")
    metrics.vote("demo")
    assert get("counter_votes_total", {"site": "demo"}) == 2
    labels = {"kind": "poll", "site": "demo"}
    with metrics.stream("poll", "demo"), metrics.stream("poll", "demo"):
        assert get("counter_sse_connections_open", labels) == 2
    assert get("counter_sse_connections_open", labels) == 0


def test_a_flush_report_sets_the_queue_depth_and_counts_failures() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.flushed(FlushReport(7, 2, 0.003, False, 41, {}))
    get = metrics.registry.get_sample_value
    assert get("counter_queue_depth") == 41
    assert get("counter_flushes_total", {"result": "error"}) == 1
    assert get("counter_flush_batch_size_sum") == 7


def test_redis_errors_map_to_a_fixed_set_of_kinds() -> None:
    assert error_kind(rx.ConnectionError("refused")) == "connection"
    assert error_kind(rx.BusyLoadingError("loading")) == "loading"
    assert error_kind(rx.TimeoutError("slow")) == "timeout"
    assert error_kind(rx.ReadOnlyError("replica")) == "readonly"
    assert error_kind(rx.ResponseError("WRONGTYPE")) == "response"
    assert error_kind(rx.DataError("bad")) == "other"


async def test_every_error_kind_is_exposed_before_any_error(client: Client) -> None:
    found = samples(await scrape(client))
    kinds = {dict(labels)["kind"] for name, labels in found if name == "counter_redis_errors_total"}
    assert kinds == {
        "loading", "timeout", "connection", "readonly", "noscript", "cluster", "response", "other"
    }  # fmt: skip


@needs_promtool
async def test_promtool_accepts_the_exposition(client: Client) -> None:
    await make_site(client)
    await hit(client)
    assert client.app is not None
    metrics = client.app[METRICS]
    metrics.vote("demo")
    with metrics.stream("poll", "demo"):
        result = promtool("check", "metrics", stdin=await scrape(client))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
