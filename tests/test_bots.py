"""Bots are counted apart: online bots and bot hits, never visits, page views or uniques."""

from __future__ import annotations

from typing import Any

import pytest

from counter.counting.bots import is_bot
from tests.conftest import ADMIN, Client, hit, make_site

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


@pytest.mark.parametrize(
    "agent",
    [
        GOOGLEBOT,
        "GOOGLEBOT/2.1",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "Mozilla/5.0 (compatible; YandexBot/3.0)",
        "facebookExternalHit/1.1",
        "Mozilla/5.0 (compatible; coccocbot-web/1.0)",
        "Mozilla/5.0 (compatible; ClaudeBot/1.0)",
        "Archive.org_bot",
    ],
)
def test_crawlers_are_bots_in_any_letter_case(agent: str) -> None:
    assert is_bot(agent)


@pytest.mark.parametrize(
    "agent",
    [CHROME, "", "curl/8.5.0", "Python/3.11 aiohttp/3.14", "HeadlessChrome/156.0", "bottle"],
)
def test_browsers_and_http_tools_are_not_bots(agent: str) -> None:
    assert not is_bot(agent)


async def _bot_hit(client: Client, visitor: str) -> Any:
    resp = await client.post(
        "/v1/hit",
        json={"site": "demo", "page": "/a", "visitor": visitor},
        headers={"User-Agent": GOOGLEBOT},
    )
    assert resp.status == 200
    return await resp.json()


async def test_bots_are_online_apart_and_never_visits(client: Client) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa")
    stats = await _bot_hit(client, "crawler-0001")
    assert stats["online"] == {"guests": 1, "members": 0, "bots": 1, "total": 1, "window_s": 300}
    assert stats["visits"]["total"] == 1
    assert stats["pageviews"]["total"] == 1
    assert stats["uniques"]["today"] == 1
    assert stats["pages"] == {"/a": 1}
    history = await (await client.get("/v1/admin/sites/demo/history", headers=ADMIN)).json()
    assert history["days"][-1]["bot_hits"] == 1


async def test_bot_policy_ignore_counts_bots_nowhere(client: Client) -> None:
    await make_site(client, bot_policy="ignore")
    stats = await _bot_hit(client, "crawler-0001")
    assert stats["online"]["bots"] == 0
    assert stats["visits"]["total"] == 0
    history = await (await client.get("/v1/admin/sites/demo/history", headers=ADMIN)).json()
    assert history["days"][-1]["bot_hits"] == 0
