"""Engine replies as Telegram messages: escaped HTML split under 4,096 characters, and inline keyboards.

Callback data (always under 64 bytes; intent ids are at most 30 characters, enquiry ids 16):

| data | button |
|---|---|
| `a:<audience>` (`a:` shows the choice again) | who the user is |
| `t:<topic>` | a topic of the menu |
| `m` | back to the topic menu |
| `l:<zh or en>` | interface language |
| `i:<intent>:<parent enquiry id or empty>` | a clarify choice, follow-up or menu question |
| `o:<intent>` | the original text of the clauses an answer cites |
| `f:+:<enquiry id>` / `f:-:<enquiry id>` | 👍 / 👎 |
| `h:<enquiry id>` | contact staff about a question |
| `r:` / `r:<flow>:<option>,<option>` | route finder: choice of flow, or the answers so far (telegram/routes.py) |
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.engine import Engine
from bot.core.reply import Reply

MAX_TEXT = 4096              # Telegram's limit, in UTF-16 code units after entity parsing
MAX_CALLBACK_BYTES = 64
TOPICS_PER_ROW = 2
_SPLITS = (("\n\n", False), ("\n", False), ("。", True), ("！", True), ("？", True), ("；", True),
           (". ", True), ("; ", True), (" ", False))


@dataclass(frozen=True)
class Out:
    """One message to send: HTML text, optional keyboard, and whether it quotes the user's message."""

    html: str
    markup: InlineKeyboardMarkup | None = None
    quote: bool = False


def esc(text: object) -> str:
    """Escape user- or data-supplied text for parse_mode=HTML."""
    return html.escape(str(text), quote=False)


def _cost(char: str) -> int:
    """UTF-16 length of a character once escaped (&lt; is 4, an emoji 2)."""
    if char in "<>":
        return 4
    if char == "&":
        return 5
    return 2 if ord(char) > 0xFFFF else 1


