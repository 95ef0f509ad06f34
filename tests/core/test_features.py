"""Feature tokens: characters, words, English sub-words and pinyin, the same for training and serving."""

from __future__ import annotations

import pytest

from bot.core.features import reading, tokens
from bot.core.normalize import Normalizer

NORM = Normalizer()


@pytest.mark.parametrize(("typed", "syllables"), [
    ("san jia er", ["san", "jia", "er"]),
    ("sanjiaer", ["san", "jia", "er"]),
    ("3jia2", ["san", "jia", "er"]),
    ("3+2", ["san", "jia", "er"]),
    ("三加二", ["san", "jia", "er"]),
    ("zhongzhi zhuxuejin", ["zhong", "zhi", "zhu", "xue", "jin"]),
    ("What is the plan", []),                 # English is not read as pinyin
    ("2026年", ["nian"]),                      # a year is not read digit by digit
])
def test_reading_of_pinyin_digits_and_chinese(typed: str, syllables: list[str]) -> None:
    assert reading(NORM(typed)) == syllables


def test_chinese_gives_characters_words_and_pinyin() -> None:
    out = tokens(NORM("现代学徒制是什么"))
    assert {"c:学", "c:<现", "c:学徒制", "w:现代", "p:xue", "q:xuetu"} <= set(out)


def test_english_gives_words_without_plural_and_sub_words() -> None:
    out = tokens(NORM("Apprenticeships"))
    assert "w:apprenticeship" in out and "e:<app" in out


def test_groups_select_kinds_of_tokens() -> None:
    assert {t[0] for t in tokens(NORM("学徒制 apprenticeship"), groups=("w",))} == {"w"}


def test_empty_text_has_no_tokens() -> None:
    assert tokens("") == []
