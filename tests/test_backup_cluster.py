"""Backup and restore on a real Redis Cluster (3 primaries, 3 replicas, ``tests/cluster.py``).

A site's keys share one slot, so its SCAN runs on the node serving that slot and its
pipelines go to that node; ``c:sites`` and ``c:polls`` live elsewhere and are written apart.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.app import create_app
from counter.backup.dump import dump
from counter.backup.load import restore
from counter.backup.progress import Counts
from counter.settings import Settings
from counter.storage import RedisClient, connect
from tests.cluster import LocalCluster, local_cluster
from tests.conftest import ADMIN_TOKEN, Client, FakeClock
from tests.test_backup import populate, site_contents, snapshot


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster for this module only: stopped before the next module starts its own."""
    binary = os.environ.get("COUNTER_REDIS_SERVER") or None
    with local_cluster(tmp_path_factory.mktemp("backup-cluster"), binary) as c:
        yield c


@pytest.fixture
async def rc(cluster: LocalCluster) -> AsyncIterator[RedisClient]:
    cluster.flush()
    client = connect(cluster.url, 5.0)
    yield client
    await client.aclose()


@pytest.fixture
async def cclient(
    aiohttp_client: AiohttpClient, cluster: LocalCluster, rc: RedisClient, clock: FakeClock
) -> Client:
    settings = Settings(
        redis_url=cluster.url,
        admin_token=ADMIN_TOKEN,
        demo=False,
        stats_cache_ms=0,
        site_cache_ms=0,
    )
    return await aiohttp_client(create_app(settings, clock=clock))


def _sites_on_two_primaries(cluster: LocalCluster) -> list[str]:
    chosen: dict[int, str] = {}
    for i in range(1000):
        chosen.setdefault(cluster.primary_for(keys.config(f"site-{i}")).port, f"site-{i}")
        if len(chosen) == 2:
            return list(chosen.values())
    raise AssertionError("one primary serves every slot")


async def test_backup_and_restore_on_a_cluster_give_the_same_answers(
    cluster: LocalCluster, rc: RedisClient, cclient: Client, clock: FakeClock
) -> None:
    sites = _sites_on_two_primaries(cluster)
    polls = {site: await populate(cclient, clock, site) for site in sites}
    await rc.hset(keys.pages(sites[0]), mapping={f"/p{i}": i for i in range(3000)})
    before = {site: await snapshot(cclient, polls[site], site) for site in sites}
    contents = {site: await site_contents(rc, site) for site in sites}
    counts = Counts()
    lines = [line async for line in dump(rc, sites, now=clock.now, counts=counts, retries=3)]
    assert counts.keys == sum(len(c) for c in contents.values())
    cluster.flush()

    summary: dict[str, Any] = await restore(rc, lambda: lines, retries=3)

    assert summary["restored"] == sites
    for site in sites:
        assert await snapshot(cclient, polls[site], site) == before[site]
        assert await site_contents(rc, site) == contents[site]

    summary = await restore(rc, lambda: lines, replace=True, retries=3)
    assert summary["replaced"] == sites
    assert await snapshot(cclient, polls[sites[1]], sites[1]) == before[sites[1]]
