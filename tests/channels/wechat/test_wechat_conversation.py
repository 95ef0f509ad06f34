"""The conversation without HTTP: state kept 10 minutes, command words, picks, language, rate limits."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from bot.channels.wechat.conversation import Conversation, States, enquiry_id, keyword
from bot.channels.wechat.protocol import Incoming
from bot.core.engine import Engine
from bot.service import RateLimiter, Service

_ids = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def text(content: str, openid: str = "oA") -> Incoming:
    return Incoming("text", openid, "gh", 1_760_000_000, str(next(_ids)), text=content)


@pytest.mark.parametrize(("typed", "folded"), [
    ("原文", "原文"), (" 原文。", "原文"), ("ＭＥＮＵ", "menu"), ("Contact Staff", "contactstaff"), ("１", "1"),
    ("继续!", "继续"),
])
def test_keywords_are_folded(typed: str, folded: str) -> None:
    assert keyword(typed) == folded


def test_options_are_forgotten_after_ten_minutes_and_lang_is_kept() -> None:
    clock = Clock()
    states = States(clock)
    state = states.get("oA")
    state.options, state.lang = ("x",), "en"        # type: ignore[assignment]
    clock.now += 599
    assert states.get("oA").options == ("x",)
    clock.now += 601
    again = states.get("oA")
    assert (again.options, again.lang) == ((), "en")


def test_states_are_bounded() -> None:
    states = States(max_users=3)
    for n in range(5):
        states.get(f"o{n}")
    assert len(states._states) == 3 and "o0" not in states._states


def test_enquiry_ids_are_stable_per_message() -> None:
    message = text("三加二")
    assert enquiry_id(message) == enquiry_id(dataclasses.replace(message, text="other"))
    assert len(enquiry_id(message) or "") == 16
    assert enquiry_id(message) != enquiry_id(dataclasses.replace(message, msg_id="999"))
    assert enquiry_id(Incoming("event", "o", "gh", 1, None)) is None


async def test_a_pick_after_ten_minutes_is_not_an_option(service: Service, engine: Engine) -> None:
    clock = Clock()
    chat = Conversation(service, States(clock))
    [first] = await chat.handle(text("三加二是啥子"))
    assert "1. " in first
    clock.now += 601
    [late] = await chat.handle(text("1"))
    assert late == engine.content.message("wx_no_option", "zh", number=1)


async def test_original_help_menu_and_language(service: Service, engine: Engine) -> None:
    chat = Conversation(service)
    message = engine.content.message
    assert await chat.handle(text("原文")) == [message("wx_no_original", "zh")]
    assert await chat.handle(text("帮助")) == [message("wx_help", "zh")]
    [menu] = await chat.handle(text("菜单"))
    assert menu.startswith(message("menu_header", "zh"))
    assert await chat.handle(text("English")) == [message("lang_set", "en")]
    [menu_en] = await chat.handle(text("menu"))
    assert menu_en.startswith(message("menu_header", "en"))
    [topic] = await chat.handle(text("1"))
    first_topic = engine.menu.topics_for(None)[0]
    assert topic.startswith(message("topic_header", "en", topic=first_topic.title["en"]))


async def test_other_users_do_not_share_options(service: Service) -> None:
    chat = Conversation(service)
    await chat.handle(text("三加二是啥子", openid="oA"))
    [other] = await chat.handle(text("1", openid="oB"))
    assert other == service.engine.content.message("wx_no_option", "zh", number=1)


async def test_the_rate_limit_answers_without_logging(service: Service) -> None:
    service.limiter = RateLimiter(2)
    chat = Conversation(service)
    replies = [await chat.handle(text("三加二是啥子")) for _ in range(3)]
    assert replies[2] == [service.engine.content.message("rate_limited", "zh")]
    rows = service.store.read(lambda db: list(db.query("SELECT id FROM enquiries")))
    assert len(rows) == 2
