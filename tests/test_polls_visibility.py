"""Each results policy, seen through the poll API, the poll list, SSE and the export."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from tests.conftest import ADMIN, VN, Client, FakeClock, make_site
from tests.polls_support import get_poll, make_poll, next_event, patch_poll, vote

ME = "visitor-0001"


async def _visible_everywhere(client: Client, poll_id: str, *, voter: str, open_: bool) -> bool:
    """Whether results show for ``voter``; asserts API, list, SSE and export agree."""
    seen = [(await get_poll(client, poll_id, visitor=voter))["results"] is not None]
    if open_:
        listed = await (await client.get(f"/v1/polls?site=demo&visitor={voter}")).json()
        seen.append(listed["polls"][0]["results"] is not None)
    async with client.get(f"/v1/polls/{poll_id}/events?visitor={voter}") as stream:
        name, data = await next_event(stream)
        assert name == "poll"
        seen.append(data["results"] is not None)
    assert len(set(seen)) == 1, seen
    return seen[0]


async def _export_shows_counts(client: Client, poll_id: str) -> bool:
    resp = await client.get(f"/v1/admin/polls/{poll_id}/export?format=csv", headers=ADMIN)
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["option_id"] for r in rows] == ["o1", "o2", "o3"]
    shown = {r["votes"] != "" for r in rows}
    assert len(shown) == 1
    return shown.pop()


@pytest.mark.parametrize(
    ("policy", "before_vote", "after_vote", "after_close"),
    [
        ("always", True, True, True),
        ("after_vote", False, True, True),
        ("after_close", False, False, True),
        ("never", False, False, False),
    ],
)
async def test_results_policy_applies_everywhere(
    client: Client,
    clock: FakeClock,
    policy: str,
    before_vote: bool,
    after_vote: bool,
    after_close: bool,
) -> None:
    await make_site(client)
    poll = await make_poll(client, results_visibility=policy)
    pid = poll["id"]
    assert await _visible_everywhere(client, pid, voter=ME, open_=True) is before_vote
    assert await _export_shows_counts(client, pid) is before_vote

    resp = await vote(client, pid, ME, ["o1"])
    assert resp.status == 200
    assert ((await resp.json())["results"] is not None) is after_vote
    assert await _visible_everywhere(client, pid, voter=ME, open_=True) is after_vote
    assert await _visible_everywhere(client, pid, voter="visitor-0002", open_=True) is before_vote

    now = datetime.fromtimestamp(clock.now, VN).isoformat()
    assert (await patch_poll(client, pid, ends_at=now)).status == 200
    assert await _visible_everywhere(client, pid, voter=ME, open_=False) is after_close
    assert await _export_shows_counts(client, pid) is after_close

    admin = await (await client.get("/v1/admin/polls?site=demo", headers=ADMIN)).json()
    assert admin["polls"][0]["results"]["votes"]["o1"] == 1  # admins always see results
