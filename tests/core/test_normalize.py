"""The normaliser: what people type becomes one canonical form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.normalize import MAX_MATCH, Normalizer, detect_lang, simplified

SYNONYMS = {"中职": ["职高", "中专", "技校"], "高职": ["大专"], "3+2": ["三二分段"],
            "higher vocational": ["junior college"]}


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    """A normaliser with a small synonym table."""
    return Normalizer(SYNONYMS)


@pytest.mark.parametrize(("raw", "expected"), [
    ("3加2是啥子意思？", "3+2是啥子意思"),
    ("三 ＋ 二", "3+2"),
    ("３＋２", "3+2"),
    ("三加四", "3+4"),
    ("1加X证书", "1+x证书"),
    ("一加x", "1+x"),
    ("一带一路", "一带一路"),
    ("職業學校學費補貼怎麼申請", "职业学校学费补贴怎么申请"),
    ("我娃读职高，还能上大专不？", "我娃读中职 还能上高职不"),
    ("中专和大专", "中职和高职"),
    ("中职高职", "中职高职"),
    ("Junior College?", "higher vocational"),
    ("WHAT IS 3 + 2", "what is 3+2"),
    ("职\u200b高", "中职"),
    ("\u202e职高", "中职"),
    ("😀😀😀", ""),
    ("   ", ""),
    # markup and links are dropped: they say nothing about what is asked
    ("<script>alert(1)</script>", "alert 1"),
    ('<div><iframe src="http://x"></iframe></div>', ""),
    ("看到 https://www.beibei.gov.cn/x?id=1 说3加2要考试", "看到 说3+2要考试"),
    ("1 < 2 and 3 > 2", "1 2 and 3 2"),
    ("'; DROP TABLE enquiries; --", "drop table enquiries"),
    ("bad\ud800surrogate", "badsurrogate"),
])
def test_normalises(norm: Normalizer, raw: str, expected: str) -> None:
    assert norm(raw) == expected


def test_long_input_is_cut(norm: Normalizer) -> None:
    assert len(norm("职业教育" * 50_000)) <= MAX_MATCH


@pytest.mark.parametrize(("text", "lang"), [
    ("3加2是啥子意思", "zh"), ("what is 3+2", "en"), ("what is 双师型 teacher", "en"), ("1+X证书咋考", "zh"),
    ("3+2", "zh"), ("你好", "zh"), ("hello", "en"), ("職業學校", "zh"),
])
def test_detects_language(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


def test_language_default_for_no_letters() -> None:
    assert detect_lang("3+2", default="en") == "en"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_never_raises_and_is_idempotent(text: str) -> None:
    normaliser = Normalizer(SYNONYMS)
    once = normaliser(text)
    assert len(once) <= MAX_MATCH
    assert normaliser(once) == once


@pytest.mark.parametrize(("text", "expected"), [
    ("職高怎麼報名？", "职高怎么报名？"),       # punctuation and everything else kept
    ("学费\u200b多少 ok", "学费多少 ok"),
    ("a\ud800b\udfffc", "abc"),              # a lone surrogate cannot be converted; it goes
])
def test_simplified_converts_only_the_characters(text: str, expected: str) -> None:
    assert simplified(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFFFF, exclude_categories=()), max_size=200))
def test_simplified_never_raises(text: str) -> None:
    assert isinstance(simplified(text), str)
