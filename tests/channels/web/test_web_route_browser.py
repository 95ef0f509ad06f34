"""The route finder in a real browser on a phone-sized page: start, steps as buttons, Back, result card,
its full answers and original text, and the offer under a typed question that names a situation."""

from __future__ import annotations

import json
import sqlite3

import pytest
from browser_harness import ARTIFACTS, PHONE, require_chromium

from bot.config import Settings
from bot.core.engine import Engine

pytestmark = pytest.mark.browser

require_chromium()

from playwright.async_api import Page, expect  # noqa: E402 - only once Chromium is known


async def test_route_finder_clicked_to_a_result_with_back(server: str, page: Page, settings: Settings,
                                                          engine: Engine) -> None:
    assert page.viewport_size == PHONE
    await page.goto(server)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    opener = page.locator("#route-start")
    await expect(opener).to_have_text(engine.content.message("route_button", "zh"))
    await opener.click()

    flows = page.locator("#log article.route-flows").last
    await flows.locator('button[data-flow="student"]').click()
    step = page.locator("#log article.route-step").last
    await expect(step).to_have_attribute("data-step", "who")
    await expect(step.locator(".route-question")).to_have_text("谁在问？")
    await step.locator('button[data-option="adult"]').click()

    step = page.locator('#log article.route-step[data-step="want"]').last
    await expect(step.locator(".route-progress")).to_have_text("第2步，共2步")
    await step.locator('button[data-route="back"]').click()          # Back: the first question again
    await expect(page.locator('#log article.route-step[data-step="who"]')).to_have_count(2)
    again = page.locator('#log article.route-step[data-step="who"]').last
    await again.locator('button[data-option="veteran"]').click()
    await page.locator('#log article.route-step[data-step="want"]').last.locator('button[data-option="study"]').click()

    card = page.locator("#log article.route-result").last
    await expect(card.locator(".route-title")).to_have_text("退役军人·继续升学：方案里适用于你的路线和支持")
    expected = engine.routes.step("student", {"who": "veteran", "want": "study"}, "zh")
    intents = [i.intent for i in expected.items]
    await expect(card.locator(".route-item")).to_have_count(len(intents))
    assert [await li.get_attribute("data-intent") for li in await card.locator(".route-item").all()] == intents
    await expect(card.locator(".route-why").first).to_have_text(expected.items[0].why)
    await expect(card.locator(".route-ask li").first).to_have_text(expected.ask[0])
    await expect(card.locator(".route-gaps li")).to_have_count(len(expected.not_in_plan))

    # The original text of the first item's clause, fetched when opened.
    original = card.locator(".route-item").first.locator("details.original")
    await original.locator("summary").click()
    await expect(original.locator(".clause-text")).to_contain_text("退役军人")

    # Each item leads to its full answer.
    replies = await page.locator("#log article.reply").count()
    await card.locator(".route-item").first.locator("button.route-answer").click()
    await expect(page.locator("#log article.reply")).to_have_count(replies + 1)
    answer = page.locator("#log article.reply").last
    await expect(answer).to_have_attribute("data-decision", "answer")

    # The result card as a phone shows it (original text folded again), for the closing note.
    await original.locator("summary").click()
    box = await card.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]   # no sideways scrolling
    await card.evaluate("node => node.scrollIntoView({block: 'start'})")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # What the phone shows: the card's top above the question box.
    await page.screenshot(path=str(ARTIFACTS / "route-result.png"))
    # The whole card in one picture (the sticky question box would otherwise sit across it).
    await page.locator("#ask").evaluate("form => { form.style.position = 'static'; }")
    await card.screenshot(path=str(ARTIFACTS / "route-result-card.png"))

    # Start over returns to the choice of flow.
    await card.locator('button[data-route="restart"]').click()
    await expect(page.locator("#log article.route-flows")).to_have_count(2)

    conn = sqlite3.connect(settings.db_path)
    try:
        logged = conn.execute("SELECT text FROM enquiries WHERE decision = 'route'").fetchall()
    finally:
        conn.close()
    assert [json.loads(t)["answers"] for (t,) in logged] == [{"who": "veteran", "want": "study"}]


async def test_a_typed_situation_offers_the_route_finder_prefilled(server: str, page: Page) -> None:
    await page.goto(server)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await page.locator("#question").fill("我们厂想招学徒")
    await page.locator("#question").press("Enter")
    reply = page.locator("#log article.reply").last
    await expect(reply.locator(".route-offer")).to_be_visible()
    await reply.locator("button.route-continue").click()
    step = page.locator("#log article.route-step").last
    await expect(step).to_have_attribute("data-step", "size")        # the firm's goal is already known
    await step.locator('button[data-option="small"]').click()
    card = page.locator("#log article.route-result").last
    await expect(card.locator(".route-title")).to_have_text("中小微企业·招学徒/订单培养：方案里适用于贵企业的支持")
    await expect(card.locator('.route-item[data-intent="apprenticeship.enterprise"]')).to_have_count(1)