def html_len(text: str) -> int:
    """UTF-16 length of text after escaping: an upper bound of what Telegram counts."""
    return sum(_cost(c) for c in text)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split plain text into pieces whose escaped length is at most limit: paragraphs first, then lines,
    sentences, words, and characters only when nothing else fits."""
    return [c.strip("\n") for c in _split(text.strip("\n"), limit, 0) if c.strip()]


def _split(text: str, limit: int, level: int) -> list[str]:
    if html_len(text) <= limit:
        return [text]
    for index in range(level, len(_SPLITS)):
        sep, keep = _SPLITS[index]
        if sep not in text:
            continue
        parts = text.split(sep)
        if keep:
            parts = [p + sep for p in parts[:-1]] + [parts[-1]]
        joiner = "" if keep else sep
        chunks: list[str] = []
        current, size = "", 0
        for part in parts:
            part_size = html_len(part)
            extra = part_size + (html_len(joiner) if current else 0)
            if current and size + extra <= limit:
                current, size = current + joiner + part, size + extra
                continue
            if current:
                chunks.append(current)
            if part_size > limit:
                chunks.extend(_split(part, limit, index + 1))
                current, size = "", 0
            else:
                current, size = part, part_size
        if current:
            chunks.append(current)
        return chunks
    chunks, current, size = [], "", 0
    for char in text:
        if size + _cost(char) > limit and current:
            chunks.append(current)
            current, size = "", 0
        current, size = current + char, size + _cost(char)
    return [*chunks, current] if current else chunks


def messages(text: str, markup: InlineKeyboardMarkup | None = None, quote: bool = False,
             header: str = "") -> list[Out]:
    """Plain text as escaped HTML messages; `header` (already HTML) opens the first, the keyboard goes on
    the last."""
    room = MAX_TEXT - len(header.encode("utf-16-le")) // 2 - 2 if header else MAX_TEXT
    pieces = split_text(text, room) or [""]
    outs = [esc(p) for p in pieces]
    if header:
        outs[0] = header + ("\n\n" + outs[0] if outs[0] else "")
    return [Out(body, markup if i == len(outs) - 1 else None, quote and i == 0) for i, body in enumerate(outs)]


def callback(*parts: str) -> str:
    """Callback data from parts joined by ':'; raises ValueError if Telegram would refuse it."""
    data = ":".join(parts)
    if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data {data!r} is not 1-{MAX_CALLBACK_BYTES} bytes")
    return data


def parse_callback(data: str | None) -> tuple[str, list[str]]:
    """('i', [intent, parent]) and so on; ('', []) for data this bot never sends."""
    if not data:
        return "", []
    kind, _, rest = data.partition(":")
    arity = {"a": 1, "t": 1, "m": 0, "l": 1, "i": 2, "o": 1, "f": 2, "h": 1, "r": 1, "n": 1}
    if kind not in arity:
        return "", []
    args = rest.split(":", arity[kind] - 1) if arity[kind] else []
    if len(args) != arity[kind]:
        return "", []
    return kind, args


def _button(text: str, *parts: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=callback(*parts))


def _rows(buttons: list[InlineKeyboardButton], per_row: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]


def audience_keyboard(engine: Engine, lang: str, current: str | None) -> InlineKeyboardMarkup:
    """Who are you: one button per audience, the remembered one ticked."""
    return InlineKeyboardMarkup([[_button(("✓ " if a.id == current else "") + a.title[lang], "a", a.id)]
                                 for a in engine.menu.audiences.values()])


def topic_keyboard(engine: Engine, lang: str, audience: str | None) -> InlineKeyboardMarkup:
    """The topics of an audience, two a row, and a row to change the audience."""
    buttons = [_button(t.title[lang], "t", t.id) for t in engine.menu.topics_for(audience)]
    rows = _rows(buttons, TOPICS_PER_ROW)
    rows.append([_button(engine.content.message("tg_change_audience", lang), "a", "")])
    return InlineKeyboardMarkup(rows)


def topic_questions(engine: Engine, lang: str, topic_id: str) -> Out | None:
    """The questions of a topic as buttons, with a way back; None for an unknown topic."""
    topic = engine.menu.topics.get(topic_id)
    if topic is None:
        return None
    rows = [[_button(engine.title(i, lang), "i", i, "")] for i in topic.intents if i in engine.intents]
    rows.append([_button(engine.content.message("tg_back", lang), "m")])
    text = engine.content.message("topic_header", lang, topic=topic.title[lang])
    return Out(esc(text), InlineKeyboardMarkup(rows))


def menu(engine: Engine, lang: str, audience: str | None) -> Out:
    """The topic menu message."""
    return Out(esc(engine.content.message("menu_header", lang)), topic_keyboard(engine, lang, audience))


def language_keyboard() -> InlineKeyboardMarkup:
    """中文 / English."""
    return InlineKeyboardMarkup([[_button("中文", "l", "zh"), _button("English", "l", "en")]])


def feedback_row(lang: str, engine: Engine, enquiry_id: str) -> list[InlineKeyboardButton]:
    """👍 / 👎 for an answer."""
    return [_button(engine.content.message("tg_helpful", lang), "f", "+", enquiry_id),
            _button(engine.content.message("tg_not_helpful", lang), "f", "-", enquiry_id)]


def render_reply(engine: Engine, reply: Reply, enquiry_id: str, audience: str | None,
                 quote: bool = False) -> list[Out]:
    """An engine reply as messages: answer with follow-ups, original text and feedback; clarify as
    choices; fallback with the topic menu and a contact-staff button."""
    lang = reply.lang
    message = engine.content.message
    header = general_html(engine, reply.general, lang) if reply.general else ""
    if reply.decision == "answer" and reply.intent:
        rows = [[_button(c.title, "i", c.intent, enquiry_id)] for c in reply.related if c.intent in engine.intents]
        if reply.source:
            rows.append([_button(message("tg_original_button", lang), "o", reply.intent)])
        rows.append(feedback_row(lang, engine, enquiry_id))
        return messages(reply.answer, InlineKeyboardMarkup(rows), quote=quote, header=header)
    contact = [_button(message("tg_contact_button", lang), "h", enquiry_id)]
    if reply.decision == "clarify":
        rows = [[_button(c.title, "i", c.intent, enquiry_id)] for c in reply.choices if c.intent in engine.intents]
        return messages(reply.answer, InlineKeyboardMarkup([*rows, contact]), quote=quote, header=header)
    topics = [_button(t.title[lang], "t", t.id) for t in engine.menu.topics_for(audience)]
    return messages(reply.answer, InlineKeyboardMarkup([*_rows(topics, TOPICS_PER_ROW), contact,
                                                        [optin_button(engine, lang, enquiry_id)]]), quote=quote,
                    header=header)


def optin_button(engine: Engine, lang: str, enquiry_id: str) -> InlineKeyboardButton:
    """有答案时通知我 / Tell me when there is an answer."""
    return _button(engine.content.message("optin_button", lang), "n", enquiry_id)


def general_html(engine: Engine, general: str, lang: str) -> str:
    """The general explanation as a labelled quote, set apart from what the plan says."""
    label = engine.content.message("general_label", lang)
    return f"<b>{esc(label)}</b>\n<blockquote>{esc(general)}</blockquote>"


def glossary(engine: Engine, lang: str, query: str = "") -> list[Out]:
    """`/glossary`: every term, or the one named, each with its labelled general explanation and the plan's words."""
    message = engine.content.message
    terms = engine.glossary.terms
    if query.strip():
        found = engine.glossary.find(query)
        if found is None:
            return messages(message("glossary_unknown", lang, term=query.strip()))
        terms = (found,)
    if not terms:
        return messages(message("glossary_empty", lang))
    label, plan = message("general_label", lang), message("glossary_plan", lang)
    sep = "：" if lang == "zh" else ": "
    blocks = [message("glossary_intro", lang)] if len(terms) > 1 else []
    for term in terms:
        name = term.term if lang == "zh" else f"{term.en} ({term.term})"
        blocks.append(f"【{name}】\n{label}{sep}{term.general[lang]}\n{plan}{sep}{term.plan[lang]}")
    return messages("\n\n".join(blocks), header=f"<b>{esc(message('glossary_title', lang))}</b>")


def render_clauses(engine: Engine, intent_id: str, lang: str) -> list[Out]:
    """The full text of the clauses an intent cites, with their responsible departments."""
    intent = engine.intents.get(intent_id)
    if intent is None:
        return []
    outs: list[Out] = []
    for cid in intent.source:
        clause = engine.clause(cid)
        if clause is None:
            continue
        heading = clause.heading_en if lang == "en" and clause.heading_en else clause.heading
        header = f"<b>{esc(cid)} {esc(heading)}</b>"
        if lang == "en":
            header += f"\n<i>{esc(engine.content.message('tg_original_note', lang))}</i>"
        body = clause.text
        if clause.responsible:
            names = "、".join(clause.responsible)
            body += "\n\n" + engine.content.message("tg_responsible", lang, names=names)
        outs.extend(messages(body, header=header))
    return outs


def format_date(value: str, lang: str) -> str:
    """2020-09-04 as 2020年9月4日 or 4 September 2020."""
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{day.year}年{day.month}月{day.day}日" if lang == "zh" else f"{day.day} {day:%B} {day.year}"


def plain_preview(text: str, limit: int = 100) -> str:
    """The first line-collapsed characters of a text, for inline result descriptions."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
