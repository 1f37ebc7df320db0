"""Known crawlers, recognised by user agent.

Only crawlers and link-preview fetchers are bots; HTTP libraries (curl, aiohttp, ...) and
headless browsers are not, because they are how people test and embed the service.
"""

from __future__ import annotations

import re

_BOT_UA = re.compile(
    r"bot\b|bot/|crawler|spider|slurp|bingpreview|facebookexternalhit|facebookcatalog"
    r"|embedly|quora link preview|outbrain|pinterest|vkshare|w3c_validator|whatsapp"
    r"|lighthouse|feedfetcher|mediapartners|apis-google|coccoc|yandex|baiduspider"
    r"|petalbot|bytespider|gptbot|claudebot|ccbot|ia_archiver|archive\.org_bot"
)
"""Lower-case patterns, searched in the lower-cased user agent: a case-insensitive search
tries every alternative at every position and cost ~20 µs per browser user agent."""


def is_bot(user_agent: str) -> bool:
    """True for a known crawler user agent."""
    return _BOT_UA.search(user_agent.lower()) is not None


class BotFilter:
    """:func:`is_bot` with its verdicts remembered: user agents repeat, and a dictionary
    lookup costs a tenth of the search. At most ``size`` are kept (then it starts over)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._seen: dict[str, bool] = {}

    def __call__(self, user_agent: str) -> bool:
        verdict = self._seen.get(user_agent)
        if verdict is None:
            verdict = is_bot(user_agent)
            if len(self._seen) >= self.size:
                self._seen.clear()
            self._seen[user_agent] = verdict
        return verdict
