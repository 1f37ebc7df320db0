"""The service answers on a real server end to end."""

from __future__ import annotations

from tests.conftest import Client, hit, make_site


async def test_first_hit_counts_one_visit_and_one_guest_online(client: Client) -> None:
    await make_site(client)
    stats = await hit(client)
    assert stats["visits"]["total"] == 1
    assert stats["online"] == {"guests": 1, "members": 0, "bots": 0, "total": 1, "window_s": 300}
    assert stats["pages"] == {"/a": 1}
