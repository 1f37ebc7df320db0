"""The service on a real Redis Cluster (3 primaries, 3 replicas), end to end through HTTP.

Sites are chosen so that their hash tags live on different primaries: a flush carrying hits
of several sites then pipelines script calls to several nodes at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio.cluster import RedisCluster

from counter import redis_keys as keys
from counter.app import create_app
from counter.appkeys import COUNTING
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore, SiteWork
from counter.errors import StoreUnavailable
from counter.lua.batch import event
from counter.settings import Settings
from counter.sites.model import SiteConfig
from counter.storage import connect
from tests.cluster import LocalCluster, local_cluster
from tests.conftest import ADMIN, ADMIN_TOKEN, VN, Client, FakeClock, make_site
from tests.failover import (
    FAILOVER_DEADLINE_S,
    Tally,
    burst,
    failover_under_load,
    post_hit,
    stats,
)
from tests.local_servers import wait_for
from tests.recorder import Recorder


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    binary = os.environ.get("COUNTER_REDIS_SERVER") or None
    with local_cluster(tmp_path_factory.mktemp("cluster"), binary) as c:
        yield c


@pytest.fixture
def fresh_cluster(cluster: LocalCluster) -> LocalCluster:
    cluster.flush()
    return cluster


@pytest.fixture
async def cclient(
    aiohttp_client: AiohttpClient, fresh_cluster: LocalCluster, clock: FakeClock
) -> Client:
    settings = Settings(
        redis_url=fresh_cluster.url,
        admin_token=ADMIN_TOKEN,
        demo=False,
        stats_cache_ms=0,
        replica_acks=1,  # a 200 survives the loss of a primary
    )
    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.fixture
async def rc(fresh_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    """A plain cluster client, to look at what the service wrote."""
    client = RedisCluster(host="127.0.0.1", port=fresh_cluster.nodes[0].port)
    yield client
    await client.aclose()


def sites_on_distinct_primaries(cluster: LocalCluster, n: int) -> list[str]:
    """``n`` site ids whose hash tags are served by ``n`` different primaries."""
    chosen: dict[int, str] = {}
    for i in range(1000):
        site = f"site-{i}"
        port = cluster.primary_for(keys.visits(site)).port
        chosen.setdefault(port, site)
        if len(chosen) == n:
            return list(chosen.values())
    raise AssertionError(f"fewer than {n} primaries serve slots")


async def test_hits_of_sites_on_different_primaries_are_counted_in_one_flush(
    cclient: Client, fresh_cluster: LocalCluster, rc: RedisCluster
) -> None:
    sites = sites_on_distinct_primaries(fresh_cluster, 3)
    for site in sites:
        await make_site(cclient, site)
    recorder = Recorder()
    cclient.app[COUNTING].batcher.instruments = recorder

    resps = await asyncio.gather(
        *(
            post_hit(cclient, site, f"visitor-{site}-{i:03d}", "/a" if i % 2 else "/b")
            for i in range(20)
            for site in sites
        )
    )

    assert [r.status for r in resps] == [200] * 60
    assert any(r.ok and r.sites == 3 for r in recorder.flushes), "no flush spanned 3 primaries"
    for site in sites:
        body = await stats(cclient, site, "/a", "/b")
        assert body["visits"]["total"] == 20
        assert body["pageviews"] == {"total": 20, "today": 20}
        assert body["pages"] == {"/a": 10, "/b": 10}
        assert body["online"]["guests"] == 20
        assert body["uniques"]["today"] == 20
        owner = fresh_cluster.primary_for(keys.visits(site))
        assert owner.client.exists(keys.visits(site), keys.presence(site, "g")) == 2
    owners = {fresh_cluster.primary_for(keys.visits(s)).port for s in sites}
    assert len(owners) == 3


async def test_visit_window_ping_and_leave_work_on_a_cluster(
    cclient: Client, fresh_cluster: LocalCluster
) -> None:
    site = sites_on_distinct_primaries(fresh_cluster, 2)[1]
    await make_site(cclient, site)

    first = await (await post_hit(cclient, site, "visitor-one")).json()
    again = await (await post_hit(cclient, site, "visitor-one", "/b")).json()
    other = await (await post_hit(cclient, site, "visitor-two")).json()
    ping = await cclient.post("/v1/ping", json={"site": site, "visitor": "visitor-one"})
    left = await cclient.post("/v1/leave", json={"site": site, "visitor": "visitor-two"})

    assert first["visits"]["total"] == 1
    assert again["visits"]["total"] == 1
    assert again["pageviews"]["total"] == 2
    assert other["online"]["guests"] == 2
    assert ping.status == 200
    assert left.status == 204
    after = await stats(cclient, site)
    assert after["online"]["guests"] == 1
    assert after["visits"]["total"] == 2
    assert after["peak"]["online"] == 2


async def test_base_counts_and_audit_on_a_cluster(
    cclient: Client, fresh_cluster: LocalCluster
) -> None:
    site = sites_on_distinct_primaries(fresh_cluster, 3)[2]
    await make_site(cclient, site)
    await post_hit(cclient, site, "visitor-one", "/a")

    resp = await cclient.post(
        f"/v1/admin/sites/{site}/base",
        json={"visits": 1000, "pageviews": 5000, "pages": {"/a": 70}},
        headers=ADMIN,
    )
    assert resp.status == 200, await resp.text()
    body = await stats(cclient, site, "/a")
    audit = await (await cclient.get(f"/v1/admin/sites/{site}/audit", headers=ADMIN)).json()

    assert body["visits"]["total"] == 1001
    assert body["pageviews"]["total"] == 5001
    assert body["pages"] == {"/a": 71}
    assert [e["after"] for e in audit["entries"]] == [
        {"visits": 1000, "pageviews": 5000, "pages": {"/a": 70}}
    ]


async def test_derived_visitor_ids_share_the_daily_salt_on_a_cluster(
    cclient: Client, fresh_cluster: LocalCluster, rc: RedisCluster, clock: FakeClock
) -> None:
    site = sites_on_distinct_primaries(fresh_cluster, 1)[0]
    await make_site(cclient, site)

    first = await (await post_hit(cclient, site, None)).json()
    second = await (await post_hit(cclient, site, None)).json()

    day = datetime.fromtimestamp(clock(), UTC).date().isoformat()
    salt = await rc.get(keys.salt(day))
    assert isinstance(salt, bytes)
    assert len(salt) == 32
    assert first["visits"]["total"] == second["visits"]["total"] == 1
    assert second["pageviews"]["total"] == 2


async def test_history_reads_a_site_from_its_primary(
    cclient: Client, fresh_cluster: LocalCluster, clock: FakeClock
) -> None:
    site = sites_on_distinct_primaries(fresh_cluster, 2)[0]
    await make_site(cclient, site)
    for i in range(3):
        await post_hit(cclient, site, f"visitor-{i:04d}")

    resp = await cclient.get(f"/v1/admin/sites/{site}/history", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    rows = (await resp.json())["days"]

    today = datetime.fromtimestamp(clock(), VN).date().isoformat()
    assert rows[-1] == {
        "date": today,
        "visits": 3,
        "pageviews": 3,
        "bot_hits": 0,
        "uniques": 3,
    }
    assert all(r["visits"] == 0 for r in rows[:-1])


async def test_deleting_a_site_removes_its_keys_on_its_node_only(
    cclient: Client, fresh_cluster: LocalCluster, rc: RedisCluster
) -> None:
    doomed, kept, other = sites_on_distinct_primaries(fresh_cluster, 3)
    for site in (doomed, kept, other):
        await make_site(cclient, site)
        await post_hit(cclient, site, "visitor-one")

    resp = await cclient.delete(f"/v1/admin/sites/{doomed}", headers=ADMIN)
    again = await cclient.delete(f"/v1/admin/sites/{doomed}", headers=ADMIN)

    assert resp.status == 204
    assert again.status == 404
    left = [k async for k in rc.scan_iter(match=keys.site_pattern(doomed))]
    assert left == [keys.tombstone(doomed).encode()]  # it expires by itself
    for site in (kept, other):
        assert await rc.exists(keys.config(site), keys.visits(site)) == 2
    listed = await (await cclient.get("/v1/admin/sites", headers=ADMIN)).json()
    assert sorted(listed["sites"]) == sorted([kept, other])


async def test_readiness_reloads_the_script_a_primary_lost(
    cclient: Client, fresh_cluster: LocalCluster
) -> None:
    sha = cclient.app[COUNTING].store.script.sha
    primary = fresh_cluster.primary_for(keys.visits("any"))
    primary.client.script_flush()

    resp = await cclient.get("/readyz")

    assert resp.status == 200, await resp.text()
    assert primary.client.script_exists(sha) == [True]


async def test_ready_when_the_script_is_loaded_on_every_primary(
    cclient: Client, fresh_cluster: LocalCluster
) -> None:
    resp = await cclient.get("/readyz")
    sha = cclient.app[COUNTING].store.script.sha

    assert resp.status == 200, await resp.text()
    primaries = [n for n in fresh_cluster.nodes if n.alive and n.is_primary()]
    assert len(primaries) == 3
    assert all(n.client.script_exists(sha) == [True] for n in primaries)


async def test_primary_failover_loses_no_acknowledged_hit(
    cclient: Client, fresh_cluster: LocalCluster
) -> None:
    victim_site, other_site = sites_on_distinct_primaries(fresh_cluster, 2)
    sites = [victim_site, other_site]
    for site in sites:
        await make_site(cclient, site)
    tallies = {site: Tally() for site in sites}
    for n in range(5):
        assert await burst(cclient, sites, tallies, f"before-{n}") == [200] * 4
    victim = fresh_cluster.primary_for(keys.visits(victim_site))
    sha = cclient.app[COUNTING].store.script.sha
    replica = fresh_cluster.replica_of(victim)
    assert replica.client.script_exists(sha) == [False], "scripts are not replicated"

    async def rejoin_when_promoted() -> None:
        """The promoted replica is alone: with one replica per primary and
        COUNTER_REPLICA_ACKS=1, flushes wait until the failed node is back as its replica."""
        key = keys.visits(victim_site)
        await asyncio.to_thread(
            wait_for, "the promotion", lambda: fresh_cluster.primary_for(key) != victim, 20.0
        )
        fresh_cluster.restart(victim)  # from the test's thread (PR_SET_PDEATHSIG)

    try:
        outage = await failover_under_load(
            cclient, sites, tallies, lambda: fresh_cluster.kill(victim), rejoin_when_promoted
        )
    finally:
        await asyncio.to_thread(fresh_cluster.wait_ready)

    assert outage.statuses <= {200, 503}, outage.statuses
    assert 503 in outage.statuses
    promoted = fresh_cluster.primary_for(keys.visits(victim_site))
    assert promoted.port == replica.port
    assert promoted.client.script_exists(sha) == [True], "not reloaded after NOSCRIPT"
    ready = await cclient.get("/readyz")
    assert ready.status == 200, await ready.text()
    for site in sites:
        visits = (await stats(cclient, site))["visits"]["total"]
        pageviews = (await stats(cclient, site))["pageviews"]["total"]
        assert tallies[site].ok <= visits <= tallies[site].sent, (site, tallies[site], visits)
        assert visits == pageviews
    print(f"\nfailover: hits answered 503 for {outage.unavailable_s:.2f}s after SIGKILL")


async def test_cross_node_flushes_recover_when_a_primary_fails_over(
    fresh_cluster: LocalCluster,
) -> None:
    """Only multi-site flushes (one pipeline over two primaries) run during the failover."""
    redis = connect(fresh_cluster.url, 2.0)
    assert isinstance(redis, RedisCluster)
    store = CountingStore(redis, retries=1)
    sites = sites_on_distinct_primaries(fresh_cluster, 2)
    applied = 0

    async def flush(n: int) -> None:
        nonlocal applied
        one = event(Kind.HIT, VisitorClass.GUEST, n.to_bytes(8, "big"), page="/a")
        work = [SiteWork(SiteConfig(id=s), [one], batch_id=f"{n}") for s in sites]
        await store.apply(work, time.time())
        applied += 1

    try:
        await store.load()
        await flush(0)
        victim = fresh_cluster.primary_for(keys.visits(sites[0]))
        assert fresh_cluster.replicated(victim, sites[0])
        fresh_cluster.kill(victim)
        deadline = time.monotonic() + FAILOVER_DEADLINE_S
        failures = 0
        for n in range(1, 10_000):
            assert time.monotonic() < deadline, (
                f"still failing after {failures} flushes; "
                f"client: {redis.get_node_from_key(keys.visits(sites[0]))}, "
                f"cluster: {fresh_cluster.primary_for(keys.visits(sites[0])).port}, "
                f"{fresh_cluster.nodes_view()}"
            )
            try:
                await flush(n)
                break
            except StoreUnavailable:
                failures += 1
        fresh_cluster.restart(victim)
        await asyncio.to_thread(fresh_cluster.wait_ready)
        totals = [await redis.hget(keys.visits(s), "all") for s in sites]
    finally:
        await redis.aclose()

    assert failures > 0
    for total in totals:
        # A failed flush may still have been applied on the healthy node: at least once.
        assert applied <= int(total or 0) <= applied + failures
