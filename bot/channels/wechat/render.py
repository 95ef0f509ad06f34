"""Replies as WeChat shows them: plain text, options numbered for a reply of 1–9, parts under 2,048 bytes."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.engine import Engine
from bot.core.menu import Topic
from bot.core.render_text import general_block, split_text
from bot.core.reply import Reply

MAX_BYTES = 2048        # WeChat's limit for a text message's Content, in UTF-8 bytes
MAX_OPTIONS = 9         # a reply of one digit picks an option


@dataclass(frozen=True)
class Option:
    """A numbered option: an intent to answer or a topic to open."""

    kind: str           # "intent" | "topic" | "route" (an option of a route-finder step; `title` = step id)
    id: str
    title: str


@dataclass(frozen=True)
class Rendered:
    """The text of a reply and the options it numbers."""

    text: str
    options: tuple[Option, ...] = ()


def numbered(options: list[Option] | tuple[Option, ...]) -> str:
    """The options as lines "1. title"."""
    return "\n".join(f"{n}. {option.title}" for n, option in enumerate(options, 1))


def with_options(engine: Engine, lang: str, text: str, header: str, options: list[Option]) -> Rendered:
    """Text followed by a header, up to nine numbered options and the hint on how to pick."""
    options = options[:MAX_OPTIONS]
    if not options:
        return Rendered(text)
    lines = [text] if text else []
    lines.append((header + "\n" if header else "") + numbered(options))
    lines.append(engine.content.message("wx_pick_hint", lang, n=len(options)))
    return Rendered("\n\n".join(lines), tuple(options))


def reply_text(engine: Engine, reply: Reply, audience: str | None = None) -> Rendered:
    """An engine reply: the answer, then "did you mean", related questions or the topic menu, numbered."""
    message = engine.content.message
    lang = reply.lang
    text = general_block(engine, reply) + reply.answer
    if reply.source:
        text += "\n" + message("wx_original_hint", lang)
    if reply.choices:
        return with_options(engine, lang, text, "", [Option("intent", c.intent, c.title) for c in reply.choices])
    if reply.related:
        return with_options(engine, lang, text, message("related_header", lang),
                            [Option("intent", c.intent, c.title) for c in reply.related])
    if reply.decision == "fallback":
        return with_options(engine, lang, text, message("menu_header", lang),
                            topic_options(engine.menu.topics_for(audience), lang))
    return Rendered(text)


def topic_options(topics: list[Topic], lang: str) -> list[Option]:
    """Topics as options."""
    return [Option("topic", t.id, t.title[lang]) for t in topics]


def topic_menu(engine: Engine, lang: str, audience: str | None = None, intro: str = "") -> Rendered:
    """The topics (of an audience), numbered."""
    return with_options(engine, lang, intro, engine.content.message("menu_header", lang),
                        topic_options(engine.menu.topics_for(audience), lang))


def topic_questions(engine: Engine, lang: str, topic: Topic) -> Rendered:
    """The questions of one topic, numbered."""
    header = engine.content.message("topic_header", lang, topic=topic.title[lang])
    return with_options(engine, lang, "", header,
                        [Option("intent", i, engine.title(i, lang)) for i in topic.intents])


def original_text(engine: Engine, source: tuple[str, ...], lang: str) -> str:
    """The original wording of the clauses an answer rests on, with their headings."""
    blocks = [engine.content.message("wx_original_header", lang, number=engine.content.number)]
    for cid in source:
        clause = engine.clause(cid)
        if clause is not None:
            blocks.append(f"【{clause.id} {clause.heading}】\n{clause.text}")
    return "\n\n".join(blocks)


def parts(text: str) -> list[str]:
    """The text cut into messages WeChat accepts."""
    return split_text(text, MAX_BYTES)
