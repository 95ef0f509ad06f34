"""The reply's JSON object: the `vocbot ask --json` contract every outside check reads."""

from __future__ import annotations

from bot.core.model import Scored
from bot.core.reply import Choice, Reply


def test_as_json_keeps_the_contract_fields_and_rounds() -> None:
    reply = Reply("三加二咋个报名", "三加二 咋个 报名", "zh", "answer", "pathway.3plus2", 98.76543,
                  (Scored("pathway.3plus2", 98.76543), Scored("pathway.five_year", 1.2)), "答案",
                  choices=(Choice("pathway.3plus2", "3+2"),), confidence=0.987654,
                  also_intents=("admission.enrollment",), general=None)
    assert reply.as_json() == {
        "question": "三加二咋个报名", "decision": "answer", "intent": "pathway.3plus2", "score": 98.77,
        "candidates": [{"intent": "pathway.3plus2", "score": 98.77}, {"intent": "pathway.five_year", "score": 1.2}],
        "answer": "答案", "general": None, "confidence": 0.9877, "also_intents": ["admission.enrollment"]}


def test_a_fallback_has_no_intent_and_empty_lists() -> None:
    data = Reply("x", "x", "en", "fallback", None, 0.0, (), "Sorry").as_json()
    assert (data["intent"], data["candidates"], data["also_intents"], data["confidence"]) == (None, [], [], 0.0)
