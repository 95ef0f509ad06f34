"""Rendering for Telegram: escaping, splitting under 4,096 characters, callback data under 64 bytes."""

from __future__ import annotations

import dataclasses

import pytest
from fake_bot_api import parse_html, utf16_len
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.telegram import render
from bot.core.engine import Engine

ENQUIRY = "0123456789abcdef"          # enquiry ids are 16 characters


@pytest.mark.parametrize(("text", "escaped"), [
    ("3+2", "3+2"),
    ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
    ("A & B", "A &amp; B"),
    ('"quoted"', '"quoted"'),
    ("&amp;", "&amp;amp;"),
])
def test_esc(text: str, escaped: str) -> None:
    assert render.esc(text) == escaped
    assert parse_html(render.esc(text)) == text


@pytest.mark.parametrize(("text", "length"), [("abc", 3), ("中文", 2), ("<&>", 13), ("😀", 2), ("", 0)])
def test_html_len_counts_utf16_after_escaping(text: str, length: int) -> None:
    assert render.html_len(text) == length == utf16_len(render.esc(text))


@pytest.mark.parametrize(("text", "limit", "chunks"), [
    ("", 10, []),
    ("short", 10, ["short"]),
    ("aaaa\n\nbbbb\n\ncccc", 10, ["aaaa\n\nbbbb", "cccc"]),
    ("aaaa\nbbbb\ncccc", 10, ["aaaa\nbbbb", "cccc"]),
    ("一二三。四五六。七八九。", 8, ["一二三。四五六。", "七八九。"]),
    ("one two three four", 9, ["one two", "three", "four"]),
    ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
    ("<" * 5, 8, ["<<", "<<", "<"]),
    ("😀" * 5, 4, ["😀😀", "😀😀", "😀"]),
    ("para one\n\n" + "y" * 12 + "\n\npara three", 10, ["para one", "y" * 10, "yy", "para three"]),
])
def test_split_text_prefers_paragraphs_then_lines_sentences_words(text: str, limit: int, chunks: list[str]) -> None:
    assert render.split_text(text, limit) == chunks


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <&>中。. \n😀")), max_size=400), st.integers(5, 60))
def test_split_text_never_exceeds_the_limit_and_loses_nothing(text: str, limit: int) -> None:
    # 5 is the widest escaped character (&amp;); Telegram's limit is 4,096.
    chunks = render.split_text(text, limit)
    assert all(0 < render.html_len(c) <= limit for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_messages_put_the_keyboard_on_the_last_and_the_quote_on_the_first() -> None:
    keyboard = render.language_keyboard()
    outs = render.messages("p" * 4000 + "\n\n" + "q" * 4080 + "\n\n<&>", keyboard, quote=True, header="<b>H</b>")
    assert [o.markup for o in outs] == [None, None, keyboard]
    assert [o.quote for o in outs] == [True, False, False]
    assert outs[0].html.startswith("<b>H</b>\n\n")
    assert outs[-1].html == "&lt;&amp;&gt;"
    assert all(utf16_len(parse_html(o.html)) <= render.MAX_TEXT for o in outs)


def test_a_10000_character_answer_is_split(engine: Engine) -> None:
    reply = engine.answer_intent("pathway.3plus2", "zh")
    long = dataclasses.replace(reply, answer="\n\n".join([reply.answer] * 40))
    outs = render.render_reply(engine, long, ENQUIRY, None)
    assert len(outs) > 1
    assert all(render.html_len(parse_html(o.html)) <= render.MAX_TEXT for o in outs)
    assert [o.markup is not None for o in outs] == [False] * (len(outs) - 1) + [True]
    assert "".join(parse_html(o.html) for o in outs).replace("\n", "") == long.answer.replace("\n", "")


# ---- callback data ------------------------------------------------------------------------------------
def test_callback_data_fits_for_every_intent_topic_and_audience(engine: Engine) -> None:
    data = [render.callback("f", "+", ENQUIRY), render.callback("f", "-", ENQUIRY), render.callback("h", ENQUIRY),
            render.callback("m"), render.callback("l", "zh"), render.callback("a", "")]
    for intent in engine.intents:
        assert ":" not in intent and len(intent) <= 30
        data += [render.callback("i", intent, ENQUIRY), render.callback("i", intent, ""), render.callback("o", intent)]
    data += [render.callback("t", topic) for topic in engine.menu.topics]
    data += [render.callback("a", audience) for audience in engine.menu.audiences]
    assert max(len(d.encode()) for d in data) <= render.MAX_CALLBACK_BYTES
    for item in data:
        kind, args = render.parse_callback(item)
        assert kind == item[0] and ":".join([kind, *args]) == item


@pytest.mark.parametrize("parts", [("i", "x" * 50, ENQUIRY), ("t", "话题" * 11), ("",)])
def test_callback_data_refuses_what_telegram_would(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="bytes"):
        render.callback(*parts)


@pytest.mark.parametrize(("data", "parsed"), [
    ("i:pathway.3plus2:" + ENQUIRY, ("i", ["pathway.3plus2", ENQUIRY])),
    ("i:pathway.3plus2:", ("i", ["pathway.3plus2", ""])),
    ("f:+:" + ENQUIRY, ("f", ["+", ENQUIRY])),
    ("h:" + ENQUIRY, ("h", [ENQUIRY])),
    ("o:cert.credit_bank", ("o", ["cert.credit_bank"])),
    ("t:pathways", ("t", ["pathways"])),
    ("a:", ("a", [""])),
    ("m", ("m", [])),
    ("i:only-one", ("", [])),
    ("x:1", ("", [])),
    ("", ("", [])),
    (None, ("", [])),
])
def test_parse_callback(data: str | None, parsed: tuple[str, list[str]]) -> None:
    assert render.parse_callback(data) == parsed


# ---- whole replies ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_answer_and_clause_renders_as_valid_telegram_html(engine: Engine, lang: str) -> None:
    for intent in engine.intents:
        reply = engine.answer_intent(intent, lang)
        for out in render.render_reply(engine, reply, ENQUIRY, None) + render.render_clauses(engine, intent, lang):
            assert 0 < utf16_len(parse_html(out.html)) <= render.MAX_TEXT
            for row in out.markup.inline_keyboard if out.markup else ():
                assert all(b.text.strip() and len(b.callback_data.encode()) <= 64 for b in row)


def test_fallback_and_clarify_keyboards(engine: Engine) -> None:
    fallback = engine.ask("")
    [out] = render.render_reply(engine, fallback, ENQUIRY, "enterprise", quote=True)
    data = [b.callback_data for row in out.markup.inline_keyboard for b in row]
    assert data == [f"t:{t.id}" for t in engine.menu.topics_for("enterprise")] + [f"h:{ENQUIRY}", f"n:{ENQUIRY}"]
    assert out.quote


@pytest.mark.parametrize(("value", "lang", "shown"), [("2020-09-04", "zh", "2020年9月4日"),
                                                      ("2020-09-04", "en", "4 September 2020"),
                                                      ("sometime", "en", "sometime")])
def test_format_date(value: str, lang: str, shown: str) -> None:
    assert render.format_date(value, lang) == shown


@pytest.mark.parametrize(("text", "limit", "preview"), [("a  b\nc", 10, "a b c"), ("x" * 12, 10, "x" * 9 + "…")])
def test_plain_preview(text: str, limit: int, preview: str) -> None:
    assert render.plain_preview(text, limit) == preview
