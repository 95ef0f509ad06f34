"""The web chat in a real browser: Playwright driving Debian's Chromium against the in-process server."""

from __future__ import annotations

import sqlite3

import pytest
from browser_harness import ARTIFACTS, require_chromium

from bot.config import Settings
from bot.core.engine import Engine

COLLOQUIAL_3PLUS2 = "3加2是啥子意思"
VAGUE = ["补贴", "证书", "学徒", "企业", "技能", "升学", "subsidy", "读书", "学分", "老师"]
HOSTILE = '<img src=x onerror="window.__pwned=1">'

pytestmark = pytest.mark.browser

require_chromium()

from playwright.async_api import Page, expect  # noqa: E402 - only once Chromium is known


def rows(settings: Settings, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(settings.db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def first_line(text: str) -> str:
    return text.splitlines()[0]


async def ask(page: Page, text: str) -> None:
    """Type a question and send it with Enter, as a keyboard user would."""
    before = await page.locator("#log article.reply").count()
    await page.locator("#question").fill(text)
    await page.locator("#question").press("Enter")
    await expect(page.locator("#log article.reply")).to_have_count(before + 1)


async def test_the_web_chat_in_a_real_browser(server: str, page: Page, settings: Settings,
                                              engine: Engine) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.goto(server)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await expect(page.locator("html")).to_have_attribute("lang", "zh")
    await expect(page.locator("#send")).to_have_text(engine.content.message("web_send", "zh"))
    await expect(page.locator("#log .welcome")).to_contain_text(first_line(engine.content.message("welcome", "zh")))

    # A colloquial question: the 3+2 answer, its citation and the clause's original text.
    reply = engine.ask(COLLOQUIAL_3PLUS2)
    await ask(page, COLLOQUIAL_3PLUS2)
    answer = page.locator("#log article.reply").last
    await expect(answer).to_have_attribute("data-decision", "answer")
    await expect(answer.locator(".answer")).to_contain_text(first_line(reply.answer))
    citation = engine.citation(reply.source, "zh")
    await expect(answer.locator(".citation")).to_have_text(citation)
    await expect(page.locator("#question")).to_be_focused()     # ready for the next question
    await expect(answer.locator(".original .clause-text").first).to_be_hidden()
    await answer.locator(".original summary").click()
    await expect(answer.locator(".original .clause-text").first).to_have_text(engine.clause(reply.source[0]).text)
    await page.screenshot(path=str(ARTIFACTS / "web-phone-answer.png"))

    # 👍 on it: the thanks, and the row in the log.
    await answer.locator(".feedback button[data-value='1']").click()
    await expect(answer.locator(".feedback-note")).to_have_text(engine.content.message("feedback_thanks", "zh"))
    enquiry = rows(settings, "SELECT id FROM enquiries WHERE text = ?", COLLOQUIAL_3PLUS2)[0][0]
    assert rows(settings, "SELECT enquiry_id, value FROM feedback") == [(enquiry, 1)]

    # A follow-up button, pressed from the keyboard: its answer arrives and takes the focus.
    follow = reply.related[0]
    button = answer.locator(".options button", has_text=follow.title)
    await button.focus()
    await page.keyboard.press("Enter")
    followed = page.locator("#log article.reply").last
    await expect(followed.locator(".answer")).to_contain_text(
        first_line(engine.answer_intent(follow.intent, "zh").answer))
    await expect(followed).to_be_focused()

    # A vague question: "did you mean" buttons; pressing one answers it.
    question = next(q for q in VAGUE if engine.ask(q).decision == "clarify")
    choices = engine.ask(question).choices
    await ask(page, question)
    clarify = page.locator("#log article.reply").last
    await expect(clarify).to_have_attribute("data-decision", "clarify")
    await expect(clarify.locator(".options button")).to_have_text([c.title for c in choices])
    await clarify.locator(".options button").nth(1).click()
    chosen = page.locator("#log article.reply").last
    await expect(chosen.locator(".answer")).to_contain_text(
        first_line(engine.answer_intent(choices[1].intent, "zh").answer))
    assert rows(settings, "SELECT via, intent FROM enquiries ORDER BY ts") == [
        ("text", "pathway.3plus2"), ("button", follow.intent), ("text", choices[0].intent),
        ("button", choices[1].intent)]

    # What a user types is shown as text, never run as markup.
    await ask(page, HOSTILE)
    await expect(page.locator("#log article.user .text").last).to_have_text(HOSTILE)
    assert await page.locator("#log img").count() == 0
    assert await page.evaluate("window.__pwned") is None

    # The contact-staff path.
    await page.locator("#staff").click()
    await expect(page.locator("#log article.handoff")).to_contain_text(
        engine.content.message("staff_unavailable", "zh"))
    assert rows(settings, "SELECT channel, status FROM handoffs") == [("web", "open")]

    # The topic menu (unfolded again on the phone) leads to an answer without typing.
    await page.locator("#menu-title").click()
    topic = engine.menu.topics_for(None)[0]
    await page.locator("#topics button", has_text=topic.title["zh"]).click()
    await page.locator("#log article.topic-list button", has_text=engine.title(topic.intents[0], "zh")).click()
    await expect(page.locator("#log article.reply").last.locator(".answer")).to_contain_text(
        first_line(engine.answer_intent(topic.intents[0], "zh").answer))

    # Switch to English: the interface and menu change, and English questions get English answers.
    await page.locator("button.lang[data-lang='en']").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#send")).to_have_text(engine.content.message("web_send", "en"))
    await expect(page.locator("#topics button").first).to_have_text(topic.title["en"])
    await ask(page, "what is 3+2")
    english = page.locator("#log article.reply").last
    await expect(english.locator(".citation")).to_have_text(engine.citation(reply.source, "en"))
    await expect(english.locator(".original summary")).to_have_text(engine.content.message("original_text", "en"))
    assert await page.evaluate("localStorage.getItem('vocbot.lang')") == "en"

    await page.screenshot(path=str(ARTIFACTS / "web-phone.png"))

    # A new visit on a desktop-sized window remembers English; switch back to Chinese there.
    desktop = await page.context.new_page()
    await desktop.set_viewport_size({"width": 1280, "height": 800})
    await desktop.goto(server)
    await expect(desktop.locator("html")).to_have_attribute("lang", "en")
    await desktop.locator("button.lang[data-lang='zh']").click()
    await expect(desktop.locator("html")).to_have_attribute("lang", "zh")
    await expect(desktop.locator("button.lang[data-lang='zh']")).to_have_attribute("aria-pressed", "true")
    await ask(desktop, COLLOQUIAL_3PLUS2)
    await expect(desktop.locator("#log article.reply").last.locator(".citation")).to_have_text(citation)
    await desktop.screenshot(path=str(ARTIFACTS / "web-desktop.png"))
    for name in ("web-phone-answer.png", "web-phone.png", "web-desktop.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


async def test_general_block_glossary_view_and_icons_without_emoji(server: str, page: Page,
                                                                    engine: Engine) -> None:
    """The general explanation sits in its own labelled box; the glossary opens in the chat; the feedback
    buttons are inline SVG with their accessible names, so nothing depends on an emoji font."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.goto(server)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    reply = engine.ask(COLLOQUIAL_3PLUS2)
    await ask(page, COLLOQUIAL_3PLUS2)
    answer = page.locator("#log article.reply").last
    label = engine.content.message("general_label", "zh")
    general = answer.locator("section.general")
    await expect(general).to_have_attribute("aria-label", label)
    await expect(general.locator(".general-label")).to_have_text(label)
    await expect(general.locator(".general-text")).to_have_text(reply.general)
    await expect(answer.locator(".answer")).not_to_contain_text(reply.general)
    await expect(page.get_by_role("button", name=engine.content.message("web_helpful", "zh"))).to_have_count(1)
    await expect(page.get_by_role("button", name=engine.content.message("web_not_helpful", "zh"))).to_have_count(1)
    assert await answer.locator(".feedback button svg[aria-hidden='true']").count() == 2
    assert await answer.locator(".citation svg").count() == 1

    await page.locator("#glossary").click()
    view = page.locator("#log article.glossary")
    await expect(view.locator(".glossary-title")).to_have_text(engine.content.message("glossary_title", "zh"))
    await expect(view.locator("details.term")).to_have_count(len(engine.content.glossary))
    first = engine.content.glossary[0]
    await view.locator("details.term summary").first.click()
    await expect(view.locator("details.term").first.locator(".general-text")).to_have_text(first.general["zh"])
    await expect(view.locator("details.term").first.locator(".plan-text")).to_have_text(first.plan["zh"])
    text = await page.evaluate("document.documentElement.outerHTML")
    assert not any(0x1F000 <= ord(c) <= 0x1FAFF or 0x2600 <= ord(c) <= 0x27BF for c in text)
