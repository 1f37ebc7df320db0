"""The console at /admin in real Chromium, on the real service: sign-in and refusal, every
panel's figures against the admin API after real hits, settings, member secret, base counts,
pages, polls with the widget on the demo page, and keyboard use.

Every test records what the page asks for and what it logs: no request may leave the
service's origin, and no error may be logged (bar the refusals a test provokes on purpose).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import math
import os
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, Request, expect

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from counter.storage import RedisClient
from tests.browser.harness import Service, serve
from tests.conftest import ADMIN_TOKEN, VN, FakeClock

SECRET = "s" * 40
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
MISSING = "\N{EN DASH}"
"""What the console shows for a figure that does not exist (uniques after 40 days, say)."""
LIVE = 20_000
"""How long a live figure may take to show (the console reads every few seconds)."""
FIGURES = [
    "online.guests", "online.members", "online.bots", "online.total", "visits.today",
    "visits.yesterday", "visits.this_week", "visits.this_month", "visits.total",
    "pageviews.today", "uniques.today", "peak.online",
]  # fmt: skip


def vi(number: int) -> str:
    """A count as the console writes it in Vietnamese (77.445.445)."""
    return f"{number:,}".replace(",", ".")


def member_token(member_id: str, ttl: int = 3600, now: float | None = None) -> str:
    exp = int(time.time() if now is None else now) + ttl
    mac = hmac.new(SECRET.encode(), f"v1.demo.{member_id}.{exp}".encode(), hashlib.sha256)
    return f"v1.{member_id}.{exp}." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


async def hit(
    service: Service, page: str, visitor: str, *, agent: str = "Mozilla/5.0", **extra: Any
) -> None:
    body = {"site": "demo", "page": page, "visitor": visitor, **extra}
    async with (
        aiohttp.ClientSession(headers={"User-Agent": agent}) as http,
        http.post(service.url + "/v1/hit", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()


@dataclass
class Watch:
    """What a console tab asked for and logged."""

    origin: str = ""
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    """Patterns of errors a test provokes on purpose (a refused token's 401, say)."""

    def logged(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(re.search(p, message.text) for p in self.expected):
            self.errors.append(message.text)

    def refused(self, status: int) -> None:
        self.expected.append(rf"status of {status}\b")

    def check(self) -> None:
        assert self.errors == []
        own = (self.origin + "/", "blob:" + self.origin + "/", "data:")
        assert [url for url in self.requests if not url.startswith(own)] == []


@dataclass
class Console:
    page: Page
    watch: Watch

    async def sign_in(self, url: str, token: str = ADMIN_TOKEN) -> Page:
        self.watch.origin = url
        response = await self.page.goto(url + "/admin")
        assert response is not None
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        await self.page.locator("#token").fill(token)
        await self.page.keyboard.press("Enter")
        await expect(self.page.locator("#overview-title")).to_be_focused(timeout=LIVE)
        return self.page

    async def view(self, name: str) -> None:
        await self.page.locator(f'nav [data-view="{name}"]').click()
        await expect(self.page.locator(f"#{name}-title")).to_be_focused()


@pytest.fixture
async def console(browser: Browser, service: Service) -> AsyncIterator[Console]:
    """A console tab, closed before the service stops (or its last reads would fail)."""
    context = await browser.new_context(
        locale="vi-VN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    tab = await context.new_page()
    watch = Watch()
    tab.on("console", watch.logged)
    tab.on("pageerror", lambda error: watch.errors.append(str(error)))

    def asked(request: Request) -> None:
        watch.requests.append(request.url)

    async def confirm(dialog: Dialog) -> None:
        await dialog.accept()

    tab.on("request", asked)
    tab.on("dialog", confirm)
    yield Console(tab, watch)
    await context.close()
    watch.check()


async def rows(page: Page, name: str) -> list[list[str]]:
    """The text of every body row of one of the console's tables."""
    found: list[list[str]] = await page.evaluate(
        """(name) => [...document.querySelectorAll(`[data-table="${name}"] tbody tr`)]
                .map((row) => [...row.cells].map((cell) => cell.textContent))""",
        name,
    )
    return found


# ---- sign-in ------------------------------------------------------------------------------


async def test_a_wrong_token_is_refused_and_the_right_one_is_kept_for_the_tab(
    console: Console, service: Service
) -> None:
    console.watch.refused(401)
    console.watch.origin = service.url
    page = console.page
    await page.goto(service.url + "/admin")
    token = page.get_by_label("Mã quản trị (admin token)")
    await expect(token).to_be_focused()
    await token.fill("not-the-admin-token-0000")
    await page.keyboard.press("Enter")
    await expect(page.locator("#signin-error")).to_have_text(
        "Mã này bị từ chối: đây không phải mã quản trị của dịch vụ."
    )
    await expect(token).to_be_focused()
    await expect(page.locator("#console")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0

    await token.fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.locator("#overview-title")).to_be_focused()
    stored = await page.evaluate("sessionStorage.getItem('counter.console.token')")
    assert stored == ADMIN_TOKEN
    assert await page.evaluate("document.cookie") == ""

    await page.reload()  # the tab keeps its token
    await expect(page.locator("#overview-title")).to_be_visible()
    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(token).to_be_focused()
    assert await page.evaluate("sessionStorage.getItem('counter.console.token')") is None


async def test_a_token_changed_on_the_service_returns_to_sign_in_with_the_reason(
    console: Console, redis: RedisClient, redis_server: EmbeddedServer
) -> None:
    console.watch.refused(401)
    before = Settings(redis_url=redis_server.url, admin_token=ADMIN_TOKEN, demo=True)
    runner, url = await serve(create_app(before))
    port = int(url.rsplit(":", 1)[1])
    page = await console.sign_in(url)
    # Between the two services a read finds no listener, or its kept-alive socket closed:
    # expected from the moment the first one starts stopping (the tab's log reaches the test
    # while the stop is awaited).
    console.watch.expected.append(
        "ERR_(CONNECTION_REFUSED|SOCKET_NOT_CONNECTED|CONNECTION_RESET|EMPTY_RESPONSE)"
    )
    await runner.cleanup()
    after = Settings(redis_url=redis_server.url, admin_token="a-new-admin-token-0123456789")
    restarted = web.AppRunner(create_app(after))
    await restarted.setup()
    await web.TCPSite(restarted, "127.0.0.1", port).start()
    try:
        # The console notices by itself at its next admin call (a view's refresh may be one);
        # opening another view makes one at once.
        await page.evaluate("location.hash = '#settings'")
        await expect(page.locator("#signin-error")).to_have_text(
            "Mã quản trị không còn được chấp nhận (có thể đã được thay đổi). "
            "Vui lòng đăng nhập lại."
        )
        await expect(page.locator("#token")).to_be_focused()
        assert await page.evaluate("sessionStorage.getItem('counter.console.token')") is None
    finally:
        await restarted.cleanup()


# ---- overview -------------------------------------------------------------------------------


async def test_tiles_show_the_live_stats_by_class_in_the_sites_locale(
    console: Console, service: Service
) -> None:
    await service.admin("PUT", "/v1/admin/sites/demo", {"member_secret": SECRET})
    # Base counts first: a flush's answer carries them at once, where GET /v1/stats right after
    # setting them may answer from its cache (up to COUNTER_STATS_CACHE_MS old).
    await service.admin("POST", "/v1/admin/sites/demo/base", {"visits": 77445445})
    for n in range(5):
        await hit(service, f"/news/{n}", f"guest-{n:04d}")
    for n in range(2):
        await hit(service, "/news/0", f"member-{n:04d}", member=member_token(f"m{n}"))
    await hit(service, "/news/1", "crawler-0001", agent=BOT)
    stats = await service.stats()
    assert stats["online"] == {"guests": 5, "members": 2, "bots": 1, "total": 7, "window_s": 300}

    page = await console.sign_in(service.url)
    tiles = page.locator(".tiles")
    for path in FIGURES:
        section, key = path.split(".")
        await expect(tiles.locator(f'[data-figure="{path}"]')).to_have_text(vi(stats[section][key]))
    await expect(tiles.locator('[data-figure="visits.total"]')).to_have_text("77.445.452")
    await expect(tiles.locator('[data-figure="peak.at"]')).not_to_have_text(MISSING)

    await hit(service, "/news/9", "guest-late-0001")  # shows up without a reload
    await expect(tiles.locator('[data-figure="visits.today"]')).to_have_text("8", timeout=LIVE)
    await expect(tiles.locator('[data-figure="online.guests"]')).to_have_text("6")

    await page.get_by_label("Ngôn ngữ", exact=True).select_option("en")
    await expect(tiles.locator('[data-figure="visits.total"]')).to_have_text("77,445,453")
    await expect(page.locator("#tile-online")).to_have_text("Online now")
    await expect(page.locator("html")).to_have_attribute("lang", "en")


async def test_each_site_has_its_own_dashboard_in_its_own_locale(
    console: Console, service: Service
) -> None:
    await service.admin("PUT", "/v1/admin/sites/portal", {"name": "Portal", "locale": "en"})
    async with aiohttp.ClientSession() as http:
        body = {"site": "portal", "page": "/", "visitor": "reader-0001"}
        async with http.post(service.url + "/v1/hit", json=body) as resp:
            assert resp.status == 200
    page = await console.sign_in(service.url)
    await expect(page.locator("#overview-title")).to_have_text(
        "Tổng quan: Cổng thông tin điện tử (demo)"
    )
    await expect(page.locator('.tiles [data-figure="visits.today"]')).to_have_text("0")
    await page.get_by_label("Trang web").select_option("portal")
    await expect(page.locator("#overview-title")).to_have_text("Overview: Portal")
    await expect(page.locator('.tiles [data-figure="visits.today"]')).to_have_text("1")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.reload()  # the tab remembers the site
    await expect(page.locator("#overview-title")).to_have_text("Overview: Portal", timeout=LIVE)


async def test_charts_and_lists_show_the_admin_apis_figures(
    console: Console, service: Service
) -> None:
    referrers = ["https://www.google.com/search?q=a", "https://facebook.com/x", None]
    for n in range(12):
        referrer = referrers[n % 3]
        extra = {"referrer": referrer} if referrer else {}
        await hit(service, f"/news/{n % 4}", f"reader-{n:04d}", **extra)
    await hit(service, "/news/0", "reader-0000")  # one more view of /news/0, no new visit
    async with console.page.expect_response(lambda r: "/online?" in r.url) as online_answer:
        page = await console.sign_in(service.url)
    await expect(page.locator("#chart-daily canvas")).to_have_count(1, timeout=LIVE)
    await expect(page.locator("#chart-hours canvas")).to_have_count(1)
    await expect(page.locator("#chart-online canvas")).to_have_count(1)
    await expect(page.locator('[data-table="referrers"] tbody tr')).to_have_count(2, timeout=LIVE)

    api = "/v1/admin/sites/demo"
    stats = await service.stats()
    today = date.fromisoformat(stats["server_time"][:10])
    history = await service.admin_get(f"{api}/history?from={today - timedelta(days=29)}&to={today}")
    daily = await rows(page, "daily")
    assert [row[1:] for row in daily] == [
        [vi(d["visits"]), vi(d["pageviews"]), MISSING if d["uniques"] is None else vi(d["uniques"]),
         vi(d["bot_hits"])]
        for d in reversed(history["days"])
    ]  # fmt: skip
    assert daily[0][1:4] == ["12", "13", "12"]

    now = await service.admin_get(f"{api}/hours")
    before = await service.admin_get(f"{api}/hours?date={today - timedelta(days=1)}")
    assert await rows(page, "hours") == [
        [f"{hour:02d}:00", vi(now["visits"][hour]), vi(before["visits"][hour])]
        for hour in range(24)
    ]
    # The current minute's sample is rewritten by the once-a-second work of later reads (a
    # GET /v1/stats may do it), so the figures are those of the answer the console had.
    online = await (await online_answer.value).json()
    assert [row[1] for row in await rows(page, "online")] == [
        vi(sample["online"]) for sample in reversed(online["samples"])
    ]
    now_online = await service.admin_get(f"{api}/online?hours=24")
    assert [s["at"] for s in now_online["samples"]][: len(online["samples"])] == [
        s["at"] for s in online["samples"]
    ]
    for name, period in (("top-day", "day"), ("top-all", "all")):
        top = await service.admin_get(f"{api}/top-pages?period={period}&limit=10")
        assert await rows(page, name) == [[p["page"], vi(p["views"])] for p in top["pages"]]
    hosts = await service.admin_get(f"{api}/referrers?limit=10")
    assert await rows(page, "referrers") == [[r["host"], vi(r["hits"])] for r in hosts["referrers"]]
    assert hosts["referrers"] == [
        {"host": "facebook.com", "hits": 4},
        {"host": "www.google.com", "hits": 4},
    ]

    await page.get_by_label("Khoảng thời gian").select_option("90")
    await expect(page.locator('[data-table="daily"] tbody tr')).to_have_count(90)


# ---- settings, members, base counts, pages -------------------------------------------------


async def test_settings_are_saved_through_the_admin_api_and_refusals_are_shown(
    console: Console, service: Service
) -> None:
    console.watch.refused(400)
    page = await console.sign_in(service.url)
    await console.view("settings")
    await expect(page.get_by_label("Tên", exact=True)).to_have_value(
        "Cổng thông tin điện tử (demo)"
    )
    shown = await page.evaluate(
        "[...document.querySelectorAll('#settings-form [name]')].map((f) => [f.name, f.value])"
    )
    config = await service.admin_get("/v1/admin/sites/demo")
    assert dict(shown) == {
        name: "\n".join(config[name]) if name == "origins" else str(config[name])
        for name, _ in shown
    }
    assert len(shown) == 10
    await page.get_by_label("Nguồn được phép (origin)").fill(
        "https://portal.example.vn\nhttps://www.portal.example.vn"
    )
    await page.get_by_label("Múi giờ").fill("Asia/Bangkok")
    await page.get_by_label("Ngày đầu tuần").select_option("sunday")
    await page.get_by_label("Khoảng tính trực tuyến (giây)").fill("120")
    await page.get_by_label("Số trang tối đa được đếm riêng").fill("5000")
    await page.get_by_label("Thời hạn tối đa của mã thành viên (giây)").fill("3600")
    name = page.get_by_label("Tên", exact=True)
    await name.fill("Cổng thông tin tỉnh")
    await name.press("Enter")
    await expect(page.locator("#notice")).to_have_text("Đã lưu.")
    config = await service.admin_get("/v1/admin/sites/demo")
    assert config["name"] == "Cổng thông tin tỉnh"
    assert config["origins"] == ["https://portal.example.vn", "https://www.portal.example.vn"]
    assert (config["timezone"], config["week_start"]) == ("Asia/Bangkok", "sunday")
    assert (config["online_window_s"], config["max_pages"]) == (120, 5000)
    assert config["member_token_max_s"] == 3600
    await expect(page.locator("#settings-title")).to_contain_text("Cổng thông tin tỉnh")

    await page.get_by_label("Khoảng tính một lượt truy cập (giây)").fill("60")
    await page.get_by_role("button", name="Lưu").click()
    await expect(page.locator("#settings-error")).to_contain_text("visit_window_s")
    assert (await service.admin_get("/v1/admin/sites/demo"))["visit_window_s"] == 1800


async def test_a_new_member_secret_is_shown_once_with_snippets_that_mint_valid_tokens(
    console: Console, service: Service
) -> None:
    page = await console.sign_in(service.url)
    await console.view("settings")
    await expect(page.locator("#secret-state")).to_have_text(
        "Chưa đặt khóa bí mật: mọi người truy cập đều được tính là khách."
    )
    await page.get_by_role("button", name="Tạo khóa mới").click()
    secret = page.get_by_label("Khóa mới")
    await expect(secret).to_be_focused()
    value = await secret.input_value()
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert (await service.admin_get("/v1/admin/sites/demo"))["member_secret_set"] is True
    await expect(page.locator("#snippet-php")).to_contain_text(value)

    namespace: dict[str, Any] = {}  # the console's own snippet, run as a portal would run it
    exec(await page.locator("#snippet-python").text_content() or "", namespace)
    await hit(service, "/a", "member-0001", member=namespace["member_token"]("m-1"))
    assert (await service.stats())["online"]["members"] == 1

    await page.get_by_role("button", name="Tạo khóa mới").click()  # confirmed: replaces it
    await expect(secret).not_to_have_value(value)
    await page.get_by_role("button", name="Xóa khóa").click()
    await expect(page.locator("#notice")).to_have_text("Đã xóa khóa bí mật.")
    assert (await service.admin_get("/v1/admin/sites/demo"))["member_secret_set"] is False


async def test_base_counts_and_peak_reset_are_written_to_the_audit_log(
    console: Console, service: Service
) -> None:
    await hit(service, "/news/123", "reader-0001")
    page = await console.sign_in(service.url)
    await console.view("counts")
    await page.get_by_label("Lượt xem gốc theo trang").fill("no count here")
    await page.get_by_role("button", name="Đặt số liệu gốc").click()
    await expect(page.locator("#base-error")).to_have_text("Dòng 1 không có dạng “trang số”.")

    await page.get_by_label("Lượt xem gốc theo trang").fill("/news/123 138")
    visits = page.get_by_label("Lượt truy cập gốc")
    await visits.fill("77445445")
    await visits.press("Enter")
    await expect(page.locator("#notice")).to_have_text("Đã đặt số liệu gốc.")
    audit = await service.admin_get("/v1/admin/sites/demo/audit")
    assert audit["entries"][0]["after"] == {"visits": 77445445, "pages": {"/news/123": 138}}
    await expect(page.locator('[data-table="audit"] tbody tr')).to_have_count(1)
    entry = page.locator('[data-table="audit"] tbody tr').first
    await expect(entry).to_contain_text("visits: 0 → 77.445.445")  # the entry's keys in any order
    await expect(entry).to_contain_text("/news/123: 0 → 138")
    await console.view("overview")  # the stats may be a second old, then read again
    await expect(page.locator('.tiles [data-figure="visits.total"]')).to_have_text(
        "77.445.446", timeout=LIVE
    )

    await console.view("counts")
    await page.get_by_role("button", name="Đặt lại mức cao nhất").click()
    await expect(page.locator("#notice")).to_have_text("Đã đặt lại mức trực tuyến cao nhất.")
    await expect(page.locator('[data-table="audit"] tbody tr')).to_have_count(2)
    await expect(page.locator('[data-table="audit"] tbody tr').first).to_contain_text(
        "peak_online: 1 → 0"
    )
    assert len((await service.admin_get("/v1/admin/sites/demo/audit"))["entries"]) == 2


async def test_the_page_list_shows_the_apis_views_and_prunes_pages(
    console: Console, service: Service
) -> None:
    for page_name, views in (("/a", 3), ("/b", 2), ("/c", 1)):
        for n in range(views):
            await hit(service, page_name, f"reader-{n:04d}")
    page = await console.sign_in(service.url)
    await console.view("pages")
    listing = await service.admin_get("/v1/admin/sites/demo/pages")
    expected = sorted(((p["page"], p["views"]) for p in listing["pages"]), key=lambda p: -p[1])
    await expect(page.locator('[data-table="pages"] tbody tr')).to_have_count(3)
    assert [row[1:] for row in await rows(page, "pages")] == [[p, vi(v)] for p, v in expected]
    await expect(page.locator("#pages-tracked")).to_have_text(
        "Đang đếm riêng 3 trang, tối đa 100.000 trang."
    )

    await page.get_by_label("Chọn /c").check()
    await page.get_by_role("button", name="Ngừng đếm riêng các trang đã chọn").click()
    await expect(page.locator("#notice")).to_have_text("Đã bỏ 1 trang khỏi danh sách.")
    await expect(page.locator('[data-table="pages"] tbody tr')).to_have_count(2)
    below = page.get_by_label("Ngừng đếm riêng các trang có ít lượt xem hơn")
    await below.fill("3")
    await below.press("Enter")
    await expect(page.locator('[data-table="pages"] tbody tr')).to_have_count(1)
    listing = await service.admin_get("/v1/admin/sites/demo/pages")
    assert [p["page"] for p in listing["pages"]] == ["/a"]
    assert (await service.stats())["pageviews"]["total"] == 6  # pruned views stay counted


# ---- polls ---------------------------------------------------------------------------------


async def test_a_poll_made_in_the_console_shows_in_the_widget_and_its_votes_live(
    console: Console, service: Service, browser: Browser
) -> None:
    page = await console.sign_in(service.url)
    await console.view("polls")
    await page.get_by_label("Câu hỏi").fill("Bạn thấy cổng thông tin thế nào?")
    await page.get_by_label("Phương án 1", exact=True).fill("Tốt")
    await page.get_by_label("Phương án 2", exact=True).fill("Chưa tốt")
    await page.get_by_role("button", name="Thêm phương án").click()
    await expect(page.get_by_label("Phương án 3", exact=True)).to_be_focused()
    await page.keyboard.type("Bình thường")
    await page.get_by_label("Hiển thị kết quả").select_option("always")
    await page.get_by_label("Câu hỏi").press("Enter")
    await expect(page.locator("#notice")).to_have_text("Đã tạo bình chọn.")
    card = page.locator("article.poll")
    await expect(card).to_have_count(1)
    await expect(card.locator("h2")).to_have_text("Bạn thấy cổng thông tin thế nào?")
    await expect(card.locator(".state")).to_have_text("đang mở")
    [poll] = (await service.admin_get("/v1/admin/polls?site=demo"))["polls"]
    assert [o["text"] for o in poll["options"]] == ["Tốt", "Chưa tốt", "Bình thường"]
    assert poll["results_visibility"] == "always"

    reader = await browser.new_context(locale="vi-VN")
    try:
        demo = await reader.new_page()
        await demo.goto(service.url + "/")
        box = demo.locator('[data-counter="poll"]')
        await expect(box.locator("fieldset legend")).to_have_text(
            "Bạn thấy cổng thông tin thế nào?"
        )
        await box.get_by_label("Chưa tốt", exact=True).check()
        await box.get_by_role("button", name="Bình chọn").click()
        await expect(box.get_by_role("status")).to_have_text("Cảm ơn bạn đã bình chọn.")
    finally:
        await reader.close()
    option = card.locator('[data-option="o2"] .count')
    await expect(option).to_have_text("1 (100%)", timeout=LIVE)  # live, no reload
    await expect(card.locator(".voters-count")).to_have_text("1")

    await card.get_by_role("button", name="Sửa: Bạn thấy cổng thông tin thế nào?").click()
    await expect(page.get_by_label("Câu hỏi")).to_be_focused()
    await page.get_by_label("Phương án 2", exact=True).fill("Chưa tốt lắm")  # keeps its votes
    await page.get_by_role("button", name="Lưu bình chọn").click()
    await expect(page.locator("#notice")).to_have_text("Đã lưu bình chọn.")
    await expect(card.locator('[data-option="o2"] .text')).to_have_text("Chưa tốt lắm")
    await expect(option).to_have_text("1 (100%)")

    await card.get_by_role("button", name="Kết thúc ngay: Bạn thấy cổng thông tin thế nào?").click()
    await expect(card.locator(".state")).to_have_text("đã kết thúc")
    assert (await service.admin_get(f"/v1/admin/polls/{poll['id']}"))["state"] == "closed"

    async with page.expect_download() as download_info:
        await card.get_by_role("button", name="Xuất CSV: Bạn thấy cổng thông tin thế nào?").click()
    download = await download_info.value
    assert download.suggested_filename == f"poll-{poll['id']}.csv"
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [(r["option"], r["votes"]) for r in exported] == [
        ("Tốt", "0"), ("Chưa tốt lắm", "1"), ("Bình thường", "0"),
    ]  # fmt: skip

    await card.get_by_role("button", name="Mở lại: Bạn thấy cổng thông tin thế nào?").click()
    await expect(card.locator(".state")).to_have_text("đang mở")
    await card.get_by_role("button", name="Xóa: Bạn thấy cổng thông tin thế nào?").click()
    await expect(page.locator("#poll-list")).to_have_text("Chưa có bình chọn nào.")
    assert (await service.admin_get("/v1/admin/polls?site=demo"))["polls"] == []


# ---- keyboard ------------------------------------------------------------------------------

FOCUSED = """() => {
  const element = document.activeElement;
  return element.id || element.dataset.view || element.getAttribute("href") || element.tagName;
}"""

UNNAMED = """() => [...document.querySelectorAll("input, select, textarea, button, a, summary")]
  .filter((element) => element.offsetParent !== null)
  .filter((element) => {
    if (element.getAttribute("aria-label") || element.getAttribute("aria-labelledby")) return false;
    if (element.labels && element.labels.length) return false;
    return !["BUTTON", "A", "SUMMARY"].includes(element.tagName) || !element.textContent.trim();
  })
  .map((element) => element.outerHTML.slice(0, 80))"""


async def test_the_console_works_from_the_keyboard_with_labelled_controls(
    console: Console, service: Service
) -> None:
    await hit(service, "/a", "reader-0001")
    page = await console.sign_in(service.url)
    assert await page.evaluate(UNNAMED) == []
    await page.locator(".skip").focus()  # the first stop of the page
    tabbed = [await page.evaluate(FOCUSED)]
    for _ in range(9):
        await page.keyboard.press("Tab")
        tabbed.append(await page.evaluate(FOCUSED))
    assert tabbed == [
        "#main", "site-select", "language", "sign-out", "overview", "settings", "counts",
        "pages", "polls", "daily-range",
    ]  # fmt: skip

    await page.locator('nav [data-view="polls"]').focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#polls-title")).to_be_focused()
    assert await page.evaluate(UNNAMED) == []
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Câu hỏi")).to_be_focused()
    await page.keyboard.type("Câu hỏi bằng bàn phím?")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Có")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Xóa phương án 1")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.type("Không")
    await page.keyboard.press("Enter")  # Enter in any field submits the form
    await expect(page.locator("article.poll h2")).to_have_text("Câu hỏi bằng bàn phím?")
    for view in ("settings", "counts", "pages"):
        await console.view(view)
        assert await page.evaluate(UNNAMED) == [], view


# ---- a month of real history (and the screenshot in docs/console.png) ------------------------

NEWS = [
    "/tin-tuc/chuyen-doi-so-cai-cach-hanh-chinh", "/tin-tuc/dich-vu-cong-truc-tuyen-cap-xa",
    "/thu-tuc/nop-ho-so-dat-dai-qua-mang", "/van-ban/ke-hoach-chuyen-doi-so-2026",
    "/tin-tuc/lich-tiep-cong-dan-thang-12", "/gioi-thieu/so-do-to-chuc", "/lien-he", "/",
]  # fmt: skip
SOURCES = [
    "https://www.google.com/search?q=cong+thong+tin", "https://www.facebook.com/",
    "https://coccoc.com/search?query=dich+vu+cong", "https://zalo.me/", None, None, None,
]  # fmt: skip


async def month_of_hits(url: str, clock: FakeClock, now: datetime) -> None:
    """About 3,000 real hits over 30 days, and every half hour over the last 26 hours (so the
    hour and online charts have a day's shape), from guests, members and a crawler; some
    readers read a second page."""
    chance = random.Random(7)
    limit = asyncio.Semaphore(16)

    async def one(http: aiohttp.ClientSession, visitor: str, n: int, agent: str) -> None:
        body: dict[str, Any] = {"site": "demo", "page": NEWS[min(n, 7)], "visitor": visitor}
        source = SOURCES[chance.randrange(len(SOURCES))]
        if source:
            body["referrer"] = source
        if n % 5 == 1:
            body["member"] = member_token(f"m{n}", now=clock())
        async with limit, http.post(url + "/v1/hit", json=body, headers={"User-Agent": agent}) as r:
            assert r.status == 200, await r.text()
        if n % 3 == 0 and agent != BOT:
            await one(http, visitor, n + 1, agent)

    async def wave(http: aiohttp.ClientSession, label: str, readers: int) -> None:
        jobs = [
            one(http, f"reader-{label}-{i:04d}", int(chance.expovariate(0.5)), "Mozilla/5.0")
            for i in range(readers)
        ]
        jobs.append(one(http, f"crawler-{label}", 0, BOT))
        await asyncio.gather(*jobs)

    async with aiohttp.ClientSession() as http:
        for days_ago in range(29, 1, -1):
            clock.set(now - timedelta(days=days_ago, hours=5))
            weekday = (now - timedelta(days=days_ago)).weekday()
            await wave(http, f"d{days_ago}", 60 + 25 * (weekday < 5) + chance.randrange(15))
        start = now - timedelta(hours=26)
        for step in range(26 * 2 + 1):
            moment = start + timedelta(minutes=30 * step)
            clock.set(moment)
            busy = 1 + math.sin(math.pi * (moment.hour + moment.minute / 60 - 6) / 12)
            await wave(http, f"s{step}", 1 + round(2 * busy) + chance.randrange(2))


async def test_a_month_of_history_draws_every_chart(
    console: Console, redis: RedisClient, redis_server: EmbeddedServer
) -> None:
    """The dashboard with a month of data; with COUNTER_SCREENSHOT=docs/console.png set, the
    picture the README shows is taken from it."""
    now = datetime(2026, 11, 26, 15, 40, tzinfo=VN)
    clock = FakeClock(now.timestamp())
    settings = Settings(redis_url=redis_server.url, admin_token=ADMIN_TOKEN, demo=True, hit_rate=0)
    runner, url = await serve(create_app(settings, clock=clock))
    try:
        service = Service(runner, url)
        await service.admin("PUT", "/v1/admin/sites/demo", {"member_secret": SECRET})
        await month_of_hits(url, clock, now)
        await service.admin("POST", "/v1/admin/sites/demo/base", {"visits": 77445445})
        clock.advance(2)  # past the stats cache's second
        await console.page.set_viewport_size({"width": 1280, "height": 1500})
        page = await console.sign_in(url)
        await expect(page.locator('[data-table="daily"] tbody tr')).to_have_count(30, timeout=LIVE)
        await expect(page.locator('[data-table="top-all"] tbody tr')).to_have_count(8)
        daily = await rows(page, "daily")
        assert all(row[1] != "0" for row in daily[:28])  # a visit or more every day
        hours = await rows(page, "hours")
        assert sum(row[1] != "0" for row in hours) == 16  # today's hours up to 15:40
        assert sum(row[2] != "0" for row in hours) == 11  # yesterday's from 13:40
        assert len(await rows(page, "online")) >= 48  # one sample every half hour
        await expect(page.locator('.tiles [data-figure="online.bots"]')).to_have_text("1")
        for chart in ("daily", "hours", "online"):
            await expect(page.locator(f"#chart-{chart} .u-series")).not_to_have_count(0)
        target = os.environ.get("COUNTER_SCREENSHOT")
        if target:
            await page.locator("#overview-title").evaluate("(heading) => heading.blur()")
            await page.screenshot(path=target, full_page=True)
    finally:
        await console.page.close()  # before its service stops
        await runner.cleanup()
