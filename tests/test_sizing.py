"""The sizing arithmetic of docs/capacity.md (``benchmarks/sizing.py``), on made-up costs
whose results can be worked out by hand; and the one constant it takes from ``batch.lua``."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from benchmarks import sizing
from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore, SiteWork
from counter.counting.visitor import digest
from counter.lua.batch import event
from counter.sites.model import SiteConfig
from counter.storage import RedisClient

CURVE = ((1.0, 100.0), (10.0, 190.0))
"""A call costs 100 µs, plus 10 µs per event beyond the first, up to 10 events."""
COSTS = sizing.Costs(
    service_us_per_hit=100.0,
    flushes_per_s=100.0,
    busy_site=CURVE,
    spread=CURVE,
    bytes_per_visitor=100.0,
    bytes_per_page=10.0,
    bytes_per_day_page=1.0,
    bytes_per_site_day=1000.0,
    bytes_per_uniques_day=100.0,
    bytes_per_history_day=1.0,
    bytes_per_site=1000.0,
    bytes_per_marker=100.0,
    headroom=0.5,
)


@pytest.mark.parametrize(
    ("k", "us"),
    [(1, 100.0), (0.5, 100.0), (5.5, 145.0), (10, 190.0), (20, 380.0)],
)
def test_a_call_costs_what_the_measured_sizes_around_it_say(k: float, us: float) -> None:
    assert sizing.per_call_us(CURVE, k) == pytest.approx(us)


def test_a_site_gets_one_call_per_flush_that_carries_one_of_its_hits() -> None:
    # 2 processes x 100 flushes/s; at 200 * ln 2 hits/s half the flushes carry one or more.
    calls, k = sizing.site_calls(200 * math.log(2), 2, 100.0)
    assert calls == pytest.approx(100.0)
    assert k == pytest.approx(2 * math.log(2))
    assert sizing.site_calls(0.0, 2, 100.0) == (0.0, 0.0)


def test_a_call_never_carries_more_than_a_full_batch() -> None:
    calls, k = sizing.site_calls(1e9, 1, 100.0, batch_max=1000)
    assert calls == pytest.approx(1e6)
    assert k == pytest.approx(1000.0)


def test_processes_are_the_service_cpu_at_the_headroom_rounded_up() -> None:
    # 10,000 hits/s x 100 µs = 1 core; at 50 % busy, 2 processes; a little more, 3.
    assert sizing.processes_for(10_000, COSTS) == 2
    assert sizing.processes_for(10_001, COSTS) == 3
    assert sizing.processes_for(1, COSTS) == 1


def test_a_busy_site_over_one_primary_gets_a_pool_of_its_own() -> None:
    costs = dataclasses.replace(COSTS, service_us_per_hit=1000.0)
    shape = sizing.Shape(
        hits_per_s=30_000, sites=2, busiest_share=0.5, pages_per_site=100, online=1000,
        remembered_per_online=2.0, history_days=10,
    )  # fmt: skip
    plan = sizing.plan(shape, costs)
    # Shared by 60 processes (6,000 flushes/s), the busiest site's 15,000 hits/s would come
    # 2.5 a flush: calls of 2.7 events, 0.65 of a core, over the headroom of 0.5.
    shared = 6000 * -math.expm1(-2.5)
    assert plan.busiest.calls_per_s == pytest.approx(shared)
    assert plan.busiest.cores == pytest.approx(shared * (100 + 10 * (15_000 / shared - 1)) / 1e6)
    assert plan.busiest.cores > costs.headroom
    # On 30 processes of its own (3,000 flushes/s), 5 a flush: fewer, bigger calls.
    assert plan.own_pool == 30
    own = 3000 * -math.expm1(-5)
    assert plan.busiest_own_pool is not None
    assert plan.busiest_own_pool.calls_per_s == pytest.approx(own)
    assert plan.busiest_own_pool.events_per_call == pytest.approx(15_000 / own)
    cores = own * (100 + 10 * (15_000 / own - 1)) / 1e6
    assert plan.busiest_own_pool.cores == pytest.approx(cores)
    assert plan.busiest_fits
    # The other site keeps the other 30 processes: the same figures.
    assert plan.processes == 60
    assert plan.others.cores == pytest.approx(cores)
    assert plan.redis_cores == pytest.approx(2 * cores)
    assert plan.primaries == math.ceil(2 * cores / 0.5) == 2


def test_a_site_past_one_primary_even_on_its_own_pool_does_not_fit() -> None:
    costs = dataclasses.replace(COSTS, service_us_per_hit=1000.0)
    shape = sizing.Shape(hits_per_s=60_000, sites=1, busiest_share=1.0, pages_per_site=1,
                         online=1)  # fmt: skip
    plan = sizing.plan(shape, costs)
    assert plan.processes == 120
    assert plan.own_pool == 0  # it has every process already
    assert plan.busiest.cores > costs.headroom
    assert not plan.busiest_fits
    assert plan.others.cores == 0


def test_memory_adds_up_visitors_pages_days_sites_and_batch_markers() -> None:
    shape = sizing.Shape(
        hits_per_s=100, sites=2, busiest_share=0.5, pages_per_site=100, online=1000,
        remembered_per_online=2.0, history_days=10,
    )  # fmt: skip
    parts = sizing.memory(shape, COSTS, calls_per_s=10)
    assert parts == {
        "visitors": 1000 * 2 * 100,
        "pages": 2 * (100 * 10 + 100 * 1 * sizing.DAY_KEYS_DAYS),
        "days": 2 * (1000 * sizing.DAY_KEYS_DAYS + 100 * sizing.UNIQUES_DAYS + 1 * 10),
        "sites": 2 * 1000,
        "markers": 10 * sizing.MARKER_TTL_S * 100,
        "total": pytest.approx(sum(v for k, v in parts.items() if k != "total")),
    }


async def test_a_batch_marker_lives_as_long_as_the_sizing_says(redis: RedisClient) -> None:
    site = SiteConfig(id="demo")
    hit = event(Kind.HIT, VisitorClass.GUEST, digest("v", "visitor-aaaa"), page="/a")
    await CountingStore(redis).apply([SiteWork(site, [hit], batch_id="b1")], time.time())
    ttl_ms = await redis.pttl(keys.batch_marker(site.id, "b1"))
    assert sizing.MARKER_TTL_S * 1000 - 5_000 < ttl_ms <= sizing.MARKER_TTL_S * 1000
    assert sizing.MARKER_TTL_S == 66.1
