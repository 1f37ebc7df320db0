"""Crawler detection by user agent, whatever the letter case."""

from __future__ import annotations

import pytest

from counter.counting.bots import is_bot

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "GOOGLEBOT/2.1",
        "Mozilla/5.0 (compatible; YandexBot/3.0)",
        "facebookExternalHit/1.1",
        "Mozilla/5.0 (compatible; ClaudeBot/1.0)",
        "Archive.org_bot",
    ],
)
def test_crawlers_are_bots_in_any_letter_case(agent: str) -> None:
    assert is_bot(agent)


@pytest.mark.parametrize("agent", [CHROME, "", "curl/8.5.0", "Python/3.11 aiohttp/3.14", "bottle"])
def test_browsers_and_http_libraries_are_not_bots(agent: str) -> None:
    assert not is_bot(agent)
