"""Live results: a snapshot on connect, then updates fed by Redis pub/sub to every replica."""

from __future__ import annotations

from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings
from tests.conftest import ADMIN, Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import make_poll, next_event, vote


async def test_stream_sends_a_snapshot_then_the_results_after_a_vote(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client, results_visibility="always")
    async with client.get(f"/v1/polls/{poll['id']}/events?visitor=visitor-0001") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.headers["Cache-Control"] == "no-store"
        name, snapshot = await next_event(stream)
        assert (name, snapshot["voted"], snapshot["results"]["voters"]) == ("poll", False, 0)
        assert (
            value(await scrape(client), "counter_sse_connections_open", kind="poll", site="demo")
            == 1.0
        )

        assert (await vote(client, poll["id"], "visitor-0001", ["o3"])).status == 200
        name, update = await next_event(stream)
        assert name == "poll"
        assert update["voted"] is True
        assert update["results"] == {"votes": {"o1": 0, "o2": 0, "o3": 1}, "voters": 1}


async def test_a_vote_on_one_replica_reaches_streams_on_another(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, client: Client
) -> None:
    other = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(client)
    poll = await make_poll(client, results_visibility="always")
    async with client.get(f"/v1/polls/{poll['id']}/events") as stream:
        await next_event(stream)
        assert (await vote(other, poll["id"], "visitor-0001", ["o2"])).status == 200
        _, update = await next_event(stream)
        assert update["results"]["votes"]["o2"] == 1
        assert update["voted"] is False  # an anonymous stream


async def test_after_vote_results_appear_in_the_voters_own_stream(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client, results_visibility="after_vote")
    async with client.get(f"/v1/polls/{poll['id']}/events?visitor=visitor-0001") as mine:
        assert (await next_event(mine))[1]["results"] is None
        assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200
        _, update = await next_event(mine)
        assert update["voted"] is True
        assert update["results"]["votes"]["o1"] == 1


async def test_deleting_a_poll_ends_its_streams(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client)
    async with client.get(f"/v1/polls/{poll['id']}/events") as stream:
        await next_event(stream)
        resp = await client.delete(f"/v1/admin/polls/{poll['id']}", headers=ADMIN)
        assert resp.status == 204
        assert await next_event(stream) == ("deleted", {})


async def test_stream_of_an_unknown_poll_is_a_json_404(client: Client) -> None:
    resp = await client.get("/v1/polls/nosuchpoll/events")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unknown_poll"
