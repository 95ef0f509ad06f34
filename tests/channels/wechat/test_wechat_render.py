"""Plain-text replies for WeChat: numbered options, the pick hint, parts under 2,048 bytes."""

from __future__ import annotations

from bot.channels.wechat import render
from bot.core.engine import Engine
from bot.core.reply import Choice, Reply


def clarify(engine: Engine, intents: list[str]) -> Reply:
    return Reply("q", "q", "zh", "clarify", intents[0], 40.0, (), engine.content.message("clarify", "zh"),
                 choices=tuple(Choice(i, engine.title(i, "zh")) for i in intents))


def test_did_you_mean_becomes_a_numbered_list(engine: Engine) -> None:
    intents = ["pathway.bachelor", "pathway.3plus4"]
    rendered = render.reply_text(engine, clarify(engine, intents))
    assert [o.id for o in rendered.options] == intents
    assert f"1. {engine.title(intents[0], 'zh')}\n2. {engine.title(intents[1], 'zh')}" in rendered.text
    assert rendered.text.endswith(engine.content.message("wx_pick_hint", "zh", n=2))


def test_a_fallback_lists_the_topics(engine: Engine) -> None:
    rendered = render.reply_text(engine, engine.ask("今天天气怎么样"))
    assert [o.kind for o in rendered.options] == ["topic"] * min(9, len(engine.menu.topics))


def test_at_most_nine_options(engine: Engine) -> None:
    intents = list(engine.intents)[:12]
    assert len(render.reply_text(engine, clarify(engine, intents)).options) == 9


def test_an_answer_with_clauses_says_how_to_see_them(engine: Engine) -> None:
    rendered = render.reply_text(engine, engine.answer_intent("pathway.3plus2", "en"))
    assert engine.content.message("wx_original_hint", "en") in rendered.text


def test_original_text_quotes_every_clause(engine: Engine) -> None:
    source = engine.answer_intent("pathway.3plus2", "zh").source
    text = render.original_text(engine, source, "zh")
    assert all(engine.clause(c).text in text for c in source)
    assert len(render.parts(text)) >= 2
