"""The sizing arithmetic of docs/capacity.md: service processes, Redis cores and primaries,
and memory for a traffic shape, from measured costs. Pure arithmetic, no I/O (pinned by
tests/test_sizing.py); ``benchmarks/capacity.py`` feeds it what it measured.

What a site costs Redis is set by its calls, not only by its hits: every flush of every
process that carries at least one of the site's hits makes one ``batch.lua`` call for it, and
a call has a fixed cost whatever its size. A site's calls per second are therefore about
``min(its hits/s, processes * flushes/s per process)``, and its events per call the ratio of
its hits to its calls (:func:`site_calls`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from counter.counting.store import marker_ttl_ms
from counter.lua.batch import DAY_KEYS_TTL_S, DAY_PAGES_MAX, UNIQUES_TTL_S
from counter.settings import Settings

Curve = Sequence[tuple[float, float]]
"""Measured (events per call, Redis CPU µs per call) pairs, by increasing events per call."""
DAY_KEYS_DAYS = DAY_KEYS_TTL_S // 86_400
UNIQUES_DAYS = UNIQUES_TTL_S // 86_400
_DEFAULTS = Settings()
MARKER_TTL_S = marker_ttl_ms(_DEFAULTS.store_retries, _DEFAULTS.redis_timeout_s) / 1000
"""How long a write call's batch marker lives with the default settings (66.1 s: twice the
longest a flush's retries can take; ``counter.counting.store.marker_ttl_ms``)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """The traffic to size for. ``hits_per_s`` counts every counting request (hit, ping,
    leave, busuanzi): each is one event in a ``batch.lua`` call."""

    hits_per_s: float
    sites: int
    busiest_share: float
    """The busiest site's share of ``hits_per_s``; the other sites share the rest evenly."""
    pages_per_site: int
    """Pages each site tracks (all of them viewed every day: the daily page lists are full)."""
    online: int
    """Visitors online at once (seen within the online window)."""
    remembered_per_online: float = 3.0
    """Visitors in the presence sets per visitor online: the sets keep everyone seen within
    the visit window (30 min), not only the online window (5 min); 3 is what sessions of ten
    minutes give, (10 + 30) / (10 + 5)."""
    history_days: int = 3 * 365


@dataclass(frozen=True, slots=True)
class Costs:
    """Measured costs (``benchmarks/capacity.py``)."""

    service_us_per_hit: float
    """Service CPU per hit, one process on one core."""
    flushes_per_s: float
    """Flushes a second of one busy process."""
    busy_site: Curve
    """Redis CPU per call of one site's flushes."""
    spread: Curve
    """Redis CPU per call when a flush carries many sites' calls."""
    bytes_per_visitor: float
    bytes_per_page: float
    """In the pages hash, while the page is tracked."""
    bytes_per_day_page: float
    """In a day's page list, kept ``DAY_KEYS_DAYS``."""
    bytes_per_site_day: float
    """A day's other day keys (counts by hour, referrers, online by minute), kept
    ``DAY_KEYS_DAYS``."""
    bytes_per_uniques_day: float
    """A day's unique-visitor HyperLogLog, kept ``UNIQUES_DAYS``."""
    bytes_per_history_day: float
    """Period counters, kept for ever."""
    bytes_per_site: float
    """A site with one visitor and one page."""
    bytes_per_marker: float
    """A write call's batch marker, kept ``MARKER_TTL_S``."""
    headroom: float = 0.7
    """Plan every core at most this busy."""
    batch_max: int = 1000


def per_call_us(curve: Curve, k: float) -> float:
    """Redis CPU µs of a call of ``k`` events: linear between the measured sizes; below the
    smallest its cost, beyond the largest its cost per event."""
    points = sorted(curve)
    if k <= points[0][0]:
        return points[0][1]
    for (k0, us0), (k1, us1) in itertools.pairwise(points):
        if k <= k1:
            return us0 + (us1 - us0) * (k - k0) / (k1 - k0)
    last_k, last_us = points[-1]
    return last_us * k / last_k


def site_calls(
    rate: float, processes: int, flushes_per_s: float, batch_max: int = 1000
) -> tuple[float, float]:
    """Calls a second and events per call of a site with ``rate`` hits/s spread over
    ``processes`` processes that flush ``flushes_per_s`` times a second each: a flush carries
    the site when at least one of its hits came since the last one (hits as a Poisson
    stream), and never more than ``batch_max`` of them."""
    if rate <= 0:
        return 0.0, 0.0
    flushes = processes * flushes_per_s
    calls = max(flushes * -math.expm1(-rate / flushes), rate / batch_max)
    return calls, rate / calls


