"""The detail vocabulary: which details a question asks for, and which lead an answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.details import asked_kinds, leading_kinds, load_details
from bot.errors import DataError

KINDS = load_details(ROOT / "intents" / "details.yaml")


@pytest.mark.parametrize(("question", "kinds"), [
    ("五年一贯制一年学费多少钱", ["fees", "amounts"]),
    ("北碚有哪些中职 学费好多钱", ["schools", "fees", "amounts"]),
    ("助学金每个月发好多", ["amounts"]),
    ("北碚哪个中职有护理专业", ["schools", "majors"]),
    ("3+2对口的高职是哪几所", ["schools"]),
    ("怎么申请产教融合型企业认证", ["procedure"]),
    ("什么条件可以申请培训补贴", ["eligibility"]),
    ("how much is the tuition for the five year programme", ["amounts", "fees"]),
    ("which colleges offer 3+2", ["schools"]),
    ("what is a double-qualified teacher", []),
    ("3+2是什么意思", []),
])
def test_asked_kinds(question: str, kinds: list[str]) -> None:
    assert asked_kinds(KINDS, question) == kinds


@pytest.mark.parametrize(("asked", "covered", "lead"), [
    (["fees", "amounts"], {"fees": 1, "amounts": 1}, ["fees"]),      # a fee is an amount: one sentence
    (["fees", "amounts"], {"amounts": 1}, ["amounts"]),              # only what the answer covers
    (["schools", "fees"], {"fees": 1, "schools": 1}, ["schools", "fees"]),
    (["dates"], {"fees": 1}, []),
])
def test_leading_kinds(asked: list[str], covered: dict, lead: list[str]) -> None:
    assert leading_kinds(KINDS, asked, covered) == lead


def test_limits_and_silent_on_share_the_vocabulary() -> None:
    from bot.core.intents import load_intents

    loaded = load_intents(ROOT / "intents")
    assert {limit.kind for limit in loaded.limits} <= set(loaded.details)
    assert {k for i in loaded.intents.values() for k in i.silent_on} <= set(loaded.details)


@pytest.mark.parametrize(("text", "expected"), [
    ("kinds: {}\n", "field kinds: must be a mapping with a list"),
    ("kinds:\n  - id: fees\n    label: {zh: 学费}\n    patterns: [学费]\n", "intent fees, field label"),
    ("kinds:\n  - id: fees\n    label: {zh: 学费, en: fees}\n    patterns: ['(']\n", "intent fees, field patterns"),
    ("kinds:\n  - id: fees\n    label: {zh: 学费, en: fees}\n    patterns: [学费]\n    yields_to: [nope]\n",
     "intent fees, field yields_to"),
])
def test_broken_vocabulary_names_file_kind_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "details.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_details(path)
    assert "details.yaml" in str(error.value) and expected in str(error.value)
