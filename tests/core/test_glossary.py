"""Finding the term a question asks about."""

from __future__ import annotations

import pytest

from bot.core.engine import Engine


@pytest.mark.parametrize(("question", "term"), [
    ("3加2是啥子意思", "3+2"),
    ("三加二是什么意思", "3+2"),
    ("五年制是什么", "五年一贯制"),
    ("what does the local education surcharge mean", "地方教育附加"),   # the longer name wins
    ("教育附加费是啥", "教育费附加"),
    ("What is a credit bank?", "学分银行"),
])
def test_the_term_named_in_a_question(engine: Engine, question: str, term: str) -> None:
    found = engine.glossary.named_in(engine.normalizer(question), question.casefold())
    assert found is not None and found.term == term


@pytest.mark.parametrize(("question", "asks"), [
    ("3+2是什么意思", True), ("啥叫双师型", True), ("what does 1+X mean", True), ("What is 3+2?", True),
    ("3+2学费多少", False), ("how do I apply for 3+2", False),
])
def test_a_question_about_a_meaning(engine: Engine, question: str, asks: bool) -> None:
    assert engine.glossary.asks_meaning(engine.normalizer(question), question.casefold()) is asks


def test_a_meaning_question_without_a_term_uses_the_answers_topic(engine: Engine) -> None:
    general = engine.glossary.explain("这个是什么意思", "这个是什么意思", "pathway.five_year", "zh")
    assert general is not None and general.startswith("五年一贯制：")


def test_glossary_entries_for_a_view(engine: Engine) -> None:
    entries = engine.glossary.entries("en")
    assert len(entries) == len(engine.content.glossary)
    first = entries[0]
    assert set(first) == {"term", "name", "general", "plan", "clause"}
    assert first["clause"] in first["plan"]
