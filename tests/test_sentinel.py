"""The service on a real Sentinel setup (primary, replica, three sentinels), through HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.__main__ import main
from counter.app import create_app
from counter.appkeys import COUNTING
from counter.sentinel import SentinelClient, parse_sentinel_url
from counter.settings import Settings, SettingsError
from counter.storage import connect
from tests.conftest import ADMIN_TOKEN, Client, FakeClock, make_site
from tests.failover import Tally, burst, failover_under_load, post_hit, stats
from tests.local_servers import wait_for
from tests.polls_support import make_poll, next_event, vote
from tests.sentinel import LocalSentinels, local_sentinels

EVENT_TIMEOUT_S = 20.0


@pytest.fixture(scope="session")
def sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSentinels]:
    binary = os.environ.get("COUNTER_REDIS_SERVER") or None
    with local_sentinels(tmp_path_factory.mktemp("sentinel"), binary) as s:
        yield s


@pytest.fixture
def fresh(sentinels: LocalSentinels) -> LocalSentinels:
    sentinels.flush()
    return sentinels


@pytest.fixture
async def sclient(aiohttp_client: AiohttpClient, fresh: LocalSentinels, clock: FakeClock) -> Client:
    settings = Settings(
        redis_url=fresh.url,
        admin_token=ADMIN_TOKEN,
        demo=False,
        stats_cache_ms=0,
        replica_acks=1,  # a 200 survives the loss of the primary
    )
    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://127.0.0.1:26379", "master name"),
        ("redis+sentinel:///mymaster", "no sentinel host"),
        ("redis+sentinel://a:1,,b:2/mymaster", "no sentinel host"),
        ("redis+sentinel://a:port/mymaster", "bad sentinel address"),
        ("redis+sentinel://a:1/mymaster/zero", "db must be a number"),
        ("redis+sentinel://a:1/mymaster/0/extra", "master name"),
        ("redis+sentinel://a:1/mymaster?timeout=3", "unknown option"),
    ],
)
def test_a_bad_sentinel_url_is_a_settings_error(url: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint) as caught:
        Settings(redis_url=url)
    assert str(caught.value).startswith("REDIS_URL: ")


def test_the_command_line_refuses_a_bad_sentinel_url_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+sentinel://127.0.0.1:26379")

    assert main(["site", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("counter: REDIS_URL: missing or bad master name")
    assert "Traceback" not in err


def test_a_sentinel_url_names_sentinels_service_db_and_passwords() -> None:
    url = "rediss+sentinel://:s%40cret@a:1,[::1]:2,b/cache/3?sentinel_password=sp"
    parsed = parse_sentinel_url(url)

    assert parsed.sentinels == (("a", 1), ("::1", 2), ("b", 26379))
    assert (parsed.service, parsed.db, parsed.password) == ("cache", 3, "s@cret")
    assert (parsed.sentinel_password, parsed.tls) == ("sp", True)


async def test_hits_and_stats_go_to_the_primary_the_sentinels_name(
    sclient: Client, fresh: LocalSentinels
) -> None:
    await make_site(sclient, "blog")
    resps = [await post_hit(sclient, "blog", f"visitor-{i:03d}", "/a") for i in range(5)]

    assert [r.status for r in resps] == [200] * 5
    body = await stats(sclient, "blog", "/a")
    assert body["visits"]["total"] == 5
    assert body["pages"] == {"/a": 5}
    primary, replica = fresh.primary(), fresh.replica()
    assert primary.client.hget(keys.visits("blog"), "all") == b"5"
    assert fresh.replicated(primary)
    assert replica.client.hget(keys.visits("blog"), "all") == b"5"
    assert (await sclient.get("/readyz")).status == 200


async def test_connect_closes_its_sentinel_connections(fresh: LocalSentinels) -> None:
    redis = connect(fresh.url, 2.0)
    assert isinstance(redis, SentinelClient)
    assert redis.manager is not None
    await redis.set("c:probe", "1")
    assert fresh.primary().client.get("c:probe") == b"1"
    await redis.aclose()
    opened = [c for s in redis.manager.sentinels for c in s.connection_pool._available_connections]
    assert opened, "the sentinels were never asked"
    assert not any(c.is_connected for c in opened)


async def test_live_poll_results_arrive_through_the_sentinel_primary(sclient: Client) -> None:
    await make_site(sclient)
    poll = await make_poll(sclient, results_visibility="always")

    async with sclient.get(f"/v1/polls/{poll['id']}/events") as stream:
        await asyncio.wait_for(next_event(stream), EVENT_TIMEOUT_S)
        assert (await vote(sclient, poll["id"], "visitor-0001", ["o2"])).status == 200
        _, update = await asyncio.wait_for(next_event(stream), EVENT_TIMEOUT_S)
    assert update["results"]["votes"]["o2"] == 1


async def test_primary_failover_loses_no_acknowledged_hit(
    sclient: Client, fresh: LocalSentinels
) -> None:
    sites = ["blog", "shop"]
    for site in sites:
        await make_site(sclient, site)
    poll = await make_poll(sclient, site="blog", results_visibility="always")
    tallies = {site: Tally() for site in sites}
    for n in range(5):
        assert await burst(sclient, sites, tallies, f"before-{n}") == [200] * 4
    victim, replica = fresh.primary(), fresh.replica()
    sha = sclient.app[COUNTING].store.script.sha
    assert replica.client.script_exists(sha) == [False], "scripts are not replicated"

    async def rejoin_when_promoted() -> None:
        """The promoted replica is alone: with one replica and COUNTER_REPLICA_ACKS=1, flushes
        wait until the failed server is back as its replica."""
        await asyncio.to_thread(
            wait_for, "the promotion", lambda: fresh.primary().port == replica.port, 20.0
        )
        fresh.restart_as_replica(victim)  # from the test's thread (PR_SET_PDEATHSIG)

    async with sclient.get(f"/v1/polls/{poll['id']}/events") as stream:
        await asyncio.wait_for(next_event(stream), EVENT_TIMEOUT_S)
        try:
            outage = await failover_under_load(
                sclient, sites, tallies, lambda: fresh.kill(victim), rejoin_when_promoted
            )
            voted = await vote(sclient, poll["id"], "visitor-0001", ["o1"])
            assert voted.status == 200, await voted.text()
            votes = 0
            while votes == 0:  # a catch-up snapshot may come first
                _, update = await asyncio.wait_for(next_event(stream), EVENT_TIMEOUT_S)
                votes = update["results"]["votes"]["o1"]
        finally:
            await asyncio.to_thread(fresh.wait_ready)

    assert outage.statuses <= {200, 503}, outage.statuses
    assert 503 in outage.statuses
    assert fresh.primary().port == replica.port
    ready = await sclient.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert replica.client.script_exists(sha) == [True], "not reloaded on the new primary"
    for site in sites:
        body = await stats(sclient, site)
        visits, pageviews = body["visits"]["total"], body["pageviews"]["total"]
        assert tallies[site].ok <= visits <= tallies[site].sent, (site, tallies[site], visits)
        assert visits == pageviews
    print(f"\nsentinel failover: hits answered 503 for {outage.unavailable_s:.2f}s after SIGKILL")
