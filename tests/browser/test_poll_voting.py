"""Voting in the poll box by mouse and keyboard, results shown as text, live updates over SSE."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.harness import Portal, Service

QUESTION = "Bạn đánh giá thế nào về dịch vụ công trực tuyến?"
OPTIONS = ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"]


async def make_poll(service: Service, **extra: Any) -> dict[str, Any]:
    body = {"site": "demo", "question": QUESTION, "options": OPTIONS, **extra}
    poll: dict[str, Any] = await service.admin("POST", "/v1/admin/polls", body)
    return poll


def result(page: Page, option: str, nth: int = 0) -> Any:
    box = page.locator('[data-counter="poll"]').nth(nth)
    return box.locator("li").filter(has=page.get_by_text(option, exact=True))


async def test_voting_by_clicking_shows_the_results_as_text(
    page: Page, portal: Portal, service: Service
) -> None:
    poll = await make_poll(service, results_visibility="after_vote")
    await page.goto(portal.page('<div data-counter="poll"></div>'))
    box = page.locator('[data-counter="poll"]')
    await expect(box.locator("fieldset legend")).to_have_text(QUESTION)
    await expect(box.get_by_role("radio")).to_have_count(3)
    await expect(box.locator("li")).to_have_count(0)  # hidden until the reader votes

    await box.get_by_label("Hài lòng", exact=True).check()
    await box.get_by_role("button", name="Bình chọn").click()

    await expect(result(page, "Hài lòng")).to_contain_text("1 (100%)")
    await expect(result(page, "Rất hài lòng")).to_contain_text("0 (0%)")
    await expect(box.get_by_text("Số người bình chọn: 1")).to_be_visible()
    await expect(box.get_by_role("status")).to_have_text("Cảm ơn bạn đã bình chọn.")
    await expect(box.locator("form")).to_have_count(0)
    stored = await service.admin_get(f"/v1/admin/polls/{poll['id']}")
    assert stored["results"]["votes"] == {"o1": 0, "o2": 1, "o3": 0}

    await page.reload()  # the service remembers the vote for this visitor
    await expect(result(page, "Hài lòng")).to_contain_text("1 (100%)")
    await expect(box.locator("form")).to_have_count(0)


async def test_voting_with_the_keyboard_only(page: Page, portal: Portal, service: Service) -> None:
    await make_poll(service, results_visibility="always")
    await page.goto(portal.page('<div data-counter="poll"></div>', lang="en"))
    box = page.locator('[data-counter="poll"]')
    await expect(result(page, "Chưa hài lòng")).to_contain_text("0 (0%)")  # "always": shown

    await box.get_by_role("button", name="Vote").press("Enter")  # nothing chosen yet
    await expect(box.get_by_role("status")).to_have_text("Please choose an option.")
    await box.get_by_role("radio").first.focus()
    await page.keyboard.press("Space")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    await expect(box.get_by_label("Chưa hài lòng")).to_be_checked()
    await page.keyboard.press("Tab")
    await expect(box.get_by_role("button", name="Vote")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(result(page, "Chưa hài lòng")).to_contain_text("1 (100%)")
    await expect(box.get_by_role("status")).to_have_text("Thank you for voting.")


async def test_results_update_live_when_another_reader_votes(
    page: Page, browser: Browser, portal: Portal, service: Service
) -> None:
    await make_poll(service, results_visibility="after_vote")
    url = portal.page('<div data-counter="poll"></div>')
    await page.goto(url)
    box = page.locator('[data-counter="poll"]')
    await box.get_by_label("Rất hài lòng").check()
    await box.get_by_role("button", name="Bình chọn").click()
    await expect(box.get_by_text("Số người bình chọn: 1")).to_be_visible()

    other_reader = await browser.new_context()
    other = await other_reader.new_page()
    await other.goto(url)
    other_box = other.locator('[data-counter="poll"]')
    await other_box.get_by_label("Chưa hài lòng").check()
    await other_box.get_by_role("button", name="Bình chọn").click()
    await expect(other_box.get_by_text("Số người bình chọn: 2")).to_be_visible()

    # The first reader's page was not reloaded: the update arrived over Server-Sent Events.
    await expect(box.get_by_text("Số người bình chọn: 2")).to_be_visible()
    await expect(result(page, "Chưa hài lòng")).to_contain_text("1 (50%)")
    await other_reader.close()


async def test_several_polls_on_one_page_vote_independently(
    page: Page, portal: Portal, service: Service
) -> None:
    first = await make_poll(service, results_visibility="after_vote")
    second = await make_poll(
        service, question="Chọn các dịch vụ bạn đã dùng", max_choices=2,
        results_visibility="after_vote",
    )  # fmt: skip
    body = (
        f'<div data-counter="poll" data-poll="{first["id"]}"></div>'
        f'<div data-counter="poll" data-poll="{second["id"]}"></div>'
    )
    await page.goto(portal.page(body))
    boxes = page.locator('[data-counter="poll"]')
    one, two = boxes.nth(0), boxes.nth(1)
    await expect(two.get_by_role("checkbox")).to_have_count(3)
    await two.get_by_label("Rất hài lòng").check()
    await two.get_by_label("Hài lòng", exact=True).check()
    await expect(two.get_by_label("Chưa hài lòng")).to_be_disabled()  # at most max_choices
    await two.get_by_role("button", name="Bình chọn").click()
    await expect(result(page, "Hài lòng", nth=1)).to_contain_text("1 (100%)")

    await expect(one.locator("fieldset legend")).to_have_text(QUESTION)  # still open to vote
    await expect(one.get_by_role("radio")).to_have_count(3)
    await expect(one.locator("li")).to_have_count(0)


async def test_result_bars_do_not_animate_with_reduced_motion(
    page: Page, portal: Portal, service: Service
) -> None:
    await make_poll(service, results_visibility="always")
    await page.emulate_media(reduced_motion="reduce")
    await page.goto(portal.page('<div data-counter="poll"></div>'))
    bar = page.locator('[data-counter="poll"] .bar i').first
    # Retried: the live results may replace the bar between finding it and reading its style.
    await expect(bar).to_have_css("transition-duration", "0s")