@dataclass(frozen=True, slots=True)
class Load:
    """What some sites cost Redis."""

    hits_per_s: float
    calls_per_s: float
    events_per_call: float
    us_per_call: float

    @property
    def cores(self) -> float:
        return self.calls_per_s * self.us_per_call / 1e6


def load(rate: float, processes: int, costs: Costs, curve: Curve, sites: int = 1) -> Load:
    """``sites`` sites of ``rate`` hits/s each, their hits spread over ``processes``."""
    calls, k = site_calls(rate, processes, costs.flushes_per_s, costs.batch_max)
    us = per_call_us(curve, k) if calls else 0.0
    return Load(rate * sites, calls * sites, k, us)


def processes_for(hits_per_s: float, costs: Costs) -> int:
    """Service processes (one core each) for ``hits_per_s`` at the planned headroom."""
    return max(1, math.ceil(hits_per_s * costs.service_us_per_hit / 1e6 / costs.headroom))


def memory(shape: Shape, costs: Costs, calls_per_s: float) -> dict[str, float]:
    """Redis memory (bytes) by what it grows with, and the total."""
    day_pages = min(shape.pages_per_site, DAY_PAGES_MAX)
    parts = {
        "visitors": shape.online * shape.remembered_per_online * costs.bytes_per_visitor,
        "pages": shape.sites
        * (
            shape.pages_per_site * costs.bytes_per_page
            + day_pages * costs.bytes_per_day_page * DAY_KEYS_DAYS
        ),
        "days": shape.sites
        * (
            costs.bytes_per_site_day * DAY_KEYS_DAYS
            + costs.bytes_per_uniques_day * UNIQUES_DAYS
            + costs.bytes_per_history_day * shape.history_days
        ),
        "sites": shape.sites * costs.bytes_per_site,
        "markers": calls_per_s * MARKER_TTL_S * costs.bytes_per_marker,
    }
    return {**parts, "total": sum(parts.values())}


@dataclass(frozen=True, slots=True)
class Plan:
    shape: Shape
    processes: int
    """Service processes, one core each (the busiest site's own pool included)."""
    busiest: Load
    """The busiest site, its hits spread over all ``processes``."""
    others: Load
    own_pool: int
    """Processes of a pool of the busiest site's own (its traffic sent there, e.g. by the
    widget's ``data-api``), when sharing every process would take its primary past the
    headroom; 0 when it need not."""
    busiest_own_pool: Load | None
    redis_cores: float
    primaries: int
    busiest_fits: bool
    """Whether the busiest site's primary stays within the headroom (with its own pool when
    it has one): a site is one hash slot, so it never spreads over several primaries."""
    memory: dict[str, float]


def plan(shape: Shape, costs: Costs) -> Plan:
    """Processes, Redis cores and primaries, and memory for ``shape``."""
    big = shape.hits_per_s * shape.busiest_share
    rest_rate, rest = shape.hits_per_s - big, shape.sites - 1
    shared = processes_for(shape.hits_per_s, costs)
    busiest = load(big, shared, costs, costs.busy_site)
    own_pool, alone = 0, None
    if busiest.cores > costs.headroom and rest > 0:
        own_pool = processes_for(big, costs)
        shared = processes_for(rest_rate, costs)
        alone = load(big, own_pool, costs, costs.busy_site)
    chosen = alone or busiest
    others = (
        load(rest_rate / rest, shared, costs, costs.spread, rest)
        if rest
        else Load(0.0, 0.0, 0.0, 0.0)
    )
    cores = chosen.cores + others.cores
    return Plan(
        shape=shape,
        processes=shared + own_pool,
        busiest=busiest,
        others=others,
        own_pool=own_pool,
        busiest_own_pool=alone,
        redis_cores=cores,
        primaries=max(1, math.ceil(cores / costs.headroom)),
        busiest_fits=chosen.cores <= costs.headroom,
        memory=memory(shape, costs, chosen.calls_per_s + others.calls_per_s),
    )


def ceiling(costs: Costs, events_per_call: float) -> float:
    """Hits/s of one site that keep its primary's core at the headroom, at ``events_per_call``
    events per call."""
    return costs.headroom * 1e6 * events_per_call / per_call_us(costs.busy_site, events_per_call)
