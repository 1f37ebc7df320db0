"""Members: signed tokens make members; anything else stays a guest."""

from __future__ import annotations

import pytest

from counter.counting import members
from tests.conftest import ADMIN, Client, FakeClock, hit, make_site

SECRET = "s" * 40


def test_token_format_is_the_documented_one() -> None:
    token = members.mint(SECRET, "demo", "user_42", 2_000_000_000)
    version, member_id, exp, sig = token.split(".")
    assert (version, member_id, exp) == ("v1", "user_42", "2000000000")
    assert "=" not in sig
    assert len(sig) == 43
    assert members.verify(token, SECRET, "demo", 1_999_990_000) == "user_42"
    assert members.verify(token, SECRET, "other-site", 1_999_990_000) is None
    assert members.verify(token, SECRET, "demo", 2_000_000_000) is None


def test_a_token_living_longer_than_the_maximum_is_no_member() -> None:
    token = members.mint(SECRET, "demo", "user_42", 2_000_000_000)
    week = 7 * 86_400
    assert week == members.MAX_LIFETIME_S
    assert members.verify(token, SECRET, "demo", 2_000_000_000 - week) == "user_42"
    assert members.verify(token, SECRET, "demo", 2_000_000_000 - week - 1) is None
    assert members.verify(token, SECRET, "demo", 1_000_000_000, max_lifetime_s=10**9) == "user_42"


@pytest.mark.parametrize(
    "token",
    [
        "v1.user_42.9999999999." + "é" * 43,
        "v1.user_42.²." + "A" * 43,
        "v1.user_42.9999999999.forged",
        "v2.user_42.9999999999.AAAA",
        "not-a-token",
        "v1.user 42.9999999999.AAAA",
        "",
    ],
)
def test_malformed_or_forged_tokens_are_rejected(token: str) -> None:
    assert members.verify(token, SECRET, "demo", 1_900_000_000) is None


async def test_valid_token_counts_a_member(client: Client, clock: FakeClock) -> None:
    await make_site(client, member_secret=SECRET)
    token = members.mint(SECRET, "demo", "user_42", int(clock.now) + 3600)
    stats = await hit(client, "visitor-aaaa", member=token)
    assert stats["online"] == {"guests": 0, "members": 1, "bots": 0, "total": 1, "window_s": 300}


@pytest.mark.parametrize("kind", ["forged", "expired", "other_secret", "no_secret_on_site"])
async def test_bad_tokens_count_a_guest(client: Client, clock: FakeClock, kind: str) -> None:
    await make_site(client, **({} if kind == "no_secret_on_site" else {"member_secret": SECRET}))
    exp = int(clock.now) + (-1 if kind == "expired" else 3600)
    secret = "x" * 40 if kind == "other_secret" else SECRET
    token = members.mint(secret, "demo", "user_42", exp)
    if kind == "forged":
        token = token[:-4] + "AAAA"
    stats = await hit(client, "visitor-aaaa", member=token)
    assert stats["online"]["guests"] == 1
    assert stats["online"]["members"] == 0


async def test_guest_who_logs_in_becomes_a_member_within_the_same_visit(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    await hit(client, "visitor-aaaa", "/login")
    token = members.mint(SECRET, "demo", "user_42", int(clock.now) + 3600)
    clock.advance(30)
    stats = await hit(client, "visitor-aaaa", "/account", member=token)
    assert stats["online"]["guests"] == 0
    assert stats["online"]["members"] == 1
    assert stats["visits"]["total"] == 1


async def test_one_member_on_two_devices_is_one_member_online(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    token = members.mint(SECRET, "demo", "user_42", int(clock.now) + 3600)
    await hit(client, "visitor-phone", member=token)
    stats = await hit(client, "visitor-laptop", member=token)
    assert stats["online"]["members"] == 1
    assert stats["visits"]["total"] == 1


async def test_the_sites_maximum_token_lifetime_decides_who_is_a_member(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    hundred_years = members.mint(SECRET, "demo", "user_42", int(clock.now) + 100 * 365 * 86_400)
    stats = await hit(client, "visitor-aaaa", member=hundred_years)
    assert (stats["online"]["guests"], stats["online"]["members"]) == (1, 0)

    month = members.mint(SECRET, "demo", "user_43", int(clock.now) + 30 * 86_400)
    stats = await hit(client, "visitor-bbbb", member=month)
    assert (stats["online"]["guests"], stats["online"]["members"]) == (2, 0)  # over 7 days

    await make_site(client, member_token_max_s=31 * 86_400)
    stats = await hit(client, "visitor-bbbb", member=month)
    assert (stats["online"]["guests"], stats["online"]["members"]) == (1, 1)


async def test_the_maximum_token_lifetime_is_a_validated_site_field(client: Client) -> None:
    site = await make_site(client)
    assert site["member_token_max_s"] == 7 * 86_400
    for bad in (59, 366 * 86_400, "7d", True):
        resp = await client.put(
            "/v1/admin/sites/demo", json={"member_token_max_s": bad}, headers=ADMIN
        )
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_member_token_max_s"


async def test_a_non_ascii_token_counts_a_guest_not_an_error(client: Client) -> None:
    await make_site(client, member_secret=SECRET)
    for token in ("v1.abc.9999999999.é", "v1.abc.².sig"):
        stats = await hit(client, "visitor-aaaa", member=token)
        assert stats["online"]["guests"] == 1
