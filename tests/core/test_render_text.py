"""Shared plain-text rendering: cutting text into parts within a byte limit."""

from __future__ import annotations

import pytest

from bot.core.render_text import split_text


@pytest.mark.parametrize(("text", "limit"), [
    ("", 10), ("短", 10), ("一二三四五六七八九十" * 3, 10), ("a\n\nb\n\n" + "c" * 25, 10),
    ("中文 mixed with English 和 emoji 😀" * 40, 64),
])
def test_split_text_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(len(p.encode()) <= limit for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_paragraphs_stay_whole_when_they_fit() -> None:
    assert split_text("一段\n\n二段", 64) == ["一段\n\n二段"]
    assert split_text("aaaa\n\nbbbb", 6) == ["aaaa", "bbbb"]
