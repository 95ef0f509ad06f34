"""Decisions from probabilities, and the pieces of a two-part question."""

from __future__ import annotations

import pytest

from bot.core.decide import DEFAULTS, clarify_choices, judge, parts, thresholds
from bot.core.engine import Engine


@pytest.mark.parametrize(("text", "pieces"), [
    ("北碚有哪些职高 学费好多钱", ["北碚有哪些职高", "学费好多钱"]),
    ("3+2是啥，另外有没有助学金？", ["3+2是啥", "有没有助学金"]),
    ("what is 3+2 and is there any help with tuition?", ["what is 3+2", "is there any help with tuition"]),
    ("学徒制是什么", ["学徒制是什么"]),
    ("", [""]),
])
def test_parts(text: str, pieces: list[str]) -> None:
    assert parts(text) == pieces


def test_thresholds_fill_defaults() -> None:
    assert thresholds({"answer": 0.9})["answer"] == 0.9
    assert thresholds(None) == {k: float(v) for k, v in DEFAULTS.items()}


def test_out_of_scope_class_decides_fallback(engine: Engine) -> None:
    j = judge(engine.model, engine.normalizer("怎么做红烧肉"), engine.thresholds)
    assert j.decision == "fallback" and j.out_of_scope > j.confidence


def test_confident_answer(engine: Engine) -> None:
    j = judge(engine.model, engine.normalizer("顶岗实习要多久"), engine.thresholds)
    assert (j.decision, j.top) == ("answer", "study.internship") and 0 < j.confidence <= 1


def test_clarify_offers_at_least_two(engine: Engine) -> None:
    j = judge(engine.model, engine.normalizer("职业"), {**engine.thresholds, "answer": 1.1, "clarify": 0.0})
    assert j.decision == "clarify" and len(clarify_choices(j, engine.thresholds)) >= 2


def test_too_short_falls_back(engine: Engine) -> None:
    assert judge(engine.model, "x", engine.thresholds).decision == "fallback"
